"""The synthesis prompt: SmartGen's system message (Table 1), budgeted to the model's context window.

Elements, in this order (the fixed part first, so a backend can reuse its KV cache across requests):

1. **role** and **task background** (Table 1, shortened for a small model),
2. **CoT task definition** (three steps) and the **requirements** (five),
3. **scene information**: the context shift (``shifts.ContextShift``) and the household profile
   (BehaviorGen),
4. **data information**: the code table of device-action pairs (the home's device dictionary), the
   GSS habit hints (``graph.TransitionGraph.hints_json``) and the compressed sequences (SSC/SPPC),
   written in the output format itself, so a base model continues the pattern,
5. the cue line of the synthetic week being generated (BehaviorGen's week-by-week segmentation).

``build_prompts`` fits everything into ``n_ctx - max_new_tokens - margin`` tokens counted with the
model's own tokenizer (``llm.tokens.LlamaTokenCounter``) or, without one, ``estimate_tokens``
(deliberately pessimistic); sequences that do not fit go to further chunks (at most
``max_sequences_per_chunk`` each, 30 in the reference implementation).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from .behaviour import Sequence as BehaviourSequence
from .graph import GSSConfig, TransitionGraph
from .llm.grammar import LineFormat
from .shifts import ContextShift, HouseholdProfile, plan_weeks
from .synth_parse import CodeTable, DeviceAction, format_sequence

type TokenCount = Callable[[str], int]

ROLE = (
    "You are an IoT expert who knows user behaviour and habits in smart homes very well. You predict how "
    "a household's behaviour sequences change after its habits and environment change."
)
BACKGROUND = (
    "You are given the previous environment and the new one, the household, the devices with their "
    "states (as numbered codes), the household's habits, and its previous behaviour sequences. Use them "
    "to write the behaviour sequences of the household in the new environment."
)
TASK = (
    "Your task: first, select from the codes the device states that are possible new behaviours. "
    "Second, add these new behaviours to the previous sequences where they fit. Third, continue and "
    "expand the sequences following the household's habits."
)
REQUIREMENTS = (
    "1. Use as many of the devices that fit the new environment as possible. "
    "2. Only use the codes listed; each code is one device with one of its states. "
    "3. Add new devices and behaviours that adapt to the new environment. "
    "4. Every sequence has several consecutive behaviours, never a single one. "
    "5. Give every behaviour a plausible day and hour."
)
FORMAT = (
    "Format: one sequence per line; behaviours are 'D HH CC' separated by ';' where D is the day "
    "(0 Monday .. 6 Sunday), HH the hour 00-23 and CC the code."
)


@dataclass(frozen=True, slots=True)
class PromptConfig:
    """Token budget and chunking of the synthesis prompts."""

    n_ctx: int = 4096  # the model's context window as loaded (llama.cpp n_ctx)
    max_new_tokens: int = 512  # reserved for the answer
    margin_tokens: int = 32  # slack for tokenizer differences (BOS, joins)
    max_sequences_per_chunk: int = 30  # SmartGen sends at most 30 sequences per call
    sequences_per_response: int = 8  # LineFormat.max_lines
    # Output sequence lengths (LineFormat); shorter real sequences are not shown as examples (they
    # still shape the GSS hints), longer ones are cut to the first max_behaviours.
    min_behaviours: int = 2
    max_behaviours: int = 10
    hint_label: str = "code"  # GSS hints keyed by "code" (compact) or "name" (readable)

    def __post_init__(self) -> None:
        if self.prompt_budget < 64:
            raise ValueError("n_ctx leaves no room for a prompt after max_new_tokens and the margin")

    @property
    def prompt_budget(self) -> int:
        """Tokens a prompt may use."""
        return self.n_ctx - self.max_new_tokens - self.margin_tokens


class PromptBudgetError(ValueError):
    """Even the fixed part of the prompt (role ... code table) does not fit the context window."""


@dataclass(frozen=True, slots=True)
class SynthesisPrompt:
    """One request of segmented generation."""

    text: str
    week: int  # synthetic week this request writes (parse with the same week)
    chunk: int  # which data chunk it shows
    n_sequences: int  # real sequences shown
    n_tokens: int  # prompt tokens, as counted
    format: LineFormat  # the output constraint (codes of this prompt's table)


_ESTIMATE_RE = re.compile(r"\d|[A-Za-z]{1,4}|[^\sA-Za-z\d]|\n")


def estimate_tokens(text: str) -> int:
    """Pessimistic token estimate without a tokenizer: one per digit, per punctuation mark, per newline
    and per 4 letters (Gemma's tokenizer splits digits; real counts come out lower), plus a BOS."""
    return len(_ESTIMATE_RE.findall(text)) + 1


def render_code_table(table: CodeTable) -> str:
    """``CC Device:state`` lines (the device is named separately only when the action's prefix is not
    the device, e.g. an entity id or the logs' ``Other`` + ``None:location``)."""
    lines = []
    for i, pair in enumerate(table.entries):
        code = str(i).zfill(table.width)
        same = pair.action.split(":", 1)[0] == pair.device
        lines.append(f"{code} {pair.action}" if same else f"{code} {pair.device} {pair.action}")
    return "\n".join(lines)


def fixed_part(
    table: CodeTable,
    shift: ContextShift,
    profile: HouseholdProfile | None,
    hints: str,
) -> str:
    """Elements 1-4 of the prompt without the sequences (identical across the chunks and weeks)."""
    scene = shift.scene() + (" " + profile.describe() if profile is not None else "")
    return "\n".join(
        [
            ROLE,
            BACKGROUND,
            TASK,
            "Requirements: " + REQUIREMENTS,
            "Scene: " + scene,
            FORMAT,
            "Codes:",
            render_code_table(table),
            "Habits (the most common next codes after each code): " + hints,
            "Previous sequences (previous environment):",
        ]
    )


def cue(week: int) -> str:
    """The line after which the model writes (week numbers start at 1 in the text)."""
    return f"New sequences (new environment, week {week + 1}):\n"


def gss_hints(
    sequences: Sequence[BehaviourSequence], table: CodeTable, config: GSSConfig | None = None
) -> str:
    """GSS hints in the prompt's own codes: the transition graph over the code table's device-action
    pairs (a behaviour outside the table breaks its sequence there, so no false transition is made)."""
    return TransitionGraph(config).fit(_code_runs(sequences, table)).hints_json()


def gss_successors(
    sequences: Sequence[BehaviourSequence], table: CodeTable, config: GSSConfig | None = None
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """Graph-guided decoding's constraint (``LineFormat.successors``, ``free_codes``) from the graph
    ``gss_hints`` writes: per code, its GSS top-k successor codes (() for a code with none), and the
    codes of pairs absent from ``sequences`` (the shift's new devices, unused pairs), free anywhere."""
    runs = _code_runs(sequences, table)
    edges = _gss_edges(runs, table, config)
    successors = tuple(tuple(code for code, _n in row) for row in edges)
    seen = {code for run in runs for code in run}
    free = tuple(i for i, pair in enumerate(table.entries) if table.code(pair) not in seen)
    return successors, free


# The soft graph bonus's shape over a code's GSS top-k edges (``gss_successor_weights``).
GraphBonusForm = Literal["flat", "no_self_loops", "weighted"]
GRAPH_BONUS_FORMS: tuple[GraphBonusForm, ...] = ("flat", "no_self_loops", "weighted")


def gss_successor_weights(
    sequences: Sequence[BehaviourSequence],
    table: CodeTable,
    form: GraphBonusForm,
    config: GSSConfig | None = None,
) -> tuple[tuple[float, ...], ...]:
    """Soft graph-guided decoding's per-edge bonus weights (``LineFormat.successor_weights``), aligned
    with ``gss_successors``' top-k successors of each code: ``flat`` () (every edge weighs 1);
    ``no_self_loops`` 0 on a code's edge to itself, 1 on the others (a flat bonus also raises the
    repeat, which is most codes' GSS top successor); ``weighted`` the edge's transition probability
    ``M[c, s] / sum M[c]`` over the top edge's (so the top edge keeps the whole bonus)."""
    if form not in GRAPH_BONUS_FORMS:
        raise ValueError(f"graph bonus form is one of {', '.join(GRAPH_BONUS_FORMS)}, not {form!r}")
    if form == "flat":
        return ()
    edges = _gss_edges(_code_runs(sequences, table), table, config)
    if form == "no_self_loops":
        return tuple(tuple(0.0 if s == c else 1.0 for s, _n in row) for c, row in enumerate(edges))
    return tuple(tuple(n / row[0][1] for _s, n in row) for row in edges)  # row[0]: the top edge


def _gss_edges(
    runs: list[list[str]], table: CodeTable, config: GSSConfig | None
) -> list[list[tuple[int, int]]]:
    """Per code of ``table``, its GSS top-k successor codes with their transition counts."""
    graph = TransitionGraph(config).fit(runs)
    return [[(int(str(code)), n) for code, n in graph.predict(table.code(pair))] for pair in table.entries]


def transition_counts(
    sequences: Sequence[BehaviourSequence], table: CodeTable, successors: Sequence[Sequence[int]]
) -> dict[str, int]:
    """Consecutive behaviour pairs inside ``sequences`` (within runs of behaviours in ``table``):
    ``pairs`` in all, ``on_graph`` along a GSS top-k edge (``successors``), ``self_loops`` repeating
    the previous code and ``self_loops_on_graph`` those of them on a top-k edge (a code among its own
    top-k successors): what a graph bonus can move."""
    counts = dict.fromkeys(("pairs", "on_graph", "self_loops", "self_loops_on_graph"), 0)
    for run in _code_runs(sequences, table):
        for prev, nxt in pairwise(int(code) for code in run):
            on_graph = nxt in successors[prev]
            counts["pairs"] += 1
            counts["on_graph"] += on_graph
            counts["self_loops"] += prev == nxt
            counts["self_loops_on_graph"] += prev == nxt and on_graph
    return counts


def successor_share(
    sequences: Sequence[BehaviourSequence], table: CodeTable, successors: Sequence[Sequence[int]]
) -> float | None:
    """Share of consecutive behaviour pairs inside ``sequences`` that follow a GSS top-k edge: the next
    code is among ``successors[previous code]`` (``gss_successors``). Pairs are counted within runs
    of behaviours in ``table``; None when there is no pair."""
    counts = transition_counts(sequences, table, successors)
    return counts["on_graph"] / counts["pairs"] if counts["pairs"] else None


def _code_runs(sequences: Sequence[BehaviourSequence], table: CodeTable) -> list[list[str]]:
    """The sequences in codes, broken at every behaviour outside ``table``."""
    runs: list[list[str]] = []
    for seq in sequences:
        run: list[str] = []
        for b in seq:
            pair = DeviceAction(b.device, b.action)
            if pair in table.entries:
                run.append(table.code(pair))
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
    return runs


def trim_hints(hints_json: str, count: TokenCount, budget: int) -> str:
    """Drop the least frequent actions' hints until they fit ``budget`` tokens (keys are ordered by
    frequency, see ``TransitionGraph.hints_json``)."""
    hints: dict[str, object] = json.loads(hints_json)
    keys = list(hints)
    while keys and count(json.dumps({k: hints[k] for k in keys}, separators=(",", ":"))) > budget:
        keys = keys[: max(0, math.floor(len(keys) * 0.8))]
    return json.dumps({k: hints[k] for k in keys}, separators=(",", ":"))


def chunk_lines(
    lines: Sequence[str], line_tokens: Sequence[int], budget: int, max_per_chunk: int
) -> list[list[str]]:
    """Greedy packing of sequence lines into chunks of at most ``budget`` tokens and ``max_per_chunk``
    lines, in order. A single line longer than the budget is dropped (it could never be shown)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for line, tokens in zip(lines, line_tokens, strict=True):
        if tokens > budget:
            continue
        if current and (used + tokens > budget or len(current) >= max_per_chunk):
            chunks.append(current)
            current, used = [], 0
        current.append(line)
        used += tokens
    if current:
        chunks.append(current)
    return chunks


def shown_lines(sequences: Sequence[BehaviourSequence], table: CodeTable, config: PromptConfig) -> list[str]:
    """The data lines a prompt can show: sequences of at least ``min_behaviours`` (cut to
    ``max_behaviours``) whose every pair is in ``table``, in the output line format."""
    shown = [seq[: config.max_behaviours] for seq in sequences if len(seq) >= config.min_behaviours]
    return [line for seq in shown if (line := format_sequence(seq, table)) is not None]


def build_prompts(
    sequences: Sequence[BehaviourSequence],
    table: CodeTable,
    shift: ContextShift,
    hints_json: str,
    *,
    profile: HouseholdProfile | None = None,
    weeks: int = 1,
    config: PromptConfig | None = None,
    count: TokenCount = estimate_tokens,
) -> list[SynthesisPrompt]:
    """All prompts of one synthesis run: every (week, chunk) pair, each within the token budget.

    Sequences using a pair missing from ``table`` are left out (they could not be written in codes),
    and so are sequences shorter than ``config.min_behaviours`` (the output may not contain them).
    Raises ``PromptBudgetError`` if the fixed part alone does not fit.
    """
    config = config or PromptConfig()
    fmt = LineFormat(
        n_codes=len(table),
        min_behaviours=config.min_behaviours,
        max_behaviours=config.max_behaviours,
        max_lines=config.sequences_per_response,
        allowed_hours=shift.active_hours,
    )
    lines = shown_lines(sequences, table, config)
    hints = trim_hints(hints_json, count, config.prompt_budget // 4)
    head = fixed_part(table, shift, profile, hints)
    overhead = count(head + "\n" + cue(weeks - 1))
    data_budget = config.prompt_budget - overhead
    if data_budget < 16:
        raise PromptBudgetError(
            f"the fixed prompt needs {overhead} tokens; the budget is {config.prompt_budget} "
            f"(n_ctx {config.n_ctx} - answer {config.max_new_tokens} - margin {config.margin_tokens})"
        )
    line_tokens = [count(line + "\n") for line in lines]
    chunks = chunk_lines(lines, line_tokens, data_budget, config.max_sequences_per_chunk) or [[]]
    chunks = _verified(chunks, head, weeks, config.prompt_budget, count)
    prompts = []
    for week, index in plan_weeks(weeks, len(chunks)):
        text = _prompt_text(head, chunks[index], week)
        prompts.append(SynthesisPrompt(text, week, index, len(chunks[index]), count(text), fmt))
    return prompts


def _prompt_text(head: str, lines: Sequence[str], week: int) -> str:
    return head + "\n" + "".join(line + "\n" for line in lines) + cue(week)


def _verified(
    chunks: list[list[str]], head: str, weeks: int, budget: int, count: TokenCount
) -> list[list[str]]:
    """Count each whole prompt (per-line counts are only additive approximately) and move lines that
    overflow into a chunk of their own."""
    verified: list[list[str]] = []
    pending = list(chunks)
    while pending:
        chunk = pending.pop(0)
        overflow: list[str] = []
        while len(chunk) > 1 and count(_prompt_text(head, chunk, weeks - 1)) > budget:
            overflow.insert(0, chunk.pop())
        verified.append(chunk)
        if overflow:
            pending.insert(0, overflow)
    return verified


def total_prompt_tokens(prompts: Sequence[SynthesisPrompt]) -> int:
    """Prompt tokens of a whole run (SmartGen Table 9 compares this with and without compression)."""
    return sum(p.n_tokens for p in prompts)
