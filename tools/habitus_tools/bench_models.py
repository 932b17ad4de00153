"""``habitus bench models``: SmartGen's Tables 2 (AD) and 3 (BP) for one dataset and context shift.

For a dataset directory in the shared SmartThings format and a shift (spring = ST, night = TT,
multiple = NT), TransAE and SASRec are trained on each of these sets, side by side in one run:

* ``original``: real data of the original context (``paper/<winter|daytime|single>/split_trn``), the
  no-adaptation baseline (paper columns TransAE / SASRec);
* ``paper_synthetic``: the paper's final GPT-4o set (``paper/gpt4o/<shift>_*.jsonl``; paper column
  SmartGen);
* ``oracle``: real data of the new context (``context/<shift>/{trn,vld}``), TSS-split, minus every
  sequence that also occurs in ``context/<shift>/test`` (the source of the test pieces).

Both are evaluated on the paper's test sets: ``paper/<shift>/split_test`` (normal, label 0) plus the
1:1 injected anomalies ``anomalies/<shift>_<heater|time|tv>`` (label 1) for AD; the same pieces with
the last action as the target for BP.

Two protocols are reported (``--protocol``):

* **paper** (``ad``/``bp`` keys): the reference pipelines. AD: one field per shift (actions, hour
  buckets, devices), no positional encoding, 2+2 layers, 15 epochs, batch 32, threshold = the repo's
  percentile of validation scores (90 for the original-context baseline); the synthetic set is split
  80/20 (multiple: train = validation, as in ``baseline1.py``). BP: flat tokens in one shared id space,
  100 sampled negatives, hidden 50, 2 blocks, 1 head, dropout 0.2, up to 50 epochs.
* **product** (``ad_product``/``bp_product`` keys): Habitus's defaults, one TransAE over all four
  fields, 95th percentile, and SASRec over actions, scored with sampled and full ranking.

Where the dataset has the reference's fixed baseline sets (``fixed/<original>/{trn,vld,test}``,
``fixed/anomalies/<shift>_<kind>``), the ``original`` set also gets the ``ad_fixed`` key (row "paper,
fixed baseline sets"): the paper AD protocol's TransAE trained on ``fixed/<original>/trn``, threshold at
the original baseline's percentile of its ``vld``, tested on its ``test`` (normal) + the fixed
anomalies. The paper's no-adaptation TransAE column was measured there, not on ``split_test``
(docs/BENCHMARKS.md, "Original-context baselines at full epochs"); its SASRec column fits ``split_test``.

``--hub-row`` adds the ``ad_hub`` key (row "product, as the hub"): TransAE fitted exactly as the hub's
``train_models`` fits it (``engine/jobs.py`` ``fit_transae``: each sequence's live windows, the product
defaults, the threshold at the 95th percentile of the held-out sequences' highest prefix readings),
without the hub's 25 s budget (``max_seconds`` None, so figures do not depend on load), and each test
piece flagged as live scoring flags it: any prefix reading above the threshold.

``--ad-ensemble K`` (K >= 2) adds a seed ensemble per AD protocol, rows ``ad_ensemble`` (paper) and
``ad_product_ensemble`` (product, mean token loss): K TransAEs trained with the seeds
``ensemble_member_seeds(seed, K)`` (``seed * K + i``) on the one validation split drawn with the
run's seed, each member's scores standardised by its own validation scores' mean / sd and averaged
(``engine/ensemble.py``, ``ScoreEnsemble``), flagged above the protocol's percentile of the
ensemble's validation scores; each row also lists its ``members``. No product default changes.

``--seeds`` (``N``: ``--seed`` then 1, 2, ...; or a list ``2024,1,2,3,4``) repeats the whole run per
seed. ``results`` then holds the first seed's figures (the same as a ``--seed`` run of that seed), and
the document gains ``seeds``:

* ``seeds.seeds``: the seeds, in run order;
* ``seeds.runs``: ``[{"seed": s, "results": {...}}]``, each seed's ``results`` in the shape above;
* ``seeds.summary``: ``{set: {row: {metric: {"mean", "sd", "min", "max", "n", "paper",
  "paper_within"}}}}`` for every ``ad*`` row (precision, recall, f1) and ``bp*`` row (hr@10,
  ndcg@10); ``sd`` is the sample standard deviation (0 for one seed), ``paper`` the paper's figure
  for that set and task (the same for both protocols; None where the paper has none) and
  ``paper_within`` whether it lies within [min, max] widened by the paper's rounding (its figures
  have 4 decimals; None without a paper figure).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from habitus_engine.datasets import (
    RawSequence,
    Vocabulary,
    load_vocabulary,
    read_raw_sequences,
    to_behaviours,
    to_raw,
)
from habitus_engine.ensemble import ScoreEnsemble
from habitus_engine.jobs import TRANSAE_TRAIN_ON, fit_transae
from habitus_engine.metrics import hr_ndcg_full, hr_ndcg_sampled, precision_recall_f1
from habitus_engine.models import FieldSizes, SASRec, SASRecConfig, TrainConfig, TransAE, TransAEConfig
from habitus_engine.models.training import split_validation
from habitus_engine.models.transae import CORRUPTIONS
from habitus_engine.segment import split_sequences

from .hub_transae import live_flags

SHIFTS: dict[str, tuple[str, str, str, str]] = {  # shift -> (original context, anomaly, AD field, paper code)
    "spring": ("winter", "heater", "action", "ST"),
    "night": ("daytime", "time", "bucket", "TT"),
    "multiple": ("single", "tv", "device", "NT"),
}
ORIGINAL_BASELINE_PERCENTILE = 90.0  # the paper's AD baselines (notes, section 1)
DEFAULT_PAPER_PERCENTILE = 95.0  # for datasets without a repo setting
SEED = 2024


@dataclass(frozen=True, slots=True)
class ShiftData:
    """Everything one (dataset, shift) evaluation reads."""

    name: str
    shift: str
    sizes: FieldSizes
    test_normal: list[RawSequence]
    test_anomalies: list[RawSequence]
    training: dict[str, tuple[list[RawSequence], list[RawSequence]]]  # name -> (AD set, BP set)
    paper_percentile: float
    paper: dict[str, Any] = field(default_factory=dict)
    fixed: FixedBaseline | None = None  # the reference's fixed baseline sets, where the dataset has them


@dataclass(frozen=True, slots=True)
class FixedBaseline:
    """The reference's fixed baseline sets of a shift (``fixed/<original>/{trn,vld,test}`` and
    ``fixed/anomalies/<shift>_<kind>``): what the paper's no-adaptation TransAE column was measured on
    (docs/BENCHMARKS.md, "Original-context baselines at full epochs")."""

    train: list[RawSequence]
    validation: list[RawSequence]
    test_normal: list[RawSequence]
    test_anomalies: list[RawSequence]


def load_fixed_baseline(dataset: Path, shift: str) -> FixedBaseline | None:
    """The fixed baseline sets of ``shift``, or None where the dataset lacks one of the files."""
    original, anomaly, _field, _code = SHIFTS[shift]
    folder = dataset / "fixed"
    paths = [folder / original / f"{split}.jsonl" for split in ("trn", "vld", "test")]
    paths.append(folder / "anomalies" / f"{shift}_{anomaly}.jsonl")
    if not all(p.exists() for p in paths):
        return None
    train, validation, normal, anomalies = (read_raw_sequences(p) for p in paths)
    return FixedBaseline(train, validation, normal, anomalies)


def oracle_pieces(
    dataset: Path, shift: str, vocab: Vocabulary, splits: Sequence[str] = ("trn", "vld")
) -> list[RawSequence] | None:
    """Real new-context sequences of ``splits`` (TSS-split), minus anything that also occurs in the
    test source (``context/<shift>/test``); None if no split's file exists."""
    folder = dataset / "context" / shift
    sources = [p for p in (folder / f"{split}.jsonl" for split in splits) if p.exists()]
    if not sources:
        return None
    test_path = folder / "test.jsonl"
    held_out = {tuple(s) for s in read_raw_sequences(test_path)} if test_path.exists() else set()
    pieces: list[RawSequence] = []
    for path in sources:
        for seq in read_raw_sequences(path):
            if tuple(seq) not in held_out:
                pieces.extend(to_raw(piece, vocab) for piece in split_sequences(to_behaviours(seq, vocab)))
    return pieces


def load_shift(dataset: Path, shift: str) -> ShiftData:
    """Read the test sets and the training sets of one shift (raises ``FileNotFoundError`` if missing)."""
    original, anomaly, _field, _code = SHIFTS[shift]
    vocab = load_vocabulary(dataset)
    anomaly_files = sorted((dataset / "anomalies").glob(f"{shift}_{anomaly}.jsonl")) or sorted(
        (dataset / "anomalies").glob(f"{shift}_*.jsonl")
    )
    if not anomaly_files:
        raise FileNotFoundError(f"{dataset}/anomalies: no {shift}_*.jsonl anomaly file")
    gpt = dataset / "paper" / "gpt4o"
    training = {
        "original": (read_raw_sequences(dataset / "paper" / original / "split_trn.jsonl"),) * 2,
        "paper_synthetic": (
            read_raw_sequences(gpt / f"{shift}_anomaly_detection.jsonl"),
            read_raw_sequences(gpt / f"{shift}_behavior_prediction.jsonl"),
        ),
    }
    oracle = oracle_pieces(dataset, shift, vocab)
    if oracle:
        training["oracle"] = (oracle, oracle)
    name = dataset.name
    percentile, paper = paper_reference(dataset.parent / "paper_results.json", name, shift)
    return ShiftData(
        name,
        shift,
        FieldSizes(len(vocab.devices), len(vocab.actions)),
        read_raw_sequences(dataset / "paper" / shift / "split_test.jsonl"),
        read_raw_sequences(anomaly_files[0]),
        {k: (list(a), list(b)) for k, (a, b) in training.items()},
        percentile,
        paper,
        load_fixed_baseline(dataset, shift),
    )


def paper_reference(path: Path, name: str, shift: str) -> tuple[float, dict[str, Any]]:
    """The repo's AD percentile and the paper's figures for this setting (``paper_results.json``)."""
    if not path.exists():
        return DEFAULT_PAPER_PERCENTILE, {}
    results = json.loads(path.read_text(encoding="utf-8"))
    settings = (
        results.get("repo_settings", {}).get("alpha_and_ad_percentile", {}).get(name, {}).get(shift, {})
    )
    ad = results.get("anomaly_detection", {}).get(name, {}).get(shift, {})
    bp = results.get("behavior_prediction", {}).get(name, {}).get(shift, {})
    paper = {}
    if ad or bp:
        paper = {
            "original": {"ad": ad.get("TransAE"), "bp": bp.get("SASRec")},
            "paper_synthetic": {"ad": ad.get("SmartGen"), "bp": bp.get("SmartGen")},
        }
    return float(settings.get("ad_percentile", DEFAULT_PAPER_PERCENTILE)), paper


# --- anomaly detection -------------------------------------------------------------------------------
def _ad_metrics(
    model: TransAE, data: ShiftData, flag: Callable[[list[RawSequence]], Any] | None = None
) -> dict[str, Any]:
    """Figures on the test pieces, each flagged by ``flag`` (default: the whole piece's score)."""
    return _ad_figures(
        data, partial(model.predict, backend="numpy") if flag is None else flag, model.threshold_
    )


def _ad_figures(
    data: ShiftData, flag: Callable[[list[RawSequence]], Any], threshold: float | None
) -> dict[str, Any]:
    """Precision / recall / F1 / false-positive rate of ``flag`` on the test pieces."""
    sequences = data.test_normal + data.test_anomalies
    labels = [0] * len(data.test_normal) + [1] * len(data.test_anomalies)
    result = precision_recall_f1(labels, flag(sequences))
    fpr = result.false_positives / max(1, result.false_positives + result.true_negatives)
    return {
        "precision": result.precision,
        "recall": result.recall,
        "f1": result.f1,
        "fpr": fpr,
        "threshold": threshold,
        "n_test": len(sequences),
    }


@dataclass(frozen=True, slots=True)
class Denoising:
    """TransAE's training objective in a run: ``TransAEConfig.corruption`` and its rate."""

    kind: str = TransAEConfig().corruption
    rate: float = TransAEConfig().corruption_rate

    @property
    def label(self) -> str:
        """How protocol strings name it."""
        return "plain AE" if self.kind == "none" else f"denoising {self.kind} {self.rate:g}"


@dataclass(frozen=True, slots=True)
class PaperADShape:
    """The paper AD protocol's TransAE width (``--ad-d-model`` / ``--ad-heads`` / ``--ad-d-ff``). The
    defaults are the 64-d runs recorded in docs/BENCHMARKS.md; the reference (``models1.py``) is
    512-d, 8 heads, PyTorch's default FFN of 2048."""

    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 128

    @property
    def label(self) -> str:
        """How the protocol string names it."""
        return f"{self.d_model}d/{self.n_heads}h/ff{self.d_ff}"


def paper_ad_train_config(epochs: int, seed: int, reference_training: bool = False) -> TrainConfig:
    """The paper AD protocol's optimisation: 15 epochs (``epochs``), batch 32, lr 1e-3, no budget.

    Default (the runs recorded before 2026-12-07): Habitus's ``TrainConfig`` otherwise (Adam betas
    (0.9, 0.98), global-norm clipping at 5, a new batch order every epoch, the best validation
    epoch's weights). ``reference_training``: ``baseline1.py``'s loop instead: PyTorch's Adam
    defaults (betas (0.9, 0.999), eps 1e-8), no clipping, the file's order every epoch
    (``DataLoader(shuffle=False)``) and the last epoch's weights (it saves every epoch and loads the
    file after training). docs/BENCHMARKS.md "Why 512-d sometimes fails to learn".
    """
    config = TrainConfig(epochs=epochs, batch_size=32, patience=15, seed=seed, max_seconds=None)
    if reference_training:
        config = replace(config, betas=(0.9, 0.999), max_grad_norm=None, shuffle=False, restore_best=False)
    return config


def run_ad_paper(
    train: list[RawSequence],
    data: ShiftData,
    set_name: str,
    scale: float,
    denoise: Denoising = Denoising(),
    *,
    seed: int = SEED,
    shape: PaperADShape = PaperADShape(),
    reference_training: bool = False,
) -> dict[str, Any]:
    """The reference AD pipeline (``baseline1.py``): one field, percentile threshold; ``denoise``
    sets the training objective (the reference's is the plain autoencoder, ``kind="none"``); ``seed``
    the initial weights, batch order and validation split; ``shape`` the TransAE's width;
    ``reference_training`` the reference's optimisation loop (``paper_ad_train_config``)."""
    percentile, same = _paper_ad_setting(data, set_name)
    model = fit_ad_paper(
        train,
        data.sizes,
        data.shift,
        percentile=percentile,
        seed=seed,
        scale=scale,
        denoise=denoise,
        shape=shape,
        train_is_validation=same,
        reference_training=reference_training,
    )
    return {
        **_ad_metrics(model, data),
        "protocol": _paper_ad_protocol(data, percentile, denoise, shape, reference_training),
    }


def run_ad_paper_fixed(
    data: ShiftData,
    scale: float,
    denoise: Denoising = Denoising(),
    *,
    seed: int = SEED,
    shape: PaperADShape = PaperADShape(),
    reference_training: bool = False,
) -> dict[str, Any]:
    """The paper AD protocol's original-context TransAE as the reference's baseline runs it: trained on
    ``fixed/<original>/trn``, threshold at the original baseline's percentile of ``fixed/<original>/vld``,
    tested on ``fixed/<original>/test`` (normal) + ``fixed/anomalies`` (row ``ad_fixed``)."""
    if data.fixed is None:
        raise ValueError(f"{data.name} has no fixed baseline sets for {data.shift}")
    fixed = data.fixed
    config = paper_ad_config(
        data.shift, ORIGINAL_BASELINE_PERCENTILE, seed, scale, denoise, shape, reference_training
    )
    model = TransAE(data.sizes, config).fit(fixed.train, fixed.validation)
    on_fixed = replace(data, test_normal=fixed.test_normal, test_anomalies=fixed.test_anomalies)
    protocol = _paper_ad_protocol(data, ORIGINAL_BASELINE_PERCENTILE, denoise, shape, reference_training)
    return {**_ad_metrics(model, on_fixed), "protocol": protocol + ", fixed baseline sets"}


def _paper_ad_protocol(
    data: ShiftData, percentile: float, denoise: Denoising, shape: PaperADShape, reference_training: bool
) -> str:
    """How the paper AD rows name their protocol."""
    return (
        f"paper: field={SHIFTS[data.shift][2]}, TransAE {shape.label} 2+2 no-pos, p{percentile:g}, "
        f"{denoise.label}" + (", reference training loop" if reference_training else "")
    )


def _paper_ad_setting(data: ShiftData, set_name: str) -> tuple[float, bool]:
    """The paper AD protocol's (threshold percentile, train = validation) for a training set."""
    percentile = ORIGINAL_BASELINE_PERCENTILE if set_name == "original" else data.paper_percentile
    same = data.shift == "multiple" and set_name == "paper_synthetic"  # baseline1.py: train = validation
    return percentile, same


def fit_ad_paper(
    train: list[RawSequence],
    sizes: FieldSizes,
    shift: str,
    *,
    percentile: float,
    seed: int = SEED,
    scale: float = 1.0,
    denoise: Denoising = Denoising(),
    shape: PaperADShape = PaperADShape(),
    train_is_validation: bool = False,
    reference_training: bool = False,
    split_seed: int | None = None,
) -> TransAE:
    """``run_ad_paper``'s TransAE, trained (on a seeded 80/20 split of ``train``, or on all of it with
    ``train_is_validation``) on ``shift``'s field, threshold at ``percentile`` of the validation scores;
    ``reference_training``: see ``paper_ad_train_config``. ``split_seed`` (default ``seed``) draws
    the split (a seed ensemble's members share one)."""
    config = paper_ad_config(shift, percentile, seed, scale, denoise, shape, reference_training)
    fit_part, validation = paper_ad_split(
        train, seed if split_seed is None else split_seed, train_is_validation
    )
    return TransAE(sizes, config).fit(fit_part, validation)


def paper_ad_config(  # noqa: PLR0917 - the paper protocol's knobs, two private call sites
    shift: str,
    percentile: float,
    seed: int,
    scale: float,
    denoise: Denoising,
    shape: PaperADShape,
    reference_training: bool,
) -> TransAEConfig:
    """The paper AD protocol's TransAE: ``shift``'s one field, no positions, 2+2 layers, 15 epochs."""
    return TransAEConfig(
        fields=(SHIFTS[shift][2],),
        max_behaviours=10,
        d_model=shape.d_model,
        n_heads=shape.n_heads,
        n_encoder_layers=2,
        n_decoder_layers=2,
        d_ff=shape.d_ff,
        positional=False,
        threshold_percentile=percentile,
        corruption=denoise.kind,
        corruption_rate=denoise.rate,
        train=paper_ad_train_config(_epochs(15, scale), seed, reference_training),
    )


def paper_ad_split(
    train: list[RawSequence], seed: int, train_is_validation: bool
) -> tuple[list[RawSequence], list[RawSequence]]:
    """The paper AD protocol's (training, validation) sequences: a seeded 80/20 split of ``train``,
    or all of it on both sides (``train_is_validation``, ``baseline1.py`` on multiple)."""
    if train_is_validation:
        return train, train
    train_idx, val_idx = split_validation(len(train), 0.2, seed)
    return [train[i] for i in train_idx], [train[i] for i in val_idx]


def run_ad_product(
    train: list[RawSequence],
    data: ShiftData,
    scale: float,
    positional: bool = True,
    denoise: Denoising = Denoising(),
    *,
    seed: int = SEED,
) -> dict[str, dict[str, Any]]:
    """Habitus's default TransAE (all four fields, positions, 95th percentile), scored with the mean
    token loss (the default) and with the worst behaviour's loss (``score_reduction="max"``).
    ``positional=False`` is the ablation without the behaviour-position embedding; ``seed`` seeds the
    training and the validation split."""
    model, validation = fit_ad_product(
        train, data.sizes, seed=seed, scale=scale, positional=positional, denoise=denoise
    )
    worst = model.with_score_reduction("max")
    worst.calibrate(validation)
    protocol = f"product: all fields, TransAE 32d 1+1 + positions, p95, {denoise.label}"
    return {
        "ad_product": {**_ad_metrics(model, data), "protocol": protocol + ", mean token loss"},
        "ad_product_max": {**_ad_metrics(worst, data), "protocol": protocol + ", worst behaviour"},
    }


def fit_ad_product(
    train: list[RawSequence],
    sizes: FieldSizes,
    *,
    seed: int = SEED,
    scale: float = 1.0,
    positional: bool = True,
    denoise: Denoising = Denoising(),
    split_seed: int | None = None,
) -> tuple[TransAE, list[RawSequence]]:
    """``run_ad_product``'s TransAE (mean token loss, threshold at p95 of its validation scores),
    trained on a seeded 80 % of ``train``; and the other 20 %, its validation sequences.
    ``split_seed`` (default ``seed``) draws the split (a seed ensemble's members share one)."""
    defaults = replace(
        TransAEConfig(), positional=positional, corruption=denoise.kind, corruption_rate=denoise.rate
    )
    # no wall-clock budget here: benchmark figures must not depend on the box's load
    train_cfg = replace(defaults.train, epochs=_epochs(30, scale), max_seconds=None, seed=seed)
    model = TransAE(sizes, replace(defaults, train=train_cfg))
    train_idx, val_idx = split_validation(len(train), 0.2, seed if split_seed is None else split_seed)
    validation = [train[i] for i in val_idx]
    model.fit([train[i] for i in train_idx], validation)
    return model, validation


def fit_ad_hub(
    train: list[RawSequence], sizes: FieldSizes, *, seed: int = SEED, scale: float = 1.0
) -> TransAE:
    """TransAE fitted exactly as the hub's ``train_models`` fits it on ``train`` (its stored
    sequences): product defaults, live-window rows, the held-out prefix-max threshold
    (``engine/jobs.py`` ``fit_transae``); only the 25 s budget is off and ``scale`` scales the epoch cap."""
    defaults = TransAEConfig()
    epochs = _epochs(defaults.train.epochs, scale)
    train_cfg = replace(defaults.train, epochs=epochs, max_seconds=None, seed=seed)
    model = TransAE(sizes, replace(defaults, train=train_cfg))
    fit_transae(model, train)
    return model


def run_ad_hub(
    train: list[RawSequence], data: ShiftData, scale: float, *, seed: int = SEED
) -> dict[str, Any]:
    """The ``ad_hub`` row: ``fit_ad_hub``'s TransAE, each test piece flagged as live scoring flags it
    (any prefix reading above the threshold, ``hub_transae.live_flags``)."""
    model = fit_ad_hub(train, data.sizes, seed=seed, scale=scale)
    history = model.history_
    return {
        **_ad_metrics(model, data, partial(live_flags, model)),
        "best_epoch": history.best_epoch if history else None,
        "epochs_run": len(history.validation_loss) if history else None,
        "protocol": f"product, as the hub: {TRANSAE_TRAIN_ON} rows, held-out prefix-max p95, "
        "flagged on any prefix, no 25 s budget",
    }


def ensemble_member_seeds(seed: int, k: int) -> list[int]:
    """The training seeds of the ``k`` members of the ensemble drawn with ``seed``: ``seed * k + i``,
    so the ensembles of distinct seeds share no member."""
    return [seed * k + i for i in range(k)]


def _ensemble_figures(
    members: Sequence[TransAE], validation: list[RawSequence], data: ShiftData, percentile: float
) -> dict[str, Any]:
    """Test figures of the members' ``ScoreEnsemble`` calibrated on their shared ``validation``."""
    ensemble = ScoreEnsemble(percentile)
    ensemble.calibrate([m.score(validation, backend="numpy") for m in members])

    def flag(sequences: list[RawSequence]) -> Any:
        return ensemble.predict([m.score(sequences, backend="numpy") for m in members])

    return _ad_figures(data, flag, ensemble.threshold_)


def run_ad_paper_ensemble(
    train: list[RawSequence],
    data: ShiftData,
    set_name: str,
    scale: float,
    denoise: Denoising = Denoising(),
    *,
    seed: int = SEED,
    k: int = 5,
    shape: PaperADShape = PaperADShape(),
    reference_training: bool = False,
) -> dict[str, Any]:
    """The ``ad_ensemble`` row: ``k`` paper-protocol TransAEs (``fit_ad_paper``) trained with
    ``ensemble_member_seeds(seed, k)`` on the one split drawn with ``seed`` (the single model's), their
    scores combined by ``engine/ensemble.py``'s ``ScoreEnsemble`` (each standardised by its own
    validation scores, then averaged), flagged above the protocol's percentile of the ensemble's
    validation scores."""
    percentile, same = _paper_ad_setting(data, set_name)
    members = ensemble_member_seeds(seed, k)
    models = [
        fit_ad_paper(
            train,
            data.sizes,
            data.shift,
            percentile=percentile,
            seed=member,
            scale=scale,
            denoise=denoise,
            shape=shape,
            train_is_validation=same,
            reference_training=reference_training,
            split_seed=seed,
        )
        for member in members
    ]
    validation = paper_ad_split(train, seed, same)[1]
    protocol = _paper_ad_protocol(data, percentile, denoise, shape, reference_training)
    return {
        **_ensemble_figures(models, validation, data, percentile),
        "members": members,
        "protocol": f"{protocol}, seed ensemble of {k} (validation-standardised mean)",
    }


def run_ad_product_ensemble(
    train: list[RawSequence],
    data: ShiftData,
    scale: float,
    positional: bool = True,
    denoise: Denoising = Denoising(),
    *,
    seed: int = SEED,
    k: int = 5,
) -> dict[str, Any]:
    """The ``ad_product_ensemble`` row: ``k`` product TransAEs (``fit_ad_product``, mean token loss)
    trained with ``ensemble_member_seeds(seed, k)`` on the one split drawn with ``seed``, combined
    and thresholded (p95) as ``run_ad_paper_ensemble``."""
    members = ensemble_member_seeds(seed, k)
    fitted = [
        fit_ad_product(
            train, data.sizes, seed=m, scale=scale, positional=positional, denoise=denoise, split_seed=seed
        )
        for m in members
    ]
    percentile = TransAEConfig().threshold_percentile
    return {
        **_ensemble_figures([model for model, _ in fitted], fitted[0][1], data, percentile),
        "members": members,
        "protocol": f"product: all fields, TransAE 32d 1+1 + positions, p{percentile:g}, {denoise.label}, "
        f"mean token loss, seed ensemble of {k} (validation-standardised mean)",
    }


# --- behaviour prediction ----------------------------------------------------------------------------
def _bp_cases(model: SASRec, pieces: Sequence[RawSequence]) -> tuple[list[list[int]], list[int]]:
    """(histories, targets): the last item of each piece is the target, the rest its history."""
    histories, targets = [], []
    for piece in pieces:
        items = model.items(piece)
        if len(items) >= 2:
            histories.append(items[:-1])
            targets.append(items[-1])
    return histories, targets


def _bp_metrics(model: SASRec, pieces: Sequence[RawSequence]) -> dict[str, Any]:
    histories, targets = _bp_cases(model, pieces)
    scores = model.item_scores(histories, backend="numpy")
    sampled = hr_ndcg_sampled(scores, targets, histories, k=10, n_negatives=100, seed=SEED)
    full = hr_ndcg_full(scores, targets, k=10)
    return {
        "hr@10": sampled.hit_rate,
        "ndcg@10": sampled.ndcg,
        "full_hr@10": full.hit_rate,
        "full_ndcg@10": full.ndcg,
        "n_test": sampled.n,
    }


class HoldOutTailSASRec(SASRec):
    """SASRec that trains on each sequence minus its last ``hold_out`` items, as pmixer's
    ``data_partition`` does (``user_train = items[:-2]``; the last two are its validation and test
    items) for the users of SmartGen's training file."""

    def __init__(self, sizes: FieldSizes, config: SASRecConfig, hold_out: int = 2) -> None:
        super().__init__(sizes, config)
        self.hold_out = hold_out

    def training_items(self, seq: RawSequence) -> list[int]:
        items = self.items(seq)
        return items[: -self.hold_out] if self.hold_out and len(items) > self.hold_out else items


@dataclass(frozen=True, slots=True)
class BPReference:
    """How close the paper BP protocol follows the reference's data handling (``--bp-max-len``,
    ``--bp-hold-out``); the defaults are the runs recorded before these options existed."""

    max_len: int = 40  # the reference: 200 (no test piece is longer than 40 tokens)
    hold_out: int = 0  # the reference: 2 (pmixer trains on items[:-2])
    rezero_padding: bool = True  # the reference: False (padding zeroed at the input only)

    @property
    def label(self) -> str:
        """How the protocol string names it."""
        return (
            f"L={self.max_len}"
            + (f", trained on pieces minus last {self.hold_out}" if self.hold_out else "")
            + ("" if self.rezero_padding else ", padding zeroed at the input only")
        )


def run_bp_paper(
    train: list[RawSequence],
    data: ShiftData,
    scale: float,
    reference: BPReference = BPReference(),
    *,
    seed: int = SEED,
) -> dict[str, Any]:
    """The reference BP pipeline: flat tokens in one id space, 100 sampled negatives, and the
    reference's schedule (``SASRec.py``: batch 8, a fixed 50 epochs, the epoch-50 weights evaluated;
    every training piece trains, no held-out split)."""
    epochs = _epochs(50, scale)
    config = SASRecConfig(
        item_mode="paper",
        max_len=reference.max_len,
        rezero_padding=reference.rezero_padding,
        d_model=50,
        n_heads=1,
        n_blocks=2,
        train=TrainConfig(
            epochs=epochs,
            batch_size=8,
            dropout=0.2,
            patience=epochs + 1,
            restore_best=False,
            seed=seed,
            max_seconds=None,
        ),
    )
    model = HoldOutTailSASRec(data.sizes, config, reference.hold_out)
    model.fit(train, validation=train)  # validation unused: no early stop
    return {
        **_bp_metrics(model, data.test_normal),
        "protocol": f"paper: flat tokens, shared ids, 1+100 sampled, batch 8, {epochs} fixed epochs, "
        + reference.label,
    }


def run_bp_product(
    train: list[RawSequence], data: ShiftData, scale: float, *, seed: int = SEED
) -> dict[str, Any]:
    """Habitus's default SASRec over action ids, trained with ``seed``."""
    defaults = SASRecConfig()
    train_cfg = replace(defaults.train, epochs=_epochs(30, scale), max_seconds=None, seed=seed)
    model = SASRec(data.sizes, replace(defaults, train=train_cfg))
    model.fit(train)
    return {**_bp_metrics(model, data.test_normal), "protocol": "product: actions, L=20"}


def _timed(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.monotonic()
    result = run()
    return {**result, "seconds": round(time.monotonic() - started, 1)}


def _epochs(base: int, scale: float) -> int:
    return max(1, round(base * scale))


def evaluate(
    data: ShiftData,
    protocols: Sequence[str],
    scale: float = 1.0,
    log: Callable[[str], None] = print,
    *,
    positional: bool = True,
    denoise: Denoising = Denoising(),
    tasks: Sequence[str] = ("ad", "bp"),
    bp_reference: BPReference = BPReference(),
    seed: int = SEED,
    ad_shape: PaperADShape = PaperADShape(),
    hub_row: bool = False,
    ad_reference_training: bool = False,
    ad_ensemble: int = 0,
) -> dict[str, Any]:
    """Train and evaluate every training set; returns the JSON document (see the issue for its shape).

    ``hub_row``: also the ``ad_hub`` row (``run_ad_hub``) when AD is among ``tasks``;
    ``ad_reference_training``: the paper AD protocol with ``baseline1.py``'s optimisation loop;
    ``ad_ensemble`` K >= 2: also the seed-ensemble rows ``ad_ensemble`` / ``ad_product_ensemble``.

    ``seed`` seeds every model's training (weights, batches, validation split); the BP test's 100
    sampled negatives stay drawn with ``SEED`` (part of the test protocol, the same for every run)."""
    results: dict[str, Any] = {}
    for set_name, (ad_train, bp_train) in data.training.items():
        log(f"  {set_name}: training on {len(ad_train)} (AD) / {len(bp_train)} (BP) sequences")
        started = time.monotonic()
        entry: dict[str, Any] = {"n_train_ad": len(ad_train), "n_train_bp": len(bp_train)}
        if "paper" in protocols:
            if "ad" in tasks:
                entry["ad"] = _timed(
                    partial(
                        run_ad_paper,
                        ad_train,
                        data,
                        set_name,
                        scale,
                        denoise,
                        seed=seed,
                        shape=ad_shape,
                        reference_training=ad_reference_training,
                    )
                )
            if "ad" in tasks and ad_ensemble >= 2:
                entry["ad_ensemble"] = _timed(
                    partial(
                        run_ad_paper_ensemble,
                        ad_train,
                        data,
                        set_name,
                        scale,
                        denoise,
                        seed=seed,
                        k=ad_ensemble,
                        shape=ad_shape,
                        reference_training=ad_reference_training,
                    )
                )
            if "ad" in tasks and set_name == "original" and data.fixed is not None:
                entry["ad_fixed"] = _timed(
                    partial(
                        run_ad_paper_fixed,
                        data,
                        scale,
                        denoise,
                        seed=seed,
                        shape=ad_shape,
                        reference_training=ad_reference_training,
                    )
                )
            if "bp" in tasks:
                entry["bp"] = _timed(partial(run_bp_paper, bp_train, data, scale, bp_reference, seed=seed))
        if "product" in protocols:
            if "ad" in tasks:
                entry |= run_ad_product(ad_train, data, scale, positional, denoise, seed=seed)
                if ad_ensemble >= 2:
                    entry["ad_product_ensemble"] = _timed(
                        partial(
                            run_ad_product_ensemble,
                            ad_train,
                            data,
                            scale,
                            positional,
                            denoise,
                            seed=seed,
                            k=ad_ensemble,
                        )
                    )
            if "bp" in tasks:
                entry["bp_product"] = _timed(partial(run_bp_product, bp_train, data, scale, seed=seed))
        if hub_row and "ad" in tasks:
            entry["ad_hub"] = _timed(partial(run_ad_hub, ad_train, data, scale, seed=seed))
        entry["seconds"] = round(time.monotonic() - started, 1)
        results[set_name] = entry
        log(f"  {set_name}: done in {entry['seconds']} s")
    return {
        "dataset": data.name,
        "shift": data.shift,
        "results": results,
        "paper": data.paper,
        "settings": {
            "protocols": list(protocols),
            "tasks": list(tasks),
            "epoch_scale": scale,
            "product_positional": positional,
            "corruption": denoise.kind,
            "corruption_rate": denoise.rate,
            "bp_paper_max_len": bp_reference.max_len,
            "bp_paper_hold_out": bp_reference.hold_out,
            "bp_paper_rezero_padding": bp_reference.rezero_padding,
            "seed": seed,
            "hub_row": hub_row,
            "ad_paper_d_model": ad_shape.d_model,
            "ad_paper_heads": ad_shape.n_heads,
            "ad_paper_d_ff": ad_shape.d_ff,
            "ad_paper_reference_training": ad_reference_training,
            "ad_ensemble": ad_ensemble,
            "ad_percentile_paper": data.paper_percentile,
            "n_test_normal": len(data.test_normal),
            "n_test_anomalies": len(data.test_anomalies),
        },
        "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _fmt_ad(ad: dict[str, Any] | None) -> str:
    return "-" if not ad else f"{ad['precision']:.3f} / {ad['recall']:.3f} / {ad['f1']:.3f}"


def _fmt_bp(bp: dict[str, Any] | None, prefix: str = "") -> str:
    return "-" if not bp else f"{bp[prefix + 'hr@10']:.3f} / {bp[prefix + 'ndcg@10']:.3f}"


def format_table(doc: dict[str, Any]) -> str:
    """A plain-text table: our figures next to the paper's."""
    code = SHIFTS[doc["shift"]][3]
    lines = [
        f"{doc['dataset'].upper()} {doc['shift']} ({code})",
        f"{'training set':<40}{'AD P / R / F1':<26}{'BP HR@10 / NDCG@10 (sampled)':<30}{'BP full ranking'}",
    ]
    paper = doc.get("paper") or {}
    labels = {"original": "paper TransAE / SASRec", "paper_synthetic": "paper SmartGen"}
    for set_name, entry in doc["results"].items():
        for key, tag in (
            ("", "paper protocol"),
            ("_fixed", "paper, fixed baseline sets"),
            ("_product", "product"),
            ("_product_max", "product, max"),
            ("_hub", "product, as the hub"),
            ("_ensemble", "paper, seed ensemble"),
            ("_product_ensemble", "product, ensemble"),
        ):
            if f"ad{key}" in entry or f"bp{key}" in entry:
                bp = entry.get(f"bp{key}") if key in ("", "_product") else None
                lines.append(
                    f"{set_name + ' (' + tag + ')':<40}{_fmt_ad(entry.get(f'ad{key}')):<26}"
                    f"{_fmt_bp(bp):<30}{_fmt_bp(bp, 'full_')}"
                )
        if set_name in paper:
            lines.append(
                f"{'  ' + labels[set_name]:<40}{_fmt_ad(paper[set_name]['ad']):<26}"
                f"{_fmt_bp(paper[set_name]['bp']):<30}"
            )
    return "\n".join(lines)


# --- several seeds ------------------------------------------------------------------------------------
SUMMARY_METRICS: dict[str, tuple[str, ...]] = {  # row prefix -> the figures summarised over seeds
    "ad": ("precision", "recall", "f1"),
    "bp": ("hr@10", "ndcg@10"),
}


def seed_list(spec: str, first: int = SEED) -> list[int]:
    """``--seeds``: ``"N"`` = N seeds, ``first`` then 1, 2, ... (skipping ``first``); ``"a,b,c"`` = those
    seeds in that order. Raises ``ValueError`` on a count below 1 or a repeated seed."""
    if "," in spec:
        seeds = [int(part) for part in spec.split(",") if part.strip()]
    else:
        count = int(spec)
        if count < 1:
            raise ValueError(f"--seeds {spec}: at least one seed")
        seeds = [first, *[i for i in range(1, count + 1) if i != first][: count - 1]]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {spec}: give distinct seeds")
    return seeds


PAPER_ROUNDING = 5e-5  # paper_results.json gives the paper's figures to 4 decimals


def spread(values: Sequence[float], paper: float | None) -> dict[str, Any]:
    """One figure over seeds: mean, sample standard deviation (0 for one seed), min, max, n, the
    paper's figure and whether it lies within [min, max] (None without a paper figure). The paper's
    figures are rounded to 4 decimals, so [min, max] is widened by half a unit of the 4th decimal
    (``PAPER_ROUNDING``): a seed whose F1 rounds to the paper's has reached it."""
    array = np.asarray(values, dtype=np.float64)
    low, high = array.min() - PAPER_ROUNDING, array.max() + PAPER_ROUNDING
    return {
        "mean": float(array.mean()),
        "sd": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        "min": float(array.min()),
        "max": float(array.max()),
        "n": len(array),
        "paper": paper,
        "paper_within": None if paper is None else bool(low <= paper <= high),
    }


def seed_summary(runs: Sequence[dict[str, Any]], paper: dict[str, Any]) -> dict[str, Any]:
    """``seeds.summary``: for each training set and row (``ad*`` / ``bp*`` keys) of the per-seed
    ``results`` documents ``runs``, the ``spread`` of each ``SUMMARY_METRICS`` figure, next to the
    paper's figure for that set and task (both protocols face the same paper figure)."""
    summary: dict[str, Any] = {}
    for set_name, entry in runs[0].items():
        rows: dict[str, Any] = {}
        for row, figures in entry.items():
            metrics = SUMMARY_METRICS.get(row[:2]) if isinstance(figures, dict) else None
            if not metrics:
                continue
            reference = (paper.get(set_name) or {}).get(row[:2]) or {}
            rows[row] = {
                m: spread([run[set_name][row][m] for run in runs], reference.get(m)) for m in metrics
            }
        summary[set_name] = rows
    return summary


def evaluate_seeds(
    seeds: Sequence[int], run: Callable[[int], dict[str, Any]], log: Callable[[str], None] = print
) -> dict[str, Any]:
    """``run(seed)`` (an ``evaluate``) once per seed: the first seed's document, plus ``seeds`` (the
    module docstring describes its keys)."""
    docs = []
    for i, seed in enumerate(seeds):
        log(f"seed {seed} ({i + 1} of {len(seeds)})")
        docs.append(run(seed))
    first = docs[0]
    return {
        **first,
        "seeds": {
            "seeds": list(seeds),
            "runs": [
                {"seed": seed, "results": doc["results"]} for seed, doc in zip(seeds, docs, strict=True)
            ],
            "summary": seed_summary([doc["results"] for doc in docs], first["paper"]),
        },
    }


def format_seed_summary(doc: dict[str, Any]) -> str:
    """The ``seeds.summary`` as text: mean +- sd [min, max] per figure, next to the paper's."""
    seeds = doc["seeds"]
    lines = [
        f"{doc['dataset'].upper()} {doc['shift']}: {len(seeds['seeds'])} seeds "
        f"({', '.join(map(str, seeds['seeds']))}); mean +- sd [min, max], paper, paper within [min, max]"
    ]
    for set_name, rows in seeds["summary"].items():
        for row, metrics in rows.items():
            for metric, fig in metrics.items():
                paper = "-" if fig["paper"] is None else f"{fig['paper']:.3f}"
                within = {None: "", True: "yes", False: "no"}[fig["paper_within"]]
                lines.append(
                    f"{set_name + ' ' + row + ' ' + metric:<48}{fig['mean']:.3f} +- {fig['sd']:.3f} "
                    f"[{fig['min']:.3f}, {fig['max']:.3f}]   paper {paper} {within}"
                )
    return "\n".join(lines)


def add_corruption_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--corruption`` / ``--corruption-rate``: TransAE's training objective (``TransAEConfig``)."""
    parser.add_argument(
        "--corruption",
        choices=CORRUPTIONS,
        default=Denoising().kind,
        help=f"{what} (default: TransAEConfig's; none = plain autoencoder)",
    )
    parser.add_argument(
        "--corruption-rate", type=float, default=Denoising().rate, help="share of behaviours corrupted"
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench models``."""
    parser = subparsers.add_parser(
        "models",
        help="SmartGen Tables 2/3: TransAE and SASRec per training set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", required=True, type=Path, help="dataset directory (e.g. .../smartthings/fr)"
    )
    parser.add_argument("--shift", required=True, choices=sorted(SHIFTS), help="context shift")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    parser.add_argument("--protocol", choices=["paper", "product", "both"], default="both")
    parser.add_argument(
        "--sets",
        nargs="+",
        choices=["original", "paper_synthetic", "oracle"],
        help="only these training sets (default: all the dataset has)",
    )
    parser.add_argument(
        "--epoch-scale", type=float, default=1.0, help="multiply every epoch budget (quick runs)"
    )
    parser.add_argument(
        "--no-positional",
        action="store_true",
        help="ablation: product TransAE without the behaviour-position embedding",
    )
    parser.add_argument(
        "--tasks", nargs="+", choices=["ad", "bp"], default=["ad", "bp"], help="only these tasks"
    )
    add_corruption_options(parser, "TransAE training objective, both protocols")
    parser.add_argument(
        "--bp-max-len",
        type=int,
        default=BPReference().max_len,
        help="paper BP protocol: SASRec history length (the reference: 200)",
    )
    parser.add_argument(
        "--bp-hold-out",
        type=int,
        default=BPReference().hold_out,
        help="paper BP protocol: train on each piece minus its last N tokens (the reference: 2)",
    )
    parser.add_argument(
        "--bp-input-padding-only",
        action="store_true",
        help="paper BP protocol: zero SASRec's padding rows at the input only, as SmartGen's model.py",
    )
    parser.add_argument(
        "--seed", type=int, default=SEED, help=f"seeds every model's training (default: {SEED})"
    )
    parser.add_argument(
        "--seeds",
        help="repeat the run per seed and summarise (N: --seed then 1, 2, ...; or a list such as "
        "2024,1,2,3,4); results keep the first seed's figures, the summary goes to seeds",
    )
    parser.add_argument(
        "--ad-ensemble",
        type=int,
        default=0,
        metavar="K",
        help="also a seed ensemble of K TransAEs per AD protocol (rows ad_ensemble, ad_product_ensemble): "
        "scores standardised by each model's validation scores, averaged, thresholded at the same percentile",
    )
    shape = PaperADShape()
    for flag, default, what in (
        ("--ad-d-model", shape.d_model, "width (the reference: 512)"),
        ("--ad-heads", shape.n_heads, "attention heads (the reference: 8)"),
        ("--ad-d-ff", shape.d_ff, "feed-forward width (the reference: 2048)"),
    ):
        parser.add_argument(flag, type=int, default=default, help=f"paper AD protocol: TransAE {what}")
    parser.add_argument(
        "--ad-reference-training",
        action="store_true",
        help="paper AD protocol: baseline1.py's loop (Adam betas 0.9/0.999, no clipping, "
        "no reshuffling, last epoch's weights)",
    )
    parser.add_argument(
        "--hub-row",
        action="store_true",
        help="also TransAE fitted as the hub fits it (no 25 s budget), pieces flagged on any prefix (ad_hub)",
    )
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    try:
        data = load_shift(args.dataset, args.shift)
    except (FileNotFoundError, ValueError) as err:
        print(f"habitus bench models: {err}", file=sys.stderr)
        return 2
    try:
        seeds = seed_list(args.seeds, args.seed) if args.seeds else [args.seed]
    except ValueError as err:
        print(f"habitus bench models: {err}", file=sys.stderr)
        return 2
    if args.ad_ensemble == 1 or args.ad_ensemble < 0:
        print("habitus bench models: --ad-ensemble needs K >= 2", file=sys.stderr)
        return 2
    protocols = ["paper", "product"] if args.protocol == "both" else [args.protocol]
    if args.sets:
        data = replace(data, training={k: v for k, v in data.training.items() if k in args.sets})
    print(f"{data.name} {data.shift}: training sets {', '.join(data.training)}", flush=True)

    def log(message: str) -> None:
        print(message, flush=True)

    run = partial(
        evaluate,
        data,
        protocols,
        args.epoch_scale,
        log=log,
        positional=not args.no_positional,
        denoise=Denoising(args.corruption, args.corruption_rate),
        tasks=args.tasks,
        bp_reference=BPReference(args.bp_max_len, args.bp_hold_out, not args.bp_input_padding_only),
        ad_shape=PaperADShape(args.ad_d_model, args.ad_heads, args.ad_d_ff),
        hub_row=args.hub_row,
        ad_reference_training=args.ad_reference_training,
        ad_ensemble=args.ad_ensemble,
    )
    doc = evaluate_seeds(seeds, lambda seed: run(seed=seed), log) if args.seeds else run(seed=args.seed)
    print(format_table(doc))
    if "seeds" in doc:
        print(format_seed_summary(doc))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return 0
