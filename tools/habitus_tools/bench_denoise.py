"""``habitus bench denoise``: choose TransAE's training objective on real homes' own data (issue 3).

No paper test set is read (``paper/*/split_test``, ``anomalies/``, ``context/*/test``). For every home
(a dataset directory: FR, SP, AN), TransAE is trained as the hub trains it (``TransAE.fit`` on the
home's raw ``trn``, its own seeded 80/20 split for early stopping and the 95th-percentile threshold)
and judged on raw ``vld`` minus every sequence also in ``trn`` (the splits share sequences):

* normal: those validation sequences;
* anomalies, injected into copies of them from the home's ``trn`` statistics only, one kind at a time
  (``engine/injection.py``'s ``inject``, which the hub's guard uses too: ``device``, ``hour``, ``burst``,
  ``swap``; the pairs the home could do are the vocabulary's ``action_device`` map, so ``device``
  injects a never-used pair).

Per candidate objective: ROC AUC (normal vs each kind; threshold-free) and F1 at the product's
calibrated threshold (normal vs each kind, 1:1), averaged over kinds, homes and seeds. Candidates are
``none`` (plain autoencoder), ``KIND:RATE`` (``TransAEConfig.corruption`` / ``corruption_rate``) and
``KIND:RATE:fixedN`` (N epochs, last weights: no early stopping). Training has no time budget here,
so figures do not depend on the machine's load. Record runs in docs/BENCHMARKS.md ("## Models").
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from habitus_engine.datasets import (
    RawSequence,
    load_vocabulary,
    read_raw_sequences,
)
from habitus_engine.injection import inject
from habitus_engine.metrics import precision_recall_f1
from habitus_engine.models import FieldSizes, TransAE, TransAEConfig
from habitus_engine.models.network import Params
from habitus_engine.models.training import TrainProgress, split_validation
from habitus_engine.models.transae import CORRUPTIONS

from .denoise_select import roc_auc

SEED = 2024
DEFAULT_CANDIDATES = ("none", "mixed:0.15", "mixed:0.3", "mixed:0.5")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One training objective under test (``TransAEConfig.corruption`` / ``corruption_rate``)."""

    kind: str = "none"
    rate: float = 0.0
    fixed_epochs: int | None = None  # None: the product's early stopping; N: N epochs, last weights

    @classmethod
    def parse(cls, spec: str) -> Candidate:
        """``none`` | ``KIND:RATE`` | ``KIND:RATE:fixedN`` (raises ``ValueError``)."""
        parts = spec.split(":")
        if parts[0] not in CORRUPTIONS or len(parts) > 3 or (parts[0] == "none") != (len(parts) == 1):
            raise ValueError(f"candidate {spec!r}: expected none, KIND:RATE or KIND:RATE:fixedN")
        fixed = None
        if len(parts) == 3:
            if not parts[2].startswith("fixed"):
                raise ValueError(f"candidate {spec!r}: the third part must be fixedN")
            fixed = int(parts[2].removeprefix("fixed"))
        return cls(parts[0], float(parts[1]) if len(parts) > 1 else 0.0, fixed)

    @property
    def label(self) -> str:
        """``none``, ``mixed 0.5`` or ``mixed 0.5 fixed15``."""
        name = "none" if self.kind == "none" else f"{self.kind} {self.rate:g}"
        return name if self.fixed_epochs is None else f"{name} fixed{self.fixed_epochs}"

    def config(
        self,
        seed: int,
        epochs: int | None = None,
        max_seconds: float | None = None,
        learning_rate: float | None = None,
    ) -> TransAEConfig:
        """The product ``TransAEConfig`` with this objective, ``seed``, time budget (default none) and
        learning rate (default: the product's)."""
        base = TransAEConfig()
        train = replace(base.train, seed=seed, max_seconds=max_seconds)
        if learning_rate is not None:
            train = replace(train, learning_rate=learning_rate)
        if epochs is not None:
            train = replace(train, epochs=epochs)
        if self.fixed_epochs is not None:
            train = replace(train, epochs=self.fixed_epochs, patience=self.fixed_epochs, restore_best=False)
        return replace(base, corruption=self.kind, corruption_rate=self.rate, train=train)


@dataclass(frozen=True, slots=True)
class Home:
    """One home's training sequences, normal validation sequences and injected anomalies."""

    name: str
    sizes: FieldSizes
    train: list[RawSequence]
    normal: list[RawSequence]
    anomalies: dict[str, list[RawSequence]]  # kind -> one copy of each normal sequence, injected


def device_action_pairs(dataset: Path, train: Sequence[RawSequence]) -> list[tuple[int, int]]:
    """Every (device, action) the home could do: the vocabulary's ``action_device`` map where it has
    one (FR, SP, AN do), else the pairs seen in training."""
    raw = json.loads((dataset / "vocab.json").read_text(encoding="utf-8")).get("action_device")
    if isinstance(raw, list) and raw:
        return [(int(d), a) for a, d in enumerate(raw) if d is not None and int(d) >= 0]
    return sorted({(b[2], b[3]) for s in train for b in s})


def load_home(dataset: Path, limit: int | None = None, normal_from: str = "vld", seed: int = SEED) -> Home:
    """Read raw ``trn`` (the first ``limit`` lines), take the normal sequences from raw ``vld`` (its first
    ``limit`` lines) or, with ``normal_from="held-out"``, from a seeded 20 % of ``trn`` the model does
    not see; drop normal sequences that also occur in training, inject the anomalies."""
    vocab = load_vocabulary(dataset)
    sizes = FieldSizes(len(vocab.devices), len(vocab.actions))
    train = read_raw_sequences(dataset / "raw" / "trn.jsonl", limit)
    if normal_from == "held-out":
        train_idx, held_idx = split_validation(len(train), 0.2, seed)
        train, candidates = [train[i] for i in train_idx], [train[i] for i in held_idx]
    else:
        candidates = read_raw_sequences(dataset / "raw" / "vld.jsonl", limit)
    seen = {tuple(s) for s in train}
    normal = [s for s in candidates if tuple(s) not in seen]
    if not train or not normal:
        raise ValueError(f"{dataset}: raw/trn.jsonl and raw/vld.jsonl must hold distinct sequences")
    anomalies = inject(normal, train, device_action_pairs(dataset, train), sizes, seed)
    return Home(dataset.name, sizes, train, normal, anomalies)


def judge(home: Home, model: TransAE) -> dict[str, Any]:
    """AUC and F1 at ``model``'s calibrated threshold per anomaly kind, and their means."""
    normal = model.score(home.normal, backend="numpy")
    threshold = float(model.threshold_ or 0.0)
    kinds: dict[str, dict[str, float]] = {}
    for kind, sequences in home.anomalies.items():
        scores = model.score(sequences, backend="numpy")
        labels = [0] * len(normal) + [1] * len(scores)
        f1 = precision_recall_f1(labels, np.concatenate([normal, scores]) > threshold)
        kinds[kind] = {"auc": roc_auc(normal, scores), "f1": f1.f1, "recall": f1.recall}
    return {
        "auc": float(np.mean([k["auc"] for k in kinds.values()])),
        "f1": float(np.mean([k["f1"] for k in kinds.values()])),
        "fpr": float(np.mean(normal > threshold)),
        "kinds": kinds,
        "threshold": threshold,
    }


def evaluate_caps(
    home: Home,
    candidate: Candidate,
    seed: int,
    caps: Sequence[int],
    *,
    max_seconds: float | None = None,
    learning_rate: float | None = None,
) -> list[dict[str, Any]]:
    """One row per epoch cap (ascending; none: the product's cap) from a single training run.

    The run lasts ``max(caps)`` epochs; at cap N the row judges the best-validation weights among
    epochs <= N, calibrated on the model's own validation split, which is what ``TransAE.fit``
    capped at N returns (same seeded shuffles and early stopping up to N). Caps past the run's end
    (early stop, time budget) judge its final weights. Each row carries the validation-loss curve.
    ``KIND:RATE:fixedN`` candidates ignore ``caps``.
    """
    if candidate.fixed_epochs is not None:  # a fixed schedule keeps its last weights: no caps
        caps = []
    config = candidate.config(seed, max(caps) if caps else None, max_seconds, learning_rate)
    best: dict[str, tuple[int, Params]] = {}  # "so far" -> (best epoch, its weights)
    snapshots: dict[int, tuple[int, Params]] = {}  # cap -> best so far at that epoch

    def on_epoch(p: TrainProgress, params: Params) -> None:
        if p.best_epoch == p.epoch:
            best["so far"] = (p.epoch, params)
        if p.epoch in caps:
            snapshots[p.epoch] = best["so far"]

    started = time.monotonic()
    model = TransAE(home.sizes, config).fit(home.train, on_epoch=on_epoch)
    seconds = time.monotonic() - started
    history = model.history_
    assert history is not None
    _, val_idx = split_validation(len(home.train), config.train.validation_fraction, seed)
    validation = [home.train[i] for i in val_idx]
    rows: list[dict[str, Any]] = []
    for cap in sorted(caps) or [config.train.epochs]:
        row: dict[str, Any] = {
            "home": home.name,
            "candidate": candidate.label if len(caps) < 2 else f"{candidate.label} cap{cap}",
            "seed": seed,
            "cap": cap,
        }
        if cap in snapshots and cap < len(history.validation_loss):
            best_epoch, params = snapshots[cap]
            capped = TransAE(home.sizes, config)
            capped._set_params(params)
            capped.calibrate(validation)
            row |= {**judge(home, capped), "best_epoch": best_epoch, "epochs_run": cap, "out_of_time": False}
        else:
            row |= {
                **judge(home, model),
                "best_epoch": history.best_epoch,
                "out_of_time": history.out_of_time,
            }
            row["epochs_run"] = len(history.validation_loss)
        row |= {
            "validation_loss": [round(v, 5) for v in history.validation_loss[: row["epochs_run"]]],
            "seconds": round(seconds, 1),  # the whole run's
        }
        rows.append(row)
    return rows


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Candidate -> mean AUC / F1 / FPR over every home and seed, in first-seen order."""
    out: dict[str, dict[str, float]] = {}
    for label in dict.fromkeys(r["candidate"] for r in rows):
        mine = [r for r in rows if r["candidate"] == label]
        out[label] = {key: float(np.mean([r[key] for r in mine])) for key in ("auc", "f1", "fpr")}
    return out


def run(
    datasets: Sequence[Path],
    candidates: Sequence[Candidate],
    seeds: Sequence[int],
    *,
    limit: int | None = None,
    normal_from: str = "vld",
    epochs: int | None = None,
    caps: Sequence[int] = (),
    max_seconds: float | None = None,
    learning_rate: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every (home, candidate, seed); returns the JSON document (rows, summary, settings)."""
    rows: list[dict[str, Any]] = []
    for dataset in datasets:
        home = load_home(dataset, limit, normal_from)
        log(f"{home.name}: train {len(home.train)}, normal {len(home.normal)} ({normal_from}, de-duplicated)")
        for candidate in candidates:
            for seed in seeds:
                for row in evaluate_caps(
                    home,
                    candidate,
                    seed,
                    caps or ([epochs] if epochs else []),
                    max_seconds=max_seconds,
                    learning_rate=learning_rate,
                ):
                    rows.append(row)
                    per_kind = " ".join(f"{k} {v['auc']:.3f}/{v['f1']:.3f}" for k, v in row["kinds"].items())
                    log(
                        f"  {row['candidate']:<18} seed {seed}: AUC {row['auc']:.3f} F1 {row['f1']:.3f} "
                        f"FPR {row['fpr']:.3f} best epoch {row['best_epoch']}/{row['epochs_run']} "
                        f"{row['seconds']} s | {per_kind}"
                    )
    return {
        "rows": rows,
        "summary": summarise(rows),
        "per_home": {
            home: summarise([r for r in rows if r["home"] == home])
            for home in dict.fromkeys(r["home"] for r in rows)
        },
        "settings": {
            "datasets": [str(d) for d in datasets],
            "candidates": [c.label for c in candidates],
            "seeds": list(seeds),
            "limit": limit,
            "normal_from": normal_from,
            "epochs": epochs,
            "caps": list(caps),
            "max_seconds": max_seconds,
            "learning_rate": learning_rate,
            "injection_seed": SEED,
        },
        "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench denoise``."""
    parser = subparsers.add_parser(
        "denoise",
        help="TransAE objective on real homes' trn/vld with injected anomalies (no test sets)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("datasets", nargs="+", type=Path, help="home dataset directories (raw/trn, raw/vld)")
    parser.add_argument(
        "--candidates", nargs="+", default=list(DEFAULT_CANDIDATES), help="none | KIND:RATE[:fixedN]"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[SEED], help="training seeds")
    parser.add_argument("--limit", type=int, help="only the first N lines of trn and of vld (quick runs)")
    parser.add_argument(
        "--normal",
        choices=["vld", "held-out"],
        default="vld",
        help="normal sequences: raw vld, or a seeded 20 %% of raw trn kept out of training",
    )
    parser.add_argument(
        "--epochs", type=int, help="epoch cap for early-stopped candidates (default: the product's)"
    )
    parser.add_argument(
        "--caps",
        nargs="+",
        type=int,
        default=[],
        help="judge each epoch cap N from one run of max(N) epochs (the best weights among epochs <= N)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        help="wall-clock budget per fit, as TrainConfig.max_seconds (default: none)",
    )
    parser.add_argument("--learning-rate", type=float, help="Adam's step size (default: the product's)")
    parser.add_argument("--json", type=Path, help="write every row and the summary here")
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    try:
        candidates = [Candidate.parse(spec) for spec in args.candidates]
        doc = run(args.datasets, candidates, args.seeds, limit=args.limit, normal_from=args.normal,
                  epochs=args.epochs, caps=args.caps, max_seconds=args.max_seconds,
                  learning_rate=args.learning_rate,
                  log=lambda m: print(m, flush=True))  # fmt: skip
    except (FileNotFoundError, ValueError) as err:
        print(f"habitus bench denoise: {err}", file=sys.stderr)
        return 2
    print(f"{'home':<8}{'candidate':<20}{'AUC':>8}{'F1':>8}{'FPR':>8}  (means over kinds and seeds)")
    for home, summary in [*doc["per_home"].items(), ("all", doc["summary"])]:
        for label, figures in summary.items():
            print(f"{home:<8}{label:<20}{figures['auc']:>8.3f}{figures['f1']:>8.3f}{figures['fpr']:>8.3f}")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0
