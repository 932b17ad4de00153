"""ScoreEnsemble: the seed ensemble's combination rule against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from habitus_engine.ensemble import ScoreEnsemble


def _f(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def test_scores_are_the_mean_of_members_standardised_by_their_validation_scores() -> None:
    ensemble = ScoreEnsemble(percentile=50.0)
    # member A: validation 1, 3 (mean 2, sd 1); member B: 10, 30 (mean 20, sd 10)
    # standardised validation: A -1, 1; B -1, 1 -> ensemble -1, 1 -> median 0
    assert ensemble.calibrate([_f(1, 3), _f(10, 30)]) == pytest.approx(0.0)
    assert ensemble.mean_ == pytest.approx([2.0, 20.0]) and ensemble.sd_ == pytest.approx([1.0, 10.0])
    # test: A 2, 5 -> 0, 3; B 40, 20 -> 2, 0; ensemble (0 + 2) / 2 = 1, (3 + 0) / 2 = 1.5
    assert ensemble.score([_f(2, 5), _f(40, 20)]) == pytest.approx([1.0, 1.5])
    assert ensemble.predict([_f(2, 5), _f(40, 20)]).tolist() == [True, True]
    strict = ScoreEnsemble(percentile=100.0)
    assert strict.calibrate([_f(1, 3), _f(10, 30)]) == pytest.approx(1.0)
    assert strict.predict([_f(2, 5), _f(40, 20)]).tolist() == [False, True]


def test_a_member_on_a_tiny_scale_weighs_as_much_as_the_others() -> None:
    """A member that memorised its set (scores ~1e-3) counts as much as one that did not (~1)."""
    validation = [_f(0.5, 1.0, 2.0), _f(4.0, 2.0, 1.0)]
    test = [_f(3.0, 0.1), _f(0.5, 9.0)]
    plain = ScoreEnsemble(95.0)
    plain.calibrate(validation)
    scaled = ScoreEnsemble(95.0)
    scaled.calibrate([validation[0] * 1e-3, validation[1]])
    assert scaled.score([test[0] * 1e-3, test[1]]) == pytest.approx(plain.score(test), rel=1e-5)
    assert scaled.threshold_ == pytest.approx(plain.threshold_, rel=1e-5)


def test_a_member_with_equal_validation_scores_is_only_shifted() -> None:
    ensemble = ScoreEnsemble(50.0)
    ensemble.calibrate([_f(4, 4)])
    assert ensemble.sd_ == pytest.approx([1.0])
    assert ensemble.score([_f(6, 3)]) == pytest.approx([2.0, -1.0])


def test_misuse_raises_clear_errors() -> None:
    ensemble = ScoreEnsemble(95.0)
    with pytest.raises(ValueError, match="not calibrated"):
        ensemble.score([_f(1.0)])
    with pytest.raises(ValueError, match="at least one member"):
        ensemble.calibrate([])
    with pytest.raises(ValueError, match="different numbers"):
        ensemble.calibrate([_f(1, 2), _f(1)])
    ensemble.calibrate([_f(1, 2), _f(3, 4)])
    with pytest.raises(ValueError, match="calibrated on 2 members"):
        ensemble.score([_f(1, 2)])
