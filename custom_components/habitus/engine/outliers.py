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

Stage 2 can also test **next-action utility** (``utility_factory``, e.g. ``NextActionLossModel``):
an outlier is then kept if adding it does not raise the held-out inliers' next-action loss *or*
(as in the paper) their reconstruction loss. The reconstruction test alone cannot see what a sequence
is worth to behaviour prediction: on the SmartThings night shifts stage 1 flags the few distinct
sequences among many near-duplicates, and deleting them cost BP HR@10 on the new context's
validation split (docs/BENCHMARKS.md, "TOF with a next-action utility test").
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
    high for unusual ones. Tokens never seen in ``fit`` share one unknown slot. ``vocabulary_size``
    fixes the number of outcomes (the unknown slot included); None: the fitted tokens + 1.
    """

    start_state = True  # the first token is predicted from START

    def __init__(self, smoothing: float = 0.1, vocabulary_size: int | None = None) -> None:
        if smoothing <= 0 or (vocabulary_size is not None and vocabulary_size < 1):
            raise ValueError("smoothing must be positive and vocabulary_size >= 1")
        self.smoothing = smoothing
        self.vocabulary_size = vocabulary_size
        self.counts_: dict[Hashable, Counter[Hashable]] = {}
        self.vocabulary_size_ = vocabulary_size or 1

    def fit(self, sequences: Sequence[Sequence[Hashable]]) -> Self:
        """Count (start tokens and) transitions."""
        counts: dict[Hashable, Counter[Hashable]] = {}
        vocabulary: set[Hashable] = set()
        for seq in sequences:
            vocabulary.update(seq)
            for prev, nxt in self._transitions(seq):
                counts.setdefault(prev, Counter())[nxt] += 1
        self.counts_ = counts
        self.vocabulary_size_ = self.vocabulary_size or len(vocabulary) + 1  # + the unknown slot
        return self

    def losses(self, sequences: Sequence[Sequence[Hashable]]) -> NDArray[np.float64]:
        """Mean NLL per token of each sequence, ``[N]`` (0.0 for an empty sequence)."""
        return np.array([float(np.mean(nll)) if nll else 0.0 for nll in self._nlls(sequences)])

    def _transitions(self, seq: Sequence[Hashable]) -> list[tuple[Hashable, Hashable]]:
        previous = [START, *seq] if self.start_state else list(seq)
        return list(zip(previous, seq[0 if self.start_state else 1 :], strict=False))

    def _nlls(self, sequences: Sequence[Sequence[Hashable]]) -> list[list[float]]:
        return [[self._nll(prev, nxt) for prev, nxt in self._transitions(seq)] for seq in sequences]

    def _nll(self, prev: Hashable, nxt: Hashable) -> float:
        row = self.counts_.get(prev, Counter())
        total = sum(row.values())
        probability = (row.get(nxt, 0) + self.smoothing) / (total + self.smoothing * self.vocabulary_size_)
        return -float(np.log(probability))


class NextActionLossModel(MarkovLossModel):
    """TOF stage 2's next-action model: each action predicted from the one before (behaviour
    prediction's task at its simplest), no start state, over a fixed vocabulary.

    ``losses`` is each sequence's *total* next-action NLL (0.0 for a one-action sequence), so the
    mean over a held-out set ranks like the mean per transition. The vocabulary is fixed
    (``over``: the whole synthetic set's tokens + the unknown slot), so adding a sequence to
    training changes only the rows of the actions it moves on from; a sequence that shares none of
    those with the held-out inliers leaves their loss exactly as it was.
    """

    start_state = False

    @classmethod
    def over(cls, sequences: Sequence[Sequence[Hashable]]) -> NextActionLossModel:
        """An unfitted model whose vocabulary is every token of ``sequences`` plus the unknown slot."""
        return cls(vocabulary_size=len({token for seq in sequences for token in seq}) + 1)

    def losses(self, sequences: Sequence[Sequence[Hashable]]) -> NDArray[np.float64]:
        """Total next-action NLL of each sequence, ``[N]``."""
        return np.array([float(np.sum(nll)) for nll in self._nlls(sequences)])


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

    ``utility_factory`` (given the whole synthetic set, e.g. ``NextActionLossModel.over``) adds stage
    2's next-action test: every outlier is tried with it first (a cheap refit), and only those it
    does not keep get the reconstruction refit, ``max_rescue_trials`` at most.

    Learned attributes: ``losses_`` ``[N]``, ``upper_fence_``, ``outliers_`` (indices flagged by stage
    1), ``rescued_`` (outliers kept by stage 2), ``next_action_rescued_`` (those of them the
    next-action test kept), ``tried_`` (outliers given the reconstruction refit), ``baseline_loss_``
    (``L_st``, NaN without a reconstruction refit), ``kept_mask_`` ``[N]`` (the filter's decision).
    """

    def __init__(
        self,
        model_factory: Callable[[], SequenceLossModel[S]],
        config: TOFConfig | None = None,
        utility_factory: Callable[[Sequence[S]], SequenceLossModel[S]] | None = None,
    ) -> None:
        self.model_factory = model_factory
        self.config = config or TOFConfig()
        self.utility_factory = utility_factory
        self.losses_: NDArray[np.float64] = np.zeros(0)
        self.upper_fence_ = float("inf")
        self.outliers_: list[int] = []
        self.rescued_: list[int] = []
        self.next_action_rescued_: list[int] = []
        self.tried_: list[int] = []
        self.baseline_loss_ = float("nan")
        self.kept_mask_: NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._stage1: SequenceLossModel[S] | None = None
        self._sequences: Sequence[S] = []
        # The reconstruction test's L_st and verdicts of this fit: stage 2 reruns on the same seeded
        # split (TOF per task), so an outlier is refit once however many times stage 2 runs.
        self._reconstruction_verdicts: dict[int, bool] = {}

    def fit(self, sequences: Sequence[S]) -> Self:
        """Stage 1 on all of ``sequences``, then stage 2 on its outliers."""
        if not sequences:
            raise ValueError("TOF needs at least one synthetic sequence")
        self._stage1 = self.model_factory().fit(sequences)
        self.losses_ = np.asarray(self._stage1.losses(sequences), dtype=np.float64)
        self.upper_fence_ = iqr_upper_fence(self.losses_, self.config.iqr_factor)
        outlier_mask = self.losses_ > self.upper_fence_
        self.outliers_ = [int(i) for i in np.flatnonzero(outlier_mask)]
        self._sequences = sequences
        self._reconstruction_verdicts = {}
        self.baseline_loss_ = float("nan")
        return self.fit_stage2()

    def fit_stage2(self) -> Self:
        """Stage 2 (again) on stage 1's outliers of the fitted sequences, with the current
        ``utility_factory``: TOF per downstream task shares stage 1 and reruns only this."""
        if self._stage1 is None:
            raise RuntimeError("fit the filter first")
        outlier_mask = self.losses_ > self.upper_fence_
        self.rescued_, self.next_action_rescued_, self.tried_ = [], [], []
        inliers = np.flatnonzero(~outlier_mask)
        if self.config.stage2 and self.outliers_ and len(inliers) >= 2:
            self.rescued_ = self._stage2(self._sequences, inliers)
        self.kept_mask_ = ~outlier_mask
        self.kept_mask_[self.rescued_] = True
        return self

    def _stage2(self, sequences: Sequence[S], inliers: NDArray[np.int64]) -> list[int]:
        """Eq. 22-23: keep an outlier if adding it to training does not raise the held-out loss
        (next-action first, when ``utility_factory`` is set; then reconstruction)."""
        rng = np.random.default_rng(self.config.seed)
        order = rng.permutation(inliers)  # [n_in]
        n_test = max(1, round(len(order) * self.config.test_fraction))
        test = [sequences[i] for i in order[:n_test]]
        train = [sequences[i] for i in order[n_test:]]
        candidates = sorted(self.outliers_, key=lambda i: (self.losses_[i], i))  # least extreme first
        if self.utility_factory is not None:
            utility = self.utility_factory
            _, self.next_action_rescued_ = _utility_test(
                lambda: utility(sequences), sequences, train, test, candidates
            )
        self.tried_ = [i for i in candidates if i not in self.next_action_rescued_][
            : self.config.max_rescue_trials
        ]
        rescued = list(self.next_action_rescued_)
        if self.tried_:
            rescued += self._reconstruction_test(sequences, train, test)
        return sorted(rescued)

    def _reconstruction_test(self, sequences: Sequence[S], train: list[S], test: list[S]) -> list[int]:
        """The paper's stage 2 on ``tried_``: those whose addition does not raise ``L_st``. Verdicts
        (and ``L_st``) already computed in this fit are reused, not refit."""
        todo = [i for i in self.tried_ if i not in self._reconstruction_verdicts]
        if todo:
            known = None if np.isnan(self.baseline_loss_) else self.baseline_loss_
            self.baseline_loss_, kept = _utility_test(
                self.model_factory, sequences, train, test, todo, baseline=known
            )
            self._reconstruction_verdicts.update((i, i in kept) for i in todo)
        return [i for i in self.tried_ if self._reconstruction_verdicts[i]]

    def predict(self, sequences: Sequence[S]) -> NDArray[np.bool_]:
        """Stage 1's verdict on new sequences: loss within the fence, ``[N]`` bool."""
        if self._stage1 is None:
            raise RuntimeError("fit the filter first")
        return np.asarray(self._stage1.losses(sequences), dtype=np.float64) <= self.upper_fence_

    def filter(self, sequences: Sequence[S]) -> list[S]:
        """Fit on ``sequences`` and return the ones TOF keeps, in order."""
        self.fit(sequences)
        return [seq for seq, keep in zip(sequences, self.kept_mask_, strict=True) if keep]


def _utility_test[S](
    factory: Callable[[], SequenceLossModel[S]],
    sequences: Sequence[S],
    train: list[S],
    test: list[S],
    candidates: list[int],
    *,
    baseline: float | None = None,
) -> tuple[float, list[int]]:
    """Stage 2's test with one loss model: ``L_st`` (the mean held-out loss of a fit on ``train``,
    unless ``baseline`` already is it) and the candidates whose addition to ``train`` does not raise it."""
    if baseline is None:
        baseline = float(np.mean(factory().fit(train).losses(test)))
    kept = [
        i
        for i in candidates
        if float(np.mean(factory().fit([*train, sequences[i]]).losses(test))) <= baseline
    ]
    return baseline, kept
