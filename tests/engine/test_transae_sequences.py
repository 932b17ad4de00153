"""TransAE as SSC's encoder and TOF's loss model (a tiny model, a few epochs: CI-sized)."""

from __future__ import annotations

import numpy as np
import pytest

from habitus_engine.adapt_pipeline import TOFOutcome, tof_filter
from habitus_engine.behaviour import Behaviour
from habitus_engine.compress import SemanticCompressor, SSCConfig
from habitus_engine.outliers import TOFConfig, TwoStageOutlierFilter
from habitus_engine.transae_sequences import SequenceModelConfig, TransAESequenceModel

TINY = SequenceModelConfig(d_model=16, n_heads=2, d_ff=32, epochs=8, max_seconds=None)
ROUTINES = [
    ["light on", "tv on", "tv off", "light off"],
    ["blind up", "kettle on", "kettle off"],
    ["door open", "door close", "lock"],
]
CORPUS = [ROUTINES[i % 3] for i in range(60)]
GARBAGE = ["siren", "camera", "siren", "oven", "camera"]


@pytest.fixture(scope="module")
def model() -> TransAESequenceModel:
    return TransAESequenceModel(TINY).fit(CORPUS)


def test_encoder_is_deterministic_and_separates_routines(model: TransAESequenceModel) -> None:
    first, second = model.encode(ROUTINES), model.encode(ROUTINES)
    assert first.shape == (3, TINY.d_model)
    np.testing.assert_array_equal(first, second)  # eval mode: no dropout, same vectors
    unit = first / np.linalg.norm(first, axis=1, keepdims=True)
    cosine = unit @ unit.T
    again = model.encode([ROUTINES[0]])[0]
    assert float(unit[0] @ (again / np.linalg.norm(again))) == pytest.approx(1.0)
    assert cosine[0, 1] < 0.999 and cosine[0, 2] < 0.999  # different routines, different vectors
    assert model.encode([[]]).tolist() == [[0.0] * TINY.d_model]  # empty: a zero row


def test_ssc_with_the_transae_encoder_keeps_one_per_routine(model: TransAESequenceModel) -> None:
    ssc = SemanticCompressor(model, SSCConfig(alpha=0.999)).fit(CORPUS)
    assert ssc.kept_indices_ == [0, 1, 2]  # 60 sequences, three distinct routines
    assert ssc.reduction_rate_ == pytest.approx(57 / 60)
    assert ssc.predict([ROUTINES[2], ROUTINES[1]]).tolist() == [2, 1]


def test_reconstruction_loss_is_higher_for_unseen_patterns(model: TransAESequenceModel) -> None:
    losses = model.losses([*ROUTINES, GARBAGE])
    assert losses.shape == (4,)
    assert losses[3] > losses[:3].max()


def test_tof_stage_one_flags_garbage_on_transae_loss() -> None:
    synthetic = [*CORPUS[:30], GARBAGE]
    tof = TwoStageOutlierFilter(lambda: TransAESequenceModel(TINY), TOFConfig(stage2=False)).fit(synthetic)
    assert 30 in tof.outliers_
    assert not tof.kept_mask_[30]


def test_the_pipeline_uses_transae_and_falls_back_below_ten_sequences() -> None:
    def seq(actions: list[str], day: int) -> list[Behaviour]:
        return [Behaviour(time=24.0 * day + 8 + i, device="d", action=a) for i, a in enumerate(actions)]

    synthetic = [seq(CORPUS[i], i % 7) for i in range(30)] + [seq(GARBAGE, 0)]
    tof = tof_filter(synthetic, True, "transae", TINY, utility="reconstruction")  # the paper's stage 2
    assert tof.model == "transae"
    assert synthetic[-1] not in tof.kept and len(tof.kept) >= 25
    # the counts the report carries: stage 1 flagged the garbage, stage 2 kept none it tried back
    counts = tof.counts()
    assert counts["stage1_flagged"] >= 1 and counts["stage2_tried"] == min(counts["stage1_flagged"], 8)
    assert counts["rejected"] == counts["stage1_flagged"] - counts["stage2_rescued"] == 31 - len(tof.kept)
    assert counts["stage2_next_action_rescued"] == 0
    untested = tof_filter(synthetic, True, "transae", TINY, trials=0, utility="reconstruction").counts()
    assert untested["stage2_tried"] == untested["stage2_rescued"] == 0  # stage 2 tries none
    assert untested["rejected"] == untested["stage1_flagged"] == counts["stage1_flagged"]
    every = tof_filter(synthetic, True, "transae", TINY, trials=None, utility="reconstruction").counts()
    assert every["stage2_tried"] == every["stage1_flagged"]  # the paper's: all
    # the default next-action test keeps the garbage: its actions never occur in the routines, so
    # it cannot make their next actions harder to predict (the price of the BP-aware test)
    default = tof_filter(synthetic, True, "transae", TINY, utility="next_action")
    assert synthetic[-1] in default.kept and default.next_action_rescued >= 1
    assert default.counts()["stage2_tried"] == default.flagged - default.next_action_rescued
    # TOF per task (the default): TransAE's set is the reconstruction test's, SASRec's the next-action one's
    per_task = tof_filter(synthetic, True, "transae", TINY)
    assert per_task.kept == tof.kept and per_task.kept_bp == default.kept != tof.kept
    assert per_task.bp is not None and per_task.bp.counts() == default.counts()
    assert default.kept_bp == default.kept  # one set for both otherwise
    assert tof_filter(synthetic[:5], True, "transae", TINY).model == "markov"
    assert tof_filter(synthetic, False) == TOFOutcome(synthetic, "none")


def test_fit_needs_two_sequences() -> None:
    with pytest.raises(ValueError, match="two"):
        TransAESequenceModel(TINY).fit([["a"], []])
    with pytest.raises(RuntimeError, match="fit"):
        TransAESequenceModel(TINY).encode([["a"]])
