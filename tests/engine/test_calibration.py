"""Cold-start calibration: TransAE's percentile rule on a home's own scores, after a minimum count."""

from __future__ import annotations

import numpy as np
import pytest

from habitus_engine.calibration import MIN_CALIBRATION_SEQUENCES, home_threshold


def test_the_threshold_is_the_percentile_of_the_home_scores() -> None:
    scores = np.array([5.0, 1.0, 4.0, 2.0, 3.0], dtype=np.float32)
    # numpy's linear percentile: sorted 1..5, the 95th lies at rank 0.95 * 4 = 3.8, between 4 and 5
    assert home_threshold(scores, 95.0, minimum=5) == pytest.approx(4.8)
    assert home_threshold(scores, 50.0, minimum=5) == pytest.approx(3.0)
    assert home_threshold(scores, 100.0, minimum=1) == pytest.approx(5.0)


def test_no_threshold_before_the_minimum_count() -> None:
    scores = np.arange(1.0, MIN_CALIBRATION_SEQUENCES + 1.0)  # 1 .. MIN
    assert home_threshold(scores[:-1], 95.0) is None  # one short: still calibrating
    threshold = home_threshold(scores, 95.0)
    assert threshold == pytest.approx(1.0 + 0.95 * (MIN_CALIBRATION_SEQUENCES - 1))
    assert home_threshold(np.zeros(0), 95.0, minimum=0) is None  # a percentile of nothing is not one
    assert 25 <= MIN_CALIBRATION_SEQUENCES <= 100
