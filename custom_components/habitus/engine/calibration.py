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
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

# Sequences a home must have had scored before the base threshold is its own (see the module docstring).
MIN_CALIBRATION_SEQUENCES: Final = 100
# The most recent stored sequences the hub scores per calibration (about 0.1 s for the base TransAE).
MAX_CALIBRATION_SEQUENCES: Final = 1000


def home_threshold(
    scores: NDArray[np.floating], percentile: float, minimum: int = MIN_CALIBRATION_SEQUENCES
) -> float | None:
    """The ``percentile`` of a home's sequence scores [N], or None while N < ``minimum`` (calibrating).

    ``minimum`` below 1 still needs one score: a percentile of nothing is not a threshold.
    """
    if len(scores) < max(1, minimum):
        return None
    return float(np.percentile(np.asarray(scores, dtype=np.float64), percentile))
