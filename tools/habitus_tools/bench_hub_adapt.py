"""``habitus bench hub-adapt``: the hub's own adaptation loop after a context shift, on the paper's data.

The home before the shift is the original context's real data (``bench models``' *original* set:
``paper/<winter|daytime|single>/split_trn``). The files carry no timestamps (a behaviour is day of week
and 3-hour bucket), so **file order is the time proxy**: the hub's split (``adaptation.split_by_start``,
``HOLDOUT_FRACTION``) on the line number holds out the last 20 % as the home's recent real sequences.

1. **champion**: the worker's ``train_models`` job itself (``engine/jobs.py``) on the older 80 %, with the
   product's defaults and its 25 s budget per model (``--no-budget``: none, so figures do not depend on
   the box's load), written to a temporary folder, stamped and loaded as the hub does
   (``adaptation.stamp_vocabulary``, ``live_models.load_bundle``);
2. **challengers**: ``train_models`` on the adaptation job's training sets
   (``adaptation_job.training_set``): ``augment`` = real 80 % + synthetic, ``replace`` = synthetic only
   (falls back to augment below ``MIN_SYNTHETIC_REPLACE``); SASRec on the synthetic next-action set
   where it differs (TOF per task). Synthetic = the paper's GPT-4o sets (``--synthetic paper``) or our
   pipeline's output on the real 80 % (``--synthetic habitus``: ``adapt_pipeline.synthesize_raw`` with
   ``bench adapt``'s settings and the packaged Gemma 3 270M; slow). ``oracle`` (where the dataset has
   new-context data): ``train_models`` on the older 80 % of ``bench models``' oracle pieces (real
   new-context sequences, test sources removed);
3. **decision**: the product's ``adaptation.evaluate`` (SASRec HR@10 of each held-out sequence's last
   action; TransAE's false-alarm rate, the share of held-out sequences with a prefix reading above the
   threshold, and its detection rate, the same share of ``adaptation.injected_anomalies`` of them whose
   source it does not flag) of champion and challenger on the held-out old-context 20 %, then
   ``adaptation.is_better``: deployed or not, and why, as the product decides: held to the
   one-standard-error margin (paired bootstrap over the held-out sequences, aad6696) when judged on the
   recent 20 % (the champion is home-trained), not when judged since the shift; ``deployed_no_margin``
   is the rule without it (before aad6696; the same as ``deployed`` since the shift). On the same
   models: ``deployed_far_only``, the rule before the detection rate (HR@10 and false-alarm rate
   only; ``is_better`` with both detection rates set to 1), and ``deployed_all_copies``, the rule of
   a743704 (the detection rate over every copy, ``detection_rate_all_copies``, in place of the
   conditional one). The same calls on the recent 20 % of the oracle pieces (new-context real data)
   give ``deployed_new_context``: what the guard would decide if it judged on new-context data (a
   what-if, not the product);
4. **truth** (reporting only): every model on the paper's new-context test sets, as ``bench models
   --hub-row`` scores them: AD flags as live scoring raises them (any prefix reading above the
   threshold) -> precision / recall / F1 and the false-alarm rate on the normal pieces; BP HR@10 /
   NDCG@10 (1 + 100 sampled negatives) on the normal pieces. ``truth_better`` applies ``is_better`` to
   (BP HR@10, false-alarm rate on new-context normals): the product's own rule on new-context figures.
   A decision is ``right`` when deployed == truth_better; ``truth_better_f1`` / ``right_f1`` use 1 - AD F1
   in place of the false-alarm rate (a model that flags nothing has no false alarm, and no recall);
   ``truth_better_balanced`` / ``right_balanced``: the product's rule on (BP HR@10, FPR, AD recall) of
   the test sets. ``right_far_only`` / ``right_f1_far_only`` / ``right_balanced_far_only`` and
   ``right_all_copies`` / ``right_f1_all_copies`` / ``right_balanced_all_copies``: the same three truths
   against ``deployed_far_only`` and ``deployed_all_copies``.

``--post-shift``: the home has lived in the new context for a while. The oracle pieces are appended to
its history as the most recent sequences, so the hub's split puts them in the held-out 20 % first and any
beyond it in the real training data (champion and augment); no oracle challenger, no what-if.

``--post-shift --judge since-shift``: the guard splits as the product does for a job adapting to a
detected shift (09e7faa): ``adaptation.hold_out_since`` with the line number as start time and the first
appended piece as the shift, so the held-out set is every new-context piece (the most recent 20 % of the
history at most) when there are at least ``MIN_HOLDOUT_SEQUENCES`` of them and at least
``MIN_TRAIN_SEQUENCES`` others remain (the bench has no feedback); otherwise the product's fallback, the
most recent 20 % (as ``--post-shift``). The champion
was trained before the shift: on the pre-shift sequences of the training side only; augment and replace
train on the training side the product would use. No oracle challenger (as ``--post-shift``): it could
only train on the pieces it is judged on. ``settings`` gains ``judge``, ``evaluated_on`` (``since_shift``
/ ``recent``, as the product's outcome says) and ``n_train_real`` (the challengers' real sequences).

JSON (``--json``): ``dataset``, ``shift``, ``settings``, ``models`` (per model: ``training``, ``guard``,
``guard_new_context``, ``truth``), ``decisions`` (per challenger: ``deployed``, ``reason``,
``deployed_no_margin``, ``deployed_far_only``, ``deployed_all_copies``, ``deployed_new_context``,
``reason_new_context``, ``truth_better``, ``truth_reason``, ``right``, ``truth_better_f1``, ``right_f1``,
``truth_better_balanced``, ``right_balanced``, ``right_far_only``, ``right_f1_far_only``,
``right_balanced_far_only``, ``right_all_copies``, ``right_f1_all_copies``, ``right_balanced_all_copies``,
``delta``), ``load`` (``/proc/loadavg`` before and after), ``machine``, ``date``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from habitus_engine.behaviour import Behaviour
from habitus_engine.datasets import RawSequence, Vocabulary, load_vocabulary
from habitus_engine.jobs import train_models

from .bench_models import SHIFTS, ShiftData, _ad_metrics, _bp_metrics, load_shift
from .hub_transae import live_flags

SYNTHETIC_SOURCES = ("paper", "habitus")
JUDGES = ("recent", "since-shift")  # the guard's held-out set: the most recent 20 %, or since the shift
MONDAY_HOURS = 96.0  # 1970-01-05 00:00 UTC, a Monday: behaviour times on the epoch-hours axis


@dataclass(frozen=True, slots=True)
class HubAdaptConfig:
    """One run: a dataset, a shift, where the synthetic data comes from and how the hub trains."""

    dataset: Path
    shift: str
    synthetic: str = "paper"
    budget: bool = True  # the hub's 25 s per model (False: none, load-independent)
    seed: int | None = None  # None: the hub's (TrainConfig's) seed
    epochs: int | None = None  # None: the product's epoch cap
    oracle: bool = True
    post_shift: bool = False  # the oracle pieces appended to the home's history as the days since the shift
    judge: str = "recent"  # "since-shift" (with post_shift): hold out as a shift job does (hold_out_since)
    limit: int | None = None  # first N original-context and oracle sequences only (quick runs)
    test_limit: int | None = None  # first N normal and N anomalous test pieces only (quick runs)


@dataclass(frozen=True, slots=True)
class Trained:
    """One trained bundle and what its ``train_models`` job said."""

    bundle: Any  # live_models.ModelBundle
    training: dict[str, Any]


def integration() -> tuple[ModuleType, ModuleType, ModuleType]:
    """The integration's ``adaptation``, ``adaptation_job`` and ``live_models`` modules (imports HA)."""
    from .bench_looplag import _import_integration_path  # noqa: PLC0415

    _import_integration_path()
    from custom_components.habitus import adaptation, adaptation_job, live_models  # noqa: PLC0415

    return adaptation, adaptation_job, live_models


def hub_split(sequences: list[RawSequence]) -> tuple[list[RawSequence], list[RawSequence]]:
    """(older 80 %, most recent 20 %) by file order: the hub's split with the line number as start time."""
    adaptation, _, _ = integration()
    train, recent = adaptation.split_by_start(list(range(len(sequences))), float)
    return [sequences[i] for i in train], [sequences[i] for i in recent]


@dataclass(frozen=True, slots=True)
class GuardSplit:
    """The home's history split for one job: what the champion learnt, what the challengers train on
    (real), what the guard judges on, and how the product would name it (``HomeData.evaluated_on``)."""

    champion: list[RawSequence]
    real: list[RawSequence]
    held_out: list[RawSequence]
    evaluated_on: str


def since_shift_split(pre_shift: list[RawSequence], post_shift: list[RawSequence]) -> GuardSplit:
    """A shift job's split of ``pre_shift + post_shift`` (file order as time, the shift at the first
    post-shift line): ``adaptation.shift_split`` as ``async_home_data(since=...)`` applies it, else the
    most recent 20 % (``hub_split``). The champion, trained before the shift, keeps only the pre-shift
    sequences of the training side (which holds the earlier post-shift ones too when more than the
    held-out cap came after the shift)."""
    adaptation, _, _ = integration()
    history = pre_shift + post_shift
    shifted = adaptation.shift_split(list(range(len(history))), float, float(len(pre_shift)))
    if shifted is not None:
        before, since = ([history[i] for i in part] for part in shifted)
        return GuardSplit(before[: len(pre_shift)], before, since, "since_shift")
    real, recent = hub_split(history)
    return GuardSplit(real[: len(pre_shift)], real, recent, "recent")


def as_behaviours(sequence: RawSequence, vocab: Vocabulary) -> list[Behaviour]:
    """A raw dataset sequence as the hub's evaluation reads it (``adaptation.as_behaviours`` of its
    triples): times whose (weekday, 3-hour bucket) in HA's time zone (UTC unless set) are the raw
    ones, device and action by name."""
    adaptation, _, _ = integration()
    triples = [
        (MONDAY_HOURS + day * 24 + bucket * 3 + 1.5, vocab.devices[device], vocab.actions[action])
        for day, bucket, device, action in sequence
    ]
    behaviours: list[Behaviour] = adaptation.as_behaviours(triples)
    return behaviours


def train_bundle(
    name: str,
    sequences: list[RawSequence],
    sasrec_sequences: list[RawSequence] | None,
    vocab: Vocabulary,
    config: HubAdaptConfig,
) -> Trained:
    """``train_models`` as the hub's ``_train_and_judge`` runs it, then the bundle it would deploy."""
    adaptation, _, live_models = integration()
    params: dict[str, Any] = {
        "sequences": [list(s) for s in sequences],
        "n_devices": len(vocab.devices),
        "n_actions": len(vocab.actions),
    }
    if sasrec_sequences is not None:
        params["sasrec_sequences"] = [list(s) for s in sasrec_sequences]
    if config.epochs is not None:
        params["epochs"] = config.epochs
    if config.seed is not None:
        params["seed"] = config.seed
    if not config.budget:
        params["max_seconds"] = None
    with tempfile.TemporaryDirectory(prefix="habitus-hub-adapt-") as workdir:
        folder = Path(workdir)
        started = time.monotonic()
        result = train_models({**params, "output_dir": workdir}, lambda f, m: None, lambda: False)
        seconds = round(time.monotonic() - started, 1)
        adaptation.stamp_vocabulary(folder, list(vocab.devices), list(vocab.actions), len(sequences))
        bundle = live_models.load_bundle(
            folder / "transae.npz", folder / "sasrec.npz", version=f"bench-{name}", source="home"
        )
    for model in ("transae", "sasrec"):
        result[model].pop("path", None)
    return Trained(bundle, {**result, "seconds": seconds})


def truth(bundle: Any, data: ShiftData) -> dict[str, Any]:
    """The bundle on the paper's new-context test sets: AD as live scoring flags, BP sampled HR/NDCG."""
    ad = _ad_metrics(bundle.transae, data, partial(live_flags, bundle.transae))
    bp = _bp_metrics(bundle.sasrec, data.test_normal)
    return {"ad": ad, "bp": {k: bp[k] for k in ("hr@10", "ndcg@10", "n_test")}}


def guard(bundle: Any, held_out: list[list[Behaviour]], anomalies: list[Any]) -> Any:
    """The product's ``adaptation.evaluate`` of the bundle on ``held_out`` and ``anomalies`` (its
    ``injected_anomalies``, made once per run): an ``Evaluation`` whose ``as_metrics()`` are HR@10,
    false-alarm rate, detection rate (conditional, with the copies it counts, the share of every copy
    and the rate per kind), with the per-sequence outcomes the guard's margin resamples."""
    adaptation, _, _ = integration()
    return adaptation.evaluate(bundle, held_out, anomalies)


def _guard_figures(
    key: str, detection: str = "detection_rate"
) -> Callable[[dict[str, Any]], tuple[float, float, float]]:
    """HR@10, false-alarm rate and detection rate of a model's ``key`` figures; ``detection``
    "detection_rate_all_copies" is the rule of a743704 (every anomalous copy, its source flagged or not)."""
    return lambda m: (m[key]["hr_at_10"], m[key]["false_alarm_rate"], m[key][detection])


def _far_only(
    figures: Callable[[dict[str, Any]], tuple[float, float, float]],
) -> Callable[[dict[str, Any]], tuple[float, float, float]]:
    """The rule on HR@10 and the false-alarm rate alone: with both detection rates 1, detection minus
    false-alarm rate orders models as the false-alarm rate does (the rule before the detection rate)."""
    return lambda m: (*figures(m)[:2], 1.0)


def decide(
    challenger: dict[str, Any], champion: dict[str, Any], margin: tuple[Any, Any] | None = None
) -> dict[str, Any]:
    """``adaptation.is_better`` on the guard's figures (old context, and the new-context what-if) and on
    the new-context truth (HR@10, false-alarm rate on normals), and whether the decision was right.
    ``margin``: the challenger's and champion's guard ``Evaluation``s (with their per-sequence outcomes)
    when the product holds the challenger to the one-standard-error margin (judged on the recent 20 %);
    ``deployed`` is then that decision and ``deployed_no_margin`` the rule without it."""
    adaptation, _, _ = integration()

    def judged(figures: Callable[[dict[str, Any]], tuple[float, float, float]]) -> tuple[bool, str]:
        new, old = (adaptation.Evaluation(*figures(m)) for m in (challenger, champion))
        deployed, reason = adaptation.is_better(new, old)
        return bool(deployed), str(reason)

    no_margin = judged(_guard_figures("guard"))
    deployed, reason = no_margin
    if margin is not None:
        new, old = margin
        decision = adaptation.is_better(new, old, margin=True)
        deployed, reason = bool(decision[0]), str(decision[1])
    far_only, _ = judged(_far_only(_guard_figures("guard")))
    all_copies, _ = judged(_guard_figures("guard", "detection_rate_all_copies"))
    result: dict[str, Any] = {
        "deployed": deployed,
        "reason": reason,
        "deployed_no_margin": no_margin[0],
        "deployed_far_only": far_only,
        "deployed_all_copies": all_copies,
    }
    if "guard_new_context" in challenger:
        ctx = judged(_guard_figures("guard_new_context"))
        result["deployed_new_context"], result["reason_new_context"] = ctx

    def test_sets(m: dict[str, Any]) -> tuple[float, float, float]:
        ad = m["truth"]["ad"]
        return round(m["truth"]["bp"]["hr@10"], 4), round(ad["fpr"], 4), round(ad["recall"], 4)

    better, why = judged(_far_only(test_sets))  # HR + FPR, as the rule was
    # the same rule with 1 - F1 in place of the false-alarm rate: a model that flags nothing is not better
    better_f1, _ = judged(lambda m: (test_sets(m)[0], round(1 - m["truth"]["ad"]["f1"], 4), 1.0))
    balanced, _ = judged(test_sets)  # the product's rule on the test sets: HR, recall - FPR
    delta = {
        key: round(challenger["truth"][task][key] - champion["truth"][task][key], 4)
        for task, key in (("ad", "f1"), ("ad", "recall"), ("ad", "fpr"), ("bp", "hr@10"), ("bp", "ndcg@10"))
    }
    return {
        **result,
        "truth_better": better,
        "truth_reason": why,
        "right": deployed == better,
        "truth_better_f1": better_f1,
        "right_f1": deployed == better_f1,
        "truth_better_balanced": balanced,
        "right_balanced": deployed == balanced,
        "right_far_only": far_only == better,
        "right_f1_far_only": far_only == better_f1,
        "right_balanced_far_only": far_only == balanced,
        "right_all_copies": all_copies == better,
        "right_f1_all_copies": all_copies == better_f1,
        "right_balanced_all_copies": all_copies == balanced,
        "delta": delta,
    }


def synthetic_sets(
    config: HubAdaptConfig, data: ShiftData, real: list[RawSequence], vocab: Vocabulary
) -> tuple[list[RawSequence], list[RawSequence], dict[str, Any]]:
    """(TransAE's synthetic set, SASRec's, a report): the paper's GPT-4o sets, or our pipeline on ``real``."""
    if config.synthetic == "paper":
        ad, bp = data.training["paper_synthetic"]
        return ad, bp, {"source": "paper GPT-4o (paper/gpt4o)"}
    from habitus_engine.adapt_pipeline import synthesize_raw  # noqa: PLC0415

    from .bench_adapt import AdaptConfig  # noqa: PLC0415

    synthesis = AdaptConfig(config.dataset, config.shift, seed=config.seed or 2024).synthesis()
    kept, kept_bp, report = synthesize_raw(real, vocab, synthesis)
    return kept, kept_bp, {"source": "habitus (adapt_pipeline, Gemma 3 270M)", "report": report}


def training_sets(
    data: ShiftData, config: HubAdaptConfig, real: list[RawSequence], vocab: Vocabulary
) -> tuple[dict[str, tuple[list[RawSequence], list[RawSequence] | None, dict[str, Any]]], dict[str, Any]]:
    """name -> (TransAE set, SASRec's own set or None, how it was built), and the synthesis report."""
    _, adaptation_job, _ = integration()
    synthetic, synthetic_bp, report = synthetic_sets(config, data, real, vocab)
    sets: dict[str, tuple[list[RawSequence], list[RawSequence] | None, dict[str, Any]]] = {
        "champion": (real, None, {"mode": "real old-context 80 %"})
    }
    for mode in (adaptation_job.AdaptMode.AUGMENT, adaptation_job.AdaptMode.REPLACE):
        extra: dict[str, Any] = {}
        ad = adaptation_job.training_set(mode, real, synthetic, [], extra)
        bp = None
        if synthetic_bp != synthetic:
            bp = adaptation_job.training_set(
                adaptation_job.AdaptMode(extra["mode"]), real, synthetic_bp, [], {}
            )
        sets[mode.value] = (ad, bp, extra)
    return sets, report


def load(config: HubAdaptConfig) -> tuple[ShiftData, Vocabulary]:
    """The shift's data (``bench models``' sets), cut to ``limit`` / ``test_limit`` if given."""
    data = load_shift(config.dataset, config.shift)
    if config.limit is not None:
        data = replace(
            data, training={k: (a[: config.limit], b[: config.limit]) for k, (a, b) in data.training.items()}
        )
    if config.test_limit is not None:
        data = replace(
            data,
            test_normal=data.test_normal[: config.test_limit],
            test_anomalies=data.test_anomalies[: config.test_limit],
        )
    return data, load_vocabulary(config.dataset)


def run(config: HubAdaptConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Champion, challengers, the guard's decisions and the truth; the JSON document."""
    load_before = _loadavg()
    data, vocab = load(config)
    post_shift = data.training["oracle"][0] if config.post_shift and "oracle" in data.training else []
    if config.post_shift and not post_shift:
        raise ValueError(f"{config.dataset}: no new-context data (context/{config.shift}) for --post-shift")
    if config.judge == "since-shift":
        if not config.post_shift:
            raise ValueError("--judge since-shift needs --post-shift (the new context's pieces)")
        split = since_shift_split(data.training["original"][0], post_shift)
    else:
        real, recent = hub_split(data.training["original"][0] + post_shift)
        split = GuardSplit(real, real, recent, "recent")
    real, recent = split.real, split.held_out
    held_out = [as_behaviours(s, vocab) for s in recent]
    adaptation, _, _ = integration()
    anomalies = adaptation.injected_anomalies(held_out)  # as _train_and_judge: one set for every model
    sets, report = training_sets(data, config, real, vocab)
    if config.judge == "since-shift":
        sets["champion"] = (split.champion, None, {"mode": "real pre-shift sequences of the training side"})
    new_recent: list[list[Behaviour]] = []
    if config.oracle and not post_shift and "oracle" in data.training:
        oracle_train, oracle_recent = hub_split(data.training["oracle"][0])
        sets["oracle"] = (oracle_train, None, {"mode": "real new-context 80 % (oracle)"})
        new_recent = [as_behaviours(s, vocab) for s in oracle_recent]
    new_anomalies = adaptation.injected_anomalies(new_recent)
    models: dict[str, dict[str, Any]] = {}
    evaluations: dict[str, Any] = {}  # the guard's Evaluations, with the outcomes its margin resamples
    for name, (ad, bp, how) in sets.items():
        log(f"  {name}: train_models on {len(ad)} (TransAE) / {len(bp if bp is not None else ad)} (SASRec)")
        trained = train_bundle(name, ad, bp, vocab, config)
        evaluations[name] = guard(trained.bundle, held_out, anomalies)
        entry = {"training": {**how, **trained.training}, "guard": evaluations[name].as_metrics()}
        if new_recent:
            entry["guard_new_context"] = guard(trained.bundle, new_recent, new_anomalies).as_metrics()
        entry["truth"] = truth(trained.bundle, data)
        models[name] = entry
        log(f"  {name}: trained in {trained.training['seconds']} s, guard {entry['guard']}")
    with_margin = split.evaluated_on == "recent"  # as the product: not in a job judged since a shift
    decisions = {
        name: decide(
            models[name],
            models["champion"],
            (evaluations[name], evaluations["champion"]) if with_margin else None,
        )
        for name in models
        if name != "champion"
    }
    return {
        "dataset": data.name,
        "shift": data.shift,
        "settings": _settings(
            config,
            data=data,
            real=real,
            recent=recent,
            new_recent=new_recent,
            report=report,
            post_shift=len(post_shift),
            split=split,
            n_injected=len(anomalies),
        ),
        "models": models,
        "decisions": decisions,
        "load": {"before": load_before, "after": _loadavg()},
        "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _settings(
    config: HubAdaptConfig,
    *,
    data: ShiftData,
    real: list[RawSequence],
    recent: list[RawSequence],
    new_recent: list[list[Behaviour]],
    report: dict[str, Any],
    post_shift: int,
    split: GuardSplit,
    n_injected: int,
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "synthetic": config.synthetic,
        "synthesis": report,
        "budget_seconds": 25.0 if config.budget else None,
        "seed": config.seed,
        "epochs": config.epochs,
        "time_proxy": "file order (no timestamps in the dataset)",
        "original_context": SHIFTS[config.shift][0],
        "n_champion_train": len(real),
        "n_held_out_old_context": len(recent),  # the guard's set: old context unless --post-shift
        "n_held_out_new_context": len(new_recent),
        "n_injected_anomalies": n_injected,  # the guard's anomalous copies of its held-out set
        "n_post_shift": post_shift,  # new-context sequences at the end of the home's history
        "n_held_out_post_shift": min(post_shift, len(recent)),  # of them in the guard's held-out set
        "n_test_normal": len(data.test_normal),
        "n_test_anomalies": len(data.test_anomalies),
        "limit": config.limit,
        "test_limit": config.test_limit,
    }
    if config.judge != "recent":  # the default's JSON unchanged
        settings |= {
            "judge": config.judge,
            "evaluated_on": split.evaluated_on,
            "n_champion_train": len(split.champion),
            "n_train_real": len(real),
        }
    return settings


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text(encoding="utf-8").strip()
    except OSError:
        return "unknown"


def _pair(a: float, b: float) -> str:
    return f"{a:.3f} / {b:.3f}"


def _guard(g: dict[str, float] | None) -> str:
    """HR@10 / FAR / conditional detection rate (over every copy)."""
    if not g:
        return "-"
    return (
        f"{g['hr_at_10']:.3f}/{g['false_alarm_rate']:.3f}/{g['detection_rate']:.3f}"
        f"({g['detection_rate_all_copies']:.3f})"
    )


def format_table(doc: dict[str, Any]) -> str:
    """One line per model (guard and truth figures), then one per challenger (the decision)."""
    code = SHIFTS[doc["shift"]][3]
    settings = doc["settings"]
    budget = "25 s budget" if settings["budget_seconds"] else "no budget"
    lines = [
        f"{doc['dataset'].upper()} {doc['shift']} ({code}), synthetic {settings['synthetic']}, {budget}, "
        f"guard on {settings['n_held_out_old_context']} held-out sequences "
        f"({settings.get('n_held_out_post_shift', 0)} of them post-shift)"
        + (f", judged on {settings['evaluated_on']}" if "evaluated_on" in settings else ""),
        f"{'model':<10}{'n AD/BP':<13}{'s':>6}  "
        f"{'guard old HR/FAR/DR(all)':<29}{'guard new HR/FAR/DR(all)':<29}"
        f"{'truth AD P/R/F1':<23}{'FPR':<7}{'BP HR/NDCG':<14}",
    ]
    for name, m in doc["models"].items():
        t = m["training"]
        g, gn = m["guard"], m.get("guard_new_context")
        ad, bp = m["truth"]["ad"], m["truth"]["bp"]
        lines.append(
            f"{name:<10}{str(t['n_sequences']) + '/' + str(t['n_sequences_sasrec']):<13}{t['seconds']:>6}  "
            f"{_guard(g):<29}{_guard(gn):<29}"
            f"{ad['precision']:.3f}/{ad['recall']:.3f}/{ad['f1']:.3f}    {ad['fpr']:<7.3f}"
            f"{_pair(bp['hr@10'], bp['ndcg@10']):<14}"
        )
    lines += [_decision_line(name, d) for name, d in doc["decisions"].items()]
    return "\n".join(lines)


def _decision_line(name: str, d: dict[str, Any]) -> str:
    verdict = "DEPLOYED" if d["deployed"] else "kept champion"
    delta = d["delta"]
    line = (
        f"{name}: {verdict} ({d['reason']}); by FAR alone: {'deploy' if d['deployed_far_only'] else 'keep'}; "
        f"by detection on all copies: {'deploy' if d['deployed_all_copies'] else 'keep'}; "
        f"truth better (HR+FPR / HR+F1 / HR+recall-FPR): {d['truth_better']} / {d['truth_better_f1']} / "
        f"{d['truth_better_balanced']}; dF1 {delta['f1']:+.3f}, dRecall {delta['recall']:+.3f}, "
        f"dFPR {delta['fpr']:+.3f}, dHR {delta['hr@10']:+.3f}"
    )
    if "deployed_new_context" in d:
        line += f"; judged on new context: {'deploy' if d['deployed_new_context'] else 'keep'}"
    return line


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench hub-adapt``."""
    parser = subparsers.add_parser(
        "hub-adapt",
        help="the hub's train_models + champion/challenger guard after a context shift",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", required=True, type=Path, help="dataset directory (e.g. .../smartthings/fr)"
    )
    parser.add_argument("--shift", required=True, choices=sorted(SHIFTS), help="context shift")
    parser.add_argument(
        "--synthetic", choices=SYNTHETIC_SOURCES, default="paper", help="synthetic data source"
    )
    parser.add_argument(
        "--no-budget", action="store_true", help="train without the hub's 25 s budget per model"
    )
    parser.add_argument("--no-oracle", action="store_true", help="skip the oracle challenger")
    parser.add_argument(
        "--post-shift",
        action="store_true",
        help="append the oracle pieces to the home's history as the days since the shift (no oracle)",
    )
    parser.add_argument(
        "--judge",
        choices=JUDGES,
        default="recent",
        help="the guard's held-out set: the most recent 20 %% (default), or since the shift as a shift "
        "job holds out (hold_out_since; needs --post-shift)",
    )
    parser.add_argument("--seed", type=int, help="train_models' seed (default: the hub's)")
    parser.add_argument("--epochs", type=int, help="train_models' epoch cap (default: the product's)")
    parser.add_argument("--limit", type=int, help="first N original-context / oracle sequences (quick runs)")
    parser.add_argument(
        "--test-limit", type=int, help="first N normal and anomalous test pieces (quick runs)"
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    config = HubAdaptConfig(
        dataset=args.dataset,
        shift=args.shift,
        synthetic=args.synthetic,
        budget=not args.no_budget,
        seed=args.seed,
        epochs=args.epochs,
        oracle=not args.no_oracle,
        post_shift=args.post_shift,
        judge=args.judge,
        limit=args.limit,
        test_limit=args.test_limit,
    )
    try:
        doc = run(config, log=lambda m: print(m, flush=True))
    except (FileNotFoundError, ValueError) as err:
        print(f"habitus bench hub-adapt: {err}", file=sys.stderr)
        return 2
    print(format_table(doc))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return 0
