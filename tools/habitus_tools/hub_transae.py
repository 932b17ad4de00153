"""TransAE fitted and read as the hub's ``train_models`` job and live scoring do (``engine/jobs.py``).

Shared by ``habitus build-assets`` (the shipped base models) and ``habitus bench models --hub-row``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from habitus_engine.calibration import home_threshold, live_windows, max_prefix_scores
from habitus_engine.datasets import RawSequence
from habitus_engine.jobs import transae_rows, transae_split
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
    percentile of the held-out sequences' highest prefix readings, the rule the hub's threshold follows.
    """
    cfg = model.config
    if train_on == "whole":
        model.fit(train, validation, progress=progress)
        return
    n = cfg.max_behaviours
    if validation is None:
        split = transae_split(train, cfg)  # the hub's split, so the threshold's sequences are its own
        rows, validation_rows = transae_rows(model, train, "live-windows", split=split)
        held = [train[int(i)] for i in split.calibration]
    else:
        rows = [w for s in train for w in live_windows(s, n, n)]
        validation_rows, held = [w for s in validation for w in live_windows(s, n, n)], validation
    model.fit(rows, validation_rows, progress=progress)
    threshold = home_threshold(live_max_scores(model, held), cfg.threshold_percentile, minimum=1)
    if threshold is not None:
        model.threshold_ = threshold


def live_max_scores(model: TransAE, sequences: Sequence[RawSequence]) -> NDArray[np.float64]:
    """[N] each sequence's highest score over the readings live scoring makes of it (scored as the
    hub serves, ``"auto"``); live scoring alerts on a sequence exactly when this exceeds the threshold."""
    n = model.config.max_behaviours
    return max_prefix_scores(lambda reads: model.score(reads, "auto"), sequences, n, n)


def live_flags(model: TransAE, sequences: Sequence[RawSequence]) -> NDArray[np.bool_]:
    """[N] whether live scoring alerts on each sequence: any prefix reading above ``threshold_``."""
    if model.threshold_ is None:
        raise ValueError("TransAE has no threshold: fit it first")
    return live_max_scores(model, sequences) > model.threshold_
