"""Parse and validate what the LLM wrote: the home's device dictionary, its code table, Pass@1.

The LLM is never trusted (DESIGN decision 5). Its output is constrained to ``llm.grammar.LineFormat``,
but a server may ignore the constraint, so everything is checked again here against the home's
**device dictionary** (IoTGen): the device-action pairs that exist. The prompt numbers a subset of
them in a **code table**; the model writes codes, never names.

``parse_response`` never raises on model output: a line that is not a valid sequence is reported in
``ParsedResponse.invalid`` and dropped. **Pass@1** (BehaviorGen) is the share of responses that were
usable as they came: at least one valid sequence and no invalid complete line.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .behaviour import Behaviour
from .behaviour import Sequence as BehaviourSequence
from .datasets import RawSequence, Vocabulary
from .llm.grammar import LineFormat

HOURS_PER_WEEK = 168.0
_BEHAVIOUR_RE = re.compile(r"^\s*(\d{1,2})\s+(\d{1,2})\s+(\d{1,4})\s*$")


@dataclass(frozen=True, slots=True, order=True)
class DeviceAction:
    """One entry of the device dictionary: an action that exists on a device."""

    device: str
    action: str


@dataclass(frozen=True, slots=True)
class DeviceDictionary:
    """The device-action pairs of a home (IoTGen's device dictionary)."""

    pairs: frozenset[DeviceAction]

    @classmethod
    def from_vocabulary(cls, vocab: Vocabulary, observed: Iterable[RawSequence] = ()) -> DeviceDictionary:
        """Every action on the device its ``Device:`` prefix names, plus every pair seen in ``observed``.

        Observed pairs matter: the SmartThings logs file location events (``None:location``) under
        the device ``Other``.
        """
        devices = set(vocab.devices)
        pairs = {
            DeviceAction(action.split(":", 1)[0], action)
            for action in vocab.actions
            if action.split(":", 1)[0] in devices
        }
        for seq in observed:
            for _day, _bucket, dev, act in seq:
                if dev < len(vocab.devices) and act < len(vocab.actions):
                    pairs.add(DeviceAction(vocab.devices[dev], vocab.actions[act]))
        return cls(frozenset(pairs))

    @classmethod
    def from_behaviours(cls, sequences: Iterable[BehaviourSequence]) -> DeviceDictionary:
        """The pairs a home has actually used (e.g. from its HA history)."""
        return cls(frozenset(DeviceAction(b.device, b.action) for seq in sequences for b in seq))

    def __contains__(self, pair: object) -> bool:
        return pair in self.pairs


@dataclass(frozen=True, slots=True)
class CodeTable:
    """The numbered device-action pairs offered to the LLM; code ``i`` is ``entries[i]``."""

    entries: tuple[DeviceAction, ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise ValueError("a code table needs at least one device-action pair")
        if len(set(self.entries)) != len(self.entries):
            raise ValueError("duplicate device-action pair in the code table")

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def width(self) -> int:
        """Digits per code (zero padded), as ``LineFormat.code_width``."""
        return len(str(len(self.entries) - 1))

    def code(self, pair: DeviceAction) -> str:
        """The zero-padded code of ``pair`` (``KeyError`` if it is not in the table)."""
        return str(self.entries.index(pair)).zfill(self.width)

    def lookup(self, code: int) -> DeviceAction | None:
        """The pair of ``code``, or None if the code is out of range."""
        return self.entries[code] if 0 <= code < len(self.entries) else None


def build_code_table(
    dictionary: DeviceDictionary,
    usage: Counter[DeviceAction],
    emphasis_devices: Iterable[str] = (),
    max_codes: int = 100,
) -> CodeTable:
    """Choose and number the pairs the prompt offers.

    Every pair of an emphasised device comes first (the devices the new context brings in, e.g.
    air conditioners for a seasonal shift; SmartGen requirement 1/3), then the home's pairs by how
    often they were used, then unused pairs; at most ``max_codes`` pairs, only pairs of ``dictionary``.
    """
    emphasis = set(emphasis_devices)
    emphasised = sorted(
        p for p in dictionary.pairs if p.device in emphasis or p.action.split(":")[0] in emphasis
    )
    used = [p for p, _n in sorted(usage.items(), key=lambda item: (-item[1], item[0])) if p in dictionary]
    unused = sorted(dictionary.pairs - set(used))
    ordered = list(dict.fromkeys([*emphasised, *used, *unused]))[:max_codes]
    return CodeTable(tuple(ordered))


def usage_counts(sequences: Iterable[BehaviourSequence]) -> Counter[DeviceAction]:
    """How often each device-action pair occurs."""
    return Counter(DeviceAction(b.device, b.action) for seq in sequences for b in seq)


@dataclass(frozen=True, slots=True)
class ValidationRules:
    """What a plausible synthetic sequence is (TSS bounds and the format's lengths)."""

    min_behaviours: int = 2
    max_behaviours: int = 10
    max_span_hours: float = 24.0  # TSS T_max: a sequence spanning more is not one sequence
    allowed_hours: tuple[int, ...] = ()  # hours of day the new context allows; () = all

    @classmethod
    def from_format(cls, fmt: LineFormat) -> ValidationRules:
        """The rules the output format stands for (a server may have ignored the constraint)."""
        span = float(fmt.max_span_hours) if fmt.max_span_hours is not None else float("inf")
        return cls(fmt.min_behaviours, fmt.max_behaviours, span, fmt.allowed_hours)


@dataclass(slots=True)
class ParsedResponse:
    """One LLM response after parsing: the valid sequences and why the other lines were dropped."""

    sequences: list[BehaviourSequence] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  # "line 3: code 57 not in the table"
    lines: int = 0  # complete lines (or JSON sequences) seen
    truncated: bool = False  # the text ended inside a line (max_tokens); that line is ignored

    @property
    def passed(self) -> bool:
        """Usable as is (Pass@1): at least one valid sequence and no invalid complete line."""
        return bool(self.sequences) and not self.invalid


def parse_response(
    text: str, table: CodeTable, week: int = 0, rules: ValidationRules | None = None
) -> ParsedResponse:
    """Parse line-format (or JSON ``{"sequences": ...}``) output into validated behaviour sequences.

    Times are hours on the synthetic week ``week``: ``(week*7 + day)*24 + hour``. Never raises on
    any ``text``.
    """
    rules = rules or ValidationRules()
    if text.lstrip().startswith("{"):
        return _parse_json(text, table, week, rules)
    result = ParsedResponse()
    lines = text.split("\n")
    tail = lines.pop()  # after the last newline: empty, or a line cut short (max_tokens) or unterminated
    for number, line in enumerate(lines, start=1):
        if line.strip():
            result.lines += 1
            triples, error = _split_line(line)
            _accept(result, triples, error, number, table=table, week=week, rules=rules)
    if tail.strip():
        triples, error = _split_line(tail)
        sequence, error = _validate(triples, table, week, rules) if error is None else (None, error)
        if sequence is None:
            result.truncated = True
        else:
            result.lines += 1
            result.sequences.append(sequence)
    return result


def _split_line(line: str) -> tuple[list[tuple[int, int, int]], str | None]:
    triples: list[tuple[int, int, int]] = []
    for part in line.split(";"):
        match = _BEHAVIOUR_RE.match(part)
        if match is None:
            return [], f"not 'D HH CC': {part.strip()[:40]!r}"
        triples.append((int(match[1]), int(match[2]), int(match[3])))
    return triples, None


def _parse_json(text: str, table: CodeTable, week: int, rules: ValidationRules) -> ParsedResponse:
    result = ParsedResponse()
    try:
        obj = json.loads(text)
        sequences = obj["sequences"]
        if not isinstance(sequences, list):
            raise TypeError("'sequences' is not a list")
    except (json.JSONDecodeError, KeyError, TypeError, RecursionError) as err:
        result.truncated = True
        result.invalid.append(f"not JSON with a 'sequences' list ({type(err).__name__})")
        return result
    for number, seq in enumerate(sequences, start=1):
        result.lines += 1
        triples, error = _json_triples(seq)
        _accept(result, triples, error, number, table=table, week=week, rules=rules)
    return result


def _json_triples(seq: object) -> tuple[list[tuple[int, int, int]], str | None]:
    if not isinstance(seq, list):
        return [], "a sequence is not a list"
    triples: list[tuple[int, int, int]] = []
    for item in seq:
        if not (isinstance(item, list) and len(item) == 3 and all(type(v) is int for v in item)):
            return [], f"not [day, hour, code]: {str(item)[:40]!r}"
        triples.append((item[0], item[1], item[2]))
    return triples, None


def _accept(
    result: ParsedResponse,
    triples: list[tuple[int, int, int]],
    error: str | None,
    number: int,
    *,
    table: CodeTable,
    week: int,
    rules: ValidationRules,
) -> None:
    if error is None:
        sequence, error = _validate(triples, table, week, rules)
        if sequence is not None:
            result.sequences.append(sequence)
            return
    result.invalid.append(f"line {number}: {error}")


def _validate(
    triples: Sequence[tuple[int, int, int]], table: CodeTable, week: int, rules: ValidationRules
) -> tuple[BehaviourSequence | None, str]:
    """Check one sequence of (day, hour, code); return it as behaviours or the reason it is invalid."""
    if not rules.min_behaviours <= len(triples) <= rules.max_behaviours:
        return None, f"{len(triples)} behaviours (allowed {rules.min_behaviours}-{rules.max_behaviours})"
    sequence: BehaviourSequence = []
    offset = week * HOURS_PER_WEEK
    for day, hour, code in triples:
        pair = table.lookup(code)
        if not (0 <= day <= 6 and 0 <= hour <= 23):
            return None, f"day {day} / hour {hour} out of range"
        if rules.allowed_hours and hour not in rules.allowed_hours:
            return None, f"hour {hour} is outside the new context's hours"
        if pair is None:
            return None, f"code {code} not in the table"
        time = offset + day * 24.0 + hour
        if sequence and time < sequence[-1].time:
            if time + HOURS_PER_WEEK - sequence[-1].time > rules.max_span_hours:
                return None, f"time goes backwards at day {day} hour {hour}"
            offset += HOURS_PER_WEEK  # Sunday -> Monday: the sequence runs into the next week
            time += HOURS_PER_WEEK
        sequence.append(Behaviour(time=time, device=pair.device, action=pair.action, origin="user"))
    if sequence[-1].time - sequence[0].time > rules.max_span_hours:
        return None, f"spans {sequence[-1].time - sequence[0].time:.0f} h (max {rules.max_span_hours:.0f})"
    return sequence, ""


def pass_at_1(responses: Sequence[ParsedResponse]) -> float:
    """BehaviorGen's Pass@1: the share of responses usable on the first attempt (0.0 if none)."""
    return sum(r.passed for r in responses) / len(responses) if responses else 0.0


def format_sequence(sequence: BehaviourSequence, table: CodeTable) -> str | None:
    """One sequence in the output line format (how the prompt shows real data); None if a pair of it
    is not in the table."""
    parts: list[str] = []
    for b in sequence:
        pair = DeviceAction(b.device, b.action)
        if pair not in table.entries:
            return None
        hour_of_week = b.time % HOURS_PER_WEEK
        parts.append(f"{int(hour_of_week // 24)} {int(hour_of_week % 24):02d} {table.code(pair)}")
    return ";".join(parts)
