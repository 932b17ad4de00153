"""How faithful and how private synthetic behaviour is (BehaviorGen's evaluation, SmartGen's data).

Fidelity, synthetic vs. real:

* ``jsd``: Jensen-Shannon divergence (base 2, in [0, 1]) of two categorical distributions; applied to
  actions, devices and hours of day (``fidelity_report``);
* ``ks_statistic``: two-sample Kolmogorov-Smirnov statistic and asymptotic p-value on behaviour times
  (hour of day, continuous).

Privacy, synthetic vs. the real sequences it was prompted with:

* copy rate: share of synthetic sequences equal to a real one; near-copy rate: share within a
  normalised edit distance ``near_copy_distance`` of one (``privacy_report``);
* membership inference: a distance-to-closest-record attack. For real *members* (shown to the LLM)
  and real *non-members* (held out) it scores "closer to some synthetic sequence = member"; the score
  is the attack's ROC AUC (0.5 = the synthetic data reveals nothing about who was a member).

Sequences here are lists of hashable behaviour tokens; ``behaviour_tokens`` makes them from
``Behaviour`` lists (action + day + hour, so a copy means the same actions at the same times).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .behaviour import Sequence as BehaviourSequence


def distribution(values: Iterable[Hashable], support: Sequence[Hashable]) -> NDArray[np.float64]:
    """Relative frequencies of ``values`` over ``support``, ``[len(support)]`` (zeros if empty)."""
    counts = Counter(values)
    total = sum(counts[v] for v in support)
    out = np.asarray([counts[v] for v in support], dtype=np.float64)
    return out / total if total else out


def jsd(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    """Jensen-Shannon divergence, base 2, of two distributions ``[K]`` (normalised here; 1.0 if either
    is empty)."""
    if p.sum() <= 0 or q.sum() <= 0:
        return 1.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: NDArray[np.float64]) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return float(min(1.0, max(0.0, (kl(p) + kl(q)) / 2)))


def categorical_jsd(a: Iterable[Hashable], b: Iterable[Hashable]) -> float:
    """JSD between the empirical distributions of two samples of labels."""
    a, b = list(a), list(b)
    support = list(dict.fromkeys([*a, *b]))
    return jsd(distribution(a, support), distribution(b, support))


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sample KS: ``(D, p)`` with the asymptotic Kolmogorov p-value; ``(1.0, 0.0)`` if a sample
    is empty."""
    x, y = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    if len(x) == 0 or len(y) == 0:
        return 1.0, 0.0
    grid = np.concatenate([x, y])  # [n + m]
    cdf_x = np.searchsorted(x, grid, side="right") / len(x)
    cdf_y = np.searchsorted(y, grid, side="right") / len(y)
    d = float(np.max(np.abs(cdf_x - cdf_y)))
    effective = math.sqrt(len(x) * len(y) / (len(x) + len(y)))
    lam = (effective + 0.12 + 0.11 / effective) * d
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return d, float(min(1.0, max(0.0, p)))


@dataclass(frozen=True, slots=True)
class FidelityReport:
    """Synthetic vs. real distributions (lower JSD / KS = more faithful)."""

    jsd_action: float
    jsd_device: float
    jsd_hour: float
    ks_hour: float
    ks_hour_p: float


def fidelity_report(
    synthetic: Sequence[BehaviourSequence], real: Sequence[BehaviourSequence]
) -> FidelityReport:
    """JSD of action, device and hour-of-day distributions; KS on hour of day (continuous)."""
    syn = [b for seq in synthetic for b in seq]
    ref = [b for seq in real for b in seq]
    ks, p = ks_statistic([b.time % 24 for b in syn], [b.time % 24 for b in ref])
    return FidelityReport(
        jsd_action=categorical_jsd((b.action for b in syn), (b.action for b in ref)),
        jsd_device=categorical_jsd((b.device for b in syn), (b.device for b in ref)),
        jsd_hour=categorical_jsd((int(b.time % 24) for b in syn), (int(b.time % 24) for b in ref)),
        ks_hour=ks,
        ks_hour_p=p,
    )


def behaviour_tokens(sequence: BehaviourSequence) -> list[Hashable]:
    """A sequence as comparable tokens: (weekday, hour, device, action) per behaviour."""
    return [(int(b.time % 168 // 24), int(b.time % 24), b.device, b.action) for b in sequence]


def _encode(
    sequences: Sequence[Sequence[Hashable]], index: dict[Hashable, int]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Token ids padded with -1 and lengths: ``[N, L]``, ``[N]``."""
    width = max((len(s) for s in sequences), default=0)
    ids = np.full((len(sequences), width), -1, dtype=np.int64)
    for n, seq in enumerate(sequences):
        ids[n, : len(seq)] = [index.setdefault(t, len(index)) for t in seq]
    return ids, np.asarray([len(s) for s in sequences], dtype=np.int64)


def nearest_distances(
    queries: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Hashable]]
) -> NDArray[np.float64]:
    """For each query, the smallest normalised edit distance to any reference, ``[Q]`` in [0, 1].

    Levenshtein distance divided by the longer length, computed for all references at once (the DP
    runs over query positions, vectorised over references).
    """
    if not references:
        return np.ones(len(queries), dtype=np.float64)
    index: dict[Hashable, int] = {}
    ref_ids, ref_len = _encode(references, index)  # [R, L], [R]
    out = np.ones(len(queries), dtype=np.float64)
    width = ref_ids.shape[1]
    for q, query in enumerate(queries):
        query_ids = [index.get(t, -2) for t in query]  # unseen tokens match nothing
        prev = np.tile(np.arange(width + 1, dtype=np.int64), (len(references), 1))  # [R, L+1]
        for i, token in enumerate(query_ids, start=1):
            cur = np.empty_like(prev)
            cur[:, 0] = i
            cost = (ref_ids != token).astype(np.int64)  # [R, L]
            for j in range(1, width + 1):
                cur[:, j] = np.minimum(
                    np.minimum(prev[:, j] + 1, cur[:, j - 1] + 1), prev[:, j - 1] + cost[:, j - 1]
                )
            prev = cur
        distance = prev[np.arange(len(references)), ref_len]  # [R]
        longest = np.maximum(ref_len, len(query_ids))  # [R]
        out[q] = float(np.min(np.divide(distance, longest, out=np.zeros(len(references)), where=longest > 0)))
    return out


def roc_auc(positive: NDArray[np.float64], negative: NDArray[np.float64]) -> float:
    """P(score of a positive > score of a negative), ties counting half (Mann-Whitney); 0.5 if a side
    is empty."""
    if len(positive) == 0 or len(negative) == 0:
        return 0.5
    scores = np.concatenate([positive, negative])
    order = scores.argsort(kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks over ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    u = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


@dataclass(frozen=True, slots=True)
class PrivacyReport:
    """How much of the real data the synthetic data reproduces."""

    copy_rate: float  # synthetic sequences identical to a real member
    near_copy_rate: float  # synthetic sequences within near_copy_distance of a real member
    membership_auc: float  # distance-to-closest-record attack AUC (0.5 = no leak); NaN without non-members


def privacy_report(
    synthetic: Sequence[Sequence[Hashable]],
    members: Sequence[Sequence[Hashable]],
    non_members: Sequence[Sequence[Hashable]] = (),
    near_copy_distance: float = 0.2,
) -> PrivacyReport:
    """Copy / near-copy rates of ``synthetic`` against ``members`` and the membership-inference AUC."""
    member_set = {tuple(s) for s in members}
    copies = sum(tuple(s) in member_set for s in synthetic)
    nearest = nearest_distances(synthetic, members)  # [S]
    n = len(synthetic)
    auc = float("nan")
    if non_members and synthetic:
        # closer to the synthetic data = more likely a member: score = -distance
        auc = roc_auc(-nearest_distances(members, synthetic), -nearest_distances(non_members, synthetic))
    return PrivacyReport(
        copy_rate=copies / n if n else 0.0,
        near_copy_rate=float(np.mean(nearest <= near_copy_distance)) if n else 0.0,
        membership_auc=auc,
    )
