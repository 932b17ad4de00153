"""``habitus build-assets``: train the base models the hub ships, and write their model card.

Trains Habitus's product TransAE (all four fields) and SASRec (actions) on a public dataset's real
training split (``raw/trn``), evaluates them on its ``raw/test`` split and injected anomalies, and
writes the files below. Early stopping and TransAE's threshold (95th percentile of validation scores)
come, by default (``--validation held-out``), from a seeded 20 % of ``raw/trn`` kept out of training,
exactly as the hub's own ``train_models`` job validates on the home's sequences (``TransAE.fit`` and
``SASRec.fit`` without a validation set); ``--validation vld`` uses the dataset's ``raw/vld`` instead,
which on FR is another population than ``raw/trn`` and ``raw/test``. TransAE trains, by default
(``--transae-train-on live-windows``), on what live scoring reads, as the hub's ``train_models`` does:
each training sequence's live windows (``engine/jobs.py`` ``transae_rows``), validated on the held-out
sequences' windows, and its threshold is the 95th percentile of the held-out sequences' highest prefix
readings (``engine/calibration.py``); ``whole`` trains and calibrates on whole sequences (SmartGen's
way). The shipped FR files are built with the defaults: docs/BENCHMARKS.md, "The base models rebuilt
as the hub trains" says why.

* ``<out>/transae_<dataset>.npz`` and ``<out>/sasrec_<dataset>.npz``: model files (weights, vocabulary,
  threshold, metadata, embedded ONNX graph); ``<out>`` defaults to
  ``custom_components/habitus/model_assets`` because everything the hub needs must ship inside the
  integration folder;
* ``--card``: the model card (Markdown), by default ``model_assets/README.md``.
"""

from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from habitus_engine.calibration import MIN_CALIBRATION_SEQUENCES
from habitus_engine.datasets import load_vocabulary, read_raw_sequences
from habitus_engine.jobs import TRANSAE_TRAIN_ON, TRANSAE_TRAIN_ONS
from habitus_engine.metrics import hr_ndcg_full, hr_ndcg_sampled
from habitus_engine.models import FieldSizes, SASRec, SASRecConfig, TransAE, TransAEConfig

from .bench_models import add_corruption_options
from .hub_transae import fit_transae

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = PROJECT_ROOT / "custom_components" / "habitus" / "model_assets"
DEFAULT_CARD = PROJECT_ROOT / "model_assets" / "README.md"
VALIDATIONS = ("held-out", "vld")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus build-assets``."""
    parser = subparsers.add_parser(
        "build-assets",
        help="train the shipped base models and write the model card",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", required=True, type=Path, help="dataset directory (e.g. .../smartthings/fr)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the model files go")
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD, help="model card (Markdown)")
    add_corruption_options(parser, "TransAE's training objective (the shipped file: none)")
    parser.add_argument(
        "--validation",
        choices=VALIDATIONS,
        default="held-out",
        help="early stopping and threshold: a seeded 20 %% of raw/trn as the hub does (default), or raw/vld",
    )
    parser.add_argument(
        "--transae-train-on",
        choices=TRANSAE_TRAIN_ONS,
        default=TRANSAE_TRAIN_ON,
        help="TransAE's rows: each sequence's live windows, as the hub trains (default), or whole sequences",
    )
    parser.set_defaults(func=_handle)


def _print_epoch(p: Any) -> None:
    print(f"  epoch {p.epoch}: val {p.validation_loss:.4f}")


def evaluate_transae(model: TransAE, dataset: Path) -> dict[str, Any]:
    """False-alarm rate on real test sequences and detection rate on each injected anomaly file."""
    out: dict[str, Any] = {}
    normal = read_raw_sequences(dataset / "raw" / "test.jsonl", missing_ok=True)
    if normal:
        out["flagged_share_raw_test"] = float(model.predict(normal, backend="numpy").mean())
    for path in sorted((dataset / "anomalies").glob("*.jsonl")):
        out[f"detected_share_{path.stem}"] = float(
            model.predict(read_raw_sequences(path, missing_ok=True), backend="numpy").mean()
        )
    return out


def evaluate_sasrec(model: SASRec, dataset: Path) -> dict[str, Any]:
    """Last action of each real test sequence from the ones before it: sampled and full ranking."""
    items = [model.items(s) for s in read_raw_sequences(dataset / "raw" / "test.jsonl", missing_ok=True)]
    items = [i for i in items if len(i) >= 2]
    histories, targets = [i[:-1] for i in items], [i[-1] for i in items]
    scores = model.item_scores(histories, backend="numpy")
    sampled = hr_ndcg_sampled(scores, targets, histories)
    full = hr_ndcg_full(scores, targets)
    return {
        "cases": sampled.n,
        "hr@10_sampled100": sampled.hit_rate,
        "ndcg@10_sampled100": sampled.ndcg,
        "hr@10_full": full.hit_rate,
        "ndcg@10_full": full.ndcg,
    }


def _handle(args: argparse.Namespace) -> int:
    vocab = load_vocabulary(args.dataset)
    train = read_raw_sequences(args.dataset / "raw" / "trn.jsonl", missing_ok=True)
    validation = (
        read_raw_sequences(args.dataset / "raw" / "vld.jsonl", missing_ok=True)
        if args.validation == "vld"
        else None
    )
    if not train or validation == []:
        needs = "raw/trn.jsonl and raw/vld.jsonl" if args.validation == "vld" else "raw/trn.jsonl"
        print(f"habitus build-assets: {args.dataset} needs {needs}", file=sys.stderr)
        return 2
    sizes = FieldSizes(len(vocab.devices), len(vocab.actions))
    name = args.dataset.name
    facts = {
        "dataset": name,
        "train_sequences": len(train),
        "validation": args.validation,
        "validation_sequences": len(validation) if validation is not None else None,
        "transae_train_on": args.transae_train_on,
        "built": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
    }
    rows = []
    # The hub's wall-clock budget (TrainConfig.max_seconds) is off here: the shipped files must not
    # depend on how loaded the build machine is; every other setting is the product default, except
    # TransAE's objective when --corruption says otherwise (the card records it).
    ae_cfg = TransAEConfig(corruption=args.corruption, corruption_rate=args.corruption_rate)
    rec_cfg = SASRecConfig()
    models: tuple[TransAE | SASRec, ...] = (
        TransAE(sizes, replace(ae_cfg, train=replace(ae_cfg.train, max_seconds=None))),
        SASRec(sizes, replace(rec_cfg, train=replace(rec_cfg.train, max_seconds=None))),
    )
    for model in models:
        # validation None: the model holds out its own seeded share of train (TrainConfig), as on the hub
        if isinstance(model, TransAE):
            fit_transae(model, train, validation, args.transae_train_on, _print_epoch)
        else:
            model.fit(train, validation, progress=_print_epoch)
        metrics = (
            evaluate_transae(model, args.dataset)
            if isinstance(model, TransAE)
            else evaluate_sasrec(model, args.dataset)
        )
        history = model.history_
        model.set_vocabulary(vocab)
        model.metadata = {**facts, "metrics": metrics, "best_epoch": history.best_epoch if history else None}
        path = args.out / f"{model.kind}_{name}.npz"
        model.save(path)
        rows.append((model, path, metrics))
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB, {metrics}")
    args.card.parent.mkdir(parents=True, exist_ok=True)
    args.card.write_text(model_card(rows, facts, args), encoding="utf-8")
    return 0


def _objective(config: TransAEConfig) -> str:
    """TransAE's training objective in words, and whether it is the product default."""
    default = TransAEConfig()
    words = (
        "plain autoencoder, no corruption"
        if config.corruption == "none"
        else f"denoising, {config.corruption} {config.corruption_rate:g}"
    )
    same = (config.corruption, config.corruption_rate) == (default.corruption, default.corruption_rate)
    return words + (
        " (the product default)"
        if same
        else f" (not the product default, {default.corruption} {default.corruption_rate:g}: see "
        'docs/BENCHMARKS.md, "The base models and the denoising default")'
    )


def _objective_flags(args: argparse.Namespace) -> str:
    """The ``--corruption`` and ``--validation`` flags of this build, if they differ from the defaults."""
    default = TransAEConfig()
    flags = ""
    if (args.corruption, args.corruption_rate) != (default.corruption, default.corruption_rate):
        rate = f" --corruption-rate {args.corruption_rate:g}" if args.corruption != "none" else ""
        flags += f" --corruption {args.corruption}{rate}"
    if args.validation != VALIDATIONS[0]:
        flags += f" --validation {args.validation}"
    if args.transae_train_on != TRANSAE_TRAIN_ON:
        flags += f" --transae-train-on {args.transae_train_on}"
    return flags


def _validation_words(facts: dict[str, Any]) -> str:
    """Which sequences early-stopped the models and set the threshold, for the card."""
    if facts["validation"] == "vld":
        return (
            f"`raw/trn` ({facts['train_sequences']} real sequences) for training, `raw/vld` "
            f"({facts['validation_sequences']}) for early stopping and the threshold (not a held-out part "
            'of `raw/trn` as on the hub: docs/BENCHMARKS.md, "Base models validated as the hub does")'
        )
    fraction = TransAEConfig().train.validation_fraction
    return (
        f"`raw/trn` ({facts['train_sequences']} real sequences): a seeded {fraction:.0%} of it "
        "(TrainConfig's seed, drawn separately by each model) held out for early stopping and the "
        "threshold, the rest for training, as the hub's own training does; `raw/vld` unused (on FR "
        "another population than `raw/trn` and `raw/test`)"
    )


def _rows_words(train_on: str) -> str:
    """What TransAE was trained on, for the card."""
    if train_on == "whole":
        return "whole sequences (SmartGen's way; not what the hub trains on)"
    return (
        "the live windows of each training sequence, what live scoring reads after each behaviour, "
        "as the hub's own training does (validated on the held-out sequences' windows)"
    )


def _threshold_words(train_on: str) -> str:
    """How TransAE's threshold was set, for the card."""
    if train_on == "whole":
        return "95th percentile of the validation sequences' scores"
    return "95th percentile of the validation sequences' highest prefix readings, the hub's rule"


def model_card(
    rows: list[tuple[Any, Path, dict[str, Any]]], facts: dict[str, Any], args: argparse.Namespace
) -> str:
    """The Markdown model card for the built files."""
    lines = [
        "# Habitus base models (model card)",
        "",
        f"Built by `habitus build-assets --dataset {args.dataset}{_objective_flags(args)}` on "
        f"{facts['built']} ({facts['machine']}).",
        "",
        "## Data",
        "",
        f"- Dataset `{facts['dataset']}` from `shared/datasets/smartthings` (SmartThings logs released by "
        f"SmartSense, CIKM 2022, via SmartGen, MIT): {_validation_words(facts)}; `raw/test` and "
        "`anomalies/*` for the figures below.",
        "- The SmartThings logs carry no explicit licence; SmartSense asks for a citation. Check the terms "
        "before redistributing these weights outside the team.",
        "- Ids follow the dataset's `vocab.json`; the vocabulary travels inside each file. A home must "
        "map its actions onto these names (`Type:control`) to use the base models; otherwise Habitus "
        "trains its own on the hub.",
        "",
        "## Models",
        "",
    ]
    for model, path, metrics in rows:
        params = sum(v.size for v in (model.params_ or {}).values())
        lines += [
            f"### `{path.name}` ({model.kind}, {params} parameters, {path.stat().st_size / 1024:.0f} KiB)",
            "",
            f"- Config: `{model._config_meta()}`",
        ]
        if isinstance(model, TransAE):
            lines.append(f"- Training objective: {_objective(model.config)}")
            lines.append(f"- Training rows: {_rows_words(facts['transae_train_on'])}")
            rule = _threshold_words(facts["transae_train_on"])
            lines.append(
                f"- Threshold: {model.threshold_:.4f} ({rule}; a hub never"
                " alerts at it: while the base models serve, the threshold is recalibrated on the home's"
                f" own stored sequences, and no anomaly is raised before {MIN_CALIBRATION_SEQUENCES} of them"
                " were scored)"
            )
        lines.append(f"- Best epoch: {model.metadata.get('best_epoch')}")
        lines += [
            f"- {key}: {value:.4f}" if isinstance(value, float) else f"- {key}: {value}"
            for key, value in metrics.items()
        ]
        lines.append("")
    lines += [
        "TransAE figures are shares of sequences flagged at the shipped threshold (real test sequences: "
        "false alarms; anomaly files: detections). SASRec predicts the last action of each real test "
        "sequence from the ones before it (1 positive + 100 sampled negatives, seed 2024, and full "
        "ranking). Nothing here was tuned on these test files. Caveat: the raw splits share sequences "
        "(dataset README section 4; FR: 130 distinct sequences in both raw/trn and raw/test), so the "
        "false-alarm share on raw/test is optimistic, and the anomaly files were injected into "
        "context subsets drawn from all raw splits.",
        "",
    ]
    return "\n".join(lines)
