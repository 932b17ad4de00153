"""``habitus bench latency``: per-behaviour scoring time (ONNX Runtime vs numpy) and training time.

* **Scoring**: a live hub re-scores the open sequence after every behaviour. For each prefix of
  ``--sequences`` test sequences, TransAE scores the prefix and SASRec ranks the next action (top 10),
  once with ONNX Runtime (1 intra-op thread, spinning off) and once with the numpy executor, timed
  call by call (encoding included); p50 and p99 in milliseconds, and the numpy/ORT ratio, all from one
  run, side by side.
* **Training**: both models with their product defaults on ``--train-size`` sequences (the dataset's
  training files, cycled if needed) for ``--epochs`` epochs each (early stopping off), wall-clock.

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
from pathlib import Path
from typing import Any

import numpy as np

from habitus_engine.datasets import RawSequence, load_vocabulary, read_sequences
from habitus_engine.models import FieldSizes, SASRec, SASRecConfig, TransAE, TransAEConfig
from habitus_engine.models.base import Backend


def training_sequences(dataset: Path, size: int) -> list[RawSequence]:
    """``size`` training sequences: every ``paper/*/split_trn`` and ``raw/trn`` file, cycled."""
    files = sorted(dataset.glob("paper/*/split_trn.jsonl")) + sorted(dataset.glob("raw/trn.jsonl"))
    pool = [s.seq for path in files for s in read_sequences(path)]
    if not pool:
        raise FileNotFoundError(f"{dataset}: no paper/*/split_trn.jsonl or raw/trn.jsonl")
    return [pool[i % len(pool)] for i in range(size)]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000.0
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "calls": len(ms)}


def time_calls(
    call: Callable[[RawSequence], object], prefixes: list[RawSequence], warmup: int = 20
) -> dict[str, float]:
    """Time ``call`` once per prefix after a warm-up; returns p50/p99 in ms."""
    for prefix in prefixes[:warmup]:
        call(prefix)
    samples = []
    for prefix in prefixes:
        started = time.perf_counter()
        call(prefix)
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def scoring_latency(ae: TransAE, rec: SASRec, tests: list[RawSequence]) -> dict[str, Any]:
    """Per-behaviour scoring p50/p99 for both models and both executors."""
    prefixes = [seq[: i + 1] for seq in tests for i in range(len(seq))]
    out: dict[str, Any] = {"prefixes": len(prefixes)}
    backends: tuple[Backend, ...] = ("onnxruntime", "numpy")
    for backend in backends:
        out[f"transae_{backend}"] = time_calls(lambda p, b=backend: ae.score([p], backend=b), prefixes)
        out[f"sasrec_{backend}"] = time_calls(lambda p, b=backend: rec.recommend(p, 10, backend=b), prefixes)
    for model in ("transae", "sasrec"):
        out[f"{model}_numpy_over_ort_p99"] = (
            out[f"{model}_numpy"]["p99_ms"] / out[f"{model}_onnxruntime"]["p99_ms"]
        )
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
    ae.fit(sequences)
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


def _handle(args: argparse.Namespace) -> int:
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
    latency = scoring_latency(ae, rec, tests[: args.sequences])
    for key, value in latency.items():
        if isinstance(value, dict):
            p50, p99, calls = value["p50_ms"], value["p99_ms"], value["calls"]
            print(f"{key:<22} p50 {p50:.3f} ms  p99 {p99:.3f} ms  ({calls} calls)")
    print(
        f"numpy / ORT p99: TransAE {latency['transae_numpy_over_ort_p99']:.2f}x, "
        f"SASRec {latency['sasrec_numpy_over_ort_p99']:.2f}x"
    )
    if args.json:
        doc = {
            "training": timing,
            "scoring": latency,
            "dataset": str(args.dataset),
            "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return 0
