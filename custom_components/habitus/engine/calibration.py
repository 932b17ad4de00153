"""Cold-start threshold calibration: a base TransAE's anomaly threshold from the home's own sequences.

The base TransAE served at cold start was calibrated on SmartThings FR: its threshold is a percentile
of FR's scores, and it does not transfer to another home (on SP one FR file flags 56-68 % of normal
sequences, the other hardly ever fires; docs/BENCHMARKS.md, "Base models validated as the hub does").
While the base models serve, the hub applies TransAE's own rule instead (SmartGen's
``np.percentile(val_scores, p)``, ``TransAEConfig.threshold_percentile``: 95) to the base model's
scores of the home's own stored sequences, and raises no anomaly before ``MIN_CALIBRATION_SEQUENCES``
of them were scored (``home_threshold`` returns None until then). ``habitus bench base --calibrate``
measures the rule; the minimum was chosen there (docs/BENCHMARKS.md, "Cold start: the base
threshold calibrated on the home").

Live scoring reads the open sequence after each of its behaviours and a sequence raises its anomaly
once, at the first reading above the threshold, so a sequence is flagged when *any* of those readings
is. The percentile is therefore taken of each sequence's **highest score over the readings live
scoring makes of it** (``live_windows``, ``max_prefix_scores``), not of the whole sequence's one score:
a percentile of whole-sequence scores bounds the share of sequences whose last reading is above the
threshold, not the share that ever alert (docs/BENCHMARKS.md, "Counted as live scoring reads").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from .datasets import RawBehaviour, RawSequence

# Sequences a home must have had scored before the base threshold is its own (see the module docstring).
MIN_CALIBRATION_SEQUENCES: Final = 100
# The most recent stored sequences the hub scores per calibration (about 0.1 s for the base TransAE).
MAX_CALIBRATION_SEQUENCES: Final = 1000

type ScoreFn = Callable[[Sequence[RawSequence]], NDArray[np.floating]]  # TransAE.score of many windows


def home_threshold(
    scores: NDArray[np.floating], percentile: float, minimum: int = MIN_CALIBRATION_SEQUENCES
) -> float | None:
    """The ``percentile`` of a home's sequence scores [N], or None while N < ``minimum`` (calibrating).

    ``minimum`` below 1 still needs one score: a percentile of nothing is not a threshold.
    """
    if len(scores) < max(1, minimum):
        return None
    return float(np.percentile(np.asarray(scores, dtype=np.float64), percentile))


def live_windows(
    sequence: Sequence[RawBehaviour | None], window: int, max_behaviours: int
) -> list[RawSequence]:
    """What live scoring reads of a sequence, one reading after each behaviour, in order.

    ``sequence``: each behaviour's model ids, None for one outside the vocabulary. After behaviour i the
    model reads the known behaviours among the last ``window`` up to i, the last ``max_behaviours`` of
    those; a reading with no known behaviour scores nothing and is left out.
    """
    reads: list[RawSequence] = []
    for end in range(1, len(sequence) + 1):
        known = [raw for raw in sequence[max(0, end - window) : end] if raw is not None]
        if known:
            reads.append(known[-max_behaviours:])
    return reads


def max_prefix_scores(
    score: ScoreFn,
    sequences: Sequence[Sequence[RawBehaviour | None]],
    window: int,
    max_behaviours: int,
) -> NDArray[np.float64]:
    """[N] each sequence's highest score over the readings live scoring makes of it (``live_windows``).

    A sequence is flagged live exactly when this is above the threshold. Identical readings are scored
    once (one batched ``score`` call). A sequence with no known behaviour is never scored live: -inf
    (drop it before taking a percentile).
    """
    reads = [live_windows(seq, window, max_behaviours) for seq in sequences]
    unique: dict[tuple[RawBehaviour, ...], int] = {}
    for seq_reads in reads:
        for read in seq_reads:
            unique.setdefault(tuple(read), len(unique))
    scores = np.asarray(score([list(r) for r in unique]), dtype=np.float64) if unique else np.zeros(0)
    return np.array(
        [max((scores[unique[tuple(r)]] for r in seq_reads), default=-np.inf) for seq_reads in reads],
        dtype=np.float64,
    )
