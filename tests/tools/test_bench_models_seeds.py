"""``habitus bench models --seeds`` (the figures' spread over seeds, next to the paper's) and
``--ad-ensemble K`` (a seed ensemble of TransAEs, ``engine/ensemble.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from habitus_engine.ensemble import ScoreEnsemble
from habitus_tools.bench_models import (
    ensemble_member_seeds,
    fit_ad_paper,
    load_shift,
    paper_ad_split,
    seed_list,
    seed_summary,
    spread,
)
from habitus_tools.cli import main
from tests.tools.test_bench_models import FR, tiny_fr  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not FR.exists(), reason="shared SmartThings datasets not found")


def _run(dataset: Path, out: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    args = ["bench", "models", "--dataset", str(dataset), "--shift", "night", "--json", str(out)]
    assert main([*args, "--sets", "paper_synthetic", "--epoch-scale", "0.05", *extra]) == 0
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _results(f1: float, hr: float) -> dict:  # type: ignore[type-arg]
    """One seed's ``results`` as ``evaluate`` writes them (only the figures the summary reads)."""
    ad = {"precision": 0.5, "recall": 1.0, "f1": f1, "threshold": 0.3, "protocol": "paper"}
    return {
        "paper_synthetic": {"n_train_ad": 27, "ad": ad, "bp": {"hr@10": hr, "ndcg@10": 0.25}},
        "oracle": {"n_train_ad": 9, "ad": ad},
    }


def test_summary_is_mean_sample_sd_min_max_next_to_the_paper() -> None:
    paper = {"paper_synthetic": {"ad": {"precision": 0.9, "recall": 1.0, "f1": 0.8}, "bp": {"hr@10": 0.95}}}
    runs = [_results(0.5, 0.6), _results(0.7, 0.9), _results(0.9, 0.9)]
    summary = seed_summary(runs, paper)
    f1 = summary["paper_synthetic"]["ad"]["f1"]
    # mean (0.5 + 0.7 + 0.9) / 3 = 0.7; sample sd sqrt((0.04 + 0 + 0.04) / 2) = 0.2
    assert f1["mean"] == pytest.approx(0.7) and f1["sd"] == pytest.approx(0.2)
    assert (f1["min"], f1["max"], f1["n"], f1["paper"], f1["paper_within"]) == (0.5, 0.9, 3, 0.8, True)
    hr = summary["paper_synthetic"]["bp"]["hr@10"]
    # mean 0.8; sample sd sqrt((0.04 + 0.01 + 0.01) / 2) = sqrt(0.03); the paper's 0.95 is above the max
    assert hr["mean"] == pytest.approx(0.8) and hr["sd"] == pytest.approx(0.03**0.5)
    assert (hr["max"], hr["paper"], hr["paper_within"]) == (0.9, 0.95, False)
    assert summary["paper_synthetic"]["bp"]["ndcg@10"]["paper"] is None  # no paper figure given
    recall = summary["paper_synthetic"]["ad"]["recall"]  # equal on every seed; the paper's 1.0 is the edge
    assert (recall["sd"], recall["paper_within"]) == (0.0, True)
    oracle = summary["oracle"]["ad"]["f1"]
    assert (oracle["paper"], oracle["paper_within"]) == (None, None)
    assert set(summary["oracle"]) == {"ad"}  # n_train_ad is no row
    assert seed_summary(runs[:1], paper)["paper_synthetic"]["ad"]["f1"]["sd"] == 0.0
    # the paper's figures have 4 decimals: 0.96248 has reached a paper figure of 0.9625, 0.9624 has not
    assert spread([0.9, 0.96248], 0.9625)["paper_within"] is True
    assert spread([0.9, 0.9624], 0.9625)["paper_within"] is False


def test_seed_list_counts_from_the_seed_or_takes_a_list() -> None:
    assert seed_list("5") == [2024, 1, 2, 3, 4]
    assert seed_list("3", first=2) == [2, 1, 3]
    assert seed_list("2024,1,7") == [2024, 1, 7]
    for bad in ("0", "1,1"):
        with pytest.raises(ValueError, match="--seeds"):
            seed_list(bad)
    assert ensemble_member_seeds(2, 3) == [6, 7, 8] and ensemble_member_seeds(3, 3) == [9, 10, 11]


def test_seeds_keep_the_first_seeds_results_and_add_the_summary(
    tiny_fr: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = ("--protocol", "paper", "--corruption", "none")
    single = _run(tiny_fr, tmp_path / "single.json", *extra)
    assert "seeds" not in single  # a single-seed run's document is unchanged
    doc = _run(tiny_fr, tmp_path / "seeds.json", *extra, "--seeds", "2024,1", "--ad-ensemble", "2")
    assert doc["seeds"]["seeds"] == [2024, 1]
    runs = doc["seeds"]["runs"]
    assert [run["seed"] for run in runs] == [2024, 1]
    assert runs[0]["results"] == doc["results"]
    first = doc["results"]["paper_synthetic"]
    for row in ("ad", "bp"):  # the first seed's figures are the single run's
        for key in ("precision", "recall", "f1", "threshold", "hr@10", "ndcg@10"):
            if key in single["results"]["paper_synthetic"][row]:
                assert first[row][key] == single["results"]["paper_synthetic"][row][key]
    summary = doc["seeds"]["summary"]["paper_synthetic"]
    assert set(summary) == {"ad", "ad_ensemble", "bp"}
    assert set(summary["ad"]) == {"precision", "recall", "f1"} and set(summary["bp"]) == {"hr@10", "ndcg@10"}
    f1s = [run["results"]["paper_synthetic"]["ad_ensemble"]["f1"] for run in runs]
    assert summary["ad_ensemble"]["f1"]["mean"] == pytest.approx(sum(f1s) / 2)
    assert summary["ad"]["f1"]["paper"] == pytest.approx(0.9699)
    assert first["ad_ensemble"]["members"] == [4048, 4049]
    assert "seed ensemble of 2" in first["ad_ensemble"]["protocol"]
    assert doc["settings"]["ad_ensemble"] == 2
    printed = capsys.readouterr().out
    assert "FR night: 2 seeds (2024, 1)" in printed and "paper_synthetic (paper, seed ensemble)" in printed


def test_ensemble_row_combines_members_trained_on_the_single_models_split(
    tiny_fr: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    doc = _run(tiny_fr, tmp_path / "ens.json", "--tasks", "ad", "--ad-ensemble", "2", "--seed", "3")
    row = doc["results"]["paper_synthetic"]["ad_ensemble"]
    product = doc["results"]["paper_synthetic"]["ad_product_ensemble"]
    assert row["members"] == product["members"] == [6, 7]
    assert "mean token loss, seed ensemble of 2" in product["protocol"]
    data = load_shift(tiny_fr, "night")
    train = data.training["paper_synthetic"][0]
    members = [
        fit_ad_paper(train, data.sizes, "night", percentile=95.0, seed=m, scale=0.05, split_seed=3)
        for m in row["members"]
    ]
    validation = paper_ad_split(train, 3, train_is_validation=False)[1]
    ensemble = ScoreEnsemble(95.0)
    expected = ensemble.calibrate([m.score(validation, backend="numpy") for m in members])
    assert row["threshold"] == pytest.approx(expected)
    assert row["n_test"] == 50 and 0.0 <= row["f1"] <= 1.0


def test_ensemble_of_one_is_refused(tiny_fr: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    args = ["bench", "models", "--dataset", str(tiny_fr), "--shift", "night", "--ad-ensemble", "1"]
    assert main(args) == 2
    assert "K >= 2" in capsys.readouterr().err
