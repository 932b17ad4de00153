"""``habitus bench adapt`` end to end on the FR shipped data: the real Gemma 3 270M in process, one
prompt, tiny epoch budgets (the CPU is shared)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from habitus_engine.adapt_pipeline import TOFUtility, tof_filter
from habitus_engine.datasets import RawSequence, load_vocabulary, read_raw_sequences, to_behaviours, to_raw
from habitus_engine.models import FieldSizes
from habitus_engine.models.encoding import ItemMode, item_sequence
from habitus_engine.segment import split_sequences
from habitus_tools.bench_adapt import (
    TOF_VARIANTS,
    AdaptConfig,
    format_validation,
    judge_bp_variants,
    judge_variants,
    tof_variants,
    validation_ad_set,
    validation_pieces,
)
from habitus_tools.bench_models import evaluate, load_shift
from habitus_tools.cli import main
from tests.tools.test_bench_models import tiny_fr  # noqa: F401  (fixture)

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
    assert entry["n_train_ad"] == synthesis["sequences_kept"]  # TOF per task: TransAE's set
    assert entry["n_train_bp"] == synthesis["sequences_kept_bp"]  # and SASRec's
    assert synthesis["tof_utility"] == "per_task"
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


def test_negative_temperature_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "adapt", "--dataset", str(FR), "--shift", "spring", "--temperature", "-0.5"])
    assert code == 2
    assert "--temperature >= 0" in capsys.readouterr().err


def test_the_graph_bonus_reaches_the_pipeline_and_a_server_refuses_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert AdaptConfig(FR, "spring").synthesis().graph_bonus == 0.0  # off by default
    assert AdaptConfig(FR, "spring", graph_bonus=2.0).synthesis().graph_bonus == 2.0
    assert AdaptConfig(FR, "spring").synthesis().graph_bonus_form == "flat"
    no_self = AdaptConfig(FR, "spring", graph_bonus=2.0, graph_bonus_form="no_self_loops").synthesis()
    assert no_self.graph_bonus_form == "no_self_loops"
    server = ["--server", "http://127.0.0.1:1", "--graph-bonus", "2"]
    assert main(["bench", "adapt", "--dataset", str(FR), "--shift", "spring", *server]) == 2
    assert "in-process decoder only" in capsys.readouterr().err


def test_seed_and_temperature_reach_the_llm_and_every_trained_model() -> None:
    default = AdaptConfig(FR, "spring").synthesis()
    assert (default.seed, default.temperature, default.sequence_model.seed) == (2024, 0.7, 2024)
    config = AdaptConfig(FR, "spring", seed=7, temperature=1.2).synthesis()
    assert config.seed == 7 and config.temperature == 1.2  # the LLM's requests: seed 7 + n
    assert config.sequence_model.seed == 7  # SSC's and TOF's TransAEs (and TOF's inlier split)
    assert (
        default.tof_trials == 8 and AdaptConfig(FR, "spring", tof_trials=None).synthesis().tof_trials is None
    )


def test_tof_trials_takes_a_count_or_all(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "adapt", "--dataset", str(FR), "--shift", "spring", "--tof-trials", "some"])
    assert "a count >= 0 or 'all'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "adapt", "--dataset", str(FR), "--shift", "spring", "--tof-utility", "bp"])
    assert "invalid choice: 'bp'" in capsys.readouterr().err


def test_tof_utility_reaches_the_pipeline() -> None:
    assert AdaptConfig(FR, "spring").synthesis().tof_utility == "per_task"  # TOF's default stage 2
    assert AdaptConfig(FR, "spring", tof_utility="next_action").synthesis().tof_utility == "next_action"
    paper = AdaptConfig(FR, "spring", tof_utility="reconstruction").synthesis()
    assert paper.tof_utility == "reconstruction"  # the paper's stage 2, for the ablation


def test_the_seed_reaches_the_retrained_models(tiny_fr: Path) -> None:  # noqa: F811
    data = load_shift(tiny_fr, "night")
    data = replace(data, training={"paper_synthetic": data.training["paper_synthetic"]})

    def threshold(seed: int) -> tuple[float, int]:
        doc = evaluate(data, ["product"], 0.05, log=lambda _m: None, tasks=("ad",), seed=seed)
        return doc["results"]["paper_synthetic"]["ad_product"]["threshold"], doc["settings"]["seed"]

    first, again, other = threshold(2024), threshold(2024), threshold(7)
    assert first == again and first[1] == 2024  # seeded: the same run twice is the same model
    assert other[1] == 7 and other[0] != first[0]  # another seed trains another model


def test_the_validation_ad_set_holds_no_test_piece_and_one_injection_per_kind() -> None:
    home = validation_ad_set(FR, "night")
    vocab = load_vocabulary(FR)
    vld = read_raw_sequences(FR / "context" / "night" / "vld.jsonl")
    test_source = {tuple(s) for s in read_raw_sequences(FR / "context" / "night" / "test.jsonl")}
    paper_test = {tuple(s) for s in read_raw_sequences(FR / "paper" / "night" / "split_test.jsonl")}
    vld_pieces = {
        tuple(to_raw(p, vocab))
        for s in vld
        if tuple(s) not in test_source
        for p in split_sequences(to_behaviours(s, vocab))
    }
    assert len(home.normal) >= 50  # FR night: 34 vld sequences, cut by TSS
    assert all(tuple(p) in vld_pieces and tuple(p) not in paper_test for p in home.normal)
    assert set(home.anomalies) == {"device", "hour", "burst", "swap"}  # bench denoise's kinds
    for kind, copies in home.anomalies.items():
        assert len(copies) == len(home.normal)  # 1:1 per kind
        changed = sum(a != n for a, n in zip(copies, home.normal, strict=True))
        assert changed >= 0.9 * len(copies), kind
    assert validation_ad_set(FR, "night") == home  # seeded: the same set whatever the run's seed


def test_tof_variants_give_the_per_task_sets_and_every_parsed_sequence() -> None:
    vocab = load_vocabulary(FR)
    routines = read_raw_sequences(FR / "context" / "night" / "vld.jsonl")[:6]
    rare = [(0, 3, 26, 170), (0, 3, 26, 171), (0, 3, 26, 170)]  # a device the routines never use
    generated = [list(routines[i % 6]) for i in range(24)] + [rare]
    synthesis = AdaptConfig(FR, "night", tof_model="markov").synthesis()
    sets, counts = tof_variants(generated, vocab, synthesis)
    behaviours = [to_behaviours(s, vocab) for s in generated]

    def kept(utility: TOFUtility) -> list[RawSequence]:
        outcome = tof_filter(behaviours, True, "markov", synthesis.sequence_model, utility=utility)
        return [to_raw(s, vocab) for s in outcome.kept]

    assert sets["reconstruction"] == kept("reconstruction")  # TransAE's set in the product
    assert sets["next_action"] == kept("next_action")  # SASRec's
    assert sets["none"] == generated and tuple(sets) == TOF_VARIANTS
    random = sets["random"]  # the control: as many as the reconstruction test keeps, drawn in order
    assert len(random) == len(sets["reconstruction"]) and all(s in generated for s in random)
    assert random == tof_variants(generated, vocab, synthesis)[0]["random"]  # seeded
    assert rare not in sets["reconstruction"] and rare in sets["next_action"]  # where the two differ
    assert counts["tof"]["rejected"] >= 1 and counts["tof_bp"]["stage2_next_action_rescued"] >= 1


def test_judge_variants_scores_each_set_on_the_validation_set() -> None:
    home = validation_ad_set(FR, "night")
    train = read_raw_sequences(FR / "paper" / "gpt4o" / "night_anomaly_detection.jsonl")
    sets = {"reconstruction": train[:20], "none": train}
    figures = judge_variants(sets, home, 95.0, "night", ["paper", "product"], scale=0.05)
    assert {name: entry["n_train"] for name, entry in figures.items()} == {
        "reconstruction": 20,
        "none": len(train),
    }
    for entry in figures.values():
        for protocol in ("paper", "product"):
            assert 0.0 <= entry[protocol]["auc"] <= 1.0 and 0.0 <= entry[protocol]["f1"] <= 1.0
            assert set(entry[protocol]["kinds"]) == {"device", "hour", "burst", "swap"}
    assert figures == judge_variants(sets, home, 95.0, "night", ["paper", "product"], scale=0.05)  # seeded


def test_judge_bp_variants_scores_sasrec_on_the_validation_pieces_only() -> None:
    vocab = load_vocabulary(FR)
    sizes = FieldSizes(len(vocab.devices), len(vocab.actions))
    pieces = validation_pieces(FR, "night", vocab)
    assert pieces == validation_ad_set(FR, "night").normal  # the AD half's normal pieces
    original = read_raw_sequences(FR / "paper" / "daytime" / "split_trn.jsonl")  # night's original
    synthetic = read_raw_sequences(FR / "paper" / "gpt4o" / "night_behavior_prediction.jsonl")
    sets = {"original": original, "next_action": synthetic[:20]}
    figures = judge_bp_variants(sets, pieces, sizes, "night", ["paper", "product"], scale=0.05)
    assert {name: entry["n_train"] for name, entry in figures.items()} == {
        "original": len(original),
        "next_action": 20,
    }

    def cases(mode: ItemMode) -> int:  # a piece is a case if it has a history and a target
        return sum(len(item_sequence(p, mode, sizes)) >= 2 for p in pieces)

    for entry in figures.values():
        for protocol, mode in (("paper", "paper"), ("product", "action")):
            bp = entry[protocol]
            assert bp["n_test"] == cases(mode) > 0  # scored on the validation pieces, not a test set
            for key in ("hr@10", "ndcg@10", "full_hr@10", "full_ndcg@10"):
                assert 0.0 <= bp[key] <= 1.0, key
            assert bp["full_hr@10"] <= bp["hr@10"]  # 100 sampled negatives rank it no lower than all
    assert figures == judge_bp_variants(sets, pieces, sizes, "night", ["paper", "product"], scale=0.05)
    doc = {
        "dataset": "fr",
        "shift": "night",
        "validation_bp": {"pieces": len(pieces), "variants": figures},
        "settings": {"seed": 2024},
    }
    table = format_validation(doc)
    assert f"validation BP: {len(pieces)} vld pieces" in table and "validation AD" not in table
    assert "no adaptation: original context's trn" in table
