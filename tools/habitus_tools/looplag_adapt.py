"""``habitus bench looplag --job adapt``: HA's event-loop lag during a full adaptation job, per phase.

A Habitus entry is added through the config flow (the integration linked into the config dir's
``custom_components``; it learns the bench's toggles live), its store gets ``--train-size`` of the
dataset's training sequences as the home's history (spread over the last ``HISTORY_DAYS`` days, with the
dataset's device and action names), then the ``habitus.adapt`` service runs the real job: *preparing*
(TSS sequences split by time, encoded), *synthesizing* (the worker's ``synthesize`` job: TSS -> SSC ->
GSS -> the packaged Gemma 3 270M in llama.cpp -> TOF, ``--max-prompts`` prompts), *training* (TransAE +
SASRec, ``--epochs`` or the product budget) and *evaluating* (champion vs challenger, deploy, store).

The probe's samples are split by the job's phase (the adaptation sensor's dispatcher signal). Before the
job: a *warm-up* (``--warmup-seconds``: HA's own start-up work, reported but kept out of the verdict)
and a *baseline* (``--baseline-seconds`` of the household load alone). Python's garbage-collector
pauses are recorded per phase too (a full collection of HA's heap is a loop stall nobody scheduled), and
a second probe reads the loop thread's run-queue wait (``RunQueueProbe``) to tell the lag the machine's
other processes cause from the lag this process causes. ``--trace-stalls MS`` records every thread's
stack whenever the loop is ``MS`` ms late (a diagnosis: its watchdog thread takes the GIL every 2 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from homeassistant.core import callback

from .bench_hass import FULL_GENERATION, GcPause, GcPauses, StallTracer, add_entry, setup_hass

HISTORY_DAYS = 60
ADAPT_CONTEXT = "a baby arrived; the nights are busy with feeding and nappy changes"
BEFORE_JOB = ("warm-up", "baseline")  # phases outside the job: not in the "whole job" figures


class Probe(Protocol):
    """What ``PhaseSplit`` needs of ``custom_components.habitus.looplag.LoopLagProbe``."""

    def take(self) -> list[float]: ...

    def worst(self) -> tuple[float, float]: ...


class RunQueueProbe:
    """A second loop-lag probe that also reads the loop thread's run-queue wait (``/proc/thread-self/
    schedstat``, field 2) across each sleep: the part of a lag spent waiting for a CPU (the machine's
    other processes) rather than for this process (callbacks, the GIL). Linux only; (lag, wait) seconds."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._fd: int | None = None
        self._samples: list[tuple[float, float]] = []

    def _wait(self) -> float:
        assert self._fd is not None
        return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9

    async def run(self) -> None:
        """Sample until cancelled (run as a task on the loop: it reads the loop thread's own stats)."""
        try:
            self._fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            return  # not Linux: no run-queue figures
        try:
            while True:
                asked, waited = time.monotonic(), self._wait()
                await asyncio.sleep(self._interval)
                lag = max(0.0, time.monotonic() - asked - self._interval)
                self._samples.append((lag, self._wait() - waited))
        finally:
            os.close(self._fd)

    def take(self) -> list[tuple[float, float]]:
        """The samples so far, forgotten here."""
        samples, self._samples = self._samples, []
        return samples


class PhaseSplit:
    """Splits a probe's samples by phase, with what each of ``extras`` (name -> its ``take``) gathered
    meanwhile (GC pauses, run-queue samples); the adaptation job's signal moves it."""

    def __init__(
        self,
        probe: Probe,
        state: Callable[[], tuple[str, int, str]],
        extras: dict[str, Callable[[], list[Any]]],
    ) -> None:
        self._probe, self._state, self._extras = probe, state, extras
        self.current, self.started = BEFORE_JOB[0], time.monotonic()
        self.job_started = self.started
        self.phases: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[float, str, int, str]] = []  # (time, phase, progress, message) per signal

    def close(self, name: str | None = None) -> None:
        """End the current phase (samples, extras, duration, load average); start ``name``."""
        now = time.monotonic()
        entry = self.phases.setdefault(
            self.current, {"lags": [], "seconds": 0.0, "max_at": 0.0} | {key: [] for key in self._extras}
        )
        lag_ms, at = self._probe.worst()
        if lag_ms > entry.get("max_ms", -1.0):
            entry["max_ms"], entry["max_at"] = lag_ms, at
        entry["lags"] += self._probe.take()
        for key, take in self._extras.items():
            entry[key] += take()
        entry["seconds"] += now - self.started
        entry["load_average_1m_end"] = os.getloadavg()[0]
        if name is not None:
            self.current, self.started = name, now

    @callback
    def changed(self) -> None:
        """Dispatcher callback (event loop): the job's phase may have changed (idle: the job ended)."""
        phase, progress, message = self._state()
        self.log.append((time.monotonic(), phase, progress, message))
        if phase not in (self.current, "idle"):
            self.close(phase)


def _row(summarise: Callable[[list[float]], Any], p: dict[str, Any], seconds: float) -> dict[str, Any]:
    """One row of figures over ``p``'s lags, GC pauses (generation, ms) and run-queue (lag, wait) s."""
    pauses: list[GcPause] = p.get("gc", [])
    queued: list[tuple[float, float]] = p.get("runqueue", [])
    in_process = summarise([max(0.0, lag - wait) for lag, wait in queued])
    return {
        **summarise(p["lags"]).as_dict(),
        "seconds": round(seconds, 1),
        "gc_pauses": len(pauses),
        "gc_full_collections": sum(1 for pause in pauses if pause.generation == FULL_GENERATION),
        "gc_max_ms": round(max((pause.ms for pause in pauses), default=0.0), 1),
        # the second probe: its own p99; p99 of each lag minus the loop thread's run-queue wait meanwhile
        # (a lower bound of what this process made it wait: the wait may have been for an earlier
        # wake-up); the share of the total lag that was run-queue wait
        "rq_probe_p99_ms": summarise([lag for lag, _ in queued]).p99_ms,
        "in_process_p99_ms": in_process.p99_ms,
        "runqueue_share": round(
            sum(min(lag, wait) for lag, wait in queued) / max(sum(lag for lag, _ in queued), 1e-9), 3
        ),
    }


def summarise_phases(
    phases: dict[str, dict[str, Any]], job_started: float, summarise: Callable[[list[float]], Any]
) -> dict[str, dict[str, Any]]:
    """Per phase and over the whole job (every phase but ``BEFORE_JOB``): lag p50/p99/max (``summarise``
    is ``looplag.summarise``), seconds, GC pauses, the run-queue split, the load average at its end and
    when its worst stall ended (seconds after the job started)."""
    out = {
        name: {
            **_row(summarise, p, p["seconds"]),
            "load_average_1m_end": p["load_average_1m_end"],
            "max_at_s": round(p["max_at"] - job_started, 1) if p.get("max_ms", 0.0) > 0 else None,
        }
        for name, p in phases.items()
    }
    job = [p for name, p in phases.items() if name not in BEFORE_JOB]
    merged = {key: [x for p in job for x in p.get(key, [])] for key in ("lags", "gc", "runqueue")}
    out["whole job"] = {
        **_row(summarise, merged, sum(p["seconds"] for p in job)),
        "load_average_1m_end": job[-1]["load_average_1m_end"] if job else os.getloadavg()[0],
    }
    return out


def home_history(
    dataset: Path, size: int, now_hours: float, behaviour: Callable[..., Any]
) -> list[list[Any]]:
    """``size`` dataset training sequences as the home's stored history: ``behaviour(time, device,
    action, origin)`` lists spread evenly over the last ``HISTORY_DAYS`` days (a minute between
    behaviours), with the dataset's device and action names."""
    from habitus_engine.datasets import load_vocabulary  # noqa: PLC0415

    from .bench_latency import training_sequences  # noqa: PLC0415

    vocab = load_vocabulary(dataset)
    first = (now_hours // 24 - HISTORY_DAYS) * 24
    step = HISTORY_DAYS * 24.0 / size
    return [
        [
            behaviour(first + k * step + i / 60.0, vocab.devices[b[2]], vocab.actions[b[3]], "user")
            for i, b in enumerate(seq)
        ]
        for k, seq in enumerate(training_sequences(dataset, size))
    ]


async def _seed_history(hass: Any, entry: Any, args: argparse.Namespace, package: str) -> None:
    """The entry's store gets the dataset's sequences as history (built in the executor)."""
    from homeassistant.util import dt as dt_util  # noqa: PLC0415

    behaviour = sys.modules[f"{package}.engine.behaviour"].Behaviour  # the class HA's integration uses
    now_hours = dt_util.utcnow().timestamp() / 3600.0
    history = await hass.async_add_executor_job(
        home_history, args.dataset, args.train_size, now_hours, behaviour
    )
    entry.runtime_data.learner.store.add_older_sequences(history, now_hours)


async def measure_adapt(
    args: argparse.Namespace,
    config_dir: Path,
    household: Callable[[Any, float, list[int]], Coroutine[Any, Any, None]],
    probe_settings: tuple[float, int],
) -> dict[str, Any]:
    """Start HA in ``config_dir``, add the entry, warm up, baseline, run ``habitus.adapt``; per-phase lag."""
    from homeassistant.helpers.dispatcher import async_dispatcher_connect  # noqa: PLC0415

    hass = await setup_hass(config_dir)
    counter, load_start, pauses = [0], os.getloadavg()[0], GcPauses()
    tracer: StallTracer | None = None
    try:
        await hass.async_start()
        await hass.async_block_till_done()
        entry = await add_entry(hass)  # through the config flow, learning the input_booleans
        manager = entry.runtime_data.adaptation_jobs
        package = type(manager).__module__.rsplit(".", 1)[0]  # the integration HA loaded
        looplag, job_module = sys.modules[f"{package}.looplag"], sys.modules[type(manager).__module__]
        await _seed_history(hass, entry, args, package)
        hass.async_create_background_task(household(hass, args.event_rate, counter), "bench load")
        probe = looplag.LoopLagProbe(hass, interval=probe_settings[0], capacity=probe_settings[1])
        queue_probe = RunQueueProbe(probe_settings[0])
        split = PhaseSplit(
            probe,
            lambda: (str(manager.phase.value), manager.progress, manager.message),
            {"gc": pauses.take, "runqueue": queue_probe.take},
        )
        unsubscribe = async_dispatcher_connect(
            hass, job_module.signal_adaptation(entry.entry_id), split.changed
        )
        tracer = StallTracer.started(hass, args.trace_stalls)
        pauses.install()
        probe.start()
        hass.async_create_background_task(queue_probe.run(), "bench run-queue probe")
        await asyncio.sleep(args.warmup_seconds)
        split.close(BEFORE_JOB[1])
        await asyncio.sleep(args.baseline_seconds)
        data: dict[str, Any] = {"context": ADAPT_CONTEXT, "mode": "augment", "max_prompts": args.max_prompts}
        if args.epochs is not None:
            data["epochs"] = args.epochs
        split.job_started = time.monotonic()
        await hass.services.async_call("habitus", "adapt", data, blocking=True)
        while manager.running:
            await asyncio.sleep(0.2)
        split.close()
        unsubscribe()
        await probe.async_stop()
        outcome = dict(manager.last_outcome)
    finally:
        pauses.remove()
        if tracer is not None:
            await tracer.async_stop(hass, Path(f"{args.json or 'looplag'}.stalls.txt"))
        await hass.async_stop()
    return {
        "signals": [(round(t - split.job_started, 2), *rest) for t, *rest in split.log],
        "phases": summarise_phases(split.phases, split.job_started, looplag.summarise),
        "outcome": outcome,
        "service_calls": counter[0],
        "load_average_1m_start": load_start,
    }


def print_adapt(doc: dict[str, Any]) -> None:
    """One line per phase, then the job's outcome."""
    print(f"load average (1 min) at the start: {doc['load_average_1m_start']:.2f}")
    for name, p in doc["phases"].items():
        print(
            f"{name:<13} {p['seconds']:>6.1f} s  {p['samples']:>6} samples  p50 {p['p50_ms']:6.2f} ms  "
            f"p99 {p['p99_ms']:6.2f} ms  max {p['max_ms']:7.2f} ms  load {p['load_average_1m_end']:.2f}  "
            f"gc {p['gc_pauses']} (full {p['gc_full_collections']}, max {p['gc_max_ms']} ms)  "
            f"in-process p99 {p['in_process_p99_ms']:.2f} ms (run-queue share {p['runqueue_share']:.0%})"
            + (f"  (max ended {p['max_at_s']} s into the job)" if p.get("max_at_s") is not None else "")
        )
    outcome = doc["outcome"]
    synthesis = outcome.get("synthesis") or {}
    print(
        f"job: deployed={outcome.get('deployed')} ({outcome.get('reason')}); synthesis kept "
        f"{synthesis.get('sequences_kept')} of {synthesis.get('sequences_generated')} "
        f"at {synthesis.get('tokens_per_second')} tokens/s; trained on {outcome.get('train_sequences')}"
    )
