"""``habitus bench latency``: per-behaviour scoring time (ONNX Runtime vs numpy) and training time.

* **Scoring**: a live hub re-scores the open sequence after every behaviour. For each prefix of
  ``--sequences`` test sequences, TransAE scores the prefix and SASRec ranks the next action (top 10),
  once with ONNX Runtime (1 intra-op thread, spinning off) and once with the numpy executor, timed
  call by call (encoding included); p50 and p99 in milliseconds, and the numpy/ORT ratio, all from one
  run, side by side. Each call is timed twice: wall clock (what a caller waits) and the calling
  thread's CPU time (``time.thread_time``: the work the call itself does), with the number of calls
  that waited > 1 ms beyond their CPU time and the involuntary context switches inside timed calls
  (Linux). On a shared box the wall-clock tail is mostly time slices lost to other processes; the CPU
  time says whether the per-call path itself has a tail.
* **Training**: both models with their product defaults on ``--train-size`` sequences (the dataset's
  training files, cycled if needed) for ``--epochs`` epochs each (early stopping off), wall-clock.
  TransAE trains on what the hub's ``train_models`` gives it (``TRANSAE_TRAIN_ON``: the sequences'
  live windows, ``transae_rows``, expanded inside the timed span).

Targets (issue 3): scoring p99 <= 1 ms with ORT, numpy <= 3x ORT; training both on 10k sequences
<= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from habitus_engine.datasets import RawSequence, load_vocabulary, read_sequences
from habitus_engine.jobs import transae_rows
from habitus_engine.models import FieldSizes, SASRec, SASRecConfig, TransAE, TransAEConfig
from habitus_engine.models.base import Backend


def training_sequences(dataset: Path, size: int) -> list[RawSequence]:
    """``size`` training sequences: every ``paper/*/split_trn`` and ``raw/trn`` file, cycled."""
    files = sorted(dataset.glob("paper/*/split_trn.jsonl")) + sorted(dataset.glob("raw/trn.jsonl"))
    pool = [s.seq for path in files for s in read_sequences(path)]
    if not pool:
        raise FileNotFoundError(f"{dataset}: no paper/*/split_trn.jsonl or raw/trn.jsonl")
    return [pool[i % len(pool)] for i in range(size)]


def _percentiles(wall: list[float], cpu: list[float], preemptions: int | None) -> dict[str, float]:
    wall_ms, cpu_ms = np.asarray(wall) * 1000.0, np.asarray(cpu) * 1000.0
    out = {
        "p50_ms": float(np.percentile(wall_ms, 50)),
        "p99_ms": float(np.percentile(wall_ms, 99)),
        "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
        "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
        "waited_over_1ms": int(np.sum(wall_ms - cpu_ms > 1.0)),
        "calls": len(wall_ms),
    }
    if preemptions is not None:
        out["involuntary_switches"] = preemptions
    return out


def _involuntary_switches() -> int | None:
    """The calling thread's involuntary context switches so far (Linux), else None."""
    try:
        import resource  # noqa: PLC0415  (Unix only)

        return int(resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw)
    except (ImportError, AttributeError, OSError):
        return None


def time_calls(
    call: Callable[[RawSequence], object], prefixes: list[RawSequence], warmup: int = 20
) -> dict[str, float]:
    """Time ``call`` once per prefix after a warm-up; returns wall-clock and thread-CPU p50/p99 in ms,
    the calls that waited more than 1 ms beyond their CPU time, and the involuntary context switches
    inside timed calls (Linux only)."""
    for prefix in prefixes[:warmup]:
        call(prefix)
    wall, cpu = [], []
    switches: int | None = 0
    for prefix in prefixes:
        before = _involuntary_switches()
        started, started_cpu = time.perf_counter(), time.thread_time()
        call(prefix)
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
        after = _involuntary_switches()
        switches = None if switches is None or before is None or after is None else switches + after - before
    return _percentiles(wall, cpu, switches)


def _score(ae: TransAE, backend: Backend, prefix: RawSequence) -> Any:
    return ae.score([prefix], backend=backend)


def _recommend(rec: SASRec, backend: Backend, prefix: RawSequence) -> Any:
    return rec.recommend(prefix, 10, backend=backend)


def scoring_latency(ae: TransAE, rec: SASRec, tests: list[RawSequence]) -> dict[str, Any]:
    """Per-behaviour scoring p50/p99 for both models and both executors."""
    prefixes = [seq[: i + 1] for seq in tests for i in range(len(seq))]
    out: dict[str, Any] = {"prefixes": len(prefixes)}
    backends: tuple[Backend, ...] = ("onnxruntime", "numpy")
    for backend in backends:
        out[f"transae_{backend}"] = time_calls(partial(_score, ae, backend), prefixes)
        out[f"sasrec_{backend}"] = time_calls(partial(_recommend, rec, backend), prefixes)
    for model in ("transae", "sasrec"):
        numpy, ort = out[f"{model}_numpy"], out[f"{model}_onnxruntime"]
        out[f"{model}_numpy_over_ort_p99"] = numpy["p99_ms"] / ort["p99_ms"]
        out[f"{model}_numpy_over_ort_cpu_p99"] = numpy["cpu_p99_ms"] / ort["cpu_p99_ms"]
    return out


def training_time(sizes: FieldSizes, sequences: list[RawSequence], epochs: int) -> dict[str, Any]:
    """Wall-clock training of both product models for ``epochs`` epochs (no early stop, no time
    budget); ``epochs=0``: the product defaults as shipped (early stopping and ``max_seconds``)."""
    ae_cfg = TransAEConfig()
    rec_cfg = SASRecConfig()
    if epochs > 0:
        ae_cfg = replace(
            ae_cfg, train=replace(ae_cfg.train, epochs=epochs, patience=epochs + 1, max_seconds=None)
        )
        rec_cfg = replace(
            rec_cfg, train=replace(rec_cfg.train, epochs=epochs, patience=epochs + 1, max_seconds=None)
        )
    ae = TransAE(sizes, ae_cfg)
    rec = SASRec(sizes, rec_cfg)
    started = time.monotonic()
    ae.fit(*transae_rows(ae, sequences))
    ae_seconds = time.monotonic() - started
    started = time.monotonic()
    rec.fit(sequences)
    rec_seconds = time.monotonic() - started
    return {
        "sequences": len(sequences),
        "epochs": epochs,
        "transae_s": ae_seconds,
        "sasrec_s": rec_seconds,
        "both_s": ae_seconds + rec_seconds,
        "epochs_run": {
            "transae": len(ae.history_.validation_loss) if ae.history_ else 0,
            "sasrec": len(rec.history_.validation_loss) if rec.history_ else 0,
        },
        "out_of_time": {
            "transae": bool(ae.history_ and ae.history_.out_of_time),
            "sasrec": bool(rec.history_ and rec.history_.out_of_time),
        },
        "max_seconds": {"transae": ae_cfg.train.max_seconds, "sasrec": rec_cfg.train.max_seconds},
        "models": (ae, rec),
    }


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench latency``."""
    parser = subparsers.add_parser(
        "latency",
        help="per-behaviour scoring (ORT vs numpy) and training time",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", required=True, type=Path, help="dataset directory (e.g. .../smartthings/sp)"
    )
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument(
        "--epochs",
        type=int,
        default=5,
        help="fixed epochs per model; 0 = the product defaults (early stopping, time budget)",
    )
    parser.add_argument("--sequences", type=int, default=300, help="test sequences whose prefixes are scored")
    parser.add_argument("--json", type=Path)
    parser.set_defaults(func=_handle)


def _loadavg() -> str | None:
    """``/proc/loadavg``'s 1/5/15-minute load averages, where it exists."""
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    except OSError:
        return None


def _handle(args: argparse.Namespace) -> int:
    load_before = _loadavg()
    vocab = load_vocabulary(args.dataset)
    sizes = FieldSizes(len(vocab.devices), len(vocab.actions))
    train = training_sequences(args.dataset, args.train_size)
    timing = training_time(sizes, train, args.epochs)
    ae, rec = timing.pop("models")
    epochs = f"{args.epochs} epochs each" if args.epochs > 0 else f"product defaults {timing['epochs_run']}"
    print(
        f"training on {timing['sequences']} sequences, {epochs}: TransAE "
        f"{timing['transae_s']:.1f} s, SASRec {timing['sasrec_s']:.1f} s, both {timing['both_s']:.1f} s",
        flush=True,
    )
    tests = [
        s.seq for path in sorted(args.dataset.glob("paper/*/split_test.jsonl")) for s in read_sequences(path)
    ]
    load_scoring = _loadavg()
    latency = scoring_latency(ae, rec, tests[: args.sequences])
    load_after = _loadavg()
    for key, value in latency.items():
        if isinstance(value, dict):
            p50, p99, calls = value["p50_ms"], value["p99_ms"], value["calls"]
            print(
                f"{key:<22} p50 {p50:.3f} ms  p99 {p99:.3f} ms  ({calls} calls); CPU p50 "
                f"{value['cpu_p50_ms']:.3f} ms  p99 {value['cpu_p99_ms']:.3f} ms; waited > 1 ms: "
                f"{value['waited_over_1ms']}, preempted: {value.get('involuntary_switches', '?')}"
            )
    print(
        f"numpy / ORT p99: TransAE {latency['transae_numpy_over_ort_p99']:.2f}x, "
        f"SASRec {latency['sasrec_numpy_over_ort_p99']:.2f}x (CPU time: "
        f"{latency['transae_numpy_over_ort_cpu_p99']:.2f}x, {latency['sasrec_numpy_over_ort_cpu_p99']:.2f}x)"
    )
    print(f"load average (1/5/15 min): start {load_before}, scoring {load_scoring}, end {load_after}")
    if args.json:
        doc = {
            "training": timing,
            "scoring": latency,
            "dataset": str(args.dataset),
            "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "loadavg": {"start": load_before, "scoring_start": load_scoring, "end": load_after},
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return 0
