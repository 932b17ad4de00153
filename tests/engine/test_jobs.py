"""The worker's job registry and process loop (``engine/jobs.py``), run in-process here.

The worker process itself (spawn, crash, cancel) is tested with a real HA in tests/ha/test_worker.py.
"""

from __future__ import annotations

import threading
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from habitus_engine.calibration import live_windows
from habitus_engine.jobs import JOBS, JobCancelledError, JobParamsError, run_job, serve, transae_rows
from habitus_engine.models import SASRec, TransAE
from habitus_engine.models.encoding import FieldSizes
from habitus_engine.models.training import split_validation

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
    train = model.config.train
    _, held_out = split_validation(24, train.validation_fraction, train.seed)  # the rows fit held out
    validation = [[tuple(b) for b in params["sequences"][int(i)]] for i in held_out]
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


def test_train_models_stops_when_cancelled() -> None:
    with pytest.raises(JobCancelledError):
        run_job("train_models", _train_params(), lambda f, m: None, lambda: True)


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
