"""``habitus bench denoise``: TransAE's objective judged on a home's own trn/vld with injected anomalies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from habitus_engine.injection import KINDS
from habitus_engine.models.transae import TRANSAE_LEARNING_RATE
from habitus_tools.bench_denoise import Candidate, evaluate_caps, load_home, run
from habitus_tools.cli import main
from tests.paths import SMARTTHINGS

AN = SMARTTHINGS / "an"
pytestmark = pytest.mark.skipif(not AN.exists(), reason="shared SmartThings datasets not found")


@pytest.fixture
def tiny_an(tmp_path: Path) -> Path:
    """``<tmp>/an``: AN's vocabulary, its first 40 training and 12 validation sequences, and one
    training sequence repeated in validation (the raw splits share sequences in SP and US)."""
    root = tmp_path / "an"
    (root / "raw").mkdir(parents=True)
    shutil.copy(AN / "vocab.json", root / "vocab.json")
    train = (AN / "raw" / "trn.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    vld = (AN / "raw" / "vld.jsonl").read_text(encoding="utf-8").splitlines()[:12]
    (root / "raw" / "trn.jsonl").write_text("\n".join(train) + "\n", encoding="utf-8")
    (root / "raw" / "vld.jsonl").write_text("\n".join([*vld, train[3]]) + "\n", encoding="utf-8")
    return root


def test_validation_copies_of_training_sequences_are_dropped(tiny_an: Path) -> None:
    home = load_home(tiny_an)
    assert len(home.train) == 40 and len(home.normal) == 12
    assert all(list(s) not in home.train for s in home.normal)
    held = load_home(tiny_an, normal_from="held-out")
    assert len(held.train) == 32 and 0 < len(held.normal) <= 8
    assert not {tuple(s) for s in held.normal} & {tuple(s) for s in held.train}


def test_each_injected_kind_changes_its_normal_sequence_as_documented(tiny_an: Path) -> None:
    home = load_home(tiny_an)
    vocab = json.loads((tiny_an / "vocab.json").read_text(encoding="utf-8"))
    used = {(b[2], b[3]) for s in home.train for b in s}
    assert set(home.anomalies) == set(KINDS)
    for seq, device, hour, burst, swap in zip(home.normal, *(home.anomalies[k] for k in KINDS), strict=True):
        changed = [(a, b) for a, b in zip(seq, device, strict=True) if tuple(a) != tuple(b)]
        assert len(changed) == 1
        (before, after) = changed[0]
        assert tuple(after[:2]) == tuple(before[:2])  # same day and hour
        assert (after[2], after[3]) not in used and vocab["action_device"][after[3]] == after[2]
        assert [(b[0], b[2], b[3]) for b in hour] == [(b[0], b[2], b[3]) for b in seq]
        assert len({b[1] for b in hour}) == 1 and hour[0][1] not in {b[1] for b in seq}
        assert len(burst) == 10 and len({b[2] for b in burst[:3]}) == 1
        assert burst[0][3] == burst[2][3] != burst[1][3] and tuple(burst[3]) == tuple(seq[0])
        assert sum(tuple(a) != tuple(b) for a, b in zip(seq, swap, strict=True)) <= 1


def test_candidates_parse_and_reject_malformed_specs() -> None:
    assert Candidate.parse("none") == Candidate()
    assert Candidate.parse("mixed:0.3").label == "mixed 0.3"
    fixed = Candidate.parse("mask:0.5:fixed4")
    config = fixed.config(seed=7)
    assert fixed.label == "mask 0.5 fixed4" and not config.train.restore_best
    assert (config.train.epochs, config.train.seed, config.train.max_seconds) == (4, 7, None)
    budgeted = Candidate.parse("mixed:0.15").config(seed=7, epochs=60, max_seconds=25.0).train
    assert (budgeted.epochs, budgeted.max_seconds, budgeted.patience) == (60, 25.0, 3)
    assert budgeted.learning_rate == TRANSAE_LEARNING_RATE  # the product default
    assert Candidate().config(seed=7, learning_rate=3e-3).train.learning_rate == 3e-3
    for bad in ("none:0.3", "mixed", "noise:0.3", "mixed:0.3:4"):
        with pytest.raises(ValueError, match="candidate"):
            Candidate.parse(bad)


def test_run_scores_every_candidate_on_every_kind(tiny_an: Path) -> None:
    doc = run(
        [tiny_an],
        [Candidate(), Candidate("mixed", 0.5, fixed_epochs=2)],
        [2024],
        epochs=2,
        log=lambda _: None,
    )
    assert list(doc["summary"]) == ["none", "mixed 0.5 fixed2"]
    plain, fixed = doc["rows"]
    assert fixed["epochs_run"] == 2 and plain["epochs_run"] <= 2
    for row in doc["rows"]:
        assert set(row["kinds"]) == set(KINDS)
        assert all(0.0 <= k["auc"] <= 1.0 and 0.0 <= k["f1"] <= 1.0 for k in row["kinds"].values())
        assert 0.0 <= row["fpr"] <= 1.0 and row["threshold"] > 0.0
    assert doc["settings"]["candidates"] == ["none", "mixed 0.5 fixed2"]
    assert list(doc["per_home"]) == ["an"] and doc["per_home"]["an"] == doc["summary"]


def test_caps_from_one_run_equal_runs_capped_at_each(tiny_an: Path) -> None:
    home = load_home(tiny_an)
    candidate = Candidate("mixed", 0.15)
    rows = evaluate_caps(home, candidate, 2024, [3, 1, 2])
    assert [r["cap"] for r in rows] == [1, 2, 3]
    assert [r["candidate"] for r in rows] == ["mixed 0.15 cap1", "mixed 0.15 cap2", "mixed 0.15 cap3"]
    for row in rows:
        alone = evaluate_caps(home, candidate, 2024, [row["cap"]])[0]
        assert alone["candidate"] == "mixed 0.15"
        for key in ("auc", "f1", "fpr", "threshold", "best_epoch", "epochs_run", "validation_loss"):
            assert row[key] == alone[key], key
    assert len(rows[-1]["validation_loss"]) == rows[-1]["epochs_run"]


def test_cli_caps_time_budget_and_learning_rate_reach_the_training_config(
    tiny_an: Path, tmp_path: Path
) -> None:
    out = tmp_path / "caps.json"
    # a zero budget ends the first epoch after one batch: every cap judges that one epoch's weights
    args = ["bench", "denoise", str(tiny_an), "--candidates", "mixed:0.15", "--caps", "2", "4"]
    assert main([*args, "--max-seconds", "0", "--json", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["settings"]["max_seconds"] == 0.0 and doc["settings"]["caps"] == [2, 4]
    assert [r["candidate"] for r in doc["rows"]] == ["mixed 0.15 cap2", "mixed 0.15 cap4"]
    assert all(r["out_of_time"] and r["epochs_run"] == 1 for r in doc["rows"])
    unbounded = tmp_path / "unbounded.json"
    assert main([*args, "--json", str(unbounded)]) == 0
    rows = json.loads(unbounded.read_text(encoding="utf-8"))["rows"]
    assert [(r["epochs_run"], r["out_of_time"]) for r in rows] == [(2, False), (4, False)]
    faster = tmp_path / "faster.json"
    assert main([*args, "--learning-rate", "0.01", "--json", str(faster)]) == 0
    doc = json.loads(faster.read_text(encoding="utf-8"))
    assert doc["settings"]["learning_rate"] == 0.01
    assert doc["rows"][-1]["validation_loss"][0] != rows[-1]["validation_loss"][0]  # other steps
