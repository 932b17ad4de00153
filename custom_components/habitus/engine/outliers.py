"""TOF: SmartGen's Two-stage Outlier Filter (§4.5) for synthetic sequences.

* **Stage 1** (Eq. 14-21): fit a sequence model on all synthetic sequences ``S'``, score each by its
  reconstruction loss, and flag losses above the upper IQR fence ``Q3 + 1.5 * IQR``.
* **Stage 2** (Eq. 22-23): split the inliers 8:2 (seeded), fit on the 80% and record the mean loss on
  the 20% (``L_st``); for each outlier, refit on the 80% plus that outlier and keep the outlier if the
  held-out loss does not get worse (a rare but useful pattern), otherwise delete it.

The filter is model-agnostic: it needs a factory of ``SequenceLossModel`` (``fit`` on sequences,
``losses`` per sequence). The TransAE autoencoder is the paper's model; ``MarkovLossModel`` below is a
deterministic first-order Markov chain over actions (negative log-likelihood per action) that runs
anywhere and serves as a baseline and in tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np
from numpy.typing import NDArray

START = "<start>"


class SequenceLossModel[S](Protocol):
    """A model with a per-sequence reconstruction loss (TransAE, or ``MarkovLossModel``)."""

    def fit(self, sequences: Sequence[S]) -> Self:
        """Learn from ``sequences``; returns itself."""
        ...

    def losses(self, sequences: Sequence[S]) -> NDArray[np.float64]:
        """Reconstruction loss of each sequence, ``[N]`` (higher = harder to reconstruct)."""
        ...


class MarkovLossModel:
    """First-order Markov chain over tokens with add-``smoothing`` estimates.

    ``losses`` is the mean negative log-likelihood per token (the first token given a start state):
    like an autoencoder's reconstruction loss it is low for sequences made of common transitions and
    high for unusual ones. Tokens never seen in ``fit`` share one unknown slot.
    """

    def __init__(self, smoothing: float = 0.1) -> None:
        if smoothing <= 0:
            raise ValueError("smoothing must be positive")
        self.smoothing = smoothing
        self.counts_: dict[Hashable, Counter[Hashable]] = {}
        self.vocabulary_size_ = 1

    def fit(self, sequences: Sequence[Sequence[Hashable]]) -> Self:
        """Count start tokens and transitions."""
        counts: dict[Hashable, Counter[Hashable]] = {}
        vocabulary: set[Hashable] = set()
        for seq in sequences:
            vocabulary.update(seq)
            for prev, nxt in zip([START, *seq], seq, strict=False):
                counts.setdefault(prev, Counter())[nxt] += 1
        self.counts_ = counts
        self.vocabulary_size_ = len(vocabulary) + 1  # + the unknown slot
        return self

    def losses(self, sequences: Sequence[Sequence[Hashable]]) -> NDArray[np.float64]:
        """Mean NLL per token of each sequence, ``[N]`` (0.0 for an empty sequence)."""
        out = np.zeros(len(sequences), dtype=np.float64)
        for n, seq in enumerate(sequences):
            nll = [self._nll(prev, nxt) for prev, nxt in zip([START, *seq], seq, strict=False)]
            out[n] = float(np.mean(nll)) if nll else 0.0
        return out

    def _nll(self, prev: Hashable, nxt: Hashable) -> float:
        row = self.counts_.get(prev, Counter())
        total = sum(row.values())
        probability = (row.get(nxt, 0) + self.smoothing) / (total + self.smoothing * self.vocabulary_size_)
        return -float(np.log(probability))


@dataclass(frozen=True, slots=True)
class TOFConfig:
    """TOF parameters (the paper's: 1.5 IQR fence, 8:2 inlier split, seed 2024)."""

    iqr_factor: float = 1.5
    test_fraction: float = 0.2
    seed: int = 2024
    stage2: bool = True  # False = stage 1 only (the paper's ablation)
    max_rescue_trials: int | None = None  # refits allowed in stage 2; least extreme outliers first

    def __post_init__(self) -> None:
        if self.iqr_factor < 0 or not 0 < self.test_fraction < 1:
            raise ValueError("iqr_factor must be >= 0 and test_fraction in (0, 1)")


def iqr_upper_fence(losses: NDArray[np.float64], factor: float = 1.5) -> float:
    """``Q3 + factor * (Q3 - Q1)`` of ``losses`` (``[N]``, N >= 1), Eq. 18-20."""
    q1, q3 = np.percentile(losses, [25, 75])
    return float(q3 + factor * (q3 - q1))


class TwoStageOutlierFilter[S]:
    """TOF over any ``SequenceLossModel``. ``fit`` runs both stages on the synthetic set.

    Learned attributes: ``losses_`` ``[N]``, ``upper_fence_``, ``outliers_`` (indices flagged by stage
    1), ``rescued_`` (outliers kept by stage 2), ``baseline_loss_`` (``L_st``, NaN without stage 2),
    ``kept_mask_`` ``[N]`` (the filter's decision).
    """

    def __init__(
        self, model_factory: Callable[[], SequenceLossModel[S]], config: TOFConfig | None = None
    ) -> None:
        self.model_factory = model_factory
        self.config = config or TOFConfig()
        self.losses_: NDArray[np.float64] = np.zeros(0)
        self.upper_fence_ = float("inf")
        self.outliers_: list[int] = []
        self.rescued_: list[int] = []
        self.baseline_loss_ = float("nan")
        self.kept_mask_: NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._stage1: SequenceLossModel[S] | None = None

    def fit(self, sequences: Sequence[S]) -> Self:
        """Stage 1 on all of ``sequences``, then stage 2 on its outliers."""
        if not sequences:
            raise ValueError("TOF needs at least one synthetic sequence")
        self._stage1 = self.model_factory().fit(sequences)
        self.losses_ = np.asarray(self._stage1.losses(sequences), dtype=np.float64)
        self.upper_fence_ = iqr_upper_fence(self.losses_, self.config.iqr_factor)
        outlier_mask = self.losses_ > self.upper_fence_
        self.outliers_ = [int(i) for i in np.flatnonzero(outlier_mask)]
        self.rescued_ = []
        inliers = np.flatnonzero(~outlier_mask)
        if self.config.stage2 and self.outliers_ and len(inliers) >= 2:
            self.rescued_ = self._stage2(sequences, inliers)
        self.kept_mask_ = ~outlier_mask
        self.kept_mask_[self.rescued_] = True
        return self

    def _stage2(self, sequences: Sequence[S], inliers: NDArray[np.int64]) -> list[int]:
        """Eq. 22-23: keep an outlier if adding it to training does not raise the held-out loss."""
        rng = np.random.default_rng(self.config.seed)
        order = rng.permutation(inliers)  # [n_in]
        n_test = max(1, round(len(order) * self.config.test_fraction))
        test = [sequences[i] for i in order[:n_test]]
        train = [sequences[i] for i in order[n_test:]]
        self.baseline_loss_ = float(np.mean(self.model_factory().fit(train).losses(test)))
        trials = sorted(self.outliers_, key=lambda i: (self.losses_[i], i))[: self.config.max_rescue_trials]
        rescued = []
        for i in trials:
            loss = float(np.mean(self.model_factory().fit([*train, sequences[i]]).losses(test)))
            if loss <= self.baseline_loss_:
                rescued.append(i)
        return sorted(rescued)

    def predict(self, sequences: Sequence[S]) -> NDArray[np.bool_]:
        """Stage 1's verdict on new sequences: loss within the fence, ``[N]`` bool."""
        if self._stage1 is None:
            raise RuntimeError("fit the filter first")
        return np.asarray(self._stage1.losses(sequences), dtype=np.float64) <= self.upper_fence_

    def filter(self, sequences: Sequence[S]) -> list[S]:
        """Fit on ``sequences`` and return the ones TOF keeps, in order."""
        self.fit(sequences)
        return [seq for seq, keep in zip(sequences, self.kept_mask_, strict=True) if keep]
