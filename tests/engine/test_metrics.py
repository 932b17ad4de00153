"""Metrics against hand-computed cases (SmartGen Tables 2 and 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from habitus_engine.metrics import (
    full_ranks,
    hr_ndcg_full,
    hr_ndcg_sampled,
    precision_recall_f1,
    ranking_from_ranks,
    sampled_ranks,
)


def test_precision_recall_f1_by_hand() -> None:
    result = precision_recall_f1([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])  # tp 2, fp 1, fn 1, tn 1
    assert (result.true_positives, result.false_positives, result.false_negatives, result.true_negatives) == (
        2,
        1,
        1,
        1,
    )
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(2 / 3)
    assert result.f1 == pytest.approx(2 / 3)
    lopsided = precision_recall_f1([1, 1, 1, 0], [1, 1, 1, 1])  # p 3/4, r 1
    assert lopsided.f1 == pytest.approx(2 * 0.75 / 1.75)


def test_undefined_ratios_are_zero_and_shapes_must_match() -> None:
    nothing_flagged = precision_recall_f1([1, 0], [0, 0])
    assert (nothing_flagged.precision, nothing_flagged.recall, nothing_flagged.f1) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="differ in shape"):
        precision_recall_f1([1, 0, 1], [1, 0])


def test_hit_rate_and_ndcg_from_ranks_by_hand() -> None:
    ranking = ranking_from_ranks([0, 1, 10, 3], k=10)
    assert ranking.hit_rate == pytest.approx(0.75)
    expected = (1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(5)) / 4
    assert ranking.ndcg == pytest.approx(expected)
    assert ranking.n == 4
    assert ranking_from_ranks([], k=10).n == 0


def test_full_ranking_ignores_padding_and_lets_ties_favour_the_positive() -> None:
    scores = np.array([[0.0, 0.1, 0.5, 0.3], [9.0, 0.9, 0.2, 0.2]])  # column 0 = padding
    np.testing.assert_array_equal(full_ranks(scores, [3, 2]), [1, 1])
    ranking = hr_ndcg_full(scores, [3, 2], k=1)
    assert ranking.hit_rate == 0.0
    assert hr_ndcg_full(scores, [2, 1], k=1).hit_rate == 1.0


def test_sampled_ranking_excludes_history_and_is_seeded() -> None:
    scores = np.array([[0.0, 50.0, 0.5, 0.9, 0.1]])  # items 1..4; item 1 is in the history
    # Negatives come only from {3, 4}: the rank counts how many sampled negatives are item 3.
    ranks = sampled_ranks(scores, [2], [[1]], n_negatives=20, seed=1)
    again = sampled_ranks(scores, [2], [[1]], n_negatives=20, seed=1)
    assert ranks[0] == again[0]
    assert 0 < ranks[0] < 20  # with 20 draws from two items both appear
    best = sampled_ranks(np.array([[0.0, 50.0, 9.0, 0.9, 0.1]]), [2], [[1]], n_negatives=100)
    assert best[0] == 0  # the history item scoring 50 is never a negative
    worst = sampled_ranks(np.array([[0.0, 0.0, -1.0, 0.9, 0.1]]), [2], [[]], n_negatives=100)
    assert worst[0] == 100
    assert hr_ndcg_sampled(np.array([[0.0, 50.0, 9.0, 0.9, 0.1]]), [2], [[1]]).hit_rate == 1.0


def test_sampled_ranking_needs_items_left_to_sample() -> None:
    with pytest.raises(ValueError, match="no item is left"):
        sampled_ranks(np.zeros((1, 3)), [1], [[2]])
