"""``habitus bench adapt`` end to end on the FR shipped data: the real Gemma 3 270M in process, one
prompt, tiny epoch budgets (the CPU is shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from habitus_tools.cli import main

FR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "smartthings" / "fr"


def test_one_prompt_adaptation_run_writes_the_bench_models_document(tmp_path: Path) -> None:
    out = tmp_path / "adapt.json"
    code = main(
        [
            "bench", "adapt", "--dataset", str(FR), "--shift", "spring", "--max-prompts", "1",
            "--epoch-scale", "0.05", "--protocol", "product", "--sets", "--json", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["dataset"] == "fr" and doc["shift"] == "spring"
    assert doc["settings"]["llm_threads"] == 1  # the hub's setting, the default
    entry = doc["results"]["habitus_synthetic"]
    assert 0.0 <= entry["ad_product"]["f1"] <= 1.0 and 0.0 <= entry["bp_product"]["hr@10"] <= 1.0
    synthesis = doc["synthesis"]
    assert 0.0 <= synthesis["pass_at_1"] <= 1.0
    assert synthesis["prompts_sent"] == synthesis["prompts_total"] == synthesis["weeks"] == 1
    assert synthesis["ssc_alpha_rule"] == "budget (1 prompt/week)" and 0.5 <= synthesis["ssc_alpha"] <= 1.0
    assert 1 <= synthesis["sequences_kept"] <= synthesis["sequences_generated"]
    assert entry["n_train_ad"] == synthesis["sequences_kept"]
    assert 0 < synthesis["prompt_tokens"] < synthesis["prompt_tokens_uncompressed"]
    assert synthesis["tokens_per_second"] > 0 and synthesis["wall_seconds"] > 0
    assert {"tss", "ssc", "gss", "generate", "tof"} <= set(synthesis["stage_seconds"])
    assert 0.0 <= synthesis["jsd_action"] <= 1.0 and 0.0 <= synthesis["copy_rate"] <= 1.0


def test_an_unknown_stage_to_ablate_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "adapt", "--dataset", str(FR), "--shift", "spring", "--ablate", "tss,nope"])
    assert code == 2
    assert "--ablate takes tss,ssc,gss,tof" in capsys.readouterr().err


def test_zero_llm_threads_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "adapt", "--dataset", str(FR), "--shift", "spring", "--threads", "0"])
    assert code == 2
    assert "--threads >= 1" in capsys.readouterr().err
