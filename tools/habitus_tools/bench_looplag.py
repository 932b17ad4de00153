"""``habitus bench looplag``: HA's event-loop lag while a full training job runs in the Habitus worker.

Starts a real Home Assistant in this process the way ``hass`` does (``bootstrap.async_setup_hass`` on
a temporary config dir with ``recorder`` (SQLite) and ``--event-rate`` ``input_boolean`` toggles per
second through service calls, so the loop, state machine and recorder have a household's work to do),
then measures with ``custom_components.habitus.looplag.LoopLagProbe`` (10 ms sleeps):

1. **baseline**: ``--baseline-seconds`` of that load alone;
2. **training**: the same load while ``HabitusWorker`` runs ``train_models`` (TransAE + SASRec with
   their product defaults, early stopping on) on ``--train-size`` sequences of the dataset's training
   files, in the spawned worker process (nice +10).

``--job adapt`` measures a full adaptation job instead, per phase (``looplag_adapt.py``): a Habitus
entry added through the config flow, the dataset's sequences as its history, a warm-up and a baseline,
then the real ``habitus.adapt`` job (synthesis with the packaged Gemma 3 270M, training, evaluation).

Target (issue 5): loop lag p99 <= 20 ms while a full adaptation job runs. Prints p50/p99/max per phase;
``--json FILE`` writes them with the machine and date.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .bench_hass import add_trace_stalls, config_dir, setup_hass

SWITCHES = 8
SWITCH_PREFIX = "habitus_bench_"
PROBE_INTERVAL = 0.01
PROBE_CAPACITY = 1_000_000  # every sample of a long job (the probe's default keeps the last 10 min)


async def _household(hass: Any, rate: float, counter: list[int]) -> None:
    """Toggle the bench's input_booleans ``rate`` times per second (service call -> state -> recorder)."""
    i = 0
    while True:
        entity = f"input_boolean.{SWITCH_PREFIX}{i % SWITCHES}"
        await hass.services.async_call("input_boolean", "toggle", {"entity_id": entity}, blocking=True)
        counter[0] += 1
        i += 1
        await asyncio.sleep(1.0 / rate)


def _training_params(dataset: Path, size: int) -> dict[str, Any]:
    from habitus_engine.datasets import load_vocabulary  # noqa: PLC0415

    from .bench_latency import training_sequences  # noqa: PLC0415

    vocab = load_vocabulary(dataset)
    sequences = training_sequences(dataset, size)
    return {
        "sequences": [[list(b) for b in seq] for seq in sequences],
        "n_devices": len(vocab.devices),
        "n_actions": len(vocab.actions),
    }


async def _phase(probe: Any, counter: list[int], work: Any) -> dict[str, Any]:
    """Run ``work`` (a coroutine) and return the probe's stats over exactly that time."""
    probe.reset()
    events_before, started = counter[0], time.monotonic()
    result = await work
    seconds = time.monotonic() - started
    stats = probe.stats().as_dict()
    stats["max_at_s"] = round(probe.worst()[1] - started, 1)  # when in the phase the worst stall ended
    return {
        **stats,
        "seconds": round(seconds, 1),
        "service_calls": counter[0] - events_before,
        "result": result,
    }


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    """Set up HA in a temporary config dir, measure the phases, stop HA, remove the dir (off the loop)."""
    async with config_dir(SWITCHES, SWITCH_PREFIX, integration=args.job == "adapt") as path:
        if args.job == "adapt":
            from .looplag_adapt import measure_adapt  # noqa: PLC0415

            return await measure_adapt(args, path, _household, (PROBE_INTERVAL, PROBE_CAPACITY))
        return await _measure_in(args, path)


def _import_integration_path() -> None:
    """Make ``custom_components.habitus`` importable from the repository (the console script lacks it)."""
    from .demo.paths import REPO_ROOT  # noqa: PLC0415

    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


async def _measure_in(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    from custom_components.habitus.looplag import LoopLagProbe  # noqa: PLC0415
    from custom_components.habitus.worker import HabitusWorker  # noqa: PLC0415

    hass = await setup_hass(path)
    params = await hass.async_add_executor_job(_training_params, args.dataset, args.train_size)
    worker, probe, counter = (
        HabitusWorker(hass),
        LoopLagProbe(hass, interval=PROBE_INTERVAL, capacity=PROBE_CAPACITY),
        [0],
    )
    try:
        await hass.async_start()
        household = hass.async_create_background_task(
            _household(hass, args.event_rate, counter), "bench load"
        )
        await worker.run("describe", {})  # the worker is up before either phase
        probe.start()
        baseline = await _phase(probe, counter, asyncio.sleep(args.baseline_seconds))
        training = await _phase(probe, counter, worker.run("train_models", params))
        household.cancel()
    finally:
        await probe.async_stop()
        await worker.async_stop()
        await hass.async_stop()
    return {"baseline": baseline, "training": training}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench looplag``."""
    parser = subparsers.add_parser(
        "looplag",
        help="HA event-loop lag while the worker trains the models (or a full adaptation job runs)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", required=True, type=Path, help="dataset directory (e.g. .../smartthings/fr)"
    )
    parser.add_argument("--train-size", type=int, default=2000, help="training sequences (cycled if needed)")
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument(
        "--event-rate", type=float, default=20.0, help="service calls (state changes) per second"
    )
    parser.add_argument(
        "--job",
        choices=("train", "adapt"),
        default="train",
        help="train: the worker's train_models job; adapt: a full habitus.adapt job in an entry",
    )
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=60.0,
        help="--job adapt: HA's start-up work (reported apart) before the baseline",
    )
    parser.add_argument("--max-prompts", type=int, default=4, help="--job adapt: synthesis prompts")
    parser.add_argument(
        "--epochs", type=int, default=None, help="--job adapt: epochs (default: the product's budget)"
    )
    add_trace_stalls(parser, "--job adapt: ")
    parser.add_argument("--json", type=Path)
    parser.set_defaults(func=_handle)


def _print_phase(name: str, phase: dict[str, Any]) -> None:
    print(
        f"{name:<9} {phase['seconds']:>6.1f} s  {phase['samples']:>5} samples  "
        f"p50 {phase['p50_ms']:6.2f} ms  p99 {phase['p99_ms']:6.2f} ms  max {phase['max_ms']:7.2f} ms  "
        f"at {phase['max_at_s']:.1f} s ({phase['service_calls']} service calls)"
    )


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1m_after": os.getloadavg()[0],  # other work on the machine during the run
        "date": datetime.now(UTC).isoformat(),
    }


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """From a thread: HA's blocking-call guard still watches the main thread after the run."""
    text = json.dumps(doc, indent=2, default=str) + "\n"
    writer = threading.Thread(target=path.write_text, args=(text,), kwargs={"encoding": "utf-8"})
    writer.start()
    writer.join()


def _handle(args: argparse.Namespace) -> int:
    _import_integration_path()
    doc = asyncio.run(_measure(args))
    settings: dict[str, Any] = {
        "job": args.job,
        "dataset": str(args.dataset),
        "train_size": args.train_size,
        "event_rate": args.event_rate,
        "probe_interval_s": PROBE_INTERVAL,
    }
    if args.job == "adapt":
        from .looplag_adapt import print_adapt  # noqa: PLC0415

        print_adapt(doc)
        settings |= {
            "warmup_seconds": args.warmup_seconds,
            "baseline_seconds": args.baseline_seconds,
            "max_prompts": args.max_prompts,
            "epochs": args.epochs,
        }
    else:
        training = doc["training"].pop("result")
        doc["baseline"].pop("result")
        _print_phase("baseline", doc["baseline"])
        _print_phase("training", doc["training"])
        print(
            f"training job: TransAE {training['transae']['epochs_run']} epochs, "
            f"SASRec {training['sasrec']['epochs_run']} epochs on {training['n_sequences']} sequences"
        )
        doc["job"] = training
    doc["settings"] = settings
    doc["machine"] = _machine()
    print(f"machine load average (1 min) at the end: {doc['machine']['load_average_1m_after']:.2f}")
    if args.json:
        _write_json(args.json, doc)
    return 0
