"""A seed ensemble of anomaly scorers: K models' scores combined into one, with one threshold.

TransAE trained on a tiny set (SmartGen's GPT-4o synthetic sets hold 27-140 sequences) memorises
it, and whether an anomaly ends above a threshold taken from a handful of validation scores depends
on the seed: the same setting flips between F1 ~0.9 and ~0.1 from one seed to the next
(docs/BENCHMARKS.md, "Why 512-d sometimes fails to learn"). Averaging K models trained with
different seeds removes that lottery: an anomaly one member happened to memorise still stands out
in the others.

Combination rule (fixed before any measurement): each member's scores are **standardised by the mean
and standard deviation of its own validation scores** (the same validation sequences for every
member), the ensemble's score is the mean of the K standardised scores, and the threshold is the
usual percentile (SmartGen's ``np.percentile(val_scores, p)``) of the ensemble's validation scores.
Members' raw scales differ by orders of magnitude (a model that memorised its set scores ~1e-3 nats,
one that did not ~1 nat), so raw scores cannot be averaged. Rank normalisation (each score's
position among the member's validation scores) was not chosen: with 5-28 validation scores it takes
only a few values and saturates at the validation maximum, so every anomaly above it ties with the
validation pieces the 95th-99th percentile threshold sits on; standardising keeps how far beyond
the validation scores an anomaly lies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def _stack(scores: Sequence[NDArray[np.floating]]) -> NDArray[np.float64]:
    """K members' scores [K][N] -> float64 [K, N] (raises ``ValueError`` if empty or ragged)."""
    if not scores:
        raise ValueError("a score ensemble needs at least one member")
    lengths = {len(s) for s in scores}
    if len(lengths) != 1:
        raise ValueError(f"members scored different numbers of sequences: {sorted(lengths)}")
    return np.stack([np.asarray(s, dtype=np.float64) for s in scores])


class ScoreEnsemble:
    """Mean of K members' anomaly scores, each standardised by its own validation scores' mean / sd.

    ``calibrate`` with the members' scores of the same validation sequences sets ``mean_`` [K],
    ``sd_`` [K] (population sd; 1 where a member's validation scores are all equal) and
    ``threshold_`` (``percentile`` of the combined validation scores); ``score`` / ``predict`` then
    take the members' scores of any sequences. Higher = more anomalous; flagged above the threshold,
    as ``TransAE.predict``.
    """

    def __init__(self, percentile: float) -> None:
        self.percentile = percentile
        self.mean_: NDArray[np.float64] | None = None
        self.sd_: NDArray[np.float64] | None = None
        self.threshold_: float | None = None

    def calibrate(self, validation: Sequence[NDArray[np.floating]]) -> float:
        """Members' validation scores [K][M] -> the threshold (also stored in ``threshold_``)."""
        stacked = _stack(validation)  # [K, M]
        if stacked.shape[1] == 0:
            raise ValueError("a score ensemble needs at least one validation score per member")
        self.mean_ = stacked.mean(axis=1)  # [K]
        sd = stacked.std(axis=1)  # [K]
        self.sd_ = np.where(sd > 0.0, sd, 1.0)
        self.threshold_ = float(np.percentile(self.score(validation), self.percentile))
        return self.threshold_

    def score(self, scores: Sequence[NDArray[np.floating]]) -> NDArray[np.float64]:
        """Members' scores [K][N] -> the ensemble's scores [N] (mean of the standardised scores)."""
        if self.mean_ is None or self.sd_ is None:
            raise ValueError("ScoreEnsemble is not calibrated: call calibrate first")
        stacked = _stack(scores)  # [K, N]
        if len(stacked) != len(self.mean_):
            raise ValueError(f"calibrated on {len(self.mean_)} members, got {len(stacked)}")
        standardised = (stacked - self.mean_[:, None]) / self.sd_[:, None]  # [K, N]
        combined: NDArray[np.float64] = standardised.mean(axis=0)  # [N]
        return combined

    def predict(self, scores: Sequence[NDArray[np.floating]]) -> NDArray[np.bool_]:
        """Members' scores [K][N] -> anomaly flags [N]: the ensemble's score above ``threshold_``."""
        if self.threshold_ is None:
            raise ValueError("ScoreEnsemble is not calibrated: call calibrate first")
        return self.score(scores) > self.threshold_
