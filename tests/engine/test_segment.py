"""TSS (SmartGen Algorithm 1) on hand-made timelines, the paper's parameter grid and real data."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from habitus_engine.behaviour import Behaviour
from habitus_engine.datasets import load_vocabulary, read_sequences, to_behaviours
from habitus_engine.segment import (
    OnlineSegmenter,
    TSSConfig,
    is_off_action,
    is_semantically_linked,
    split_sequences,
)
from tests.paths import SMARTTHINGS


def on(t: float, device: str = "light.hall") -> Behaviour:
    return Behaviour(t, device, "Light:switch on")


def off(t: float, device: str = "light.hall") -> Behaviour:
    return Behaviour(t, device, "Light:switch off")


def use(t: float, device: str = "tv") -> Behaviour:
    return Behaviour(t, device, "Television:mediaPlayback play")


def lengths(pieces: list[list[Behaviour]]) -> list[int]:
    return [len(p) for p in pieces]


def times(pieces: list[list[Behaviour]]) -> list[list[float]]:
    return [[b.time for b in p] for p in pieces]


def test_gap_above_max_gap_splits_and_equal_gap_does_not() -> None:
    pieces = split_sequences([use(0), use(9), use(18.5)], TSSConfig(9, 24))
    assert times(pieces) == [[0, 9], [18.5]]


def test_span_above_max_span_splits() -> None:
    # every gap is 5 h (< 9 h) but the sequence would exceed 24 h at t=25
    pieces = split_sequences([use(t) for t in (0, 5, 10, 15, 20, 25, 30)], TSSConfig(9, 24))
    assert times(pieces) == [[0, 5, 10, 15, 20], [25, 30]]


def test_span_counter_restarts_with_each_sequence() -> None:
    """The reference never reset it: behaviours every 6 h over 54 h gave [5, 1, 1, 1, 1, 1]."""
    pieces = split_sequences([use(t) for t in range(0, 55, 6)], TSSConfig(9, 24))
    assert lengths(pieces) == [5, 5]
    assert times(pieces) == [[0, 6, 12, 18, 24], [30, 36, 42, 48, 54]]


def test_off_after_on_on_same_device_is_never_separated() -> None:
    # 12 h gap would split, but the off completes the on of the same device
    pieces = split_sequences([on(0), use(1), off(13)], TSSConfig(9, 24))
    assert times(pieces) == [[0, 1, 13]]


def test_off_of_a_device_not_used_in_the_sequence_splits() -> None:
    pieces = split_sequences([on(0, "light.a"), off(13, "light.b")], TSSConfig(9, 24))
    assert times(pieces) == [[0], [13]]


def test_off_beyond_the_link_window_is_another_episode() -> None:
    pieces = split_sequences([on(0), off(30)], TSSConfig(9, 24, link_hours=24))
    assert times(pieces) == [[0], [30]]


def test_second_off_is_not_linked_to_a_device_already_off() -> None:
    pieces = split_sequences([on(0), off(1), off(12)], TSSConfig(9, 24))
    assert times(pieces) == [[0, 1], [12]]


def test_linked_off_overrides_span_too() -> None:
    config = TSSConfig(9, 24, link_hours=30)
    pieces = split_sequences([on(0), use(8), use(16), off(25), use(26)], config)
    assert times(pieces) == [[0, 8, 16, 25], [26]]


def test_empty_and_single() -> None:
    assert split_sequences([], TSSConfig()) == []
    assert times(split_sequences([use(3)], TSSConfig())) == [[3]]


def test_backward_step_counts_as_no_gap_and_keeps_order() -> None:
    pieces = split_sequences([use(5), use(1), use(20)], TSSConfig(9, 24))
    assert times(pieces) == [[5, 1], [20]]


@pytest.mark.parametrize("bad", [(0, 24), (9, 0), (-1, 24)])
def test_config_rejects_non_positive(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        TSSConfig(*bad)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("Light:switch off", True),
        ("WaterValve:valve close", True),
        ("Dryer:dryerOperatingState setMachineState stop", True),
        ("Light:switch on", False),
        ("Blind:windowShade open", False),
        ("Television:mediaPlayback play", False),
        ("Light:offset", False),
    ],
)
def test_default_off_vocabulary(action: str, expected: bool) -> None:
    assert is_off_action(action) is expected


GRID = list(itertools.product([6, 9, 12, 15], [12, 24, 36, 48]))
TIMELINE = [use(t) for t in (0, 2, 5, 11, 19, 26, 34, 40, 47, 53, 68, 70, 75, 88, 96, 97)]


@pytest.mark.parametrize(("gap", "span"), GRID, ids=[f"dt{g}-T{s}" for g, s in GRID])
def test_paper_parameter_grid_invariants(gap: int, span: int) -> None:
    """For every Δt_max × T_max of the paper: no piece has an internal gap > Δt_max or a span > T_max,
    every cut is justified by one of the two rules, and nothing is lost or reordered."""
    config = TSSConfig(gap, span)
    pieces = split_sequences(TIMELINE, config)
    assert [b for p in pieces for b in p] == TIMELINE
    for piece in pieces:
        assert all(b.time - a.time <= gap for a, b in itertools.pairwise(piece))
        assert piece[-1].time - piece[0].time <= span
    for previous, following in itertools.pairwise(pieces):
        gap_cut = following[0].time - previous[-1].time > gap
        span_cut = following[0].time - previous[0].time > span
        assert gap_cut or span_cut


@pytest.mark.parametrize(
    ("gap", "span", "expected"),
    [
        (6, 12, [[0, 2, 5, 11], [19], [26], [34, 40], [47, 53], [68, 70, 75], [88], [96, 97]]),
        (9, 24, [[0, 2, 5, 11, 19], [26, 34, 40, 47], [53], [68, 70, 75], [88, 96, 97]]),
        (15, 48, [[0, 2, 5, 11, 19, 26, 34, 40, 47], [53, 68, 70, 75, 88, 96, 97]]),
    ],
)
def test_paper_grid_hand_computed(gap: int, span: int, expected: list[list[float]]) -> None:
    assert times(split_sequences(TIMELINE, TSSConfig(gap, span))) == expected


timeline_strategy = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=30, allow_nan=False),
        st.sampled_from(["a", "b", "c"]),
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(steps=timeline_strategy)
def test_online_segmenter_matches_offline_split(steps: list[tuple[float, str, bool]]) -> None:
    """Live (one event at a time, idle closes in between) and offline TSS give the same pieces."""
    t = 0.0
    timeline: list[Behaviour] = []
    for delta, device, is_off in steps:
        t += delta
        timeline.append(off(t, device) if is_off else on(t, device))
    config = TSSConfig(9, 24)
    online = OnlineSegmenter(config)
    pieces: list[list[Behaviour]] = []
    for behaviour in timeline:
        idle = online.close_if_idle(behaviour.time - 1e-9)
        if idle:
            pieces.append(idle)
        closed = online.push(behaviour)
        if closed:
            pieces.append(closed)
    if online.open_sequence:
        pieces.append(online.open_sequence)
    assert pieces == split_sequences(timeline, config)


def test_online_idle_close_waits_for_pending_link() -> None:
    online = OnlineSegmenter(TSSConfig(9, 24))
    online.push(on(0))
    assert online.close_if_idle(10) is None  # the light may still be switched off
    assert online.close_if_idle(24.5) == [on(0)]
    online.push(use(30))
    assert online.close_if_idle(39.5) is None  # the TV may still be switched off
    assert online.close_if_idle(54.5) == [use(30)]


def test_link_window_defaults_to_max_span() -> None:
    assert TSSConfig(9, 12).max_link_hours == 12
    assert TSSConfig(9, 12, link_hours=3).max_link_hours == 3


def test_online_restore_and_clock_step_back() -> None:
    online = OnlineSegmenter()
    online.restore([use(5), use(6)])
    assert online.push(use(4)) is None
    assert [b.time for b in online.open_sequence] == [5, 6, 4]
    assert online.push(use(30)) == [use(5), use(6), use(4)]


def test_semantic_link_needs_off_action() -> None:
    assert not is_semantically_linked([on(0)], on(1), TSSConfig(), is_off_action)
    assert is_semantically_linked([on(0)], off(1), TSSConfig(), is_off_action)


# Independent check against the dataset README (section 5): the column "pieces, counter reset, no
# off-check" was computed by the data team's own re-implementation of split.py with the counter fixed.
@pytest.mark.parametrize(
    ("ds", "env", "expected_pieces"),
    [("fr", "daytime", 319), ("fr", "single", 1979), ("sp", "daytime", 1327), ("sp", "single", 5594)],
)
def test_counter_reset_reproduces_dataset_readme_counts(ds: str, env: str, expected_pieces: int) -> None:
    vocab = load_vocabulary(SMARTTHINGS / ds)
    config = TSSConfig(9, 24)
    total = 0
    for labelled in read_sequences(SMARTTHINGS / ds / "context" / env / "trn.jsonl"):
        total += len(split_sequences(to_behaviours(labelled.seq, vocab), config, lambda _a: False))
    assert total == expected_pieces
