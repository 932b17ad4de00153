"""``habitus build-assets``: where the shipped models' early stopping and threshold come from."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from habitus_engine.calibration import max_prefix_scores
from habitus_engine.datasets import read_sequences
from habitus_engine.models import TransAE, TransAEConfig
from habitus_engine.models.training import split_validation
from habitus_tools.cli import main
from tests.paths import SMARTTHINGS

AN = SMARTTHINGS / "an"
pytestmark = pytest.mark.skipif(not AN.exists(), reason="shared SmartThings datasets not found")


@pytest.fixture
def tiny_an(tmp_path: Path) -> Path:
    """``<tmp>/an``: AN's vocabulary and its first 40 training, 12 validation and 12 test sequences."""
    root = tmp_path / "an"
    (root / "raw").mkdir(parents=True)
    shutil.copy(AN / "vocab.json", root / "vocab.json")
    for split, n in (("trn", 40), ("vld", 12), ("test", 12)):
        lines = (AN / "raw" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        (root / "raw" / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _build(dataset: Path, out: Path, *flags: str) -> int:
    return main(
        ["build-assets", "--dataset", str(dataset), "--out", str(out), "--card", str(out / "card.md"), *flags]
    )


def _built(out: Path) -> tuple[TransAE, str]:
    return TransAE.load(out / "transae_an.npz"), (out / "card.md").read_text(encoding="utf-8")


def _seqs(path: Path) -> list[list[tuple[int, int, int, int]]]:
    return [s.seq for s in read_sequences(path)]


def test_by_default_the_threshold_comes_from_a_held_out_part_of_trn_as_on_the_hub(
    tiny_an: Path, tmp_path: Path
) -> None:
    assert _build(tiny_an, tmp_path / "held", "--corruption", "none", "--transae-train-on", "whole") == 0
    model, card = _built(tmp_path / "held")
    assert model.threshold_ is not None
    train = _seqs(tiny_an / "raw" / "trn.jsonl")
    _, held = split_validation(
        len(train), TransAEConfig().train.validation_fraction, TransAEConfig().train.seed
    )
    held_scores = model.score([train[i] for i in held], backend="numpy")
    assert model.threshold_ == pytest.approx(float(np.percentile(held_scores, 95.0)), rel=1e-5)
    assert model.metadata["validation"] == "held-out" and model.metadata["validation_sequences"] is None
    assert "held out for early stopping and the threshold" in card and "--validation" not in card
    assert "recalibrated on the home's own stored sequences" in card  # the card says a hub never alerts at it


def test_validation_vld_calibrates_on_raw_vld_and_needs_it(tiny_an: Path, tmp_path: Path) -> None:
    assert (
        _build(
            tiny_an,
            tmp_path / "vld",
            "--corruption",
            "none",
            "--validation",
            "vld",
            "--transae-train-on",
            "whole",
        )
        == 0
    )
    model, card = _built(tmp_path / "vld")
    assert model.threshold_ is not None
    vld_scores = model.score(_seqs(tiny_an / "raw" / "vld.jsonl"), backend="numpy")
    assert model.threshold_ == pytest.approx(float(np.percentile(vld_scores, 95.0)), rel=1e-5)
    assert model.metadata["validation_sequences"] == 12
    assert "`raw/vld` (12) for early stopping and the threshold" in card and "--validation vld" in card
    (tiny_an / "raw" / "vld.jsonl").unlink()
    assert _build(tiny_an, tmp_path / "none", "--validation", "vld") == 2


def _prefix_max_threshold(model: TransAE, sequences: list[list[tuple[int, int, int, int]]]) -> float:
    n = model.config.max_behaviours
    return float(np.percentile(max_prefix_scores(lambda r: model.score(r, "auto"), sequences, n, n), 95.0))


def test_by_default_transae_trains_on_live_windows_and_its_threshold_is_the_held_out_prefix_maxima(
    tiny_an: Path, tmp_path: Path
) -> None:
    """As the hub's train_models: the held-out sequences' highest live readings set the threshold."""
    assert _build(tiny_an, tmp_path / "live") == 0
    model, card = _built(tmp_path / "live")
    train = _seqs(tiny_an / "raw" / "trn.jsonl")
    cfg = TransAEConfig().train
    _, held = split_validation(len(train), cfg.validation_fraction, cfg.seed)
    assert model.threshold_ == pytest.approx(_prefix_max_threshold(model, [train[i] for i in held]), rel=1e-5)
    whole = float(np.percentile(model.score([train[i] for i in held], backend="numpy"), 95.0))
    assert model.threshold_ != pytest.approx(whole, rel=1e-3)  # not the whole-sequence percentile
    assert model.metadata["transae_train_on"] == "live-windows"
    assert "--transae-train-on" not in card and "live windows" in card


def test_live_windows_with_raw_vld_calibrates_on_the_vld_sequences_prefix_maxima(
    tiny_an: Path, tmp_path: Path
) -> None:
    assert _build(tiny_an, tmp_path / "vld", "--validation", "vld") == 0
    model, card = _built(tmp_path / "vld")
    assert "`raw/vld` (12) for early stopping and the threshold" in card
    vld = _seqs(tiny_an / "raw" / "vld.jsonl")
    assert model.threshold_ == pytest.approx(_prefix_max_threshold(model, vld), rel=1e-5)
    whole_card = _build(tiny_an, tmp_path / "whole", "--transae-train-on", "whole")
    assert whole_card == 0 and "--transae-train-on whole" in _built(tmp_path / "whole")[1]
