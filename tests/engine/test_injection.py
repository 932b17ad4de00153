"""``engine/injection.py``: anomalies injected into copies of normal sequences (the guard's probe)."""

from __future__ import annotations

import copy

from habitus_engine.datasets import RawSequence
from habitus_engine.injection import BURST, KINDS, inject, inject_named
from habitus_engine.models import FieldSizes

SIZES = FieldSizes(n_devices=4, n_actions=6)
# device 0 does actions 0/1 in the morning (bucket 2), device 1 actions 2/3 in the evening (bucket 6);
# device 2 does action 4 once; (3, 5) is a pair the home could do and never did
TRAIN: list[RawSequence] = [[(d, 2, 0, 0), (d, 2, 0, 1), (d, 6, 1, 2), (d, 6, 1, 3)] for d in range(7)] + [
    [(0, 3, 2, 4)]
]
NORMAL: list[RawSequence] = [[(1, 2, 0, 0), (1, 2, 0, 1)], [(3, 6, 1, 2), (3, 6, 1, 3), (3, 6, 1, 2)]]
PAIRS = [(0, 0), (0, 1), (1, 2), (1, 3), (2, 4), (3, 5)]


def _changed(before: RawSequence, after: RawSequence) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    return [(tuple(a), tuple(b)) for a, b in zip(before, after, strict=True) if tuple(a) != tuple(b)]


def test_each_kind_changes_its_copy_as_its_docstring_says() -> None:
    out = inject(NORMAL, TRAIN, PAIRS, SIZES, seed=3)
    assert set(out) == set(KINDS) and all(len(out[k]) == len(NORMAL) for k in KINDS)
    train_behaviours = {tuple(b) for s in TRAIN for b in s}
    for i, seq in enumerate(NORMAL):
        ((before, after),) = _changed(seq, out["device"][i])  # one behaviour, same day and hour
        assert after[:2] == before[:2] and after[2:] == (3, 5)  # the never-used pair
        hour = out["hour"][i]  # every behaviour moved to one bucket the sequence did not use
        assert [(b[0], b[2], b[3]) for b in hour] == [(b[0], b[2], b[3]) for b in seq]
        assert len({b[1] for b in hour}) == 1 and hour[0][1] not in {b[1] for b in seq}
        burst = out["burst"][i]  # a device's two most used actions, alternating, at the sequence's start
        assert burst[BURST:] == seq and {b[:2] for b in burst[:BURST]} == {tuple(seq[0][:2])}
        assert len({b[2] for b in burst[:BURST]}) == 1 and burst[0][3] == burst[2][3] != burst[1][3]
        swapped = _changed(seq, out["swap"][i])  # at most one behaviour, its device/action from training
        assert len(swapped) <= 1
        for before, after in swapped:
            assert after[:2] == before[:2] and any(after[2:] == b[2:] for b in train_behaviours)


def test_the_same_seed_makes_the_same_copies_and_the_inputs_are_left_alone() -> None:
    normal, train = copy.deepcopy(NORMAL), copy.deepcopy(TRAIN)
    first = inject(normal, train, PAIRS, SIZES, seed=5)
    assert (normal, train) == (NORMAL, TRAIN)  # never mutated
    assert inject(normal, train, PAIRS, SIZES, seed=5) == first
    many = [[(d, 2, 0, 0), (d, 2, 0, 1), (d, 6, 1, 2)] for d in range(7)] * 3
    assert inject(many, TRAIN, PAIRS, SIZES, seed=5) != inject(many, TRAIN, PAIRS, SIZES, seed=6)


def test_a_kind_the_statistics_cannot_make_is_left_empty() -> None:
    single = [[(0, 1, 0, 0)]]  # one device with a single action: no burst; no pair list: no device kind
    out = inject(single, single, [], SIZES, seed=1)
    assert out["device"] == [] and out["burst"] == []
    assert len(out["hour"]) == 1 and len(out["swap"]) == 1


def _home(day: int) -> list[tuple[int, int, str, str]]:
    return [
        (day, 2, "light.kitchen", "Light:switch on"),
        (day, 2, "media_player.tv", "Television:switch on"),
        (day, 2, "media_player.tv", "Television:set volume"),
    ]


def test_named_copies_come_from_a_seeded_sample_of_the_given_sequences_only() -> None:
    sequences = [[], *(_home(d % 7) for d in range(30))]  # an empty one is skipped, indices kept
    before = copy.deepcopy(sequences)
    copies = inject_named(sequences, seed=2024, per_kind=4)
    assert sequences == before and inject_named(sequences, seed=2024, per_kind=4) == copies
    assert 0 < len(copies) <= 4 * len(KINDS)
    names = {(b[2], b[3]) for s in sequences for b in s}
    devices = {b[2] for s in sequences for b in s}
    sources = {tuple(s) for s in sequences}
    for c in copies:
        seq, source = c.sequence, sequences[c.source]
        assert tuple(seq) not in sources  # a copy equal to its source is no anomaly: dropped
        assert all(b[2] in devices for b in seq)  # only the home's devices ...
        # ... each with an action of its own type: the device kind may use a never-seen pair
        assert all(b[3].split(":")[0] in {a.split(":")[0] for d, a in names if d == b[2]} for b in seq)
        # the copy of its own source (each day of the week is a different source here)
        if c.kind == "burst":
            assert seq[BURST:] == source and {b[:2] for b in seq[:BURST]} == {source[0][:2]}
        else:
            moved = c.kind == "hour"  # the others change one behaviour's device and action
            assert [b[0] for b in seq] == [b[0] for b in source] and len(seq) == len(source)
            assert moved == all(b[1] != s[1] for b, s in zip(seq, source, strict=True))
    assert {c.kind for c in copies} == set(KINDS)
