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
never sees; every training seed shares one draw, ``--held-out-seed`` draws another, with its own
injections). ``--train-on`` (one or more of ``whole``, ``live-windows``: ``train_models``'
``transae_train_on``) trains TransAE on whole stored sequences or on the readings live scoring makes
of them; ``--holdout`` (one or more of ``random``, ``grouped``, ``unseen``: ``transae_holdout``) which
stored sequences TransAE holds out for early stopping and the served threshold; several values of either
are run in turn for each home and seed, so they share the load (JSON keys ``home/seed/train_on/holdout``).
With ``--normal held-out`` the share of the whole held-out 20 %, repeats of training sequences included
(as a home repeats its routines live), is flagged too (``held_out_all_flagged_any_prefix``). Nothing
else is tuned; no paper test set is read. Record runs in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from habitus_engine.datasets import RawSequence, read_raw_sequences
from habitus_engine.injection import KINDS
from habitus_engine.jobs import (
    TRANSAE_HOLDOUT,
    TRANSAE_HOLDOUTS,
    TRANSAE_TRAIN_ON,
    TRANSAE_TRAIN_ONS,
    TransAEHoldout,
    TransAETrainOn,
    live_max_scores,
    run_job,
    transae_split,
)
from habitus_engine.models import TransAE
from habitus_engine.models.training import split_validation

from .bench_denoise import SEED, load_home


def _held_out_all(home_dir: Path, limit: int | None, draw: int) -> list[RawSequence]:
    """``load_home``'s held-out 20 % of raw ``trn`` before it drops the sequences training also holds."""
    trn = read_raw_sequences(home_dir / "raw" / "trn.jsonl", limit)
    _, held = split_validation(len(trn), 0.2, draw)
    return [trn[int(i)] for i in held]


def measure(
    home_dir: Path,
    normal_from: str,
    epochs: int | None,
    seed: int,
    limit: int | None,
    *,
    train_on: TransAETrainOn = TRANSAE_TRAIN_ON,
    holdout: TransAEHoldout = TRANSAE_HOLDOUT,
    draw: int = SEED,
) -> dict[str, Any]:
    """Train as the hub does, then flag shares at the whole-sequence and the served threshold."""
    home = load_home(home_dir, limit, normal_from, seed=draw)
    params: dict[str, Any] = {
        "sequences": [[list(b) for b in s] for s in home.train],
        "n_devices": home.sizes.n_devices,
        "n_actions": home.sizes.n_actions,
        "seed": seed,
        "transae_train_on": train_on,
        "transae_holdout": holdout,
    }
    if epochs is not None:
        params["epochs"] = epochs
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = run_job("train_models", {**params, "output_dir": out}, lambda f, m: None, lambda: False)
        seconds = time.perf_counter() - started
        model = TransAE.load(Path(out) / "transae.npz")
    split = transae_split(home.train, model.config, holdout)  # the job's own split (same seed)
    validation = [home.train[int(i)] for i in split.validation]
    training = {tuple(home.train[int(i)]) for i in split.train}
    percentile = model.config.threshold_percentile
    thresholds = {
        "whole": float(np.percentile(model.score(validation, backend="numpy"), percentile)),  # fit's rule
        "served": float(model.threshold_ or 0.0),  # the job's: prefix maxima
    }
    sets = {"normal": home.normal, **{kind: home.anomalies[kind] for kind in KINDS}}
    if normal_from == "held-out":
        sets["held_out_all"] = _held_out_all(home_dir, limit, draw)
    whole = {name: model.score(seqs, backend="numpy") for name, seqs in sets.items()}
    highest = {name: live_max_scores(model, seqs, "numpy") for name, seqs in sets.items()}
    out_doc: dict[str, Any] = {
        "train_sequences": len(home.train),
        "validation_sequences": len(validation),
        "normal_sequences": len(home.normal),
        "train_on": train_on,
        "holdout": holdout,
        "held_out_seed": draw,
        "calibration_sequences": len(split.calibration),
        "validation_in_training": float(np.mean([tuple(s) in training for s in validation])),
        "transae_train_rows": result["transae"]["n_train_rows"],
        "epochs_run": result["transae"]["epochs_run"],
        "train_seconds": round(seconds, 1),
    }
    validation_highest = live_max_scores(model, validation, "numpy")
    for rule, threshold in thresholds.items():
        out_doc[rule] = {
            "threshold": threshold,
            "validation_flagged_any_prefix": float((validation_highest > threshold).mean()),
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
    variants: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
        ("--train-on", TRANSAE_TRAIN_ONS, TRANSAE_TRAIN_ON, "what TransAE trains on: whole or live windows"),
        ("--holdout", TRANSAE_HOLDOUTS, TRANSAE_HOLDOUT, "which stored sequences TransAE holds out"),
    )
    for flag, choices, default, what in variants:
        help_ = f"{what} (several: each in turn)"
        parser.add_argument(flag, nargs="+", choices=choices, default=[default], help=help_)
    parser.add_argument(
        "--held-out-seed",
        type=int,
        default=SEED,
        help="seed of the normal set's draw (--normal held-out) and of the injections",
    )
    parser.add_argument("--limit", type=int, help="only the first N lines of each file read (quick runs)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    doc: dict[str, Any] = {}
    try:
        for home in args.homes:
            for seed in args.seeds:
                for train_on, holdout in itertools.product(args.train_on, args.holdout):
                    figures = measure(
                        home,
                        args.normal,
                        args.epochs,
                        seed,
                        args.limit,
                        train_on=train_on,
                        holdout=holdout,
                        draw=args.held_out_seed,
                    )
                    figures["loadavg"] = [round(x, 2) for x in os.getloadavg()]
                    key = f"{home.name}/{seed}/{train_on}/{holdout}"
                    doc[key] = figures
                    print(f"{key}: " + json.dumps(figures), flush=True)
    except (FileNotFoundError, ValueError) as err:
        print(f"habitus bench threshold: {err}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0
