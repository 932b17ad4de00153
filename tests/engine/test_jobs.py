"""The worker's job registry and process loop (``engine/jobs.py``), run in-process here.

The worker process itself (spawn, crash, cancel) is tested with a real HA in tests/ha/test_worker.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from habitus_engine.calibration import live_windows, max_prefix_scores
from habitus_engine.jobs import (
    JOBS,
    TRANSAE_HOLDOUTS,
    JobCancelledError,
    JobParamsError,
    TransAEHoldout,
    run_job,
    serve,
    transae_rows,
    transae_split,
)
from habitus_engine.models import SASRec, TransAE
from habitus_engine.models.encoding import FieldSizes
from habitus_engine.models.training import TrainConfig, split_validation, split_validation_grouped

N_DEVICES, N_ACTIONS = 4, 6


def _sequences(n: int = 24) -> list[list[list[int]]]:
    """Small regular routines: device d switches on (action 2d) then off (2d + 1), at a bucket of its own."""
    return [
        [[i % 7, d + 1, d, (2 * d) % N_ACTIONS], [i % 7, d + 1, d, (2 * d + 1) % N_ACTIONS]]
        for i in range(n)
        for d in (i % 3,)
    ]


def _train_params(**extra: Any) -> dict[str, Any]:
    return {
        "sequences": _sequences(),
        "n_devices": N_DEVICES,
        "n_actions": N_ACTIONS,
        "epochs": 2,
        "transae": {"d_model": 8, "d_ff": 16},
        "sasrec": {"d_model": 8, "n_blocks": 1},
        **extra,
    }


def test_train_models_trains_both_and_reports_progress_in_order(tmp_path: Path) -> None:
    reports: list[tuple[float, str]] = []
    result = run_job(
        "train_models",
        _train_params(output_dir=str(tmp_path)),
        lambda f, m: reports.append((f, m)),
        lambda: False,
    )
    assert result["n_sequences"] == result["n_sequences_sasrec"] == 24  # one set for both by default
    assert result["transae"]["epochs_run"] == 2 and result["sasrec"]["epochs_run"] == 2
    assert result["transae"]["threshold"] > 0
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert reports[0][1].startswith("TransAE") and reports[-1][1].startswith("SASRec")
    assert TransAE.load(Path(result["transae"]["path"])).threshold_ is not None
    assert SASRec.load(tmp_path / "sasrec.npz").recommend([(0, 1, 0, 0)], k=2)


def test_train_models_gives_sasrec_its_own_set_when_tof_filtered_per_task() -> None:
    own = _sequences()[:10]
    result = run_job("train_models", _train_params(sasrec_sequences=own), lambda f, m: None, lambda: False)
    assert (result["n_sequences"], result["n_sequences_sasrec"]) == (24, 10)
    with pytest.raises(JobParamsError, match="sequences"):
        run_job("train_models", _train_params(sasrec_sequences=[]), lambda f, m: None, lambda: False)


def test_train_models_thresholds_transae_as_live_scoring_alerts(tmp_path: Path) -> None:
    """The threshold is the 95th percentile, over the sequences fit held out, of each one's highest score
    over its prefixes (live scoring reads the open sequence after every behaviour), not of its whole."""
    params = _train_params(output_dir=str(tmp_path))
    result = run_job("train_models", params, lambda f, m: None, lambda: False)
    model = TransAE.load(Path(result["transae"]["path"]))
    sequences = [[(b[0], b[1], b[2], b[3]) for b in s] for s in params["sequences"]]
    held_out = transae_split(sequences, model.config).calibration  # the default: the rows fit held out
    validation = [sequences[int(i)] for i in held_out]
    highest = [max(model.score([s[:n] for n in range(1, len(s) + 1)], "numpy")) for s in validation]
    assert result["transae"]["threshold"] == model.threshold_
    assert model.threshold_ == pytest.approx(float(np.percentile(highest, 95.0)), rel=1e-5)
    whole = float(np.percentile(model.score(validation, "numpy"), 95.0))  # what fit set
    assert model.threshold_ >= whole


def _distinct_sequences(n: int) -> list[list[tuple[int, int, int, int]]]:
    """n sequences of 1-4 behaviours, no two alike (sequence i's first behaviour identifies it)."""
    return [
        [(i % 7, i // 7 % 8, i // 56 % N_DEVICES, k % N_ACTIONS) for k in range(1 + i % 4)] for i in range(n)
    ]


def test_transae_trains_on_the_live_windows_of_its_training_sequences_only() -> None:
    """With ``transae_train_on`` "live-windows", the sequences are split as fit splits them, then each
    side becomes its sequences' live readings: a held-out sequence's prefixes are never trained on."""
    sequences = _distinct_sequences(60)
    transae = TransAE(FieldSizes(n_devices=N_DEVICES, n_actions=N_ACTIONS))
    train = transae.config.train
    train_idx, val_idx = split_validation(60, train.validation_fraction, train.seed)
    rows, validation = transae_rows(transae, sequences, "live-windows")
    n = transae.config.max_behaviours
    expected_rows = [w for i in train_idx for w in live_windows(sequences[int(i)], n, n)]
    expected_validation = [w for i in val_idx for w in live_windows(sequences[int(i)], n, n)]
    assert rows == expected_rows and validation == expected_validation  # every prefix, in order
    assert len(rows) == sum(1 + int(i) % 4 for i in train_idx)  # one reading after each behaviour
    assert {tuple(w) for w in rows}.isdisjoint({tuple(w) for w in validation})
    assert {w[0] for w in rows} == {sequences[int(i)][0] for i in train_idx}
    whole = transae_rows(transae, sequences, "whole")  # fit's own split of the same sequences
    assert whole == ([sequences[int(i)] for i in train_idx], [sequences[int(i)] for i in val_idx])
    # beyond the cap each side is a seeded sample of its own windows, in its share of the cap
    capped, capped_validation = transae_rows(transae, sequences, "live-windows", max_windows=20)
    assert len(capped) == 16 and len(capped_validation) == 4
    assert all(w in expected_rows for w in capped)
    assert all(w in expected_validation for w in capped_validation)
    # the job trains on them and thresholds on the same held-out sequences' prefix maxima
    params = _train_params(
        sequences=[[list(b) for b in s] for s in sequences], transae_train_on="live-windows"
    )
    result = run_job("train_models", params, lambda f, m: None, lambda: False)
    assert result["transae"]["train_on"] == "live-windows"
    assert result["transae"]["n_train_rows"] == len(expected_rows)
    with pytest.raises(JobParamsError, match="transae_train_on"):
        run_job("train_models", _train_params(transae_train_on="prefixes"), lambda f, m: None, lambda: False)


def _lists(sides: Iterable[NDArray[np.int64]]) -> list[list[int]]:
    return [side.tolist() for side in sides]


def test_grouped_split_keeps_every_copy_of_a_key_on_one_side() -> None:
    """``split_validation_grouped``: seeded, within the random split's share, no key on both sides."""
    keys = [i % 7 for i in range(50)] + list(range(100, 130))  # 7 keys of 7-8 rows, then 30 single rows
    train, val = split_validation_grouped(keys, 0.2, seed=3)
    assert {keys[int(i)] for i in train}.isdisjoint({keys[int(i)] for i in val})
    assert sorted([*train.tolist(), *val.tolist()]) == list(range(80)) and 1 <= len(val) <= 16
    assert _lists((train, val)) == _lists(split_validation_grouped(keys, 0.2, 3))
    random_train, random_val = split_validation(80, 0.2, 3)  # the random split shares keys
    assert not {keys[int(i)] for i in random_train}.isdisjoint({keys[int(i)] for i in random_val})
    # every key larger than the share: the smallest goes to validation; one key cannot be kept apart
    assert split_validation_grouped([0] * 6 + [1] * 4, 0.2, 1)[1].tolist() == [6, 7, 8, 9]
    assert _lists(split_validation_grouped([0] * 10, 0.2, 1)) == _lists(split_validation(10, 0.2, 1))


@pytest.mark.parametrize("holdout", TRANSAE_HOLDOUTS)
def test_transae_split_holds_out_as_its_holdout_says(holdout: TransAEHoldout) -> None:
    """random: ``fit``'s split, copies of a stored sequence on both sides; grouped: every copy on one
    side; unseen: the random split, calibrated on the validation sequences training lacks."""
    distinct = _distinct_sequences(60)
    sequences = distinct[:40] * 2 + distinct[40:]  # 40 sequences stored twice, 20 once
    config = TransAE(FieldSizes(n_devices=N_DEVICES, n_actions=N_ACTIONS)).config
    split = transae_split(sequences, config, holdout)
    train, validation, calibration = ({tuple(sequences[int(i)]) for i in side} for side in split)
    assert sorted([*split.train.tolist(), *split.validation.tolist()]) == list(range(100))
    assert set(split.calibration.tolist()) <= set(split.validation.tolist())
    random = split_validation(100, config.train.validation_fraction, config.train.seed)
    if holdout == "grouped":
        assert train.isdisjoint(validation)
        assert np.array_equal(split.calibration, split.validation)
    else:
        assert _lists(split[:2]) == _lists(random)
        assert not train.isdisjoint(validation)
    if holdout == "unseen":
        assert calibration and train.isdisjoint(calibration)
        assert len(split.calibration) < len(split.validation)
    if holdout == "random":
        assert np.array_equal(split.calibration, split.validation)


@pytest.mark.parametrize("holdout", TRANSAE_HOLDOUTS)
def test_train_models_thresholds_on_its_holdouts_calibration_side(
    holdout: TransAEHoldout, tmp_path: Path
) -> None:
    """The job splits once: TransAE trains on the split's training side and the served threshold is the
    percentile of its calibration side's prefix maxima."""
    distinct = _distinct_sequences(60)
    sequences = distinct[:40] * 2 + distinct[40:]
    params = _train_params(
        sequences=[[list(b) for b in s] for s in sequences], transae_holdout=holdout, output_dir=str(tmp_path)
    )
    result = run_job("train_models", params, lambda f, m: None, lambda: False)["transae"]
    model = TransAE.load(Path(result["path"]))
    split = transae_split(sequences, model.config, holdout)
    n = model.config.max_behaviours  # every behaviour of a stored sequence is in the vocabulary
    calibration = [sequences[int(i)] for i in split.calibration]
    highest = max_prefix_scores(lambda reads: model.score(reads, "numpy"), calibration, n, n)
    assert model.threshold_ == pytest.approx(float(np.percentile(highest, 95.0)), rel=1e-5)
    assert result["holdout"] == holdout
    assert result["n_train_rows"] == sum(len(live_windows(sequences[int(i)], n, n)) for i in split.train)
    assert (result["n_validation_sequences"], result["n_calibration_sequences"]) == (
        len(split.validation),
        len(split.calibration),
    )
    with pytest.raises(JobParamsError, match="transae_holdout"):
        run_job("train_models", _train_params(transae_holdout="latest"), lambda f, m: None, lambda: False)


def test_train_models_stops_when_cancelled() -> None:
    with pytest.raises(JobCancelledError):
        run_job("train_models", _train_params(), lambda f, m: None, lambda: True)


def test_train_models_max_seconds_sets_both_models_budget(tmp_path: Path) -> None:
    """Absent: the config's 25 s; null: no budget (load-independent benchmarks); a number: that budget,
    and a budget of 0 s ends each fit after its first batch (reported as out of time)."""
    default = run_job("train_models", _train_params(), lambda f, m: None, lambda: False)
    assert default["max_seconds"] == TrainConfig().max_seconds == 25.0
    unbounded = run_job(
        "train_models",
        _train_params(max_seconds=None, output_dir=str(tmp_path)),
        lambda f, m: None,
        lambda: False,
    )
    assert unbounded["max_seconds"] is None
    assert TransAE.load(tmp_path / "transae.npz").config.train.max_seconds is None
    assert SASRec.load(tmp_path / "sasrec.npz").config.train.max_seconds is None
    spent = run_job("train_models", _train_params(max_seconds=0, epochs=5), lambda f, m: None, lambda: False)
    assert spent["transae"]["out_of_time"] and spent["sasrec"]["out_of_time"]
    assert spent["transae"]["epochs_run"] == spent["sasrec"]["epochs_run"] == 1
    with pytest.raises(JobParamsError, match="max_seconds"):
        run_job("train_models", _train_params(max_seconds=-1), lambda f, m: None, lambda: False)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"sequences": []}, "non-empty"),
        ({"sequences": [[[0, 1, N_DEVICES, 0]]]}, "device<4"),
        ({"sequences": [[[0, 1, 0]]]}, "sequence 0"),
        ({"n_actions": "many"}, "n_actions"),
        ({"transae": {"no_such_setting": 1}}, "no_such_setting"),
    ],
)
def test_train_models_rejects_bad_params_clearly(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(JobParamsError, match=needle):
        run_job("train_models", _train_params(**change), lambda f, m: None, lambda: False)


def test_unknown_job_names_the_known_ones() -> None:
    with pytest.raises(JobParamsError, match="train_models"):
        run_job("no_such_job", {}, lambda f, m: None, lambda: False)
    assert {"train_models", "sleep_steps", "crash_native", "allocate"} <= set(JOBS)


def test_sleep_steps_reports_every_step_and_honours_cancel() -> None:
    reports: list[float] = []
    assert run_job(
        "sleep_steps", {"steps": 3, "seconds": 0}, lambda f, m: reports.append(f), lambda: False
    ) == {"steps": 3}
    assert reports == pytest.approx([1 / 3, 2 / 3, 1.0])
    with pytest.raises(JobCancelledError):
        run_job("sleep_steps", {"steps": 3, "seconds": 0}, lambda f, m: None, lambda: True)


def _serve_in_thread() -> tuple[Any, Any, threading.Thread]:
    child_commands, commands = Pipe(duplex=False)
    events, child_events = Pipe(duplex=False)
    thread = threading.Thread(target=serve, args=(child_commands, child_events), kwargs={"nice": 0})
    thread.start()
    return commands, events, thread


def test_serve_runs_jobs_in_order_reports_errors_and_cancels() -> None:
    commands, events, thread = _serve_in_thread()
    try:
        assert events.recv()[0] == "ready"
        commands.send(("run", 1, "sleep_steps", {"steps": 2, "seconds": 0}))
        commands.send(("cancel", 2))  # may arrive before job 2 starts: still cancels it
        commands.send(("run", 2, "sleep_steps", {"steps": 50, "seconds": 0.01}))
        commands.send(("run", 3, "fail", {"message": "bad input"}))
        received = [events.recv() for _ in range(5)]
        assert received[:3] == [
            ("progress", 1, 0.5, "step 1/2"),
            ("progress", 1, 1.0, "step 2/2"),
            ("result", 1, {"steps": 2}),
        ]
        assert received[3] == ("cancelled", 2)
        assert received[4] == ("error", 3, "ValueError", "bad input")
    finally:
        commands.send(("stop",))
        thread.join(5)
    assert not thread.is_alive()
