"""Fidelity (JSD, KS) and privacy (copies, near copies, membership inference) of synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from habitus_engine.behaviour import Behaviour
from habitus_engine.fidelity import (
    behaviour_tokens,
    categorical_jsd,
    fidelity_report,
    jsd,
    ks_statistic,
    nearest_distances,
    privacy_report,
    roc_auc,
)


def test_jsd_is_zero_for_equal_one_for_disjoint_and_symmetric() -> None:
    p, q = np.array([0.2, 0.8, 0.0]), np.array([0.0, 0.0, 1.0])
    assert jsd(p, p) == pytest.approx(0.0)
    assert jsd(p, q) == pytest.approx(1.0)
    r = np.array([0.5, 0.5, 0.0])
    assert jsd(p, r) == pytest.approx(jsd(r, p)) and 0 < jsd(p, r) < 1
    assert jsd(np.zeros(2), p[:2]) == 1.0
    assert categorical_jsd("aab", "aba") == pytest.approx(0.0)


def test_jsd_matches_the_definition() -> None:
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    m = (p + q) / 2
    expected = 0.5 * sum(p * np.log2(p / m)) + 0.5 * sum(q * np.log2(q / m))
    assert jsd(p, q) == pytest.approx(expected)


def test_ks_separates_shifted_samples() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(8, 2, 400), rng.normal(20, 2, 400)
    same_d, same_p = ks_statistic(a, rng.normal(8, 2, 400))
    far_d, far_p = ks_statistic(a, b)
    assert same_d < 0.15 and same_p > 0.01
    assert far_d > 0.9 and far_p < 1e-6
    assert ks_statistic([], [1.0]) == (1.0, 0.0)


def _seq(*items: tuple[float, str]) -> list[Behaviour]:
    return [Behaviour(time=t, device=a.split(":")[0], action=a) for t, a in items]


def test_fidelity_report_compares_action_device_and_hour_distributions() -> None:
    real = [_seq((7, "Light:switch on"), (8, "Light:switch off"))] * 5
    same = fidelity_report(real, real)
    assert same.jsd_action == same.jsd_device == same.jsd_hour == pytest.approx(0.0) and same.ks_hour == 0.0
    night = [_seq((22, "Television:switch on"), (23, "Television:switch off"))] * 5
    shifted = fidelity_report(night, real)
    assert shifted.jsd_action == pytest.approx(1.0) and shifted.jsd_hour == pytest.approx(1.0)
    assert shifted.ks_hour == pytest.approx(1.0)


def _levenshtein(a: list[object], b: list[object]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


tokens = st.lists(st.sampled_from("abcd"), max_size=6)


@settings(max_examples=60)
@given(st.lists(tokens, min_size=1, max_size=4), st.lists(tokens, min_size=1, max_size=5))
def test_nearest_distances_match_a_plain_levenshtein(queries: list[list[str]], refs: list[list[str]]) -> None:
    expected = [
        min(_levenshtein(q, r) / max(len(q), len(r)) if max(len(q), len(r)) else 0.0 for r in refs)
        for q in queries
    ]
    np.testing.assert_allclose(nearest_distances(queries, refs), expected)


def test_privacy_counts_copies_and_near_copies() -> None:
    members = [list("abcde"), list("fghij")]
    synthetic = [list("abcde"), list("abcdx"), list("zzzzz"), list("fghij")]
    report = privacy_report(synthetic, members, near_copy_distance=0.2)
    assert report.copy_rate == pytest.approx(0.5)
    assert report.near_copy_rate == pytest.approx(0.75)  # "abcdx" is 1 edit of 5 away
    assert math.isnan(report.membership_auc)


def test_membership_auc_is_high_when_synthetic_data_copies_members() -> None:
    rng = np.random.default_rng(1)
    population = [list(rng.choice(list("abcdefgh"), size=6)) for _ in range(60)]
    members, non_members = population[:30], population[30:]
    leaky = privacy_report(members, members, non_members)
    assert leaky.membership_auc > 0.95 and leaky.copy_rate == 1.0
    fresh = [list(rng.choice(list("abcdefgh"), size=6)) for _ in range(30)]
    private = privacy_report(fresh, members, non_members)
    assert 0.3 < private.membership_auc < 0.7 and private.copy_rate == 0.0


def test_roc_auc_handles_ties_and_empty_sides() -> None:
    assert roc_auc(np.array([1.0, 1.0]), np.array([1.0])) == pytest.approx(0.5)
    assert roc_auc(np.array([3.0]), np.array([1.0, 2.0])) == pytest.approx(1.0)
    assert roc_auc(np.array([]), np.array([1.0])) == 0.5


def test_behaviour_tokens_use_weekday_hour_device_and_action() -> None:
    seq = [Behaviour(time=168 + 24 + 7.5, device="Light", action="Light:switch on")]
    assert behaviour_tokens(seq) == [(1, 7, "Light", "Light:switch on")]
