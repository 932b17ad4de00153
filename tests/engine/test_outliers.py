"""TOF (two-stage outlier filter), the Markov sequence-loss baseline it can run on, and stage 2's
next-action utility test."""

from __future__ import annotations

import numpy as np
import pytest

from habitus_engine.outliers import (
    MarkovLossModel,
    NextActionLossModel,
    TOFConfig,
    TwoStageOutlierFilter,
    iqr_upper_fence,
)

ROUTINES = [["on", "tv", "off"], ["on", "off"], ["on", "tv", "tv", "off"], ["tv", "off"]]
SYNTHETIC = [ROUTINES[i % 4] for i in range(40)] + [
    ["siren", "lock", "siren", "camera"],  # 40: nonsense burst, unlike anything else
    ["on", "tv", "off", "on", "tv", "off", "on", "tv", "off", "oven"],  # 41: the routine, then a new device
]


def test_markov_loss_is_low_for_common_and_high_for_unseen_patterns() -> None:
    model = MarkovLossModel().fit(ROUTINES * 5)
    common, unseen = model.losses([["on", "tv", "off"], ["siren", "lock"]])
    assert common < unseen
    assert model.losses([[]]).tolist() == [0.0]


def test_iqr_fence_is_q3_plus_k_iqr() -> None:
    losses = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert iqr_upper_fence(losses) == pytest.approx(4.0 + 1.5 * 2.0)
    assert iqr_upper_fence(losses, factor=0.0) == pytest.approx(4.0)


def test_stage_one_flags_what_lies_above_the_fence() -> None:
    tof = TwoStageOutlierFilter(MarkovLossModel, TOFConfig(stage2=False)).fit(SYNTHETIC)
    assert 40 in tof.outliers_
    assert all(tof.losses_[i] > tof.upper_fence_ for i in tof.outliers_)
    assert tof.kept_mask_.sum() == len(SYNTHETIC) - len(tof.outliers_)
    assert np.isnan(tof.baseline_loss_)


def test_stage_two_keeps_an_outlier_only_if_it_does_not_hurt_held_out_loss() -> None:
    config = TOFConfig(iqr_factor=0.0, seed=7)  # a tight fence: several candidates for stage 2
    tof = TwoStageOutlierFilter(MarkovLossModel, config).fit(SYNTHETIC)
    assert tof.outliers_, "the tight fence must flag something"
    # recompute Eq. 22-23 independently
    inliers = np.flatnonzero(tof.losses_ <= tof.upper_fence_)
    order = np.random.default_rng(7).permutation(inliers)
    n_test = max(1, round(len(order) * 0.2))
    test, train = [SYNTHETIC[i] for i in order[:n_test]], [SYNTHETIC[i] for i in order[n_test:]]
    baseline = MarkovLossModel().fit(train).losses(test).mean()
    assert tof.baseline_loss_ == pytest.approx(baseline)
    for i in tof.outliers_:
        with_it = MarkovLossModel().fit([*train, SYNTHETIC[i]]).losses(test).mean()
        assert (i in tof.rescued_) == (with_it <= baseline)
        assert tof.kept_mask_[i] == (i in tof.rescued_)
    assert 40 not in tof.rescued_  # new tokens dilute every probability: held-out loss rises


def test_stage_two_can_rescue_a_useful_outlier() -> None:
    # An unusual order of the inliers' own actions: flagged by stage 1, yet adding it to training
    # lowers the held-out loss (it adds START -> b and b -> c evidence), so stage 2 keeps it.
    inliers = [
        ["b", "c"],
        ["b", "c"],
        ["a", "b"],
        ["a", "b", "c"],
        ["a", "b"],
        ["b", "c"],
        ["a", "b"],
        ["b", "c"],
        ["a", "b", "c"],
        ["a", "b", "c"],
        ["b", "c"],
        ["a", "b"],
    ]
    synthetic = [*inliers, ["b", "b", "c", "c", "a"]]
    tof = TwoStageOutlierFilter(MarkovLossModel, TOFConfig()).fit(synthetic)
    assert tof.outliers_ == [12] and tof.rescued_ == [12] and tof.kept_mask_.all()


def test_next_action_loss_sums_transitions_over_a_fixed_vocabulary() -> None:
    model = NextActionLossModel.over([["a", "b"], ["c"]])  # 3 tokens + the unknown slot
    model.fit([["a", "b"], ["a", "b", "zzz"]])  # an unseen token does not grow the vocabulary
    assert model.vocabulary_size_ == 4
    one, two, single = model.losses([["a", "b"], ["a", "b", "a"], ["c"]])
    assert single == 0.0  # a single action predicts nothing next
    assert one == pytest.approx(-np.log((2 + 0.1) / (2 + 0.4)))  # P(b | a), no start state
    assert two == pytest.approx(one - np.log((0 + 0.1) / (1 + 0.4)))  # + P(a | b): a sum, not a mean


# Many duplicated short routines plus two distinct sequences stage 1 flags: a chain over actions the
# routines never move on from (new devices of the new context: useful to behaviour prediction, and
# adding it leaves the routines' next actions exactly as predictable) and one that cuts into the
# routines' own transitions ("on" -> "siren": "on" -> "tv" / "off" become less likely).
NEW_CHAIN = ["blind close", "camera", "robot clean"]
INTRUDER = ["on", "siren", "on", "siren", "on"]
WITH_NEW = [*SYNTHETIC[:40], NEW_CHAIN, INTRUDER]


def test_reconstruction_alone_deletes_the_new_chain() -> None:
    tof = TwoStageOutlierFilter(MarkovLossModel, TOFConfig()).fit(WITH_NEW)
    assert {40, 41} <= set(tof.outliers_)
    assert not tof.kept_mask_[40] and not tof.kept_mask_[41]
    assert tof.next_action_rescued_ == []


def test_the_next_action_test_rescues_the_new_chain_but_not_the_intruder() -> None:
    tof = TwoStageOutlierFilter(MarkovLossModel, TOFConfig(), NextActionLossModel.over).fit(WITH_NEW)
    assert {40, 41} <= set(tof.outliers_)
    assert 40 in tof.next_action_rescued_ and tof.kept_mask_[40]
    assert 41 not in tof.rescued_ and not tof.kept_mask_[41]
    # only outliers the next-action test did not keep get the reconstruction refit
    assert 41 in tof.tried_ and 40 not in tof.tried_


def test_stage_two_reruns_on_the_same_stage_one_for_tof_per_task() -> None:
    paper = TwoStageOutlierFilter(MarkovLossModel, TOFConfig()).fit(WITH_NEW)
    ad = paper.kept_mask_.copy()  # the anomaly model's set: the reconstruction test alone
    paper.utility_factory = NextActionLossModel.over
    bp = paper.fit_stage2().kept_mask_  # the next-action model's: stage 1 shared, stage 2 again
    both = TwoStageOutlierFilter(MarkovLossModel, TOFConfig(), NextActionLossModel.over).fit(WITH_NEW)
    assert not ad[40] and bp[40]  # the new chain: deleted for AD, kept for BP
    assert bp.tolist() == both.kept_mask_.tolist() and paper.rescued_ == both.rescued_
    with pytest.raises(RuntimeError, match="fit"):
        TwoStageOutlierFilter(MarkovLossModel).fit_stage2()


def test_filter_returns_the_kept_sequences_and_predict_scores_new_ones() -> None:
    tof = TwoStageOutlierFilter(MarkovLossModel, TOFConfig())
    kept = tof.filter(SYNTHETIC)
    assert ["siren", "lock", "siren", "camera"] not in kept and len(kept) == int(tof.kept_mask_.sum())
    assert tof.predict([["on", "tv", "off"], ["siren", "camera", "lock"]]).tolist() == [True, False]


def _counting(fits: list[int]) -> type[MarkovLossModel]:
    """A ``MarkovLossModel`` that appends each fit's training-set size to ``fits``."""

    class CountingModel(MarkovLossModel):
        def fit(self, sequences):  # type: ignore[no-untyped-def]
            fits.append(len(sequences))
            return super().fit(sequences)

    return CountingModel


def test_max_rescue_trials_bounds_the_refits() -> None:
    fits: list[int] = []
    CountingModel = _counting(fits)
    tof = TwoStageOutlierFilter(CountingModel, TOFConfig(iqr_factor=0.0, max_rescue_trials=1)).fit(SYNTHETIC)
    assert len(tof.outliers_) > 1
    assert len(fits) == 3  # stage 1, the baseline, one trial


def test_tof_per_task_refits_no_outlier_twice() -> None:
    fits: list[int] = []
    CountingModel = _counting(fits)
    tof = TwoStageOutlierFilter(CountingModel, TOFConfig()).fit(WITH_NEW)
    assert {40, 41} <= set(tof.tried_)
    first = len(fits)
    tof.utility_factory = NextActionLossModel.over
    tof.fit_stage2()  # 41 was judged by the reconstruction test above; 40 the next-action test keeps
    assert 41 in tof.tried_ and len(fits) == first  # no baseline and no trial refit again
    fresh = TwoStageOutlierFilter(MarkovLossModel, TOFConfig(), NextActionLossModel.over).fit(WITH_NEW)
    assert tof.rescued_ == fresh.rescued_ and tof.kept_mask_.tolist() == fresh.kept_mask_.tolist()


def test_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="at least one"):
        TwoStageOutlierFilter(MarkovLossModel).fit([])
    with pytest.raises(RuntimeError, match="fit the filter first"):
        TwoStageOutlierFilter(MarkovLossModel).predict([["a"]])
    with pytest.raises(ValueError):
        TOFConfig(test_fraction=1.0)
