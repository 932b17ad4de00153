"""SSC (SmartGen §4.3) and SPPC (IoTGen): compress a home's sequences before they go into a prompt.

* **SSC**, Semantic-aware Sequence Compression: encode every sequence (the TransAE encoder, eval
  mode, so it is deterministic), then, in order, keep sequence ``i`` and drop every later ``j`` whose
  cosine similarity ``c_ij > alpha`` (Eq. 9-11): one representative per cluster of near-identical
  sequences. Like the reference it works per group (SmartGen groups by the weekday of a sequence's
  first behaviour); unlike the reference it is deterministic (the reference embedded in train mode).
  The threshold is either fixed (``fit``) or set by the **context-budget rule** (``fit_to_budget``):
  the largest alpha whose representatives fit the prompt budget the caller states (the synthesis
  pipeline: one request's context window), so the model sees the home's whole variety in every
  request and alpha is never tuned on labelled or test data.
* **SPPC**, Structure Pattern Perception Compression: fit the autoencoder on all folds but one and
  score the held-out fold (``n_folds = N`` is exact leave-one-out); keep the ``keep_ratio`` of
  sequences with the highest held-out reconstruction error (patterns the rest cannot explain).

Both are model-agnostic: SSC takes a ``SequenceEncoder`` (``encode -> [N, D]``), SPPC a factory of
``outliers.SequenceLossModel``. ``BagOfActionsEncoder`` is a deterministic baseline encoder (L2
normalised action counts); it runs without a trained model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np
from numpy.typing import NDArray

from .outliers import SequenceLossModel


class SequenceEncoder[S](Protocol):
    """Maps sequences to fixed-size vectors (the TransAE encoder's pooled output, or a baseline)."""

    def encode(self, sequences: Sequence[S]) -> NDArray[np.float64]:
        """``[N, D]`` representations of ``N`` sequences (deterministic)."""
        ...


class BagOfActionsEncoder:
    """L2-normalised counts of each token in a sequence, ``[N, V]`` (V = tokens seen in ``fit``).

    Order-blind, so two sequences with the same actions in another order are identical to it; an
    honest baseline for SSC, not a substitute for the TransAE encoder.
    """

    def __init__(self) -> None:
        self.vocabulary_: dict[Hashable, int] = {}

    def fit(self, sequences: Sequence[Sequence[Hashable]]) -> Self:
        """Index every token seen."""
        vocabulary: dict[Hashable, int] = {}
        for seq in sequences:
            for token in seq:
                vocabulary.setdefault(token, len(vocabulary))
        self.vocabulary_ = vocabulary
        return self

    def encode(self, sequences: Sequence[Sequence[Hashable]]) -> NDArray[np.float64]:
        """``[N, V]``; tokens unseen in ``fit`` are ignored (an all-unseen sequence is a zero row)."""
        out = np.zeros((len(sequences), len(self.vocabulary_)), dtype=np.float64)
        for n, seq in enumerate(sequences):
            for token in seq:
                column = self.vocabulary_.get(token)
                if column is not None:
                    out[n, column] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)  # [N, 1]
        unit: NDArray[np.float64] = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        return unit


def _unit_rows(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows scaled to unit length (zero rows stay zero), ``[N, D] -> [N, D]``."""
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    unit: NDArray[np.float64] = np.divide(z, norms, out=np.zeros_like(z, dtype=np.float64), where=norms > 0)
    return unit


def _representatives(
    z: NDArray[np.float64], labels: Sequence[Hashable], alpha: float
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Eq. 10-11 per group on unit rows ``z`` ``[N, D]``: in order, keep ``i`` and drop every later
    ``j`` of its group with cosine ``> alpha``. Returns ``removed`` ``[N]`` and ``representative``
    ``[N]`` (the kept index standing for each sequence)."""
    representative = np.arange(len(z), dtype=np.int64)  # [N]
    removed = np.zeros(len(z), dtype=bool)  # [N]
    for label in dict.fromkeys(labels):
        members = np.asarray([i for i, g in enumerate(labels) if g == label], dtype=np.int64)  # [M]
        for position, i in enumerate(members):
            if removed[i]:
                continue
            later = members[position + 1 :]  # [M']
            cosine = np.clip(z[later] @ z[i], -1.0, 1.0)  # [M'] (rounding can exceed 1)
            similar = later[(cosine > alpha) & ~removed[later]]
            removed[similar] = True
            representative[similar] = i
    return removed, representative


# The context-budget rule's alphas, 1.00 (only exact duplicates go) down to 0.50 in steps of 0.01.
ALPHA_GRID: tuple[float, ...] = tuple(round(1.0 - 0.01 * k, 2) for k in range(51))


@dataclass(frozen=True, slots=True)
class SSCConfig:
    """SSC threshold (the reference uses alpha 0.905-0.92 with its TransAE encoder)."""

    alpha: float = 0.918

    def __post_init__(self) -> None:
        if not -1.0 <= self.alpha <= 1.0:
            raise ValueError("alpha is a cosine similarity in [-1, 1]")


class SemanticCompressor[S]:
    """SSC. ``fit`` selects representatives at ``config.alpha``, ``fit_to_budget`` at the alpha the
    context-budget rule picks; learned: ``kept_indices_`` (sorted), ``representative_`` ``[N]`` (the
    kept index that stands for each sequence), ``reduction_rate_``, ``alpha_`` (the alpha used)."""

    def __init__(self, encoder: SequenceEncoder[S], config: SSCConfig | None = None) -> None:
        self.encoder = encoder
        self.config = config or SSCConfig()
        self.kept_indices_: list[int] = []
        self.representative_: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.reduction_rate_ = 0.0
        self.alpha_ = self.config.alpha
        self._kept_vectors: NDArray[np.float64] = np.zeros((0, 0))

    def fit(self, sequences: Sequence[S], groups: Sequence[Hashable] | None = None) -> Self:
        """Eq. 10-11 within each group (``groups[i]`` labels sequence i; None = one group)."""
        z, labels = self._encode(sequences, groups)
        return self._keep(z, *_representatives(z, labels, self.config.alpha), alpha=self.config.alpha)

    def fit_to_budget(
        self,
        sequences: Sequence[S],
        fits: Callable[[list[int]], bool],
        groups: Sequence[Hashable] | None = None,
        grid: Sequence[float] = ALPHA_GRID,
    ) -> Self:
        """SSC with alpha set by the **context-budget rule**: the largest alpha of ``grid`` whose
        representatives ``fits`` (e.g. the synthesis prompt of one request holds them all); the
        smallest alpha of ``grid`` if none does. Uses only the sequences (no labels, no test data).

        The encoder runs once; ``fits`` gets the sorted kept indices of each alpha tried, largest
        first, and the scan stops at the first that fits. Learned: ``alpha_`` (the alpha used).
        """
        z, labels = self._encode(sequences, groups)
        ordered = sorted(grid, reverse=True)
        if not ordered:
            raise ValueError("the alpha grid is empty")
        for alpha in ordered:
            removed, representative = _representatives(z, labels, alpha)
            if fits([int(i) for i in np.flatnonzero(~removed)]):
                break
        return self._keep(z, removed, representative, alpha=alpha)

    def _encode(
        self, sequences: Sequence[S], groups: Sequence[Hashable] | None
    ) -> tuple[NDArray[np.float64], list[Hashable]]:
        """Unit-length codes ``[N, D]`` and each sequence's group label."""
        z = _unit_rows(np.asarray(self.encoder.encode(sequences), dtype=np.float64))  # [N, D]
        labels: list[Hashable] = list(groups) if groups is not None else [0] * len(sequences)
        if len(labels) != len(sequences):
            raise ValueError("groups must label every sequence")
        return z, labels

    def _keep(
        self,
        z: NDArray[np.float64],
        removed: NDArray[np.bool_],
        representative: NDArray[np.int64],
        *,
        alpha: float,
    ) -> Self:
        self.kept_indices_ = [int(i) for i in np.flatnonzero(~removed)]
        self.representative_ = representative
        self.reduction_rate_ = 1.0 - len(self.kept_indices_) / len(z) if len(z) else 0.0
        self._kept_vectors = z[self.kept_indices_]
        self.alpha_ = alpha
        return self

    def predict(self, sequences: Sequence[S]) -> NDArray[np.int64]:
        """For each sequence, the kept index (into the fitted set) most similar to it, ``[N]``."""
        if not self.kept_indices_:
            raise RuntimeError("fit the compressor first")
        z = _unit_rows(np.asarray(self.encoder.encode(sequences), dtype=np.float64))  # [N, D]
        nearest = np.argmax(z @ self._kept_vectors.T, axis=1)  # [N]
        kept: NDArray[np.int64] = np.asarray(self.kept_indices_, dtype=np.int64)[nearest]
        return kept


@dataclass(frozen=True, slots=True)
class SPPCConfig:
    """SPPC parameters. ``n_folds=None`` is exact leave-one-out (one fit per sequence)."""

    keep_ratio: float = 0.1  # IoTGen reports up to 90% fewer tokens
    n_folds: int | None = 5
    seed: int = 2024

    def __post_init__(self) -> None:
        if not 0 < self.keep_ratio <= 1:
            raise ValueError("keep_ratio must be in (0, 1]")
        if self.n_folds is not None and self.n_folds < 2:
            raise ValueError("n_folds must be at least 2 (or None for leave-one-out)")


class PatternPerceptionCompressor[S]:
    """SPPC. Learned: ``errors_`` ``[N]`` held-out reconstruction errors, ``kept_indices_`` (sorted),
    ``threshold_`` (the smallest kept error), ``reduction_rate_``."""

    def __init__(
        self, model_factory: Callable[[], SequenceLossModel[S]], config: SPPCConfig | None = None
    ) -> None:
        self.model_factory = model_factory
        self.config = config or SPPCConfig()
        self.errors_: NDArray[np.float64] = np.zeros(0)
        self.kept_indices_: list[int] = []
        self.threshold_ = float("inf")
        self.reduction_rate_ = 0.0
        self._full: SequenceLossModel[S] | None = None

    def fit(self, sequences: Sequence[S]) -> Self:
        """Held-out errors per fold, then keep the top ``keep_ratio`` (ties: earlier first)."""
        n = len(sequences)
        if n < 2:
            raise ValueError("SPPC needs at least two sequences")
        folds = n if self.config.n_folds is None else min(self.config.n_folds, n)
        assignment = np.random.default_rng(self.config.seed).permutation(n) % folds  # [N]
        errors = np.zeros(n, dtype=np.float64)
        for fold in range(folds):
            held = np.flatnonzero(assignment == fold)
            train = [sequences[i] for i in np.flatnonzero(assignment != fold)]
            errors[held] = self.model_factory().fit(train).losses([sequences[i] for i in held])
        keep = max(1, math.ceil(self.config.keep_ratio * n))
        order = np.lexsort((np.arange(n), -errors))[:keep]  # highest error first, then index
        self.errors_ = errors
        self.kept_indices_ = sorted(int(i) for i in order)
        self.threshold_ = float(errors[order].min())
        self.reduction_rate_ = 1.0 - keep / n
        self._full = self.model_factory().fit(sequences)
        return self

    def predict(self, sequences: Sequence[S]) -> NDArray[np.bool_]:
        """Would each new sequence be selected: its error (model fit on the whole set) >= threshold."""
        if self._full is None:
            raise RuntimeError("fit the compressor first")
        return np.asarray(self._full.losses(sequences), dtype=np.float64) >= self.threshold_


@dataclass(frozen=True, slots=True)
class CompressionReport:
    """SmartGen Table 9: how much compression saved."""

    sequences_before: int
    sequences_after: int
    prompt_tokens_before: int
    prompt_tokens_after: int

    @property
    def reduction_rate(self) -> float:
        """Share of sequences removed."""
        return 1.0 - self.sequences_after / self.sequences_before if self.sequences_before else 0.0

    @property
    def tokens_saved(self) -> int:
        """Prompt tokens saved over the whole run."""
        return self.prompt_tokens_before - self.prompt_tokens_after

    @property
    def token_reduction(self) -> float:
        """Share of prompt tokens saved."""
        return self.tokens_saved / self.prompt_tokens_before if self.prompt_tokens_before else 0.0
