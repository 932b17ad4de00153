"""``habitus bench models`` on a tiny copy of the FR night setting: the JSON shape automation relies on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from habitus_tools.bench_models import format_table
from habitus_tools.cli import main
from tests.paths import SMARTTHINGS

FR = SMARTTHINGS / "fr"
pytestmark = pytest.mark.skipif(not FR.exists(), reason="shared SmartThings datasets not found")
SUBSET = {  # file -> how many lines the tiny copy keeps
    "paper/daytime/split_trn.jsonl": 40,
    "paper/gpt4o/night_anomaly_detection.jsonl": 27,
    "paper/gpt4o/night_behavior_prediction.jsonl": 27,
    "paper/night/split_test.jsonl": 25,
    "anomalies/night_time.jsonl": 25,
    "context/night/vld.jsonl": 30,
    "context/night/test.jsonl": 1000,
}


@pytest.fixture
def tiny_fr(tmp_path: Path) -> Path:
    """``<tmp>/fr``: a subset of the shipped FR files, plus ``paper_results.json`` beside it."""
    root = tmp_path / "fr"
    root.mkdir()
    shutil.copy(FR / "vocab.json", root / "vocab.json")
    shutil.copy(SMARTTHINGS / "paper_results.json", tmp_path / "paper_results.json")
    for relative, keep in SUBSET.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = (FR / relative).read_text(encoding="utf-8").splitlines()[:keep]
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_bench_models_writes_the_documented_json(
    tiny_fr: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "night.json"
    code = main(
        [
            "bench",
            "models",
            "--dataset",
            str(tiny_fr),
            "--shift",
            "night",
            "--json",
            str(out),
            "--epoch-scale",
            "0.05",
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert (doc["dataset"], doc["shift"]) == ("fr", "night")
    assert set(doc["results"]) == {"original", "paper_synthetic", "oracle"}
    for entry in doc["results"].values():
        assert set(entry["ad"]) >= {"precision", "recall", "f1"}
        assert set(entry["bp"]) >= {"hr@10", "ndcg@10"}
        for value in (*entry["ad"].values(), *entry["bp"].values()):
            if isinstance(value, float) and value is not entry["ad"].get("threshold"):
                assert value >= 0.0
        assert 0.0 <= entry["ad"]["f1"] <= 1.0 and 0.0 <= entry["bp"]["hr@10"] <= 1.0
        assert entry["ad_product"]["n_test"] == 50
    assert doc["paper"]["paper_synthetic"]["ad"]["f1"] == pytest.approx(0.9699)
    assert doc["results"]["oracle"]["n_train_ad"] >= 1
    printed = capsys.readouterr().out
    assert "paper SmartGen" in printed and "0.970" in printed
    assert format_table(doc).splitlines()[0] == "FR night (TT)"


def test_bench_models_reports_a_missing_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "models", "--dataset", str(tmp_path / "nowhere"), "--shift", "spring"])
    assert code == 2
    assert "nowhere" in capsys.readouterr().err


def test_the_original_baseline_is_also_run_on_the_fixed_baseline_sets(tiny_fr: Path, tmp_path: Path) -> None:
    """Where the dataset has the reference's fixed baseline sets, the original context's paper-protocol
    TransAE is also trained and tested on them (row ``ad_fixed``: what the paper's TransAE column used)."""
    kept = {"fixed/daytime/trn.jsonl": 20, "fixed/daytime/vld.jsonl": 6, "fixed/daytime/test.jsonl": 15}
    kept["fixed/anomalies/night_time.jsonl"] = 12
    for relative, keep in kept.items():
        target = tiny_fr / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = (FR / relative).read_text(encoding="utf-8").splitlines()[:keep]
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "fixed.json"
    flags = ["--shift", "night", "--protocol", "paper", "--tasks", "ad", "--epoch-scale", "0.1"]
    assert main(["bench", "models", "--dataset", str(tiny_fr), *flags, "--json", str(out)]) == 0
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    fixed = results["original"]["ad_fixed"]
    assert fixed["n_test"] == 15 + 12  # the fixed test pieces, not split_test's 25 + 25
    assert results["original"]["ad"]["n_test"] == 50
    assert "fixed baseline sets" in fixed["protocol"] and 0.0 <= fixed["f1"] <= 1.0
    assert "ad_fixed" not in results["paper_synthetic"] and "ad_fixed" not in results["oracle"]

    (tiny_fr / "fixed" / "anomalies" / "night_time.jsonl").unlink()  # a dataset without them: no row
    assert (
        main(["bench", "models", "--dataset", str(tiny_fr), *flags, "--sets", "original", "--json", str(out)])
        == 0
    )
    assert "ad_fixed" not in json.loads(out.read_text(encoding="utf-8"))["results"]["original"]
