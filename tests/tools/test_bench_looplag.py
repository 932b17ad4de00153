"""``habitus bench looplag``: its options and how ``--job adapt`` splits the samples by phase (no HA run)."""

from __future__ import annotations

import argparse

import pytest

from custom_components.habitus.looplag import summarise
from habitus_tools import bench_looplag
from habitus_tools.bench_hass import GcPause, GcPauses
from habitus_tools.looplag_adapt import PhaseSplit, summarise_phases


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench_looplag.register(parser.add_subparsers())
    return parser.parse_args(["looplag", "--dataset", "fr", *argv])


def test_adapt_options_and_their_defaults() -> None:
    args = _parse(["--job", "adapt", "--max-prompts", "2", "--epochs", "3", "--trace-stalls", "25"])
    assert (args.job, args.max_prompts, args.epochs, args.trace_stalls) == ("adapt", 2, 3, 25.0)
    default = _parse([])
    assert (default.job, default.epochs, default.trace_stalls, default.warmup_seconds) == (
        "train",
        None,
        None,
        60.0,
    )
    with pytest.raises(SystemExit):
        _parse(["--job", "retrain"])


class _Probe:
    """Hands out the lags it is given, like ``LoopLagProbe.take`` / ``worst``."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    def take(self) -> list[float]:
        lags, self.lags = self.lags, []
        return lags

    def worst(self) -> tuple[float, float]:
        return max(self.lags, default=0.0) * 1000.0, 100.0


def test_samples_go_to_the_phase_the_job_was_in_and_the_whole_job_leaves_out_warm_up_and_baseline() -> None:
    probe, pauses, state = _Probe(), GcPauses(), ["preparing"]
    split = PhaseSplit(probe, lambda: (state[0], 0, ""), {"gc": pauses.take, "runqueue": list})
    probe.lags = [0.5]  # a start-up stall, in the warm-up
    split.close("baseline")
    probe.lags = [0.001] * 10
    split.changed()  # the job starts: preparing
    probe.lags = [0.002] * 10
    pauses("start", {"generation": 2})
    pauses("stop", {"generation": 2})  # too short to be kept
    state[0] = "training"
    split.changed()
    split.changed()  # no change: same phase
    probe.lags = [0.004] * 10
    state[0] = "idle"
    split.changed()  # the job ended: idle is not a phase
    split.close()
    assert list(split.phases) == ["warm-up", "baseline", "preparing", "training"]
    assert [len(p["lags"]) for p in split.phases.values()] == [1, 10, 10, 10]
    assert [entry[1] for entry in split.log] == ["preparing", "training", "training", "idle"]
    rows = summarise_phases(split.phases, job_started=90.0, summarise=summarise)
    assert rows["warm-up"]["max_ms"] == 500.0 and rows["warm-up"]["max_at_s"] == 10.0
    assert rows["whole job"]["samples"] == 20
    assert rows["whole job"]["p50_ms"] == pytest.approx(3.0)
    assert rows["whole job"]["gc_pauses"] == 0


def test_run_queue_wait_is_taken_out_of_each_lag() -> None:
    phases = {
        "training": {
            "lags": [0.010, 0.030],
            "runqueue": [(0.010, 0.008), (0.030, 0.040)],
            "gc": [GcPause(2, 400.0, 1.0), GcPause(0, 1.5, 1.5)],
            "seconds": 2.0,
            "max_at": 0.0,
            "load_average_1m_end": 1.0,
        }
    }
    row = summarise_phases(phases, job_started=0.0, summarise=summarise)["training"]
    assert row["in_process_p99_ms"] == pytest.approx(2.0, abs=0.05)  # 10 - 8 ms; 30 - 40 is none
    assert row["runqueue_share"] == pytest.approx(38 / 40, abs=1e-3)
    assert (row["gc_pauses"], row["gc_full_collections"], row["gc_max_ms"]) == (2, 1, 400.0)
    assert row["max_at_s"] is None  # no worst stall recorded by the probe
