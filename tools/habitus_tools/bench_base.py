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
  ROC AUC per kind and the shares flagged at the threshold;
* with ``--calibrate N [N ...]``, the hub's cold-start fix (``engine/calibration.py``): the threshold
  recomputed as TransAE's percentile of the base model's scores of the home's first N mapped ``trn``
  sequences (file order; the raw files are not in time order, so these are a random draw) and of
  ``--draws - 1`` more seeded random draws of N, then the shares of the normal and injected sequences
  flagged at it (whole sequence, and any prefix: how live scoring raises an anomaly), mean and
  range over the draws; and the same at the threshold the hub now calibrates, the percentile of each
  calibration sequence's highest prefix score (``live_`` keys, ``engine/calibration.py``).
  ``--normal held-out`` takes the normal sequences from a seeded 20 % of ``trn`` (calibration then
  draws from the other 80 %), for a home whose ``vld`` is another population (FR).

With ``--sasrec FILE`` (the shipped ``sasrec_fr.npz``), also the base SASRec's next action on each other
home (``next_action``): each mapped raw ``vld`` sequence's last action after the others, HR@5 (the next
action sensor's five) and HR@10 over the whole vocabulary, and over the actions the home has done
(those of its mapped raw ``trn``, as the hub's calibration collects them from its stored sequences, plus
the sequence's own history: ``live_models.allowed_actions``).

Nothing is trained; no paper test set is read for the calibration figures. Record runs in
docs/BENCHMARKS.md ("## Models").
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from habitus_engine.calibration import home_threshold
from habitus_engine.datasets import RawSequence, load_vocabulary, read_raw_sequences
from habitus_engine.injection import KINDS
from habitus_engine.jobs import live_max_scores
from habitus_engine.models import NetworkModel, SASRec, TransAE
from habitus_engine.models.sasrec import top_actions

from .bench_denoise import SEED, Home, load_home
from .denoise_select import roc_auc

N_DAYS, N_BUCKETS = 7, 8


def prefix_max_scores(model: TransAE, sequences: Sequence[RawSequence]) -> NDArray[np.float64]:
    """[N] the highest score of any prefix of each sequence (live scoring reads every prefix: the hub's
    ``max_prefix_scores``; the sequences are mapped already, every behaviour is known, so live scoring's
    window of behaviours reads the last ``max_behaviours`` of each prefix)."""
    return live_max_scores(model, sequences, "numpy")


def flagged_any_prefix(model: TransAE, sequences: Sequence[RawSequence]) -> NDArray[np.bool_]:
    """[N] whether some prefix of each sequence scores above the threshold (live scoring's reading)."""
    return prefix_max_scores(model, sequences) > _threshold(model)


def _threshold(model: TransAE) -> float:
    if model.threshold_ is None:
        raise ValueError("the TransAE file carries no threshold")
    return model.threshold_


def retimed(sequences: Sequence[RawSequence], day: int, bucket: int) -> list[RawSequence]:
    """The sequences with every behaviour moved to one (weekday, 3-hour bucket) cell."""
    return [[(day, bucket, b[2], b[3]) for b in s] for s in sequences]


class ActionMap:
    """A home's action ids -> the model's (device, action) ids, by ``Type:control`` name."""

    def __init__(self, model: NetworkModel, home_actions: Sequence[str]) -> None:
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


def calibration_draws(
    train: Sequence[RawSequence], n: int, draws: int, seed: int = SEED
) -> list[list[RawSequence]]:
    """The first ``n`` sequences, then ``draws - 1`` seeded random draws of ``n`` (each in file order)."""
    if len(train) < n:
        raise ValueError(f"{len(train)} mapped training sequences, fewer than --calibrate {n}")
    rng = np.random.default_rng(seed)
    picks = [np.sort(rng.choice(len(train), n, replace=False)) for _ in range(draws - 1)]
    return [list(train[:n]), *[[train[int(i)] for i in pick] for pick in picks]]


def calibrated(model: TransAE, injected: Home, to_model: ActionMap, n: int, draws: int) -> dict[str, float]:
    """Shares flagged at the threshold calibrated on ``n`` of the home's training sequences (the hub's
    ``home_threshold``): mean, min and max over ``draws`` draws of them.

    Two rules: ``threshold`` is the percentile of the draw's whole-sequence scores (the rule before),
    ``live_threshold`` the percentile of its prefix maxima (the hub's ``calibrate_base`` now). Shares
    are counted per whole sequence (``flagged_<set>``) and as live scoring raises an anomaly, any
    prefix above the threshold (``flagged_<set>_any_prefix``); ``live_`` keys are at ``live_threshold``.
    """
    scores: dict[str, NDArray[np.floating]] = {}
    for name, sequences in [("normal", injected.normal), *((k, injected.anomalies[k]) for k in KINDS)]:
        mapped = to_model(sequences)
        scores[name] = model.score(mapped, backend="numpy")
        scores[f"{name}_any_prefix"] = prefix_max_scores(model, mapped)
    percentile = model.config.threshold_percentile
    rows: list[dict[str, float]] = []
    for draw in calibration_draws(to_model(injected.train), n, draws):
        threshold = home_threshold(model.score(draw, backend="numpy"), percentile, n)
        live = home_threshold(prefix_max_scores(model, draw), percentile, n)
        assert threshold is not None and live is not None  # n scores, minimum n
        row = {"threshold": threshold, "live_threshold": live}
        for key, scored in scores.items():
            row[f"flagged_{key}"] = float((scored > threshold).mean())
            row[f"live_flagged_{key}"] = float((scored > live).mean())
        rows.append(row)
    out: dict[str, float] = {"draws": float(len(rows))}
    for key in rows[0]:
        values = [row[key] for row in rows]
        out |= {key: float(np.mean(values)), f"{key}_min": min(values), f"{key}_max": max(values)}
    for key in ("flagged_normal", "flagged_normal_any_prefix", "live_flagged_normal_any_prefix"):
        out[f"draws_{key}_at_most_10pct"] = float(np.mean([row[key] <= 0.1 for row in rows]))
    return out


def other_home(
    model: TransAE,
    home: Path,
    limit: int | None,
    *,
    normal_from: str = "vld",
    calibrate: Sequence[int] = (),
    draws: int = 1,
) -> dict[str, Any]:
    """Flag shares and injected-anomaly AUCs of another real home mapped onto the file's actions, and
    at thresholds calibrated on the home's own first sequences (``calibrate``: how many)."""
    to_model = ActionMap(model, load_vocabulary(home).actions)
    raw = read_raw_sequences(home / "raw" / "trn.jsonl", limit, missing_ok=True) + read_raw_sequences(
        home / "raw" / "vld.jsonl", limit, missing_ok=True
    )
    mapped = to_model(raw)
    if not mapped:
        raise ValueError(f"{home}: none of its actions is named as in the model's vocabulary")
    threshold = _threshold(model)
    injected = load_home(home, limit, normal_from)
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
    for n in calibrate:
        out[f"calibrated_{n}"] = calibrated(model, injected, to_model, n, draws)
    return out


def next_action(sasrec: SASRec, home: Path, limit: int | None, ks: Sequence[int] = (5, 10)) -> dict[str, Any]:
    """HR@k of the base SASRec's next action on another home: over its whole vocabulary, and over the
    actions the home has done (its raw ``trn``) or the history holds, as the hub serves a calibrated
    base model (``live_models.allowed_actions``); and how many of the unrestricted top ``ks[0]`` the home
    has never done (what the next action sensor showed before)."""
    to_model = ActionMap(sasrec, load_vocabulary(home).actions)
    past = to_model(read_raw_sequences(home / "raw" / "trn.jsonl", limit, missing_ok=True))
    done = {b[3] for s in past for b in s}
    cases = [s for s in to_model(read_raw_sequences(home / "raw" / "vld.jsonl", limit)) if len(s) >= 2]
    if not cases:
        raise ValueError(f"{home}: no mapped raw vld sequence with two behaviours")
    scores = sasrec.item_scores([sasrec.items(s[:-1]) for s in cases], "numpy")[:, 1:]  # [N, actions]
    hits: dict[str, list[bool]] = {f"{rule}hr@{k}": [] for rule in ("", "home_") for k in ks}
    allowed_sizes, never_done, target_not_done = [], [], []
    for row, seq in zip(scores, cases, strict=True):
        target, allowed = seq[-1][3], done | {b[3] for b in seq[:-1]}
        allowed_sizes.append(len(allowed))
        target_not_done.append(target not in allowed)
        never_done.append(sum(a not in allowed for a in top_actions(row, ks[0])))
        for k in ks:
            hits[f"hr@{k}"].append(target in top_actions(row, k))
            hits[f"home_hr@{k}"].append(target in top_actions(row, k, allowed))
    return {
        "cases": len(cases),
        "actions_done": len(done),
        "allowed_mean": float(np.mean(allowed_sizes)),
        "target_not_done": float(np.mean(target_not_done)),
        f"never_done_in_top{ks[0]}_mean": float(np.mean(never_done)),
        f"cases_with_never_done_in_top{ks[0]}": float(np.mean([n > 0 for n in never_done])),
        **{key: float(np.mean(values)) for key, values in hits.items()},
    }


@dataclass(frozen=True, slots=True)
class HomeOptions:
    """How other homes are read: where their normal sequences come from, the ``--calibrate`` sizes."""

    normal_from: str = "vld"  # or "held-out": a seeded 20 % of trn
    calibrate: tuple[int, ...] = ()
    draws: int = 1
    sasrec: Path | None = None  # also the base SASRec's next action on each home


def run(
    models: Sequence[Path],
    dataset: Path,
    homes: Sequence[Path],
    limit: int | None = None,
    options: HomeOptions | None = None,
) -> dict[str, Any]:
    """Every figure for every TransAE file."""
    opts = options or HomeOptions()
    doc: dict[str, Any] = {}
    for path in models:
        model = TransAE.load(path)
        doc[str(path)] = {
            "threshold": _threshold(model),
            dataset.name: own_dataset(model, dataset, limit),
            **{
                home.name: other_home(
                    model,
                    home,
                    limit,
                    normal_from=opts.normal_from,
                    calibrate=opts.calibrate,
                    draws=opts.draws,
                )
                for home in homes
            },
        }
    if opts.sasrec is not None:
        sasrec = SASRec.load(opts.sasrec)
        doc[str(opts.sasrec)] = {
            home.name: {"next_action": next_action(sasrec, home, limit)} for home in homes
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
    parser.add_argument(
        "--normal",
        choices=["vld", "held-out"],
        default="vld",
        help="other homes' normal sequences: de-duplicated raw vld, or a seeded 20 %% of trn",
    )
    parser.add_argument(
        "--calibrate",
        nargs="+",
        type=int,
        default=[],
        metavar="N",
        help="also flag at the threshold calibrated on the home's first N trn sequences (the hub's fix)",
    )
    parser.add_argument(
        "--draws", type=int, default=1, help="--calibrate: draws of N sequences (first: file order)"
    )
    parser.add_argument(
        "--sasrec", type=Path, help="also this base SASRec's next action on each home (e.g. sasrec_fr.npz)"
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.set_defaults(func=_handle)


def _line(name: str, values: dict[str, Any], indent: str) -> str:
    return f"{indent}{name}: " + ", ".join(
        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
        for k, v in values.items()
        if not isinstance(v, dict)
    )


def _handle(args: argparse.Namespace) -> int:
    if args.draws < 1 or any(n < 1 for n in args.calibrate):
        print("habitus bench base: --calibrate and --draws need positive numbers", file=sys.stderr)
        return 2
    options = HomeOptions(args.normal, tuple(args.calibrate), args.draws, args.sasrec)
    try:
        doc = run(args.models, args.dataset, args.homes, args.limit, options)
    except (FileNotFoundError, ValueError) as err:
        print(f"habitus bench base: {err}", file=sys.stderr)
        return 2
    for path, figures in doc.items():
        print(f"{path}: threshold {figures['threshold']:.4f}" if "threshold" in figures else f"{path}:")
        for name, values in figures.items():
            if isinstance(values, dict):
                print(_line(name, values, "  "))
                for sub, nested in values.items():
                    if isinstance(nested, dict):
                        print(_line(sub, nested, "    "))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0
