"""``habitus bench threshold``: a home-trained TransAE's false alarms counted as live scoring raises them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from habitus_tools.cli import main
from tests.paths import SMARTTHINGS

SP = SMARTTHINGS / "sp"
pytestmark = pytest.mark.skipif(not SP.exists(), reason="shared SmartThings datasets not found")


def test_the_served_threshold_bounds_the_held_out_rows_counted_as_live(tmp_path: Path) -> None:
    out = tmp_path / "threshold.json"
    flags = ["--homes", str(SP), "--limit", "120", "--epochs", "1", "--json", str(out)]
    assert main(["bench", "threshold", *flags, "--train-on", "whole", "live-windows"]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    for train_on in ("whole", "live-windows"):
        figures = doc[f"sp/2024/{train_on}/random"]
        whole, served = figures["whole"], figures["served"]
        assert figures["train_sequences"] == 120 and figures["validation_sequences"] == 24
        assert figures["train_on"] == train_on
        # the served threshold is the 95th percentile of the held-out rows' prefix maxima: it lies
        # between the 22nd and 23rd of the 24 sorted maxima, so at most 2 ever read above it
        assert served["validation_flagged_any_prefix"] <= 2 / 24
        for rule in (whole, served):  # a sequence flagged whole is flagged at some prefix (its last)
            assert rule["normal_flagged"] <= rule["normal_flagged_any_prefix"]
    # trained on whole sequences, the whole-sequence percentile is lower and lets as many or more through
    whole, served = doc["sp/2024/whole/random"]["whole"], doc["sp/2024/whole/random"]["served"]
    assert served["threshold"] >= whole["threshold"]
    assert whole["validation_flagged_any_prefix"] >= served["validation_flagged_any_prefix"]
    assert served["normal_flagged_any_prefix"] <= whole["normal_flagged_any_prefix"]
    # trained on live windows: the 96 training sequences' prefixes, one per behaviour
    assert doc["sp/2024/whole/random"]["transae_train_rows"] == 96
    assert doc["sp/2024/live-windows/random"]["transae_train_rows"] > 96
    assert main(["bench", "threshold", "--homes", str(tmp_path)]) == 2  # not a dataset


def test_holdouts_alternate_and_the_held_out_set_is_counted_with_its_repeats(tmp_path: Path) -> None:
    out = tmp_path / "threshold.json"
    flags = ["--homes", str(SP), "--limit", "300", "--epochs", "1", "--normal", "held-out"]
    flags += ["--held-out-seed", "7", "--json", str(out)]
    assert main(["bench", "threshold", *flags, "--holdout", "random", "grouped", "unseen"]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    random, grouped, unseen = (doc[f"sp/2024/live-windows/{h}"] for h in ("random", "grouped", "unseen"))
    assert [f["holdout"] for f in (random, grouped, unseen)] == ["random", "grouped", "unseen"]
    # SP stores some sequences several times: the random split puts copies on both sides, grouped none
    assert random["validation_in_training"] > 0 and grouped["validation_in_training"] == 0
    assert random["calibration_sequences"] == random["validation_sequences"]
    assert unseen["calibration_sequences"] < unseen["validation_sequences"]
    for figures in (random, grouped, unseen):  # the held-out 20 % of 300, repeats of training included
        assert figures["normal_sequences"] <= 60 and figures["held_out_seed"] == 7
        assert 0 <= figures["served"]["held_out_all_flagged_any_prefix"] <= 1
