"""Evaluation metrics of SmartGen's tables: precision/recall/F1 (Table 2, AD) and HR@10/NDCG@10
(Table 3, BP).

Ranking metrics come in two protocols:

* **sampled** (the paper's, from pmixer's SASRec ``evaluate``): the positive plus ``n_negatives`` (100)
  items drawn uniformly from ``1..n_items`` that are not in the user's history (nor the positive),
  with a fixed seed. The positive's rank is the number of candidates scoring strictly higher, so ties
  favour the positive, as in pmixer once the positive is listed first (its issue #43). Sampling
  inflates the numbers (its issue #14).
* **full**: the rank among all items ``1..n_items``, ties again favouring the positive.

HR@k = share of cases with rank < k; NDCG@k = mean of ``1 / log2(rank + 2)`` over those cases (0 else).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Classification:
    """Binary detection quality (label 1 = anomaly); zero where a ratio is undefined, as sklearn does."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int


@dataclass(frozen=True, slots=True)
class Ranking:
    """Ranking quality at cut-off ``k`` over ``n`` evaluated cases."""

    hit_rate: float
    ndcg: float
    k: int
    n: int


def precision_recall_f1(
    y_true: Sequence[int] | NDArray[np.integer], y_pred: Sequence[int] | NDArray[np.bool_]
) -> Classification:
    """Precision, recall and F1 of predictions [n] against labels [n] (1 = anomaly)."""
    truth = np.asarray(y_true).astype(bool)
    pred = np.asarray(y_pred).astype(bool)
    if truth.shape != pred.shape:
        raise ValueError(f"labels {truth.shape} and predictions {pred.shape} differ in shape")
    tp = int(np.sum(truth & pred))
    fp = int(np.sum(~truth & pred))
    fn = int(np.sum(truth & ~pred))
    tn = int(np.sum(~truth & ~pred))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Classification(precision, recall, f1, tp, fp, fn, tn)


def ranking_from_ranks(ranks: Sequence[int] | NDArray[np.integer], k: int = 10) -> Ranking:
    """HR@k and NDCG@k from 0-based ranks of the positives [n]."""
    r = np.asarray(ranks, dtype=np.float64)
    if r.size == 0:
        return Ranking(0.0, 0.0, k, 0)
    hits = r < k
    gains = np.where(hits, 1.0 / np.log2(r + 2.0), 0.0)
    return Ranking(float(hits.mean()), float(gains.mean()), k, int(r.size))


def full_ranks(
    scores: NDArray[np.floating], targets: Sequence[int] | NDArray[np.integer]
) -> NDArray[np.int64]:
    """0-based rank of each target among items 1..N: scores [n, N+1] (column 0 = padding), targets [n]."""
    s = np.asarray(scores)[:, 1:]
    t = np.asarray(targets, dtype=np.int64) - 1
    positive = s[np.arange(len(t)), t]
    ranks: NDArray[np.int64] = np.sum(s > positive[:, None], axis=1).astype(np.int64)
    return ranks


def sampled_ranks(
    scores: NDArray[np.floating],
    targets: Sequence[int] | NDArray[np.integer],
    histories: Sequence[Iterable[int]],
    n_negatives: int = 100,
    seed: int = 2024,
) -> NDArray[np.int64]:
    """0-based rank of each target among itself and ``n_negatives`` sampled items (paper protocol).

    scores [n, N+1] (column 0 = padding); negatives are drawn from 1..N, never from the history or the
    target, with replacement as in pmixer; the generator is seeded once for the whole evaluation.
    """
    rng = np.random.default_rng(seed)
    s = np.asarray(scores)
    n_items = s.shape[1] - 1
    ranks = np.empty(len(s), dtype=np.int64)
    for row, (target, history) in enumerate(zip(targets, histories, strict=True)):
        excluded = set(history) | {int(target), 0}
        if len(excluded - {0}) >= n_items:
            raise ValueError(f"row {row}: no item is left to sample negatives from")
        negatives: list[int] = []
        while len(negatives) < n_negatives:
            candidate = int(rng.integers(1, n_items + 1))
            if candidate not in excluded:
                negatives.append(candidate)
        ranks[row] = int(np.sum(s[row, negatives] > s[row, int(target)]))
    return ranks


def hr_ndcg_sampled(
    scores: NDArray[np.floating],
    targets: Sequence[int] | NDArray[np.integer],
    histories: Sequence[Iterable[int]],
    *,
    k: int = 10,
    n_negatives: int = 100,
    seed: int = 2024,
) -> Ranking:
    """HR@k / NDCG@k under the paper's protocol (1 positive + ``n_negatives`` sampled, fixed seed)."""
    return ranking_from_ranks(sampled_ranks(scores, targets, histories, n_negatives, seed), k)


def hr_ndcg_full(
    scores: NDArray[np.floating], targets: Sequence[int] | NDArray[np.integer], k: int = 10
) -> Ranking:
    """HR@k / NDCG@k under full ranking over all items."""
    return ranking_from_ranks(full_ranks(scores, targets), k)
