"""``habitus bench base``: what a shipped base TransAE would flag in a home at cold start.

The base models serve every home until its own are trained, and most homes are not the dataset they
were built on. For each TransAE file (e.g. the shipped ``transae_fr.npz`` and a rebuilt candidate) at
its own threshold:

* **its own dataset**: the share of ``raw/test`` sequences flagged as live scoring reads them (any
  prefix, i.e. the open sequence after some behaviour, above the threshold), at their own time and
  moved to each of the 56 (weekday, 3-hour bucket) cells (a home on another schedule);
* **other real homes** (``--homes``): their raw ``trn`` and ``vld`` mapped onto the file's action names
  (``Type:control``, as a live home's behaviours are through the device dictionary; unmapped behaviours
  are left out, as live scoring leaves them out), the share flagged (whole sequence, any prefix); and
  ``habitus bench denoise``'s injected anomalies on the home's de-duplicated ``vld`` (``load_home``):
  ROC AUC per kind and the shares flagged at the threshold.

Nothing is trained or tuned. Record runs in docs/BENCHMARKS.md ("## Models").
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from habitus_engine.datasets import RawSequence, load_vocabulary, read_raw_sequences
from habitus_engine.models import TransAE

from .bench_denoise import KINDS, load_home
from .denoise_select import roc_auc

N_DAYS, N_BUCKETS = 7, 8


def flagged_any_prefix(model: TransAE, sequences: Sequence[RawSequence]) -> NDArray[np.bool_]:
    """[N] whether some prefix of each sequence scores above the threshold (live scoring's reading)."""
    prefixes = [list(s[:n]) for s in sequences for n in range(1, len(s) + 1)]
    owner = np.repeat(np.arange(len(sequences)), [len(s) for s in sequences])  # [P] sequence of prefix
    hit = np.zeros(len(sequences), dtype=bool)
    if prefixes:
        np.logical_or.at(hit, owner, model.score(prefixes, backend="numpy") > _threshold(model))
    return hit


def _threshold(model: TransAE) -> float:
    if model.threshold_ is None:
        raise ValueError("the TransAE file carries no threshold")
    return model.threshold_


def retimed(sequences: Sequence[RawSequence], day: int, bucket: int) -> list[RawSequence]:
    """The sequences with every behaviour moved to one (weekday, 3-hour bucket) cell."""
    return [[(day, bucket, b[2], b[3]) for b in s] for s in sequences]


class ActionMap:
    """A home's action ids -> the model's (device, action) ids, by ``Type:control`` name."""

    def __init__(self, model: TransAE, home_actions: Sequence[str]) -> None:
        vocab = model.vocabulary or {}
        devices, actions = list(map(str, vocab.get("devices", []))), list(map(str, vocab.get("actions", [])))
        device_id, action_id = {d: i for i, d in enumerate(devices)}, {a: i for i, a in enumerate(actions)}
        self.ids: dict[int, tuple[int, int]] = {
            i: (device_id[name.split(":")[0]], action_id[name])
            for i, name in enumerate(home_actions)
            if name in action_id and name.split(":")[0] in device_id
        }

    def __call__(self, sequences: Sequence[RawSequence]) -> list[RawSequence]:
        """Each sequence without its unmapped behaviours; sequences left empty are dropped."""
        out = [[(b[0], b[1], *self.ids[b[3]]) for b in s if b[3] in self.ids] for s in sequences]
        return [s for s in out if s]

    def coverage(self, sequences: Sequence[RawSequence]) -> float:
        """The share of behaviours that map."""
        behaviours = [b for s in sequences for b in s]
        return sum(b[3] in self.ids for b in behaviours) / max(1, len(behaviours))


def own_dataset(model: TransAE, dataset: Path, limit: int | None) -> dict[str, Any]:
    """Flag shares of the file's own dataset's raw/test, at its own time and in every weekly cell."""
    test = read_raw_sequences(dataset / "raw" / "test.jsonl", limit, missing_ok=True)
    cells = [
        float(flagged_any_prefix(model, retimed(test, day, bucket)).mean())
        for day in range(N_DAYS)
        for bucket in range(N_BUCKETS)
    ]
    return {
        "sequences": len(test),
        "flagged_any_prefix": float(flagged_any_prefix(model, test).mean()),
        "retimed_flagged_mean": float(np.mean(cells)),
        "retimed_flagged_min": min(cells),
        "retimed_flagged_max": max(cells),
    }


def other_home(model: TransAE, home: Path, limit: int | None) -> dict[str, Any]:
    """Flag shares and injected-anomaly AUCs of another real home mapped onto the file's actions."""
    to_model = ActionMap(model, load_vocabulary(home).actions)
    raw = read_raw_sequences(home / "raw" / "trn.jsonl", limit, missing_ok=True) + read_raw_sequences(
        home / "raw" / "vld.jsonl", limit, missing_ok=True
    )
    mapped = to_model(raw)
    if not mapped:
        raise ValueError(f"{home}: none of its actions is named as in the model's vocabulary")
    threshold = _threshold(model)
    injected = load_home(home, limit)
    normal = model.score(to_model(injected.normal), backend="numpy")
    out: dict[str, Any] = {
        "behaviours_mapped": to_model.coverage(raw),
        "sequences": len(mapped),
        "flagged": float((model.score(mapped, backend="numpy") > threshold).mean()),
        "flagged_any_prefix": float(flagged_any_prefix(model, mapped).mean()),
        "injected_normal": len(normal),
        "injected_normal_flagged": float((normal > threshold).mean()),
    }
    for kind in KINDS:
        anomalous = model.score(to_model(injected.anomalies[kind]), backend="numpy")
        out[f"auc_{kind}"] = roc_auc(normal, anomalous)
        out[f"flagged_{kind}"] = float((anomalous > threshold).mean())
    out["auc_mean"] = float(np.mean([out[f"auc_{kind}"] for kind in KINDS]))
    return out


def run(
    models: Sequence[Path], dataset: Path, homes: Sequence[Path], limit: int | None = None
) -> dict[str, Any]:
    """Every figure for every TransAE file."""
    doc: dict[str, Any] = {}
    for path in models:
        model = TransAE.load(path)
        doc[str(path)] = {
            "threshold": _threshold(model),
            dataset.name: own_dataset(model, dataset, limit),
            **{home.name: other_home(model, home, limit) for home in homes},
        }
    return doc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench base``."""
    parser = subparsers.add_parser(
        "base",
        help="what a base TransAE flags at cold start: its own dataset re-timed, other real homes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("models", nargs="+", type=Path, help="TransAE files (.npz)")
    parser.add_argument("--dataset", required=True, type=Path, help="the files' own dataset (raw/test)")
    parser.add_argument("--homes", nargs="*", type=Path, default=[], help="other homes' dataset directories")
    parser.add_argument("--limit", type=int, help="only the first N lines of each file read (quick runs)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    try:
        doc = run(args.models, args.dataset, args.homes, args.limit)
    except (FileNotFoundError, ValueError) as err:
        print(f"habitus bench base: {err}", file=sys.stderr)
        return 2
    for path, figures in doc.items():
        print(f"{path}: threshold {figures['threshold']:.4f}")
        for name, values in figures.items():
            if isinstance(values, dict):
                print(
                    f"  {name}: "
                    + ", ".join(
                        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()
                    )
                )
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0
