"""Cold-start calibration: TransAE's percentile rule on a home's own scores, after a minimum count."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from habitus_engine.calibration import (
    MIN_CALIBRATION_SEQUENCES,
    home_threshold,
    live_windows,
    max_prefix_scores,
)
from habitus_engine.datasets import RawSequence


def test_the_threshold_is_the_percentile_of_the_home_scores() -> None:
    scores = np.array([5.0, 1.0, 4.0, 2.0, 3.0], dtype=np.float32)
    # numpy's linear percentile: sorted 1..5, the 95th lies at rank 0.95 * 4 = 3.8, between 4 and 5
    assert home_threshold(scores, 95.0, minimum=5) == pytest.approx(4.8)
    assert home_threshold(scores, 50.0, minimum=5) == pytest.approx(3.0)
    assert home_threshold(scores, 100.0, minimum=1) == pytest.approx(5.0)


def test_no_threshold_before_the_minimum_count() -> None:
    scores = np.arange(1.0, MIN_CALIBRATION_SEQUENCES + 1.0)  # 1 .. MIN
    assert home_threshold(scores[:-1], 95.0) is None  # one short: still calibrating
    threshold = home_threshold(scores, 95.0)
    assert threshold == pytest.approx(1.0 + 0.95 * (MIN_CALIBRATION_SEQUENCES - 1))
    assert home_threshold(np.zeros(0), 95.0, minimum=0) is None  # a percentile of nothing is not one
    assert 25 <= MIN_CALIBRATION_SEQUENCES <= 100


A, B, C, D = (0, 0, 0, 1), (0, 0, 0, 2), (0, 0, 0, 3), (0, 0, 0, 4)  # behaviours told apart by action


def test_live_windows_are_the_readings_after_each_behaviour() -> None:
    # window 3, model length 2: after each behaviour, the known ones among the last 3, the last 2 of those
    sequence = [A, None, B, C, None, None, None, D]
    assert live_windows(sequence, window=3, max_behaviours=2) == [
        [A],  # after A
        [A],  # after the unknown one: A is still among the last 3
        [A, B],
        [B, C],  # A is 3 back: among the last 3 (None, B, C) only B and C
        [B, C],
        [C],
        # after the third unknown in a row nothing is known among the last 3: no reading
        [D],
    ]
    assert live_windows([None, None], window=3, max_behaviours=2) == []


def test_max_prefix_scores_is_each_sequence_s_highest_reading() -> None:
    calls: list[list[RawSequence]] = []

    def score(reads: Sequence[RawSequence]) -> np.ndarray:  # a reading's score: its actions' sum
        calls.append(list(reads))
        return np.array([sum(b[3] for b in read) for read in reads], dtype=np.float32)

    sequences = [[A, B, A], [D, A], [None], [A, B]]
    # readings (window 2, model length 2): [A], [A, B], [B, A] -> 1, 3, 3; [D], [D, A] -> 4, 5;
    # none; [A], [A, B] -> 1, 3
    got = max_prefix_scores(score, sequences, window=2, max_behaviours=2)
    assert got.tolist() == [3.0, 5.0, -np.inf, 3.0]
    assert len(calls) == 1 and len(calls[0]) == 5  # one batch, each distinct reading once
    # the whole-sequence score would miss a prefix that read higher than the end
    assert got[1] > score([[A]])[0]
    assert max_prefix_scores(score, [], window=2, max_behaviours=2).tolist() == []


def test_the_prefix_max_threshold_bounds_the_share_of_sequences_that_ever_alert() -> None:
    rng = np.random.default_rng(0)
    sequences = [[(0, 0, 0, int(a)) for a in rng.integers(1, 9, rng.integers(1, 12))] for _ in range(400)]

    def score(reads: Sequence[RawSequence]) -> np.ndarray:  # a reading's score: its mean action id
        return np.array([np.mean([b[3] for b in read]) for read in reads], dtype=np.float64)

    prefix_max = max_prefix_scores(score, sequences, window=20, max_behaviours=10)
    whole = score([s[-10:] for s in sequences])
    live = home_threshold(prefix_max, 95.0)
    old = home_threshold(whole, 95.0)
    assert live is not None and old is not None
    # counted as live scoring reads (any reading above the threshold), on the calibration sequences
    assert float(np.mean(prefix_max > live)) <= 0.05
    assert float(np.mean(prefix_max > old)) > 0.05  # the whole-sequence percentile promises too much
