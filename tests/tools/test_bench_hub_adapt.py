"""``habitus bench hub-adapt``: the hub's train_models and champion/challenger guard on the paper's data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from habitus_engine.datasets import load_vocabulary, read_raw_sequences
from habitus_engine.injection import KINDS
from habitus_tools.bench_hub_adapt import (
    HubAdaptConfig,
    as_behaviours,
    hub_split,
    integration,
    load,
    since_shift_split,
)
from habitus_tools.cli import main
from tests.tools.test_bench_models import FR, tiny_fr  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not FR.exists(), reason="shared SmartThings datasets not found")
MODEL_KEYS = {"training", "guard", "guard_new_context", "truth"}
DECISION_KEYS = {
    "deployed",
    "reason",
    "deployed_no_margin",
    "deployed_far_only",
    "deployed_all_copies",
    "deployed_new_context",
    "reason_new_context",
    "truth_better",
    "truth_reason",
    "right",
    "truth_better_f1",
    "right_f1",
    "truth_better_balanced",
    "right_balanced",
    "right_far_only",
    "right_f1_far_only",
    "right_balanced_far_only",
    "right_all_copies",
    "right_f1_all_copies",
    "right_balanced_all_copies",
    "delta",
}
GUARD_KEYS = ("hr_at_10", "false_alarm_rate", "detection_rate", "detection_rate_all_copies")
KIND_KEYS = {f"detection_rate_{kind}" for kind in KINDS}  # per kind, where a copy was counted


def _is_better(challenger: dict[str, float], champion: dict[str, float]) -> tuple[bool, str]:
    adaptation, _, _ = integration()
    new, old = (adaptation.Evaluation.from_metrics(m) for m in (challenger, champion))
    deployed, reason = adaptation.is_better(new, old)
    return bool(deployed), str(reason)


def _in_unit(figures: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        assert 0.0 <= figures[key] <= 1.0, (key, figures[key])


def test_hub_adapt_decides_with_is_better_and_writes_the_documented_json(
    tiny_fr: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "hub.json"
    args = ["bench", "hub-adapt", "--dataset", str(tiny_fr), "--shift", "night", "--epochs", "1"]
    assert main([*args, "--no-budget", "--seed", "7", "--json", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert {"dataset", "shift", "settings", "models", "decisions", "load", "machine", "date"} <= set(doc)
    assert set(doc["models"]) == {"champion", "augment", "replace", "oracle"}
    assert set(doc["decisions"]) == {"augment", "replace", "oracle"}
    settings = doc["settings"]
    assert settings["budget_seconds"] is None and settings["seed"] == 7
    assert (settings["n_champion_train"], settings["n_held_out_old_context"]) == (32, 8)  # 40 lines, 20 %

    champion = doc["models"]["champion"]
    for name, model in doc["models"].items():
        assert set(model) == MODEL_KEYS, name
        assert model["training"]["max_seconds"] is None  # the job ran without its budget
        assert model["training"]["transae"]["epochs_run"] == 1
        for figures in (model["guard"], model["guard_new_context"]):
            assert (
                set(GUARD_KEYS) | {"detection_copies"}
                <= set(figures)
                <= set(GUARD_KEYS) | {"detection_copies"} | KIND_KEYS
            )
        _in_unit(model["guard"], GUARD_KEYS)
        _in_unit(model["guard_new_context"], GUARD_KEYS)
        _in_unit(model["truth"]["ad"], ("precision", "recall", "f1", "fpr"))
        _in_unit(model["truth"]["bp"], ("hr@10", "ndcg@10"))
        assert model["truth"]["ad"]["n_test"] == 50 and model["truth"]["bp"]["n_test"] > 0
    for name, decision in doc["decisions"].items():
        assert set(decision) == DECISION_KEYS, name
        challenger = doc["models"][name]
        # without per-sequence outcomes is_better has no margin: the rule before aad6696
        no_margin = _is_better(challenger["guard"], champion["guard"])
        assert decision["deployed_no_margin"] == no_margin[0]
        # judged on the recent 20 %, the product's margin can only keep a champion the old rule replaced
        assert decision["deployed"] <= no_margin[0]
        if decision["deployed"] == no_margin[0]:
            assert decision["reason"] == no_margin[1]
        else:
            assert decision["reason"].startswith("better, but within the noise of 8 held-out sequences")
        assert (decision["deployed_new_context"], decision["reason_new_context"]) == _is_better(
            challenger["guard_new_context"], champion["guard_new_context"]
        )
        assert decision["right"] == (decision["deployed"] == decision["truth_better"])
        assert decision["right_balanced"] == (decision["deployed"] == decision["truth_better_balanced"])
        # the rule before the detection rate: HR@10 and false-alarm rate only, on the same figures
        far_only = {**challenger["guard"], "detection_rate": 1.0}
        assert (
            decision["deployed_far_only"]
            == _is_better(far_only, {**champion["guard"], "detection_rate": 1.0})[0]
        )
        assert decision["right_far_only"] == (decision["deployed_far_only"] == decision["truth_better"])
        # the rule of a743704 on the same figures: the detection rate over every copy
        every = {**challenger["guard"], "detection_rate": challenger["guard"]["detection_rate_all_copies"]}
        old = {**champion["guard"], "detection_rate": champion["guard"]["detection_rate_all_copies"]}
        assert decision["deployed_all_copies"] == _is_better(every, old)[0]
        assert decision["right_balanced_all_copies"] == (
            decision["deployed_all_copies"] == decision["truth_better_balanced"]
        )
    assert 0 < settings["n_injected_anomalies"] <= 4 * settings["n_held_out_old_context"]
    # augment trains on the real 80 % plus the paper's 27 synthetic sequences; replace on those alone
    assert doc["models"]["augment"]["training"]["n_sequences"] == 32 + 27
    assert doc["models"]["replace"]["training"]["n_sequences"] == 27
    assert doc["models"]["replace"]["training"]["mode"] == "replace"
    printed = capsys.readouterr().out
    assert all(f"{name}: " in printed for name in doc["decisions"])  # one decision line per challenger


def test_held_out_sequences_reach_the_hubs_evaluation_as_their_raw_ids(tiny_fr: Path) -> None:  # noqa: F811
    """The last 20 % by file order are held out, and each behaviour maps back to its raw (day, bucket,
    device, action) through the bundle vocabulary's name lookup and HA's time zone."""
    _, _, live_models = integration()
    vocab = load_vocabulary(tiny_fr)
    sequences = read_raw_sequences(tiny_fr / "paper" / "daytime" / "split_trn.jsonl")
    train, recent = hub_split(sequences)
    assert (train, recent) == (sequences[:32], sequences[32:])
    mapping = live_models.VocabularyMap(vocab.devices, vocab.actions)
    for seq in recent:
        assert [mapping.raw(b) for b in as_behaviours(seq, vocab)] == [tuple(b) for b in seq]


def test_post_shift_puts_the_new_context_at_the_end_of_the_homes_history(
    tiny_fr: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """--post-shift: the oracle pieces are the most recent sequences, so they fill the held-out 20 %
    first and the rest trains the champion; no oracle challenger then."""
    out = tmp_path / "post.json"
    args = ["bench", "hub-adapt", "--dataset", str(tiny_fr), "--shift", "night", "--epochs", "1"]
    assert main([*args, "--post-shift", "--json", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    settings = doc["settings"]
    total = 40 + settings["n_post_shift"]  # the original context's 40 lines, then the new context's
    assert settings["n_post_shift"] > 0
    assert settings["n_champion_train"] + settings["n_held_out_old_context"] == total
    assert settings["n_held_out_old_context"] == -(-total // 5)  # the hub's ceil(20 %)
    assert settings["n_held_out_post_shift"] == min(
        settings["n_post_shift"], settings["n_held_out_old_context"]
    )
    assert set(doc["models"]) == {"champion", "augment", "replace"}
    assert doc["models"]["champion"]["training"]["n_sequences"] == settings["n_champion_train"]


def test_since_shift_holds_out_the_latest_post_shift_pieces_and_the_champion_trains_on_none(
    tiny_fr: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """--judge since-shift: the guard judges on appended new-context pieces only (the product's
    hold_out_since with the first of them as the shift): here 74 of them after 40 pre-shift lines, so
    the cap holds out the latest ceil(114 / 5) = 23 and the earlier 51 join the challengers' real data;
    the champion, trained before the shift, has the 40 pre-shift lines only."""
    out = tmp_path / "since.json"
    args = ["bench", "hub-adapt", "--dataset", str(tiny_fr), "--shift", "night", "--epochs", "1"]
    assert main([*args, "--post-shift", "--judge", "since-shift", "--json", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    settings = doc["settings"]
    assert (settings["judge"], settings["evaluated_on"]) == ("since-shift", "since_shift")
    assert settings["n_post_shift"] == 74
    assert settings["n_held_out_old_context"] == settings["n_held_out_post_shift"] == 23
    assert (settings["n_champion_train"], settings["n_train_real"]) == (40, 40 + 51)
    assert set(doc["models"]) == {"champion", "augment", "replace"}
    training = {name: m["training"]["n_sequences"] for name, m in doc["models"].items()}
    assert training == {"champion": 40, "augment": 40 + 51 + 27, "replace": 27}


def test_since_shift_split_is_the_products_rule_with_its_fallback(tiny_fr: Path) -> None:  # noqa: F811
    """The split itself: every post-shift piece held out and none trained on when there are enough and
    they are at most 20 % of the history (else the latest 20 %); with fewer than MIN_HOLDOUT_SEQUENCES,
    or fewer than MIN_TRAIN_SEQUENCES left to train on, the most recent 20 % (the champion keeps only
    the pre-shift part of the training side in every case)."""
    adaptation, _, _ = integration()
    data, _ = load(HubAdaptConfig(tiny_fr, "night"))
    old, new = data.training["original"][0], data.training["oracle"][0]
    assert len(old) == 40 and len(new) >= 10
    enough = new[: adaptation.MIN_HOLDOUT_SEQUENCES]
    split = since_shift_split(old, enough)
    assert (split.champion, split.real, split.held_out, split.evaluated_on) == (
        old,
        old,
        enough,
        "since_shift",
    )

    too_few = new[: adaptation.MIN_HOLDOUT_SEQUENCES - 1]
    split = since_shift_split(old, too_few)
    assert split.evaluated_on == "recent"
    assert (split.real, split.held_out) == hub_split(old + too_few)  # 44 -> 35 / 9, all new ones held out
    assert split.champion == split.real == old[:35]

    capped = since_shift_split(old[:19], new[:10])  # 10 since the shift, the cap ceil(29 / 5) = 6
    assert capped.evaluated_on == "since_shift" and capped.held_out == new[4:10]
    assert capped.champion == old[:19] and capped.real == old[:19] + new[:4]  # the earlier 4 train

    short = old[:14]  # 14 + 10: 5 held out (the cap), 19 left, too little to train on
    split = since_shift_split(short, new[:10])
    assert split.evaluated_on == "recent"
    assert (split.real, split.held_out) == hub_split(short + new[:10])  # 24 -> 19 / 5
    assert split.champion == short and split.real == short + new[:5]  # 5 post-shift pieces in the real data


def _judged(hits: list[bool]) -> tuple[Any, dict[str, Any]]:
    """An ``Evaluation`` with its per-sequence outcomes (HR@10 hits only: nothing flagged, no copy) and
    the bench's model entry for it (guard figures; test-set figures equal for every model)."""
    adaptation, _, _ = integration()
    n = len(hits)
    outcomes = adaptation.Outcomes(tuple(hits), (False,) * n, (True,) * n, ())
    evaluation = adaptation.Evaluation(sum(hits) / n, 0.0, 0.0, 0, 0.0, outcomes=outcomes)
    truth = {"ad": {"f1": 0.5, "recall": 0.5, "fpr": 0.1}, "bp": {"hr@10": 0.5, "ndcg@10": 0.3}}
    return evaluation, {"guard": evaluation.as_metrics(), "truth": truth}


def test_decide_holds_the_challenger_to_the_products_margin_when_given_the_outcomes() -> None:
    """Judged on the recent 20 % the product keeps a champion the challenger beats within the noise:
    +1 hit of 10 (2 sequences won, 1 lost; paired standard error about 0.17) replaces it without the
    margin, not with it."""
    from habitus_tools.bench_hub_adapt import decide  # noqa: PLC0415

    champion, champion_entry = _judged([True] * 5 + [False] * 5)
    challenger, challenger_entry = _judged([True] * 4 + [False] + [True] * 2 + [False] * 3)
    without = decide(challenger_entry, champion_entry)
    assert without["deployed"] and without["deployed_no_margin"]
    held = decide(challenger_entry, champion_entry, (challenger, champion))
    assert held["deployed_no_margin"] and not held["deployed"]
    assert held["reason"].startswith("better, but within the noise of 10 held-out sequences")
    assert held["right"] == (held["truth_better"] is False)  # right is judged on the margin's decision
