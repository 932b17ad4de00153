"""TransAE fitted and read as the hub's ``train_models`` job and live scoring do (``engine/jobs.py``).

Shared by ``habitus build-assets`` (the shipped base models) and ``habitus bench models --hub-row``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from habitus_engine.calibration import live_windows
from habitus_engine.datasets import RawSequence
from habitus_engine.jobs import calibrate_as_live, live_max_scores
from habitus_engine.jobs import fit_transae as fit_as_hub
from habitus_engine.models import TransAE


def fit_transae(
    model: TransAE,
    train: list[RawSequence],
    validation: list[RawSequence] | None,
    train_on: str,
    progress: Callable[[Any], None] | None = None,
) -> None:
    """Fit TransAE as the hub's ``train_models`` fits it.

    ``validation`` None: a seeded share of ``train`` is held out (``transae_split``, the hub's split).
    "whole": SmartGen's rows and threshold (percentile of whole validation sequences). "live-windows":
    each side expanded into its live windows (``transae_rows``), and the threshold reset to the
    percentile of the held-out sequences' highest prefix readings, the rule the hub's threshold follows
    (``engine/jobs.py`` ``fit_transae``, ``calibrate_as_live``).
    """
    if train_on == "whole":
        model.fit(train, validation, progress=progress)
        return
    if validation is None:
        fit_as_hub(model, train, "live-windows", progress=progress)
        return
    n = model.config.max_behaviours
    rows = [w for s in train for w in live_windows(s, n, n)]
    model.fit(rows, [w for s in validation for w in live_windows(s, n, n)], progress=progress)
    calibrate_as_live(model, validation)


def live_flags(model: TransAE, sequences: Sequence[RawSequence]) -> NDArray[np.bool_]:
    """[N] whether live scoring alerts on each sequence: any prefix reading above ``threshold_``
    (scored as the hub serves, ``"auto"``)."""
    if model.threshold_ is None:
        raise ValueError("TransAE has no threshold: fit it first")
    return live_max_scores(model, sequences, "auto") > model.threshold_
