"""Parsing and validating LLM output against the device dictionary; Pass@1; fuzzed garbage."""

from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from habitus_engine.behaviour import Behaviour
from habitus_engine.datasets import load_vocabulary, read_sequences, to_behaviours
from habitus_engine.llm.grammar import LineFormat
from habitus_engine.synth_parse import (
    CodeTable,
    DeviceAction,
    DeviceDictionary,
    ParsedResponse,
    ValidationRules,
    build_code_table,
    format_sequence,
    parse_response,
    pass_at_1,
    usage_counts,
)

FR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "smartthings" / "fr"

LIGHT_ON = DeviceAction("Light", "Light:switch on")
LIGHT_OFF = DeviceAction("Light", "Light:switch off")
TV_ON = DeviceAction("Television", "Television:switch on")
TABLE = CodeTable((LIGHT_ON, LIGHT_OFF, TV_ON))


def test_line_format_parses_into_behaviours_on_the_requested_week() -> None:
    parsed = parse_response("0 07 0;0 08 1\n5 21 2;5 23 1\n", TABLE, week=2)
    assert parsed.passed and parsed.lines == 2 and not parsed.invalid
    first, second = parsed.sequences
    assert [(b.time, b.device, b.action) for b in first] == [
        (2 * 168 + 7, "Light", "Light:switch on"),
        (2 * 168 + 8, "Light", "Light:switch off"),
    ]
    assert second[0].time == 2 * 168 + 5 * 24 + 21


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("0 07 3;0 08 1", "code 3 not in the table"),
        ("7 07 0;0 08 1", "out of range"),
        ("0 25 0;0 08 1", "out of range"),
        ("0 09 0;0 08 1", "time goes backwards"),
        ("0 07 0", "1 behaviours"),
        ("0 01 0;0 23 1;1 02 0", "spans 25 h"),
        ("hello world", "not 'D HH CC'"),
    ],
)
def test_invalid_lines_are_reported_and_dropped(line: str, reason: str) -> None:
    parsed = parse_response(f"0 07 0;0 08 1\n{line}\n", TABLE)
    assert len(parsed.sequences) == 1
    assert len(parsed.invalid) == 1 and reason in parsed.invalid[0]
    assert not parsed.passed


def test_a_sequence_may_run_from_sunday_into_monday() -> None:
    parsed = parse_response("6 22 0;0 01 1\n", TABLE)
    assert parsed.passed
    assert [b.time for b in parsed.sequences[0]] == [6 * 24 + 22, 168 + 1]


def test_a_line_cut_by_max_tokens_is_ignored_not_invalid() -> None:
    parsed = parse_response("0 07 0;0 08 1\n0 09 0;0 1", TABLE)
    assert parsed.truncated and parsed.passed and len(parsed.sequences) == 1


def test_an_unterminated_complete_last_line_counts() -> None:
    parsed = parse_response("0 07 0;0 08 1\n1 07 0;1 08 1", TABLE)
    assert not parsed.truncated and len(parsed.sequences) == 2


def test_json_output_parses_like_lines() -> None:
    text = json.dumps({"sequences": [[[0, 7, 0], [0, 8, 1]], [[1, 7, 9], [1, 8, 1]]]})
    parsed = parse_response(text, TABLE)
    assert len(parsed.sequences) == 1 and parsed.invalid == ["line 2: code 9 not in the table"]
    assert not parse_response('{"sequences": 3}', TABLE).sequences
    assert not parse_response('{"seq', TABLE).passed


def test_pass_at_1_counts_usable_responses() -> None:
    good = parse_response("0 07 0;0 08 1\n", TABLE)
    bad = parse_response("0 07 0;0 08 1\n0 07 9;0 08 1\n", TABLE)
    empty = parse_response("", TABLE)
    assert pass_at_1([good, bad, empty, good]) == 0.5
    assert pass_at_1([]) == 0.0


def test_format_sequence_round_trips_through_the_parser() -> None:
    seq = [
        Behaviour(time=3 * 24 + 6, device="Light", action="Light:switch on"),
        Behaviour(time=3 * 24 + 9, device="Television", action="Television:switch on"),
    ]
    line = format_sequence(seq, TABLE)
    assert line == "3 06 0;3 09 2"
    parsed = parse_response(line + "\n", TABLE)
    assert [(b.time, b.device, b.action) for b in parsed.sequences[0]] == [
        (b.time, b.device, b.action) for b in seq
    ]
    assert format_sequence([Behaviour(time=0, device="Fan", action="Fan:switch on")], TABLE) is None


def test_code_table_puts_emphasised_devices_first_then_usage() -> None:
    dictionary = DeviceDictionary(
        frozenset({LIGHT_ON, LIGHT_OFF, TV_ON, DeviceAction("Fan", "Fan:switch on")})
    )
    usage = Counter({LIGHT_OFF: 5, TV_ON: 9, DeviceAction("Ghost", "Ghost:boo"): 99})
    table = build_code_table(dictionary, usage, emphasis_devices=["Fan"], max_codes=3)
    assert table.entries == (DeviceAction("Fan", "Fan:switch on"), TV_ON, LIGHT_OFF)
    assert table.code(TV_ON) == "1" and table.lookup(7) is None


def test_device_dictionary_of_a_dataset_holds_prefix_and_observed_pairs() -> None:
    vocab = load_vocabulary(FR)
    observed = [s.seq for s in read_sequences(FR / "paper" / "winter" / "split_trn.jsonl")]
    dictionary = DeviceDictionary.from_vocabulary(vocab, observed)
    assert DeviceAction("Light", "Light:switch on") in dictionary
    assert DeviceAction("Other", "None:location") in dictionary  # logged under "Other" in the data
    assert DeviceAction("Light", "Television:switch on") not in dictionary
    behaviours = [to_behaviours(seq, vocab) for seq in observed]
    table = build_code_table(dictionary, usage_counts(behaviours), max_codes=100)
    shown = [line for seq in behaviours if (line := format_sequence(seq, table)) is not None]
    parsed = parse_response("\n".join(line for line in shown if ";" in line) + "\n", table)
    assert parsed.passed and len(parsed.sequences) > 100


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_garbage_never_raises(text: str) -> None:
    parsed = parse_response(text, TABLE)
    assert isinstance(parsed, ParsedResponse)
    assert all(len(seq) >= 2 for seq in parsed.sequences)


@settings(max_examples=200)
@given(st.text(alphabet='0123456789 ;\n{}[],"sequences:', max_size=200))
def test_near_miss_garbage_never_raises_and_only_valid_codes_pass(text: str) -> None:
    parsed = parse_response(text, TABLE)
    for seq in parsed.sequences:
        assert all(DeviceAction(b.device, b.action) in TABLE.entries for b in seq)
        assert all(later.time >= earlier.time for earlier, later in pairwise(seq))


ordered_line = st.tuples(
    st.integers(0, 149), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=2, max_size=10)
)


@given(st.lists(ordered_line, min_size=1, max_size=4))
def test_what_the_automaton_accepts_the_parser_accepts_entirely(
    lines: list[tuple[int, list[tuple[int, int]]]],
) -> None:
    text = ""
    for start, steps in lines:
        times = [start + sum(delta for delta, _ in steps[: i + 1]) for i in range(len(steps))]
        text += ";".join(f"{t // 24} {t % 24:02d} {c}" for t, (_, c) in zip(times, steps, strict=True)) + "\n"
    assert LineFormat(n_codes=3, max_lines=4).accepts(text)
    parsed = parse_response(text, TABLE)
    assert parsed.passed and len(parsed.sequences) == len(lines) and not parsed.truncated


def test_rules_from_the_format_check_what_a_server_may_ignore() -> None:
    fmt = LineFormat(n_codes=3, min_behaviours=2, max_behaviours=3, allowed_hours=(20, 21, 22))
    rules = ValidationRules.from_format(fmt)
    assert (rules.min_behaviours, rules.max_behaviours, rules.allowed_hours) == (2, 3, (20, 21, 22))
    parsed = parse_response("0 20 0;0 21 1\n0 09 0;0 21 1\n0 20 0;0 21 1;0 21 1;0 22 1\n", TABLE, rules=rules)
    assert len(parsed.sequences) == 1
    assert "outside the new context's hours" in parsed.invalid[0] and "4 behaviours" in parsed.invalid[1]
