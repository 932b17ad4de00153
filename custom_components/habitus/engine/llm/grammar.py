"""The constrained output format of behaviour synthesis: one compact line per sequence.

A 270M base model writes behaviours far more reliably (and a grammar constrains it far faster) when
the output is a handful of digits per behaviour rather than JSON with free text. Each line is one
behaviour sequence; behaviours are ``D HH CC`` (day 0-6, hour 00-23, the code of a device-action
pair from the prompt's code table, zero padded), separated by ``;``::

    0 07 12;0 07 03;0 08 12
    5 21 04;5 22 09

Why this shape (the grammar pitfalls in ``research/notes/performance-llm-datasets.md``):

* every field is digits, one character class per position: a grammar stack never splits into
  hundreds of alternatives (which is what makes JSON-schema / string-enum grammars slow);
* no free text, no quotes, no escapes, fixed field widths: the grammar has few states, so the set of
  tokens allowed in a state can be computed once and cached (``TokenAutomaton``);
* codes come from an enumerated table in the prompt, so a device-action pair that does not exist in
  the home cannot be written at all; ranges are exact (``code_range_alternatives``).

The same language is given three ways, all derived from one ``LineFormat``: a GBNF grammar (llama.cpp
``grammar`` field / ``LlamaGrammar``), a JSON schema for servers that only take ``response_format``
(its output is parsed by the same parser), and a character automaton (``LineFormat.step``) from which
``TokenAutomaton`` derives per-state allowed tokens for the in-process backend. The automaton also
keeps the behaviours of a line in time order within TSS's span (``LineFormat.max_span_hours``), which
GBNF cannot say compactly; for servers the parser checks it instead.

Graph-guided decoding (optional, off by default: ``LineFormat.successors``): inside a line, the code
of the next behaviour must be one of the GSS top-k successors of the previous behaviour's code (the
transition graph the prompt's habit hints come from, SmartGen §4.4), so the hints become a hard
constraint instead of text a small model may ignore. Escapes keep new-context behaviour writable: the
first behaviour of a line is free, a code the graph gives no successors is followed freely, and the
``free_codes`` (pairs absent from the history: the devices the shift brings in, unused pairs) may
follow any code. The previous code is part of the automaton state, so per-state token sets still
cache. In process only: GBNF / JSON schema cannot say it compactly, so the pipeline refuses it with
a server backend (``SynthesisConfig.graph_decoding``).

Soft graph-guided decoding (``LineFormat.graph_bonus`` > 0, also off by default): the same GSS edges
and escapes, but as a preference instead of a constraint. Nothing is forbidden; a token writing code
digits that the hard constraint would allow gets ``graph_bonus`` nats added to its logit
(``TokenAutomaton.transitions``' ``bonus``), as a llama.cpp logits processor would, before
temperature. A large bonus tends to the hard constraint; in process only as well. The bonus is flat
(every edge alike) unless ``LineFormat.successor_weights`` scales it per edge (a weight in [0, 1] per
top-k successor, e.g. 0 on a code's edge to itself, or its transition probability relative to the
top edge: ``prompt.gss_successor_weights``); the escapes keep the full bonus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

ALPHABET = frozenset("0123456789 ;\n")
MAX_DAY = 6
MAX_HOUR = 23


def code_range_alternatives(upper: int, width: int) -> list[str]:
    """GBNF alternatives matching exactly the zero-padded integers ``0..upper`` of ``width`` digits.

    ``code_range_alternatives(37, 2)`` is ``['[0-2] [0-9]', '"3" [0-7]']``: at most ``width``
    alternatives, whatever the range, so the grammar stays small.
    """
    if upper < 0 or len(str(upper)) > width:
        raise ValueError(f"cannot write 0..{upper} in {width} digits")
    digits = str(upper).zfill(width)
    alternatives: list[str] = []
    for i, ch in enumerate(digits):
        prefix = f'"{digits[:i]}" ' if i else ""
        top = int(ch) if i == width - 1 else int(ch) - 1  # the last digit may equal upper's
        if top >= 0:
            tail = " ".join(["[0-9]"] * (width - i - 1))
            alternatives.append(f"{prefix}[0-{top}] {tail}".strip())
    return alternatives


def _prefix_fits(prefix: str, upper: int, width: int) -> bool:
    """Can the digit string ``prefix`` still be completed to a ``width``-digit number ``<= upper``?"""
    return len(prefix) <= width and int(prefix.ljust(width, "0")) <= upper


@dataclass(frozen=True, slots=True)
class FormatState:
    """Where the character automaton is inside the current line.

    ``field``: 0 day digit, 1 space, 2 hour digits, 3 space, 4 code digits, 5 separator (``;``/``\\n``).
    ``digits`` holds the digits of the field written so far; ``done`` counts behaviours finished in
    this line; ``day`` is the current behaviour's day, ``first``/``last`` the line's first and latest
    hour of the week (-1 before any), for the time-order constraint. ``prev`` is the previous
    behaviour's code when graph-guided decoding constrains the next one (-1: the next code is free).
    Line numbers are not part of the state: the decoder counts lines itself.
    """

    done: int = 0
    field: int = 0
    digits: str = ""
    day: int = -1
    first: int = -1
    last: int = -1
    prev: int = -1

    @property
    def at_line_start(self) -> bool:
        """True at the start of a line, the only place the output may end."""
        return self.done == 0 and self.field == 0


LINE_START = FormatState()


@dataclass(frozen=True, slots=True)
class LineFormat:
    """The output language: lines of ``min_behaviours..max_behaviours`` behaviours ``D HH CC``."""

    n_codes: int  # codes 0..n_codes-1 (the prompt's code table)
    min_behaviours: int = 2  # SmartGen requirement 4: a sequence, not a single behaviour
    max_behaviours: int = 10  # the datasets' sequences hold at most 10 behaviours
    max_lines: int = 12  # sequences per response
    # Time order inside a line: behaviours at non-decreasing hours, spanning at most this many hours
    # (TSS T_max). Enforced by the automaton only: as GBNF it would take thousands of rules, so for
    # servers the parser checks it. None = no time constraint in the automaton either.
    max_span_hours: int | None = 24
    # Hours of day the new context allows (e.g. a TT shift to night: 18-05); () = all. Enforced by
    # the automaton and the GBNF alike.
    allowed_hours: tuple[int, ...] = ()
    # Graph-guided decoding (GSS as a constraint; automaton only): successors[c] = the codes that may
    # follow code c inside a line (its GSS top-k successors; () = any). () = no graph constraint.
    successors: tuple[tuple[int, ...], ...] = ()
    # Codes that may follow any code when the graph constrains (the escape for new-context behaviour).
    free_codes: tuple[int, ...] = ()
    # Soft graph-guided decoding: > 0 turns ``successors`` from a constraint into a preference, these
    # many nats added to the logits of tokens whose code digits stay on the graph (``bonus``).
    graph_bonus: float = 0.0
    # Soft only: successor_weights[c][i] scales the bonus of the edge c -> successors[c][i] (in [0, 1]);
    # () = every edge weighs 1 (the flat bonus). Free codes always get the whole bonus.
    successor_weights: tuple[tuple[float, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.n_codes < 1:
            raise ValueError("the code table is empty")
        if not 1 <= self.min_behaviours <= self.max_behaviours:
            raise ValueError("need 1 <= min_behaviours <= max_behaviours")
        if self.max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        if any(not 0 <= h <= MAX_HOUR for h in self.allowed_hours):
            raise ValueError("allowed_hours must be hours 0-23")
        if self.successors and len(self.successors) != self.n_codes:
            raise ValueError("successors needs one entry per code (or none at all)")
        codes = [c for row in self.successors for c in row] + list(self.free_codes)
        if any(not 0 <= c < self.n_codes for c in codes):
            raise ValueError("successors and free_codes must be codes of the table")
        if not 0 <= self.graph_bonus < float("inf"):
            raise ValueError("graph_bonus must be a finite number of nats >= 0")
        if self.successor_weights and [len(w) for w in self.successor_weights] != [
            len(s) for s in self.successors
        ]:
            raise ValueError("successor_weights needs one weight per successor (or none at all)")
        if any(not 0 <= w <= 1 for row in self.successor_weights for w in row):
            raise ValueError("successor_weights are in [0, 1]")

    def with_graph(
        self,
        successors: tuple[tuple[int, ...], ...],
        free_codes: tuple[int, ...],
        bonus: float = 0.0,
        weights: tuple[tuple[float, ...], ...] = (),
    ) -> LineFormat:
        """This format with graph-guided decoding: hard (``bonus`` 0) or soft (``bonus`` nats, flat or
        scaled per edge by ``weights``)."""
        return replace(
            self, successors=successors, free_codes=free_codes, graph_bonus=bonus, successor_weights=weights
        )

    @property
    def code_width(self) -> int:
        """Digits per code: 1 for up to 10 codes, 2 for up to 100, ..."""
        return len(str(self.n_codes - 1))

    def gbnf(self) -> str:
        """The GBNF grammar of the format (llama.cpp ``grammar`` field, ``LlamaGrammar.from_string``)."""
        more = f"{self.min_behaviours - 1},{self.max_behaviours - 1}"
        return "\n".join(
            [
                f"root ::= line{{1,{self.max_lines}}}",
                f'line ::= beh (";" beh){{{more}}} "\\n"',
                'beh ::= [0-6] " " hour " " code',
                "hour ::= " + self._hour_rule(),
                "code ::= " + " | ".join(code_range_alternatives(self.n_codes - 1, self.code_width)),
                "",
            ]
        )

    def _hour_rule(self) -> str:
        if not self.allowed_hours:
            return " | ".join(code_range_alternatives(MAX_HOUR, 2))
        return " | ".join(f'"{h:02d}"' for h in sorted(set(self.allowed_hours)))

    def json_schema(self) -> dict[str, Any]:
        """The same content as JSON (``{"sequences": [[[day, hour, code], ...], ...]}``)."""
        behaviour = {
            "type": "array",
            "prefixItems": [
                {"type": "integer", "minimum": 0, "maximum": MAX_DAY},
                {"type": "integer", "enum": sorted(set(self.allowed_hours))}
                if self.allowed_hours
                else {"type": "integer", "minimum": 0, "maximum": MAX_HOUR},
                {"type": "integer", "minimum": 0, "maximum": self.n_codes - 1},
            ],
            "minItems": 3,
            "maxItems": 3,
        }
        sequence = {
            "type": "array",
            "items": behaviour,
            "minItems": self.min_behaviours,
            "maxItems": self.max_behaviours,
        }
        return {
            "type": "object",
            "properties": {
                "sequences": {"type": "array", "items": sequence, "minItems": 1, "maxItems": self.max_lines}
            },
            "required": ["sequences"],
        }

    def step(self, state: FormatState, ch: str) -> FormatState | None:
        """The character automaton: the state after ``ch``, or None if ``ch`` is not allowed."""
        field = state.field
        if field == 0:
            if not "0" <= ch <= str(MAX_DAY):
                return None
            return replace(state, field=1, day=int(ch)) if self._hours(state, int(ch)) else None
        if field in (1, 3):
            return replace(state, field=field + 1) if ch == " " else None
        if field == 2:
            return self._step_hour(state, ch)
        if field == 4:
            return self._step_code(state, ch)
        if ch == ";" and state.done + 1 < self.max_behaviours:
            return replace(state, done=state.done + 1, field=0, day=-1)
        if ch == "\n" and state.done + 1 >= self.min_behaviours:
            return LINE_START
        return None

    def _hour_bounds(self, state: FormatState, day: int) -> tuple[int, int]:
        """Hours allowed on ``day`` after the line so far (low > high: none)."""
        if self.max_span_hours is None or state.last < 0:
            return 0, MAX_HOUR
        low = max(0, state.last - day * 24)
        high = min(MAX_HOUR, state.first + self.max_span_hours - day * 24)
        return low, high

    def _hours(self, state: FormatState, day: int) -> list[int]:
        """Hours a behaviour on ``day`` may have: in time order, within the span, allowed by context."""
        low, high = self._hour_bounds(state, day)
        return [h for h in range(low, high + 1) if not self.allowed_hours or h in self.allowed_hours]

    def _step_hour(self, state: FormatState, ch: str) -> FormatState | None:
        digits = state.digits + ch
        if not ch.isdigit() or not any(f"{h:02d}".startswith(digits) for h in self._hours(state, state.day)):
            return None
        if len(digits) < 2:
            return replace(state, digits=digits)
        time = state.day * 24 + int(digits)
        first = time if state.first < 0 else state.first
        return replace(state, field=3, digits="", first=first, last=time)

    def _constrains(self, prev: int) -> bool:
        """Whether the graph constrains the code after ``prev``: not at line start (-1), nor after a
        code without GSS successors."""
        return prev >= 0 and bool(self.successors) and bool(self.successors[prev])

    def allowed_codes(self, prev: int) -> frozenset[int] | None:
        """Codes graph-guided decoding allows after code ``prev`` (-1: line start); None = any."""
        if not self._constrains(prev):
            return None
        return frozenset(self.successors[prev]) | frozenset(self.free_codes)

    def _on_graph(self, prev: int, digits: str) -> bool | None:
        """Can code digits ``digits`` after code ``prev`` still become a code the graph allows there?
        None where the graph does not constrain (line start, ``prev`` without successors)."""
        allowed = self.allowed_codes(prev)
        if allowed is None:
            return None
        return any(f"{c:0{self.code_width}d}".startswith(digits) for c in allowed)

    def _edge_weight(self, prev: int, digits: str) -> float | None:
        """The largest bonus weight of a code the graph allows after ``prev`` that starts with
        ``digits`` (0: none does; free codes weigh 1); None where the graph does not constrain."""
        if not self._constrains(prev):
            return None
        weights = (
            self.successor_weights[prev] if self.successor_weights else (1.0,) * len(self.successors[prev])
        )
        edges = [*zip(self.successors[prev], weights, strict=True), *((c, 1.0) for c in self.free_codes)]
        return max((w for c, w in edges if f"{c:0{self.code_width}d}".startswith(digits)), default=0.0)

    def bonus(self, state: FormatState, text: str) -> float:
        """Soft graph-guided decoding: the logit bonus of writing ``text`` in ``state`` (an allowed
        token): ``graph_bonus`` times the smallest edge weight (``_edge_weight``) of the code digits
        it writes where the graph constrains (1 for every edge without ``successor_weights``: flat);
        0 if it writes none there or one leaves the graph."""
        if not self.graph_bonus:
            return 0.0
        weight: float | None = None
        current: FormatState | None = state
        for ch in text:
            if current is None:
                return 0.0
            if current.field == 4:
                follows = self._edge_weight(current.prev, current.digits + ch)
                if follows is not None:
                    weight = follows if weight is None else min(weight, follows)
            current = self.step(current, ch)
        return self.graph_bonus * weight if weight else 0.0

    def _step_code(self, state: FormatState, ch: str) -> FormatState | None:
        digits = state.digits + ch
        if not ch.isdigit() or not _prefix_fits(digits, self.n_codes - 1, self.code_width):
            return None
        if not self.graph_bonus and self._on_graph(state.prev, digits) is False:
            return None  # the hard constraint; with a bonus the graph is only preferred
        if len(digits) == self.code_width:
            code = int(digits)
            # Carry the code only if it constrains the next one: fewer distinct states to cache.
            prev = code if self.successors and self.successors[code] else -1
            return replace(state, field=5, digits="", prev=prev)
        return replace(state, digits=digits)

    def run(self, state: FormatState, text: str) -> FormatState | None:
        """Feed a whole string; None as soon as one character is rejected."""
        current: FormatState | None = state
        for ch in text:
            if current is None:
                return None
            current = self.step(current, ch)
        return current

    def accepts(self, text: str) -> bool:
        """Is ``text`` a complete response (1..max_lines whole lines)?"""
        lines = text.count("\n")
        return 1 <= lines <= self.max_lines and self.run(LINE_START, text) == LINE_START


@dataclass(frozen=True, slots=True)
class Transitions:
    """The tokens allowed in one automaton state and where each leads (``next_states[i]``)."""

    token_ids: NDArray[np.int64]  # [k]
    next_states: tuple[FormatState, ...]  # [k]
    newlines: NDArray[np.int64]  # [k] lines each token completes (0 or 1)
    bonus: NDArray[np.float32] | None = None  # [k] soft graph-guided decoding's logit bonus, or none


class TokenAutomaton:
    """``LineFormat`` lifted from characters to a model's tokens, for in-process constrained decoding.

    Only tokens made entirely of format characters can ever be allowed, so the vocabulary is filtered
    once (``pieces``: token id -> text, typically a few hundred of Gemma's 262k tokens); then the
    allowed tokens of each state are computed on first use and cached. A decoding step costs a dict
    lookup and indexing a few logits, instead of a grammar check of every vocabulary entry.
    """

    def __init__(self, fmt: LineFormat, pieces: Mapping[int, str], end_ids: frozenset[int]) -> None:
        self.format = fmt
        self._pieces = {tid: text for tid, text in pieces.items() if text and set(text) <= ALPHABET}
        self.end_ids = end_ids
        self._cache: dict[FormatState, Transitions] = {}

    @property
    def candidate_count(self) -> int:
        """How many vocabulary entries consist only of format characters."""
        return len(self._pieces)

    def transitions(self, state: FormatState) -> Transitions:
        """Allowed tokens in ``state`` (excluding end of output; see ``may_end``)."""
        cached = self._cache.get(state)
        if cached is not None:
            return cached
        ids: list[int] = []
        nexts: list[FormatState] = []
        newlines: list[int] = []
        bonus: list[float] = []
        for tid, text in self._pieces.items():
            # A token may finish at most one line: the decoder stops exactly at max_lines.
            if text.count("\n") > 1:
                continue
            after = self.format.run(state, text)
            if after is not None:
                ids.append(tid)
                nexts.append(after)
                newlines.append(text.count("\n"))
                bonus.append(self.format.bonus(state, text))
        result = Transitions(
            np.asarray(ids, dtype=np.int64),
            tuple(nexts),
            np.asarray(newlines, dtype=np.int64),
            np.asarray(bonus, dtype=np.float32) if any(bonus) else None,
        )
        self._cache[state] = result
        return result

    @staticmethod
    def may_end(state: FormatState, lines: int) -> bool:
        """The output may end here: at a line start, after at least one line."""
        return state.at_line_start and lines >= 1
