"""``habitus bench threshold``: a home-trained TransAE's false alarms counted as live scoring raises them.

Live scoring reads the open sequence after each of its behaviours and raises a sequence's anomaly at
the first reading above the threshold. TransAE's own rule (SmartGen's ``np.percentile(val_scores, p)``,
``TransAE.fit``) takes the percentile of whole validation sequences, so it bounds the share of normal
sequences whose *whole* score is above it, not the share that ever alert. The hub's ``train_models``
job now resets the threshold to the percentile of each held-out validation sequence's highest prefix
score (``engine/calibration.py``: ``max_prefix_scores``).

For each home (``--homes``) this trains TransAE exactly as the hub's worker does (``train_models`` on
the home's raw ``trn``, run in-process) and reports, at the fit's whole-sequence threshold (recomputed
on the same held-out rows) and at the served one: the shares of the home's normal sequences flagged
(whole sequence, any prefix) and of ``habitus bench denoise``'s injected anomalies flagged (any
prefix). Normal: de-duplicated raw ``vld``, or ``--normal held-out`` (a seeded 20 % of ``trn`` the model
never sees). ``--train-on`` (one or more of ``whole``, ``live-windows``: ``train_models``'
``transae_train_on``) trains TransAE on whole stored sequences or on the readings live scoring makes
of them; several values are run in turn for each home and seed, so they share the load. Nothing else
is tuned; no paper test set is read. Record runs in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from habitus_engine.calibration import max_prefix_scores
from habitus_engine.datasets import RawSequence
from habitus_engine.jobs import TRANSAE_TRAIN_ON, TRANSAE_TRAIN_ONS, TransAETrainOn, run_job
from habitus_engine.models import TransAE
from habitus_engine.models.training import split_validation

from .bench_denoise import KINDS, load_home


def _prefix_max(model: TransAE, sequences: Sequence[RawSequence]) -> np.ndarray:
    n = model.config.max_behaviours  # a home's raw sequences: every behaviour is in the vocabulary
    return max_prefix_scores(lambda reads: model.score(reads, backend="numpy"), sequences, n, n)


def measure(
    home_dir: Path,
    normal_from: str,
    epochs: int | None,
    seed: int,
    limit: int | None,
    *,
    train_on: TransAETrainOn = TRANSAE_TRAIN_ON,
) -> dict[str, Any]:
    """Train as the hub does, then flag shares at the whole-sequence and the served threshold."""
    home = load_home(home_dir, limit, normal_from)
    params: dict[str, Any] = {
        "sequences": [[list(b) for b in s] for s in home.train],
        "n_devices": home.sizes.n_devices,
        "n_actions": home.sizes.n_actions,
        "seed": seed,
        "transae_train_on": train_on,
    }
    if epochs is not None:
        params["epochs"] = epochs
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = run_job("train_models", {**params, "output_dir": out}, lambda f, m: None, lambda: False)
        seconds = time.perf_counter() - started
        model = TransAE.load(Path(out) / "transae.npz")
    train = model.config.train
    _, val_idx = split_validation(len(home.train), train.validation_fraction, train.seed)
    validation = [home.train[int(i)] for i in val_idx]
    percentile = model.config.threshold_percentile
    thresholds = {
        "whole": float(np.percentile(model.score(validation, backend="numpy"), percentile)),  # fit's rule
        "served": float(model.threshold_ or 0.0),  # the job's: prefix maxima
    }
    sets = {"normal": home.normal, **{kind: home.anomalies[kind] for kind in KINDS}}
    whole = {name: model.score(seqs, backend="numpy") for name, seqs in sets.items()}
    highest = {name: _prefix_max(model, seqs) for name, seqs in sets.items()}
    out_doc: dict[str, Any] = {
        "train_sequences": len(home.train),
        "validation_sequences": len(validation),
        "normal_sequences": len(home.normal),
        "train_on": train_on,
        "transae_train_rows": result["transae"]["n_train_rows"],
        "epochs_run": result["transae"]["epochs_run"],
        "train_seconds": round(seconds, 1),
    }
    for rule, threshold in thresholds.items():
        out_doc[rule] = {
            "threshold": threshold,
            "validation_flagged_any_prefix": float((_prefix_max(model, validation) > threshold).mean()),
            "normal_flagged": float((whole["normal"] > threshold).mean()),
            **{f"{name}_flagged_any_prefix": float((v > threshold).mean()) for name, v in highest.items()},
        }
    return out_doc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench threshold``."""
    parser = subparsers.add_parser(
        "threshold",
        help="a home-trained TransAE's false alarms counted as live scoring raises them",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--homes", nargs="+", type=Path, required=True, help="homes' dataset directories")
    parser.add_argument("--normal", choices=["vld", "held-out"], default="vld", help="normal sequences")
    parser.add_argument("--epochs", type=int, help="TransAE's epoch cap (default: the product's)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[2024], help="training seeds")
    parser.add_argument(
        "--train-on",
        nargs="+",
        choices=TRANSAE_TRAIN_ONS,
        default=[TRANSAE_TRAIN_ON],
        help="what TransAE trains on: whole sequences or live scoring's readings (several: each in turn)",
    )
    parser.add_argument("--limit", type=int, help="only the first N lines of each file read (quick runs)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    doc: dict[str, Any] = {}
    try:
        for home in args.homes:
            for seed in args.seeds:
                for train_on in args.train_on:
                    figures = measure(home, args.normal, args.epochs, seed, args.limit, train_on=train_on)
                    doc[f"{home.name}/{seed}/{train_on}"] = figures
                    print(f"{home.name} seed {seed} {train_on}: " + json.dumps(figures), flush=True)
    except (FileNotFoundError, ValueError) as err:
        print(f"habitus bench threshold: {err}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0
