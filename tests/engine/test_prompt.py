"""The SmartGen Table 1 prompt: its elements, the token budget (model tokenizer) and chunking."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from habitus_engine.behaviour import Behaviour
from habitus_engine.datasets import load_vocabulary, read_sequences, to_behaviours
from habitus_engine.graph import TransitionGraph
from habitus_engine.llm.model_file import default_model_path
from habitus_engine.llm.tokens import LlamaTokenCounter
from habitus_engine.prompt import (
    PromptBudgetError,
    PromptConfig,
    build_prompts,
    chunk_lines,
    estimate_tokens,
    gss_hints,
    gss_successor_weights,
    gss_successors,
    successor_share,
    total_prompt_tokens,
    transition_counts,
    trim_hints,
)
from habitus_engine.shifts import HouseholdProfile, paper_shift
from habitus_engine.synth_parse import (
    CodeTable,
    DeviceAction,
    DeviceDictionary,
    build_code_table,
    parse_response,
    usage_counts,
)

FR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "smartthings" / "fr"


@pytest.fixture(scope="module")
def counter() -> Iterator[LlamaTokenCounter]:
    tokens = LlamaTokenCounter(default_model_path())
    yield tokens
    tokens.close()


@pytest.fixture(scope="module")
def fr_winter():  # type: ignore[no-untyped-def]
    vocab = load_vocabulary(FR)
    raw = [s.seq for s in read_sequences(FR / "paper" / "winter" / "split_trn.jsonl")]
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    dictionary = DeviceDictionary.from_vocabulary(vocab, raw)
    shift = paper_shift("spring")
    table = build_code_table(dictionary, usage_counts(behaviours), shift.emphasis_devices, max_codes=60)
    labels = {pair.action: table.code(pair) for pair in table.entries}
    graph = TransitionGraph().fit([[b.action for b in seq] for seq in behaviours])
    hints = graph.hints_json(label=lambda a: labels.get(str(a), str(a)))
    return behaviours, table, shift, hints


def test_prompt_holds_every_table_1_element_in_order(fr_winter) -> None:  # type: ignore[no-untyped-def]
    behaviours, table, shift, hints = fr_winter
    profile = HouseholdProfile(occupants=2, work_pattern="office hours")
    prompt = build_prompts(behaviours[:40], table, shift, hints, profile=profile)[0]
    text = prompt.text
    markers = [
        "IoT expert",
        "previous environment and the new one",
        "Your task: first",
        "Requirements: 1.",
        "Scene: The original environment",
        "Household: 2 occupants",
        "Format:",
        "Codes:",
        "Habits",
        "Previous sequences",
        "New sequences (new environment, week 1):\n",
    ]
    positions = [text.index(marker) for marker in markers]
    assert positions == sorted(positions)
    assert text.endswith("week 1):\n")
    assert "00 AirConditioner:" in text  # the new context's devices come first in the code table
    assert prompt.format.n_codes == len(table) == 60


def test_prompts_fit_the_budget_counted_by_the_models_tokenizer(fr_winter, counter) -> None:  # type: ignore[no-untyped-def]
    behaviours, table, shift, hints = fr_winter
    config = PromptConfig(n_ctx=2048, max_new_tokens=256, max_sequences_per_chunk=30)
    prompts = build_prompts(behaviours[:300], table, shift, hints, weeks=2, config=config, count=counter)
    assert len({p.chunk for p in prompts}) > 1
    assert [p.week for p in prompts] == sorted(p.week for p in prompts)  # week by week
    for p in prompts:
        assert p.n_tokens == counter(p.text) <= config.prompt_budget
        assert p.n_sequences <= 30
    # every shown line parses back with the prompt's own table: the data is in the output format
    data = prompts[0].text.split("Previous sequences (previous environment):\n")[1].split("New sequences")[0]
    assert parse_response(data, table).passed


def test_the_estimate_is_pessimistic_for_gemma(fr_winter, counter) -> None:  # type: ignore[no-untyped-def]
    behaviours, table, shift, hints = fr_winter
    text = build_prompts(behaviours[:30], table, shift, hints)[0].text
    assert estimate_tokens(text) >= counter(text)


def test_fewer_sequences_cost_fewer_prompt_tokens(fr_winter, counter) -> None:  # type: ignore[no-untyped-def]
    behaviours, table, shift, hints = fr_winter
    full = total_prompt_tokens(build_prompts(behaviours, table, shift, hints, count=counter))
    compressed = total_prompt_tokens(build_prompts(behaviours[::10], table, shift, hints, count=counter))
    assert compressed < full / 3


def test_a_context_too_small_for_the_fixed_part_is_an_error(fr_winter) -> None:  # type: ignore[no-untyped-def]
    behaviours, table, shift, hints = fr_winter
    with pytest.raises(PromptBudgetError, match="fixed prompt needs"):
        build_prompts(behaviours, table, shift, hints, config=PromptConfig(n_ctx=700, max_new_tokens=256))


def test_chunk_lines_respects_budget_and_count() -> None:
    chunks = chunk_lines(["a", "b", "c", "d", "e"], [3, 3, 3, 9, 1], budget=7, max_per_chunk=2)
    assert chunks == [["a", "b"], ["c", "e"]]  # "d" alone exceeds the budget and is dropped


def test_trim_hints_drops_the_least_frequent_keys_first() -> None:
    hints = '{"a":["b","c"],"b":["c"],"c":["a"],"d":["a"]}'
    trimmed = trim_hints(hints, estimate_tokens, budget=30)
    assert trimmed.startswith('{"a":') and estimate_tokens(trimmed) <= 30 < estimate_tokens(hints)
    assert trim_hints(hints, estimate_tokens, budget=1) == "{}"


def test_gss_hints_speak_the_code_tables_language() -> None:
    on, off = DeviceAction("Light", "Light:switch on"), DeviceAction("Light", "Light:switch off")
    table = CodeTable((on, off))

    def b(t: float, pair: DeviceAction) -> Behaviour:
        return Behaviour(time=t, device=pair.device, action=pair.action)

    fan = DeviceAction("Fan", "Fan:switch on")  # not in the table: breaks the sequence
    seqs = [[b(1, on), b(2, off)], [b(1, on), b(2, fan), b(3, off)], [b(5, off), b(6, on)]]
    assert json.loads(gss_hints(seqs, table)) == {"0": ["1"], "1": ["0"]}


def _light_fan_tv() -> tuple[CodeTable, DeviceAction, DeviceAction, DeviceAction, DeviceAction]:
    """A four-code table: light on, light off, fan on, TV on."""
    on, off = DeviceAction("Light", "Light:switch on"), DeviceAction("Light", "Light:switch off")
    fan, tv = DeviceAction("Fan", "Fan:switch on"), DeviceAction("TV", "TV:switch on")
    return CodeTable((on, off, fan, tv)), on, off, fan, tv


def b(t: float, pair: DeviceAction) -> Behaviour:
    return Behaviour(time=t, device=pair.device, action=pair.action)


def test_gss_successors_are_the_hints_graph_as_codes_with_unseen_pairs_free() -> None:
    table, on, off, fan, tv = _light_fan_tv()
    seqs = [[b(1, on), b(2, off)], [b(1, on), b(2, fan)], [b(1, on), b(2, off), b(3, on)]]
    successors, free = gss_successors(seqs, table)
    assert successors == ((1, 2), (0,), (), ())  # on -> off (twice) then fan; fan and tv: none
    assert free == (3,)  # tv never occurs in the history
    # on->off, on->fan, on->off, off->on: all on the graph; a synthetic fan->tv, tv->on are not
    assert successor_share(seqs, table, successors) == 1.0
    assert successor_share([[b(1, fan), b(2, tv), b(3, on), b(4, off)]], table, successors) == 1 / 3
    assert successor_share([[b(1, tv)]], table, successors) is None


def test_graph_bonus_weights_leave_out_self_loops_or_follow_the_transition_probabilities() -> None:
    table, on, off, fan, _tv = _light_fan_tv()
    # on -> on three times, on -> off once, on -> fan twice; off -> on once
    seqs = [
        [b(1, on), b(2, on), b(3, on), b(4, on)],
        [b(1, on), b(2, off), b(3, on)],
        [b(1, on), b(2, fan)],
        [b(1, on), b(2, fan)],
    ]
    successors, _free = gss_successors(seqs, table)
    assert successors == ((0, 2, 1), (0,), (), ())  # the self-loop is on's top successor
    assert gss_successor_weights(seqs, table, "flat") == ()
    assert gss_successor_weights(seqs, table, "no_self_loops") == ((0.0, 1.0, 1.0), (1.0,), (), ())
    assert gss_successor_weights(seqs, table, "weighted") == ((1.0, 2 / 3, 1 / 3), (1.0,), (), ())
    with pytest.raises(ValueError, match="graph bonus form"):
        gss_successor_weights(seqs, table, "log")  # type: ignore[arg-type]
    counts = transition_counts(seqs, table, successors)
    assert counts == {"pairs": 7, "on_graph": 7, "self_loops": 3, "self_loops_on_graph": 3}
    synthetic = [[b(1, off), b(2, off), b(3, on), b(4, on)]]  # off -> off is off the graph
    assert transition_counts(synthetic, table, successors) == {
        "pairs": 3,
        "on_graph": 2,
        "self_loops": 2,
        "self_loops_on_graph": 1,
    }


def test_a_schedule_shift_constrains_the_output_hours(fr_winter) -> None:  # type: ignore[no-untyped-def]
    behaviours, table, _shift, hints = fr_winter
    night = paper_shift("night")
    prompt = build_prompts(behaviours[:40], table, night, hints)[0]
    assert prompt.format.allowed_hours == night.active_hours
    assert not prompt.format.accepts("0 12 00;0 13 01\n") and prompt.format.accepts("0 20 00;0 21 01\n")
