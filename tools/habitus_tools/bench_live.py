"""``habitus bench live``: Habitus's per-event cost on HA's event loop, live scoring included.

Starts a real Home Assistant in this process (``bootstrap.async_setup_hass`` on a temporary config dir
with ``recorder`` and ``--switches`` ``input_boolean`` entities), adds a Habitus entry through the config
flow (the integration is linked into the config dir's ``custom_components``), waits for the base models,
then toggles the switches ``--events`` times as a user (service calls, ``--event-rate`` per second).
Measured on the loop, per live behaviour:

* **learn**: ``HabitusLearner.learn`` (TSS, store bookkeeping, and the observers: live scoring's
  ``LiveScorer.observe`` and the context monitor), the part of Habitus's event handling that grows
  with the live side;
* **learn_cpu** / **apply_cpu**: the same by the loop thread's CPU time (``time.thread_time``): what
  the code costs, without the time the thread was preempted or waited for the GIL;
* **observers**: the live side alone (the two observers); **scorer_observe**: ``LiveScorer.observe``;
* **apply**: per scoring job, the scorer's done callback on the loop (alerts; it asks for the reading
  entities' refresh), and **apply_per_event** (its total over the behaviours);
* **refresh**: each refresh of the reading entities (four entity writes; throttled to one per
  ``READING_REFRESH_SECONDS``, at once when the anomaly state flips), made by a timer or inside
  **apply** (``refresh_in_apply`` of them: when the last refresh is older than the interval);
* **loop_per_event_ms**: learn + apply + the timers' refreshes summed over the run, per behaviour;
* **loop lag**: a ``LoopLagProbe`` (10 ms sleeps) over the whole event phase, so the time HA's loop
  waits while the scoring thread holds the GIL is counted too (compare with ``--without-live``), with
  when its worst stall ended and Python's garbage collections meanwhile (``gc``: pauses >= 1 ms, and
  when each full collection ended). HA's first full collection after start-up (a walk of its whole
  heap, ~0.2 s on a 2-core box, which plain HA makes too) falls in the events unless ``--collect-first``
  makes it just before them; ``--trace-stalls MS`` writes every thread's stack when the loop is late.

Scoring itself runs in the scorer's own thread, one job for everything pending
(``scoring_batch.score_snapshots``); the number of jobs, snapshots scored and the thread's time per
job (**scoring_job**) are reported. **Memory**: HA's resident set size just before the entry is added
and after the run (``rss_added_mb``: what Habitus adds, the LLM not loaded). Target (issue 5):
per-event overhead <= 1 ms p99, added memory <= 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .bench_hass import GcPauses, StallTracer, add_entry, add_trace_stalls, config_dir, gc_summary, setup_hass

SWITCH_PREFIX = "bench_"


def _timed(
    func: Callable[..., Any], samples: list[float], cpu: list[float] | None = None
) -> Callable[..., Any]:
    """``func`` timed by wall clock into ``samples`` and, if given, by the thread's CPU time into ``cpu``
    (which leaves out the time the loop's thread was preempted or waited for the GIL)."""

    def wrapper(*args: Any) -> Any:
        start, start_cpu = time.perf_counter(), time.thread_time()
        try:
            return func(*args)
        finally:
            samples.append(time.perf_counter() - start)
            if cpu is not None:
                cpu.append(time.thread_time() - start_cpu)

    return wrapper


def _stats(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples, dtype=np.float64) * 1000.0
    if ms.size == 0:
        return {"n": 0}
    return {
        "n": int(ms.size),
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "max_ms": round(float(ms.max()), 4),
    }


def _rss_mb() -> float:
    """This process's resident set size (Linux ``/proc/self/status``), in MB."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _time_scoring(
    scorer: Any, jobs: list[float], callbacks: list[list[float]], refreshes: list[list[float]]
) -> None:
    """Time the scorer's jobs in its thread (``jobs``), its done callback on the loop (``callbacks``)
    (wall clock, CPU) and the reading entities' refreshes: ``refreshes[0]`` all, ``refreshes[1]`` those
    made inside the done callback (already counted in its time). Also works on the executor-based
    scorer before the scoring thread (no throttled refresh there: every job rewrote the entities)."""
    module = sys.modules[type(scorer).__module__]
    setattr(module, "score_snapshots", _timed(module.score_snapshots, jobs))  # noqa: B010 (looked up per job)
    done = _timed(scorer._done, *callbacks)
    applying = [False]

    def in_apply(*args: Any) -> Any:
        applying[0] = True
        try:
            return done(*args)
        finally:
            applying[0] = False

    scorer._done = in_apply  # the job's task looks it up
    reading = getattr(scorer, "_reading", None)  # the throttled signal_reading (learner.ThrottledSignal)
    if reading is None:
        return
    send_now = reading._send_now

    def refresh() -> None:
        start = time.perf_counter()
        try:
            send_now()
        finally:
            seconds = time.perf_counter() - start
            refreshes[0].append(seconds)
            if applying[0]:
                refreshes[1].append(seconds)

    reading._send_now = refresh  # looked up per send


def _probe_class(scorer: Any) -> Any:
    """``LoopLagProbe`` from the integration HA loaded (the config dir's ``custom_components``)."""
    package = type(scorer).__module__.rsplit(".", 1)[0]
    return sys.modules[f"{package}.looplag"].LoopLagProbe


async def _events(hass: Any, args: argparse.Namespace, probe: Any, pauses: GcPauses) -> dict[str, Any]:
    """Toggle the switches as a user while the probe, the GC pauses and (if asked) the tracer watch;
    the loop lag over the phase, with when its worst stall and each full collection ended."""
    from homeassistant.core import Context  # noqa: PLC0415

    person = await hass.auth.async_create_user("Bench", group_ids=["system-admin"])
    user = Context(user_id=person.id)
    if args.collect_first:
        gc.collect()  # HA's start-up debt of promoted objects paid here, not during the events
    tracer = StallTracer.started(hass, args.trace_stalls)
    pauses.install()
    started = time.monotonic()
    probe.start()
    try:
        for i in range(args.events):
            entity = f"input_boolean.{SWITCH_PREFIX}{i % args.switches}"
            await hass.services.async_call("input_boolean", "toggle", {"entity_id": entity}, context=user)
            await asyncio.sleep(1.0 / args.event_rate)
        await hass.async_block_till_done()
        await asyncio.sleep(0.5)  # the last scoring job returns
        await probe.async_stop()  # (a background task: stop it before waiting for those)
    finally:
        pauses.remove()
        if tracer is not None:
            await tracer.async_stop(hass, Path(f"{args.json or 'live'}.stalls.txt"))
    worst_ms, worst_at = probe.worst()
    lag: dict[str, Any] = probe.stats().as_dict()
    return lag | {
        "max_at_s": round(worst_at - started, 2) if worst_ms > 0 else None,
        "gc": gc_summary(pauses.take(), started),
    }


async def _measure_in(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    hass = await setup_hass(path)
    learn: list[float] = []
    observers: list[float] = []
    apply: list[float] = []
    learn_cpu: list[float] = []
    apply_cpu: list[float] = []
    refresh: list[float] = []
    refresh_in_apply: list[float] = []
    job_seconds: list[float] = []
    try:
        await hass.async_start()
        await hass.async_block_till_done()
        rss_before = _rss_mb()
        entry = await add_entry(hass)
        runtime = entry.runtime_data
        runtime.learner.learn = _timed(runtime.learner.learn, learn, learn_cpu)
        live_observers = [] if args.without_live else runtime.learner.observers
        runtime.learner.observers[:] = [_timed(o, observers) for o in live_observers]
        scoring_only = runtime.learner.observers[:1]  # LiveScorer.observe
        scorer_samples: list[float] = []
        if scoring_only:
            runtime.learner.observers[0] = _timed(scoring_only[0], scorer_samples)
        scorer = runtime.live.scorer
        _time_scoring(scorer, job_seconds, [apply, apply_cpu], [refresh, refresh_in_apply])
        probe = _probe_class(scorer)(hass, interval=0.01, capacity=1_000_000)
        loop_lag = await _events(hass, args, probe, GcPauses())
        await hass.async_block_till_done(wait_background_tasks=True)
        rss_after = _rss_mb()
        scored, jobs = scorer.scored, scorer.jobs
        backend = scorer.bundle.served_by if scorer.bundle else "none"
    finally:
        await hass.async_stop()
    return {
        "learn": _stats(learn),
        "learn_cpu": _stats(learn_cpu),
        "observers": _stats(observers),
        "scorer_observe": _stats(scorer_samples),
        "apply": _stats(apply),
        "apply_cpu": _stats(apply_cpu),
        "apply_per_event_ms": round(sum(apply) * 1000.0 / max(1, len(learn)), 4),
        "refresh": _stats(refresh),
        "refresh_in_apply": len(refresh_in_apply),
        "loop_per_event_ms": round(
            (sum(learn) + sum(apply) + sum(refresh) - sum(refresh_in_apply)) * 1000.0 / max(1, len(learn)), 4
        ),
        "scoring_job": _stats(job_seconds),
        "loop_lag": loop_lag,
        "collect_first": args.collect_first,
        "scored": scored,
        "scoring_jobs": jobs,
        "rss_before_entry_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
        "rss_added_mb": round(rss_after - rss_before, 1),
        "backend": backend,
        "events": args.events,
        "event_rate": args.event_rate,
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, load {os.getloadavg()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    async with config_dir(args.switches, SWITCH_PREFIX, integration=True) as path:
        doc = await _measure_in(args, path)
        if args.json:  # in the executor: HA's loop guard is still installed in this thread
            text = json.dumps(doc, indent=1) + "\n"
            await loop.run_in_executor(None, lambda: args.json.write_text(text, encoding="utf-8"))
        return doc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench live``."""
    parser = subparsers.add_parser(
        "live",
        help="Habitus's per-event cost on HA's loop with live scoring",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--event-rate", type=float, default=50.0, help="user toggles per second")
    parser.add_argument("--switches", type=int, default=8)
    parser.add_argument("--without-live", action="store_true", help="baseline: no live observers")
    parser.add_argument(
        "--collect-first",
        action="store_true",
        help="one full garbage collection just before the events (HA's first one after start-up)",
    )
    add_trace_stalls(parser)
    parser.add_argument("--json", type=Path)
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    doc = asyncio.run(_measure(args))
    for name in (
        "learn",
        "learn_cpu",
        "observers",
        "scorer_observe",
        "apply",
        "apply_cpu",
        "refresh",
        "scoring_job",
    ):
        s = doc[name]
        if not s["n"]:
            print(f"{name:<10} no samples")
            continue
        print(f"{name:<14} n={s['n']:>6}  p50 {s['p50_ms']:.4f} ms  p99 {s['p99_ms']:.4f} ms", end="")
        print(f"  max {s['max_ms']:.3f} ms")
    lag = doc["loop_lag"]
    print(
        f"apply per event {doc['apply_per_event_ms']:.4f} ms; all per event {doc['loop_per_event_ms']:.4f} ms"
    )
    print(f"loop lag p50 {lag['p50_ms']:.2f} ms", end="")
    print(f"  p99 {lag['p99_ms']:.2f} ms  max {lag['max_ms']:.2f} ms ({lag['samples']} samples)", end="")
    print(f", max ended {lag['max_at_s']} s into the events")
    collections = lag["gc"]
    print(
        f"gc: {collections['pauses']} pauses >= 1 ms (longest young {collections['longest_young_ms']} ms);",
        end="",
    )
    print(f" {collections['full_collections']} full, (s into the events, ms): {collections['full_at_s']}")
    print(f"scored {doc['scored']} snapshots in {doc['scoring_jobs']} scoring jobs ({doc['backend']})")
    print(f"RSS {doc['rss_before_entry_mb']} MB before the entry, {doc['rss_after_mb']} MB after", end="")
    print(f" (+{doc['rss_added_mb']} MB); {doc['machine']}")
    return 0 if doc["learn"].get("p99_ms", 0.0) <= 1.0 else 1
