"""``habitus bench models`` options: ``--tasks``, ``--corruption`` (TransAE's training objective),
``--bp-max-len`` / ``--bp-hold-out`` / ``--bp-input-padding-only`` (the paper BP protocol's reference
choices), ``--ad-d-model`` / ``--ad-heads`` / ``--ad-d-ff`` (the paper AD protocol's TransAE width),
``--ad-reference-training`` (its optimisation loop as SmartGen's ``baseline1.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from habitus_engine.models import FieldSizes, SASRecConfig, TransAE, TransAEConfig
from habitus_tools import bench_models
from habitus_tools.bench_models import HoldOutTailSASRec
from habitus_tools.cli import main
from tests.tools.test_bench_models import FR, tiny_fr  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not FR.exists(), reason="shared SmartThings datasets not found")


def _run(dataset: Path, out: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    args = ["bench", "models", "--dataset", str(dataset), "--shift", "night", "--json", str(out)]
    assert main([*args, "--sets", "paper_synthetic", "--epoch-scale", "0.05", *extra]) == 0
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _record_configs(monkeypatch: pytest.MonkeyPatch) -> list[TransAEConfig]:
    """Every TransAE config bench_models builds from now on, in order (the real model still runs)."""
    configs: list[TransAEConfig] = []

    class RecordingTransAE(TransAE):
        def __init__(self, sizes: FieldSizes, config: TransAEConfig | None = None) -> None:
            super().__init__(sizes, config)
            configs.append(self.config)

    monkeypatch.setattr(bench_models, "TransAE", RecordingTransAE)
    return configs


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


def test_bp_reference_options_hold_out_the_last_tokens_and_set_the_history_length(
    tiny_fr: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    doc = _run(
        tiny_fr,
        tmp_path / "ref.json",
        "--tasks",
        "bp",
        "--protocol",
        "paper",
        "--bp-max-len",
        "48",
        "--bp-hold-out",
        "2",
    )
    protocol = doc["results"]["paper_synthetic"]["bp"]["protocol"]
    assert "L=48" in protocol and "minus last 2" in protocol and "input only" not in protocol
    assert (doc["settings"]["bp_paper_max_len"], doc["settings"]["bp_paper_hold_out"]) == (48, 2)
    reference = _run(
        tiny_fr, tmp_path / "pad.json", "--tasks", "bp", "--protocol", "paper", "--bp-input-padding-only"
    )
    assert "padding zeroed at the input only" in reference["results"]["paper_synthetic"]["bp"]["protocol"]
    assert reference["settings"]["bp_paper_rezero_padding"] is False


def test_hold_out_sasrec_trains_on_each_piece_minus_its_last_two_items() -> None:
    sizes = FieldSizes(n_devices=5, n_actions=6)
    model = HoldOutTailSASRec(sizes, SASRecConfig(item_mode="paper", max_len=8), hold_out=2)
    piece = [(1, 2, 3, 4), (5, 6, 0, 1)]  # flat items 1 2 3 4 5 6 0 1
    rows = model.training_rows([piece])
    assert rows.tolist() == [[0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0, 2, 3, 4, 5, 6]]  # items 1..6: inputs | next
    plain = HoldOutTailSASRec(sizes, SASRecConfig(item_mode="paper", max_len=8), hold_out=0)
    assert plain.training_rows([piece])[0, 8:].tolist() == [0, 2, 3, 4, 5, 6, 0, 1]


def test_ad_width_options_reach_the_paper_transae_only(
    tiny_fr: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configs = _record_configs(monkeypatch)
    wide = _run(
        tiny_fr,
        tmp_path / "wide.json",
        "--tasks",
        "ad",
        "--ad-d-model",
        "24",
        "--ad-heads",
        "3",
        "--ad-d-ff",
        "40",
    )
    paper, product = configs  # paper protocol first, then the product TransAE
    assert (paper.d_model, paper.n_heads, paper.d_ff, paper.fields) == (24, 3, 40, ("bucket",))
    assert (product.d_model, product.n_heads, product.d_ff) == (32, 2, 64)  # product defaults untouched
    assert "TransAE 24d/3h/ff40 2+2" in wide["results"]["paper_synthetic"]["ad"]["protocol"]
    settings = wide["settings"]
    assert (settings["ad_paper_d_model"], settings["ad_paper_heads"], settings["ad_paper_d_ff"]) == (
        24,
        3,
        40,
    )
    configs.clear()
    default = _run(tiny_fr, tmp_path / "default.json", "--tasks", "ad", "--protocol", "paper", "--seed", "7")
    assert [(c.d_model, c.n_heads, c.d_ff) for c in configs] == [(64, 4, 128)]  # the recorded runs' width
    assert configs[0].train.seed == 7 and default["settings"]["seed"] == 7


def test_reference_training_option_reaches_the_paper_transae_only(
    tiny_fr: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configs = _record_configs(monkeypatch)
    doc = _run(tiny_fr, tmp_path / "ref.json", "--tasks", "ad", "--ad-reference-training")
    paper, product = (c.train for c in configs)  # paper protocol first, then the product TransAE
    assert (paper.betas, paper.max_grad_norm, paper.shuffle, paper.restore_best) == (
        (0.9, 0.999),
        None,
        False,
        False,
    )
    assert (paper.batch_size, paper.learning_rate) == (32, 1e-3)
    assert (product.betas, product.max_grad_norm, product.shuffle) == ((0.9, 0.98), 5.0, True)
    assert "reference training loop" in doc["results"]["paper_synthetic"]["ad"]["protocol"]
    assert doc["settings"]["ad_paper_reference_training"] is True
    configs.clear()
    default = _run(tiny_fr, tmp_path / "default.json", "--tasks", "ad", "--protocol", "paper")
    (recorded,) = (c.train for c in configs)  # as the runs recorded before the option
    assert (recorded.betas, recorded.max_grad_norm, recorded.shuffle, recorded.restore_best) == (
        (0.9, 0.98),
        5.0,
        True,
        True,
    )
    assert default["settings"]["ad_paper_reference_training"] is False
