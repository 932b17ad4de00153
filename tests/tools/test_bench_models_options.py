"""``habitus bench models`` options: ``--tasks``, ``--corruption`` (TransAE's training objective)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from habitus_tools.cli import main
from tests.tools.test_bench_models import FR, tiny_fr  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not FR.exists(), reason="shared SmartThings datasets not found")


def _run(dataset: Path, out: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    args = ["bench", "models", "--dataset", str(dataset), "--shift", "night", "--json", str(out)]
    assert main([*args, "--sets", "paper_synthetic", "--epoch-scale", "0.05", *extra]) == 0
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_bp_only_run_uses_the_reference_schedule_and_prints_its_row(
    tiny_fr: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = _run(tiny_fr, tmp_path / "bp.json", "--tasks", "bp", "--protocol", "paper")
    entry = doc["results"]["paper_synthetic"]
    assert "bp" in entry and "ad" not in entry and "ad_product" not in entry
    assert "batch 8" in entry["bp"]["protocol"] and "fixed epochs" in entry["bp"]["protocol"]
    assert 0.0 <= entry["bp"]["hr@10"] <= 1.0
    assert doc["settings"]["tasks"] == ["bp"]
    assert "paper_synthetic (paper protocol)" in capsys.readouterr().out


def test_corruption_option_reaches_both_ad_protocols(tiny_fr: Path, tmp_path: Path) -> None:  # noqa: F811
    plain = _run(tiny_fr, tmp_path / "plain.json", "--tasks", "ad", "--corruption", "none")
    entry = plain["results"]["paper_synthetic"]
    assert "plain AE" in entry["ad"]["protocol"] and "plain AE" in entry["ad_product"]["protocol"]
    assert "bp" not in entry and plain["settings"]["corruption"] == "none"
    masked = _run(
        tiny_fr, tmp_path / "mask.json", "--tasks", "ad", "--corruption", "mask", "--corruption-rate", "0.3"
    )
    assert "denoising mask 0.3" in masked["results"]["paper_synthetic"]["ad_product"]["protocol"]
    assert masked["settings"]["corruption_rate"] == pytest.approx(0.3)
