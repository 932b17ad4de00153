"""The constrained output format: GBNF ranges, the character automaton, the token automaton."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from habitus_engine.llm.grammar import LINE_START, LineFormat, TokenAutomaton, code_range_alternatives


def _alternatives_regex(alternatives: list[str]) -> re.Pattern[str]:
    """Turn the GBNF alternatives (quoted literals and [a-b] classes) into a Python regex."""
    parts = []
    for alternative in alternatives:
        pieces = alternative.split()
        parts.append("".join(p.strip('"') if p.startswith('"') else p for p in pieces))
    return re.compile("|".join(f"(?:{p})" for p in parts))


@pytest.mark.parametrize(
    ("upper", "width"), [(0, 1), (9, 1), (4, 1), (10, 2), (23, 2), (37, 2), (99, 2), (100, 3), (250, 3)]
)
def test_code_range_alternatives_match_exactly_the_range(upper: int, width: int) -> None:
    pattern = _alternatives_regex(code_range_alternatives(upper, width))
    matched = {n for n in range(10**width) if pattern.fullmatch(str(n).zfill(width))}
    assert matched == set(range(upper + 1))
    assert len(code_range_alternatives(upper, width)) <= width


def test_code_range_rejects_a_range_wider_than_the_width() -> None:
    with pytest.raises(ValueError, match="cannot write"):
        code_range_alternatives(100, 2)


def test_gbnf_names_every_rule_and_bounds() -> None:
    grammar = LineFormat(n_codes=37, min_behaviours=2, max_behaviours=10, max_lines=8).gbnf()
    assert "root ::= line{1,8}" in grammar
    assert '(";" beh){1,9}' in grammar
    assert 'code ::= [0-2] [0-9] | "3" [0-6]' in grammar


def test_automaton_accepts_the_documented_example() -> None:
    fmt = LineFormat(n_codes=13)
    assert fmt.accepts("0 07 12;0 07 03;0 08 12\n5 21 04;5 22 09\n")


@pytest.mark.parametrize(
    "text",
    [
        "",  # no line
        "0 07 12\n",  # a single behaviour (min 2)
        "7 07 12;0 07 03\n",  # day 7
        "0 24 12;0 07 03\n",  # hour 24
        "0 07 13;0 07 03\n",  # code 13 of 13
        "0 7 12;0 07 03\n",  # hour not zero padded
        "0 07 12;0 07 03",  # line not finished
        "0 07 12;0 07 03\n\n",  # empty line
        "0 07 12,0 07 03\n",  # wrong separator
    ],
)
def test_automaton_rejects_what_the_format_forbids(text: str) -> None:
    assert not LineFormat(n_codes=13).accepts(text)


def test_automaton_bounds_behaviours_per_line_and_lines() -> None:
    fmt = LineFormat(n_codes=10, min_behaviours=2, max_behaviours=3, max_lines=2)
    assert fmt.accepts("0 01 1;0 02 2;0 03 3\n")
    assert not fmt.accepts("0 01 1;0 02 2;0 03 3;0 04 4\n")
    assert not fmt.accepts("0 01 1;0 02 2\n" * 3)


behaviour = st.tuples(st.integers(0, 6), st.integers(0, 23), st.integers(0, 36))


@given(st.lists(st.lists(behaviour, min_size=2, max_size=10), min_size=1, max_size=5))
def test_every_well_formed_output_is_accepted_without_time_order(
    lines: list[list[tuple[int, int, int]]],
) -> None:
    text = "".join(";".join(f"{d} {h:02d} {c:02d}" for d, h, c in line) + "\n" for line in lines)
    assert LineFormat(n_codes=37, max_lines=5, max_span_hours=None).accepts(text)


ordered_line = st.tuples(
    st.integers(0, 149), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 36)), min_size=2, max_size=10)
)


@given(st.lists(ordered_line, min_size=1, max_size=5))
def test_every_time_ordered_output_is_accepted(lines: list[tuple[int, list[tuple[int, int]]]]) -> None:
    text = ""
    for start, steps in lines:
        times = [start + sum(delta for delta, _ in steps[: i + 1]) for i in range(len(steps))]
        text += (
            ";".join(f"{t // 24} {t % 24:02d} {c:02d}" for t, (_, c) in zip(times, steps, strict=True)) + "\n"
        )
    assert LineFormat(n_codes=37, max_lines=5).accepts(text)


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("0 07 1;0 07 2\n", True),  # same hour
        ("0 07 1;0 06 2\n", False),  # back in time
        ("0 23 1;1 05 2\n", True),  # over midnight
        ("0 07 1;1 07 2\n", True),  # exactly 24 h
        ("0 07 1;1 08 2\n", False),  # 25 h: longer than TSS's T_max
        ("2 10 1;1 23 2\n", False),  # an earlier day
        ("6 22 1;0 01 2\n", False),  # the automaton does not wrap weeks (the parser does)
    ],
)
def test_the_automaton_keeps_time_order_within_the_span(text: str, accepted: bool) -> None:
    assert LineFormat(n_codes=10).accepts(text) is accepted


# A toy vocabulary: single characters, a few multi-character pieces, and junk.
TOY_PIECES = {i: str(i) for i in range(10)} | {
    10: " ",
    11: ";",
    12: "\n",
    13: "07",
    14: "\n\n",
    15: "hello",
    16: " 1",
}


def test_token_automaton_keeps_only_format_tokens() -> None:
    automaton = TokenAutomaton(LineFormat(n_codes=37), TOY_PIECES, frozenset({99}))
    assert automaton.candidate_count == 16  # "hello" is not made of format characters
    start = automaton.transitions(LINE_START)
    assert sorted(start.token_ids.tolist()) == [0, 1, 2, 3, 4, 5, 6]  # a day; "07" would need a space
    after_day = automaton.transitions(start.next_states[0])
    assert sorted(after_day.token_ids.tolist()) == [10, 16]  # " " and " 1" (space + first hour digit)
    hour = automaton.transitions(after_day.next_states[after_day.token_ids.tolist().index(10)])
    assert sorted(hour.token_ids.tolist()) == [0, 1, 2, 13]  # first hour digit 0-2, or "07" whole


@settings(max_examples=50)
@given(st.data())
def test_token_automaton_walks_only_accepted_strings(data: st.DataObject) -> None:
    fmt = LineFormat(n_codes=37, max_lines=2)
    automaton = TokenAutomaton(fmt, TOY_PIECES, frozenset({99}))
    state, text, lines = LINE_START, "", 0
    for _ in range(200):
        moves = automaton.transitions(state)
        if automaton.may_end(state, lines) and data.draw(st.booleans()):
            break
        pick = data.draw(st.integers(0, len(moves.token_ids) - 1))
        text += TOY_PIECES[int(moves.token_ids[pick])]
        state, lines = moves.next_states[pick], lines + int(moves.newlines[pick])
        if lines >= fmt.max_lines:
            break
    assert fmt.run(LINE_START, text) == state
    if state == LINE_START and 1 <= lines <= fmt.max_lines:
        assert fmt.accepts(text)


def test_allowed_hours_restrict_automaton_gbnf_and_schema_alike() -> None:
    night = LineFormat(n_codes=10, allowed_hours=(22, 23, 0, 1))
    assert night.accepts("0 22 1;0 23 2\n1 00 3;1 01 4\n")
    assert not night.accepts("0 21 1;0 22 2\n")
    assert not night.accepts("0 23 1;1 02 2\n")
    assert 'hour ::= "00" | "01" | "22" | "23"' in night.gbnf()
    hour_schema = night.json_schema()["properties"]["sequences"]["items"]["items"]["prefixItems"][1]
    assert hour_schema == {"type": "integer", "enum": [0, 1, 22, 23]}
    with pytest.raises(ValueError, match="hours 0-23"):
        LineFormat(n_codes=3, allowed_hours=(24,))


# Graph-guided decoding: 0 -> 1, 1 -> 2 or 3, 2 has no successors, 3 -> 0; 4 (absent from history) is free.
GRAPH = LineFormat(n_codes=5, successors=((1,), (2, 3), (), (0,), ()), free_codes=(4,))


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("0 07 0;0 08 1;0 09 3\n", True),  # every step along a GSS edge
        ("0 07 0;0 08 2\n", False),  # 2 is not a successor of 0
        ("0 07 1;0 08 1\n", False),  # no self-loop in the graph: no degenerate repeat
        ("0 07 2;0 08 3\n", True),  # the first behaviour of a line is free
        ("0 07 2;0 08 2;0 09 0\n", True),  # after a code without successors anything may follow
        ("0 07 0;0 08 4;0 09 1\n", True),  # a free code (absent from history) may follow any code
        ("0 07 0;0 08 1\n0 09 0;0 10 1\n", True),  # a new line starts free again
    ],
)
def test_graph_guided_decoding_follows_the_gss_edges(text: str, accepted: bool) -> None:
    assert GRAPH.accepts(text) is accepted
    assert LineFormat(n_codes=5).accepts(text)  # without the graph every one is in the format


def test_graph_guided_token_automaton_offers_only_successor_codes() -> None:
    pieces = {i: str(i) for i in range(7)} | {10: " ", 11: ";", 12: "\n", 13: "07", 14: "08"}
    automaton = TokenAutomaton(GRAPH, pieces, frozenset({99}))
    after_zero = GRAPH.run(LINE_START, "0 07 0;0 08 ")
    assert after_zero is not None and after_zero.prev == 0
    assert sorted(automaton.transitions(after_zero).token_ids.tolist()) == [1, 4]  # successor + free
    first = GRAPH.run(LINE_START, "0 07 ")
    assert first is not None
    assert sorted(automaton.transitions(first).token_ids.tolist()) == [0, 1, 2, 3, 4]


def test_without_a_graph_the_state_never_carries_the_previous_code() -> None:
    plain = LineFormat(n_codes=5)
    assert plain.run(LINE_START, "0 07 0;") == plain.run(LINE_START, "0 07 3;")  # one cached state
    assert plain.allowed_codes(0) is None and GRAPH.allowed_codes(-1) is None
    assert GRAPH.allowed_codes(0) == frozenset({1, 4}) and GRAPH.allowed_codes(2) is None
    with pytest.raises(ValueError, match="one entry per code"):
        LineFormat(n_codes=5, successors=((1,),))
    with pytest.raises(ValueError, match="codes of the table"):
        LineFormat(n_codes=2, successors=((1,), (2,)))


# Soft graph-guided decoding: the same graph as GRAPH, preferred by 2 nats instead of forced.
SOFT = GRAPH.with_graph(GRAPH.successors, GRAPH.free_codes, bonus=2.0)


def test_soft_graph_guided_decoding_forbids_nothing_the_format_allows() -> None:
    for text in ("0 07 0;0 08 2\n", "0 07 1;0 08 1\n", "0 07 0;0 08 1;0 09 3\n"):
        assert SOFT.accepts(text)


def test_the_bonus_goes_to_code_digits_on_the_gss_edges_where_the_graph_constrains() -> None:
    after_zero = SOFT.run(LINE_START, "0 07 0;0 08 ")
    assert after_zero is not None and after_zero.prev == 0
    # 1 is 0's successor and 4 is free (absent from the history): both on the graph
    assert [SOFT.bonus(after_zero, str(c)) for c in range(5)] == [0.0, 2.0, 0.0, 0.0, 2.0]
    assert GRAPH.bonus(after_zero, "1") == 0.0  # the hard constraint has no bonus
    for prefix in ("0 07 ", "0 07 2;0 08 "):  # a line's first code, the code after one without successors
        state = SOFT.run(LINE_START, prefix)
        assert state is not None and {SOFT.bonus(state, str(c)) for c in range(5)} == {0.0}
    assert SOFT.bonus(SOFT.run(LINE_START, "0 07 0") or LINE_START, ";") == 0.0  # not a code digit


def test_the_bonus_follows_multi_digit_codes_digit_by_digit() -> None:
    wide = LineFormat(n_codes=20).with_graph(tuple((12,) if c == 0 else () for c in range(20)), (), 3.0)
    after_zero = wide.run(LINE_START, "0 07 00;0 08 ")
    assert after_zero is not None
    assert wide.bonus(after_zero, "1") == 3.0 and wide.bonus(after_zero, "0") == 0.0  # 1_ may become 12
    assert wide.bonus(after_zero, "12") == 3.0 and wide.bonus(after_zero, "15") == 0.0  # whole-code tokens
    one = wide.run(after_zero, "1")
    assert one is not None and wide.bonus(one, "2") == 3.0 and wide.bonus(one, "5") == 0.0


def test_the_token_automaton_caches_the_bonus_with_the_allowed_tokens() -> None:
    pieces = {i: str(i) for i in range(7)} | {10: " ", 11: ";", 12: "\n", 13: "07", 14: "08"}
    automaton = TokenAutomaton(SOFT, pieces, frozenset({99}))
    after_zero = SOFT.run(LINE_START, "0 07 0;0 08 ")
    assert after_zero is not None
    moves = automaton.transitions(after_zero)
    assert sorted(moves.token_ids.tolist()) == [0, 1, 2, 3, 4]  # every code stays allowed
    assert moves.bonus is not None
    bonus = dict(zip(moves.token_ids.tolist(), moves.bonus.tolist(), strict=True))
    assert bonus == {0: 0.0, 1: 2.0, 2: 0.0, 3: 0.0, 4: 2.0}
    first = SOFT.run(LINE_START, "0 07 ")
    assert first is not None and automaton.transitions(first).bonus is None  # nothing to prefer there
    assert TokenAutomaton(GRAPH, pieces, frozenset({99})).transitions(after_zero).bonus is None
    with pytest.raises(ValueError, match="graph_bonus"):
        LineFormat(n_codes=5, graph_bonus=-1.0)


def test_successor_weights_scale_the_bonus_per_edge() -> None:
    # code 0 -> {0, 1} (a self-loop and one other edge), 1 -> {0}; code 4 is free
    graph = LineFormat(n_codes=5, successors=((0, 1), (0,), (), (), ()), free_codes=(4,))
    flat = graph.with_graph(graph.successors, graph.free_codes, 2.0)
    no_self = graph.with_graph(graph.successors, graph.free_codes, 2.0, ((0.0, 1.0), (1.0,), (), (), ()))
    weighted = graph.with_graph(graph.successors, graph.free_codes, 2.0, ((1.0, 0.25), (1.0,), (), (), ()))
    after_zero = flat.run(LINE_START, "0 07 0;0 08 ")
    assert after_zero is not None and after_zero.prev == 0

    def bonuses(fmt: LineFormat) -> list[float]:
        return [fmt.bonus(after_zero, str(c)) for c in range(5)]

    assert bonuses(flat) == [2.0, 2.0, 0.0, 0.0, 2.0]
    assert bonuses(no_self) == [0.0, 2.0, 0.0, 0.0, 2.0]  # no bonus on the repeat, the escape keeps it
    assert bonuses(weighted) == [2.0, 0.5, 0.0, 0.0, 2.0]  # proportional to the edge's weight
    assert no_self.accepts("0 07 0;0 08 0\n")  # preferred less, never forbidden
    after_one = no_self.run(LINE_START, "0 07 1;0 08 ")
    assert after_one is not None and no_self.bonus(after_one, "0") == 2.0  # 1 -> 0 is no self-loop
    with pytest.raises(ValueError, match="one weight per successor"):
        graph.with_graph(graph.successors, graph.free_codes, 2.0, ((1.0,), (1.0,), (), (), ()))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        graph.with_graph(graph.successors, graph.free_codes, 2.0, ((1.0, 2.0), (1.0,), (), (), ()))


def test_a_multi_digit_prefix_takes_its_best_edge_weight() -> None:
    # code 10 -> {10 (self), 12}: the digit 1 may still become 12, so it keeps the bonus; 0 is off
    successors = tuple((10, 12) if c == 10 else () for c in range(20))
    weights = tuple((0.0, 1.0) if c == 10 else () for c in range(20))
    wide = LineFormat(n_codes=20).with_graph(successors, (), 3.0, weights)
    after_ten = wide.run(LINE_START, "0 07 10;0 08 ")
    assert after_ten is not None
    assert wide.bonus(after_ten, "1") == 3.0 and wide.bonus(after_ten, "0") == 0.0
    one = wide.run(after_ten, "1")
    assert one is not None and wide.bonus(one, "2") == 3.0 and wide.bonus(one, "0") == 0.0  # 10: the loop
