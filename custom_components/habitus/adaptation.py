"""The adaptation loop (issue 5): retrain TransAE + SASRec on this home, deploy only a better challenger.

``async_retrain`` snapshots the stored TSS sequences and the sequences the user marked normal (executor),
holds out the most recent ``HOLDOUT_FRACTION`` of the stored ones (by start time) as evaluation data,
encodes the rest with the home's vocabulary (``export.triples_to_home_raw``) and runs the worker's
``train_models`` job (a separate process: HA's loop stays free). A job adapting to a detected context
shift holds out the sequences since the shift instead (``hold_out_since``; the most recent 20 % of all at
most), when there are enough of them: the challenger is then judged on the new context, not on the old
one the champion learnt.
Champion and challenger are evaluated on the held-out real sequences in the executor:

- SASRec HR@10: the last action of each held-out sequence ranked after its prefix (a target outside a
  model's vocabulary is a miss);
- TransAE false-alarm rate: the share of held-out (normal) sequences live scoring would have alerted on:
  some reading of it, after one of its behaviours, above the threshold (``max_prefix_scores``);
- TransAE detection rate: of the anomalous copies of held-out sequences (``engine/injection.py``: a
  rare device action, the wrong hour, a burst, a foreign behaviour; a seeded sample of at most
  ``INJECTED_PER_KIND`` sequences per kind) whose source sequence the model does not flag, the share
  live scoring would have alerted on, by the same rule (conditional detection: a copy of a sequence it
  flags anyway proves nothing; see ``evaluate``).

The challenger is deployed only if it is no worse on HR@10 and on anomaly detection, scored as detection
rate minus false-alarm rate (Youden's J: 0 for a model that flags nothing, and for one that flags at
random; -1 for one that flags every held-out sequence, see ``evaluate``), and better on one; against a
champion trained on this home, better by more than one paired standard error of the gain (``is_better``:
on a handful of held-out sequences a small lead is noise), except in a job judged since a detected shift.
Otherwise the champion keeps serving and the outcome says why. Judging TransAE on false alarms alone preferred
whichever model alerted less, whether or not it still caught anything. The bundle it replaced is kept
for ``async_rollback``.
"""

from __future__ import annotations

import bisect
import logging
import math
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from numpy.typing import NDArray

from .const import DOMAIN
from .engine.behaviour import Behaviour, Sequence
from .engine.calibration import max_prefix_scores
from .engine.datasets import RawBehaviour, RawSequence
from .engine.injection import KINDS, NamedCopy, NamedSequence, inject_named
from .engine.models import SASRec, TransAE
from .export import Triple, triples, triples_to_home_raw
from .live_const import SCORING_WINDOW
from .live_models import ModelBundle, day_bucket, next_actions
from .runtime import HabitusConfigEntry
from .worker import HabitusWorker, WorkerCrashedError

_LOGGER = logging.getLogger(__name__)

HOLDOUT_FRACTION = 0.2
MIN_TRAIN_SEQUENCES = 20
MIN_HOLDOUT_SEQUENCES = 5
INJECTED_PER_KIND = (
    250  # held-out sequences given an anomalous copy per kind (seeded sample): bounds the cost
)
INJECTION_SEED = 2024
MARGIN_RESAMPLES = 200  # paired bootstrap resamples of the held-out set for the guard's standard errors
ISSUE_WORKER_CRASHED = "worker_crashed"
type Progress = Callable[[float, str], None]


@dataclass(slots=True)
class AdaptationState:
    """The loop's memory on the entry: the bundle a deploy replaced and the last outcome."""

    previous: ModelBundle | None = None
    last_outcome: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What one bundle did on each held-out sequence and each anomalous copy: the ``Evaluation`` figures
    are shares of these, and the guard's paired standard errors resample them (``standard_errors``)."""

    hits: tuple[bool | None, ...]  # per held-out sequence: next action in the top 10 (None: < 2 behaviours)
    flagged: tuple[bool, ...]  # per held-out sequence: live scoring alerted on it
    readable: tuple[bool, ...]  # per held-out sequence: some behaviour in the bundle's vocabulary
    copies: tuple[tuple[int, bool], ...]  # per anomalous copy: (its source's index, flagged)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One bundle's scores on the held-out sequences (and the anomalous copies of them)."""

    hr_at_10: float
    false_alarm_rate: float
    detection_rate: float  # of the copies of sequences it does not flag, the share it flags (conditional)
    detection_copies: int = 0  # the copies ``detection_rate`` counts (those of unflagged sources)
    detection_rate_all_copies: float | None = None  # share of every copy flagged (the rule until 2026-12-07)
    detection_by_kind: dict[str, float] = field(
        default_factory=dict
    )  # kind -> conditional rate (if any copy)
    outcomes: Outcomes | None = field(default=None, repr=False)  # per sequence, for ``is_better``'s margin

    @property
    def detection(self) -> float:
        """Anomaly detection as one number: detection rate minus false-alarm rate (Youden's J, -1..1)."""
        return round(self.detection_rate - self.false_alarm_rate, 4)

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat numbers for the last-evaluation sensor (per kind: ``detection_rate_<kind>``)."""
        metrics = {
            f"{prefix}hr_at_10": self.hr_at_10,
            f"{prefix}false_alarm_rate": self.false_alarm_rate,
            f"{prefix}detection_rate": self.detection_rate,
            f"{prefix}detection_copies": float(self.detection_copies),
        }
        if self.detection_rate_all_copies is not None:
            metrics[f"{prefix}detection_rate_all_copies"] = self.detection_rate_all_copies
        return metrics | {f"{prefix}detection_rate_{k}": r for k, r in self.detection_by_kind.items()}

    @classmethod
    def from_metrics(cls, metrics: dict[str, float]) -> Evaluation:
        """The evaluation ``as_metrics()`` (no prefix) flattened."""
        return cls(
            metrics["hr_at_10"],
            metrics["false_alarm_rate"],
            metrics["detection_rate"],
            int(metrics.get("detection_copies", 0)),
            metrics.get("detection_rate_all_copies"),
            {k: metrics[f"detection_rate_{k}"] for k in KINDS if f"detection_rate_{k}" in metrics},
        )


def split_by_time(sequences: list[Sequence]) -> tuple[list[Sequence], list[Sequence]]:
    """(older 80 %, most recent 20 %) of the non-empty sequences, ordered by start time."""
    return split_by_start([s for s in sequences if s], lambda s: s[0].time)


def split_by_start[T](sequences: list[T], start: Callable[[T], float]) -> tuple[list[T], list[T]]:
    """(older, most recent ``HOLDOUT_FRACTION``) of ``sequences`` by ``start`` (the hub's 20 % rule)."""
    ordered = sorted(sequences, key=start)
    cut = len(ordered) - math.ceil(len(ordered) * HOLDOUT_FRACTION)
    return ordered[:cut], ordered[cut:]


def hold_out_since[T](
    ordered: list[T], start: Callable[[T], float], since: float
) -> tuple[list[T], list[T]] | None:
    """(training side, held out) of sequences ordered by start time: held out, those from ``since`` on,
    at most the most recent ``max(MIN_HOLDOUT_SEQUENCES, ceil(HOLDOUT_FRACTION * all))`` of them; None
    with fewer than ``MIN_HOLDOUT_SEQUENCES`` from ``since`` on (the caller keeps the 20 % rule).

    The cap: a job that runs long after the shift (a pending shift adapted to weeks later) would
    otherwise judge on every new-context sequence and train on none of them; capped, it takes no more
    away from training than a plain retrain does, judges only on new-context sequences still, and the
    earlier ones since the shift train the challenger.
    """
    cut = bisect.bisect_left(ordered, since, key=start)
    if len(ordered) - cut < MIN_HOLDOUT_SEQUENCES:
        return None
    cap = max(MIN_HOLDOUT_SEQUENCES, math.ceil(len(ordered) * HOLDOUT_FRACTION))
    cut = max(cut, len(ordered) - cap)
    return ordered[:cut], ordered[cut:]


def shift_split[T](
    ordered: list[T], start: Callable[[T], float], since: float, feedback: int = 0
) -> tuple[list[T], list[T]] | None:
    """A shift job's split: ``hold_out_since``, provided the sequences before ``since`` plus the
    ``feedback`` ones still make ``MIN_TRAIN_SEQUENCES`` to train on; None: the 20 % rule applies."""
    shifted = hold_out_since(ordered, start, since)
    return shifted if shifted is not None and len(shifted[0]) + feedback >= MIN_TRAIN_SEQUENCES else None


def split_triples(sequences: Iterable[Sequence]) -> tuple[list[list[Triple]], list[list[Triple]]]:
    """``split_by_time`` of sequences read one at a time, each kept as ``(time, device, action)`` triples.

    Why: a home keeps up to 20k sequences; holding them all as ``Behaviour`` objects (each with two
    dicts) made Python's collector run full collections of HA's whole heap during the job, 0.6-0.9 s
    event-loop stalls on a loaded 2-core box. Tuples of plain values are untracked by the collector.
    """
    return split_by_start([triples(s) for s in sequences if s], lambda s: s[0][0])


def as_behaviours(sequence: list[Triple]) -> Sequence:
    """Triples back as ``Behaviour``s (origin, context and settings left out: evaluation needs none)."""
    return [Behaviour(time=time, device=device, action=action) for time, device, action in sequence]


def named(sequence: Sequence) -> NamedSequence:
    """A sequence as every model reads it, by name: ``(day, bucket, device, action)`` in HA's time zone."""
    return [(*day_bucket(b.time), b.device, b.action) for b in sequence]


def injected_anomalies(held_out: list[Sequence]) -> list[NamedCopy]:
    """The anomalous copies ``evaluate`` scores, each with its source's index in ``held_out``: made from
    ``held_out`` only (never trained on), seeded, so champion and challenger are judged on the same ones
    (``engine/injection.inject_named``)."""
    return inject_named([named(seq) for seq in held_out], INJECTION_SEED, INJECTED_PER_KIND)


def evaluate(
    bundle: ModelBundle, held_out: list[Sequence], anomalies: list[NamedCopy] | None = None
) -> Evaluation:
    """HR@10 of the last action, TransAE's false-alarm rate on ``held_out`` and its detection rate on
    ``anomalies`` (default: ``injected_anomalies(held_out)``; pass them to score two bundles on one set).
    Executor only.

    The detection rate is conditional: only copies whose source (a held-out sequence) live scoring does
    not flag count, and of those, the share it flags. Why: after a context shift a model flags most
    held-out sequences, and a copy of a flagged sequence is flagged whatever was injected into it, so
    the share of all copies flagged followed the false-alarm rate and detection minus false alarms was
    about 0 for every model (``docs/BENCHMARKS.md``, "The guard judges anomaly detection"). Conditioned,
    a model that flags nothing scores 0, one that flags at random at any rate scores its rate (J 0), and
    one that tells injected behaviour from normal scores above its false-alarm rate.

    A model that flags every source (or whose unflagged sources have no copy) has shown no detection:
    none of its alerts is known to be caused by an anomaly, so its detection rate is 0 and J is minus
    its false-alarm rate, -1 when it flags everything. That ranks it below a model that flags nothing
    (J 0): both tell the user nothing, and it also alerts on every sequence. The price is a jump (a
    model flagging at random at rate 0.99 scores J about 0, one flagging all scores -1), and such a
    champion is replaced by any challenger with HR@10 no worse that leaves some sequence unflagged,
    whatever it detects; the share of all copies flagged (J 0 for both) kept it serving as long as no
    challenger reached J 0. ``detection_rate_all_copies`` (that share) and ``detection_by_kind`` (the
    conditional rate per ``engine/injection.KINDS`` kind with a copy counted) are reported, not judged.
    """
    encode = _encoder(bundle)
    hits = cases = 0
    sources: list[list[RawBehaviour | None]] = []  # [len(held_out)], aligned with it
    readable: list[bool] = []
    hit_of: list[bool | None] = []  # per held-out sequence
    for seq in held_out:
        raw = encode(named(seq))
        sources.append(raw)
        readable.append(any(r is not None for r in raw))
        if len(seq) < 2:
            hit_of.append(None)
            continue
        cases += 1
        prefix = [r for r in raw[:-1] if r is not None]
        target = raw[-1]
        hit = False
        if prefix and target is not None:
            top = next_actions(bundle, prefix, 10)
            hit = any(action == target[3] for action, _score in top)
        hits += hit
        hit_of.append(hit)
    copies = injected_anomalies(held_out) if anomalies is None else anomalies
    highest = max_prefix_scores(  # [N] as live scoring alerts: any reading after a behaviour
        lambda reads: bundle.transae.score(reads, bundle.backend),
        sources + [encode(c.sequence) for c in copies],  # a sequence it cannot read at all: -inf, no alert
        SCORING_WINDOW,
        bundle.transae.config.max_behaviours,
    )
    flagged = highest > bundle.threshold
    source_flagged, copy_flagged = flagged[: len(sources)], flagged[len(sources) :]
    # a sequence it cannot read is never scored live: no false alarm, and no evidence either
    false_alarms = source_flagged[readable].mean() if any(readable) else 1.0
    unflagged = [
        (c.kind, bool(hit))
        for c, hit in zip(copies, copy_flagged, strict=True)
        if not source_flagged[c.source]
    ]
    outcomes = Outcomes(
        tuple(hit_of),
        tuple(bool(f) for f in source_flagged),
        tuple(readable),
        tuple((c.source, bool(hit)) for c, hit in zip(copies, copy_flagged, strict=True)),
    )
    return Evaluation(
        round(hits / cases, 4) if cases else 0.0,
        round(float(false_alarms), 4),
        _rate([hit for _, hit in unflagged]),
        len(unflagged),
        _rate([bool(hit) for hit in copy_flagged]),
        {k: _rate(of_kind) for k in KINDS if (of_kind := [hit for kind, hit in unflagged if kind == k])},
        outcomes,
    )


def _rate(hits: list[bool]) -> float:
    """The share of ``hits`` that are True, 4 decimals; 0.0 for none (no evidence of detection)."""
    return round(sum(hits) / len(hits), 4) if hits else 0.0


def _encoder(bundle: ModelBundle) -> Callable[[NamedSequence], list[RawBehaviour | None]]:
    """Named behaviours -> the bundle's raw ones (None: outside its vocabulary), as ``VocabularyMap.raw``."""

    def encode(sequence: NamedSequence) -> list[RawBehaviour | None]:
        ids = bundle.vocab.ids
        return [None if (pair := ids(dev, act)) is None else (d, k, *pair) for d, k, dev, act in sequence]

    return encode


def _shares(
    outcomes: Outcomes, weights: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """HR@10 and detection (Youden's J, as ``evaluate``) of ``outcomes`` with each held-out sequence
    counted ``weights[b, i]`` times (its copies with it): one value per row ``b``."""
    case = np.array([h is not None for h in outcomes.hits], dtype=float)
    hit = np.array([bool(h) for h in outcomes.hits], dtype=float)
    flagged = np.array(outcomes.flagged, dtype=bool)
    readable = np.array(outcomes.readable, dtype=float)
    source = np.array([s for s, _ in outcomes.copies], dtype=int)
    copy_hit = np.array([h for _, h in outcomes.copies], dtype=bool)
    counted = ~flagged[source] if len(source) else np.zeros(0, dtype=bool)  # copies of unflagged sources
    n = len(outcomes.hits)
    copies_of = np.bincount(source[counted], minlength=n).astype(float)
    caught_of = np.bincount(source[counted & copy_hit], minlength=n).astype(float)

    def share(
        numerator: NDArray[np.float64], denominator: NDArray[np.float64], empty: float
    ) -> NDArray[np.float64]:
        top, bottom = weights @ numerator, weights @ denominator
        return np.where(bottom > 0, top / np.maximum(bottom, 1), empty)

    hr = share(hit, case, 0.0)
    false_alarms = share(flagged * readable, readable, 1.0)
    return hr, share(caught_of, copies_of, 0.0) - false_alarms


def standard_errors(challenger: Outcomes, champion: Outcomes) -> tuple[float, float]:
    """Paired standard errors of the challenger's HR@10 gain and detection gain over the champion: the
    standard deviation of both gains over ``MARGIN_RESAMPLES`` seeded bootstrap resamples of the held-out
    sequences (each drawn with its anomalous copies; both models on the same draw)."""
    n = len(champion.hits)
    if n == 0 or len(challenger.hits) != n:
        return 0.0, 0.0
    weights = np.random.default_rng(INJECTION_SEED).multinomial(n, [1 / n] * n, MARGIN_RESAMPLES)
    (hr_new, j_new), (hr_old, j_old) = _shares(challenger, weights), _shares(champion, weights)
    return float(np.std(hr_new - hr_old)), float(np.std(j_new - j_old))


def is_better(challenger: Evaluation, champion: Evaluation, *, margin: bool = True) -> tuple[bool, str]:
    """Whether to deploy, and why: no worse on HR@10 and on anomaly detection (``Evaluation.detection``,
    detection rate on copies of sequences it does not flag, minus false-alarm rate), and better on one by
    more than one paired standard error of its gain over the champion on the held-out sequences
    (``standard_errors``; the one-standard-error rule: the incumbent is kept unless the other model is
    better beyond the noise of the set it is judged on). A model that alerts less but also misses more
    injected anomalies than it saves false alarms is not deployed; one that flags every held-out
    sequence scores -1 (``evaluate``).

    ``margin`` False, or evaluations without per-sequence ``outcomes``: strictly better on one is enough
    (the rule until 2026-12-07). The guard passes False against the shipped base models, which never
    saw this home (the cold-start job must be able to replace them), and in a job judged on the
    sequences since a detected shift (its verdict acknowledges the shift, so a challenger kept for noise
    would not be tried again; ``docs/BENCHMARKS.md``, "A one-standard-error margin in the guard").
    """
    hr_gain = challenger.hr_at_10 - champion.hr_at_10
    detection_gain = challenger.detection - champion.detection
    if hr_gain < 0:
        return False, f"HR@10 {challenger.hr_at_10:.3f} below the champion's {champion.hr_at_10:.3f}"
    if detection_gain < 0:
        rates = (
            f"(detection rate {challenger.detection_rate:.3f} vs the champion's "
            f"{champion.detection_rate:.3f}, false-alarm rate {challenger.false_alarm_rate:.3f} vs "
            f"{champion.false_alarm_rate:.3f})"
        )
        if challenger.false_alarm_rate < champion.false_alarm_rate:
            return False, f"fewer false alarms, but more injected anomalies missed than alarms saved {rates}"
        return False, f"worse at anomaly detection than the champion {rates}"
    if hr_gain == 0 and detection_gain == 0:
        return False, "no better than the champion on HR@10 or anomaly detection"
    if margin and challenger.outcomes is not None and champion.outcomes is not None:
        hr_se, detection_se = standard_errors(challenger.outcomes, champion.outcomes)
        if hr_gain <= hr_se and detection_gain <= detection_se:
            return False, (
                f"better, but within the noise of {len(champion.outcomes.hits)} held-out sequences "
                f"(HR@10 {hr_gain:+.3f}, standard error {hr_se:.3f}; anomaly detection "
                f"{detection_gain:+.3f}, standard error {detection_se:.3f})"
            )
    return True, "better than the champion on the held-out sequences"  # recent or since a shift


def stamp_vocabulary(directory: Path, devices: list[str], actions: list[str], train: int) -> None:
    """Write the home's vocabulary and data size into both trained files (executor)."""
    for cls, name in ((TransAE, "transae.npz"), (SASRec, "sasrec.npz")):
        model: Any = cls.load(directory / name)
        model.vocabulary = {"name": "home", "devices": devices, "actions": actions}
        model.metadata = {**model.metadata, "dataset": "home", "train_sequences": train}
        model.save(directory / name)


@dataclass(frozen=True, slots=True)
class HomeData:
    """A snapshot of the home's data for one job, split by time and encoded with the home's vocabulary."""

    held_out: list[Sequence]  # real, the champion-vs-challenger evaluation set (see ``evaluated_on``)
    real: list[RawSequence]  # real, the older ones (by start time), encoded
    feedback: list[RawSequence]  # sequences the user marked normal ("that was me"), encoded
    devices: list[str]  # the home's vocabulary over the training side (real + feedback)
    actions: list[str]
    evaluated_on: str = "recent"  # "recent": the most recent 20 %; "since_shift": those since the shift


async def async_home_data(
    hass: HomeAssistant, entry: HabitusConfigEntry, since: float | None = None
) -> HomeData:
    """Snapshot the stored sequences and the feedback; split by time and encode them (in the executor).

    ``since`` (epoch hours): hold out the sequences that started from then on (a detected shift's recent
    window; the most recent 20 % of all at most, see ``hold_out_since``), if there are at least
    ``MIN_HOLDOUT_SEQUENCES`` of them and the rest plus the feedback still make ``MIN_TRAIN_SEQUENCES``;
    otherwise the most recent 20 %.
    """
    runtime = entry.runtime_data
    if runtime.live is None or runtime.worker is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
    read_stored = runtime.learner.store.sequences_reader()
    feedback = runtime.live.store.feedback_sequences()

    def _prepare() -> HomeData:
        train, held_out = split_triples(read_stored())  # non-empty sequences only
        marked = [triples(seq) for seq in feedback if seq]
        evaluated_on = "recent"
        shifted = (
            None if since is None else shift_split(train + held_out, lambda s: s[0][0], since, len(marked))
        )
        if shifted is not None:
            (train, held_out), evaluated_on = shifted, "since_shift"
        raw, devices, actions = triples_to_home_raw(train + marked)  # one raw row per sequence, in order
        evaluation = [as_behaviours(seq) for seq in held_out]
        return HomeData(evaluation, raw[: len(train)], raw[len(train) :], devices, actions, evaluated_on)

    return await hass.async_add_executor_job(_prepare)


def check_enough_data(train: int, held_out: int) -> None:
    """Raise ``too_little_data`` unless there are enough training and held-out sequences."""
    if train < MIN_TRAIN_SEQUENCES or held_out < MIN_HOLDOUT_SEQUENCES:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="too_little_data",
            translation_placeholders={"train": str(train), "minimum": str(MIN_TRAIN_SEQUENCES)},
        )


async def async_retrain(
    hass: HomeAssistant,
    entry: HabitusConfigEntry,
    progress: Progress | None = None,
    *,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Train a challenger in the worker, evaluate it against the champion, deploy only if better."""
    home = await async_home_data(hass, entry)
    raw = home.real + home.feedback
    check_enough_data(len(raw), len(home.held_out))
    return await async_train_and_judge(
        hass,
        entry,
        held_out=home.held_out,
        data=(raw, home.devices, home.actions),
        progress=progress,
        epochs=epochs,
    )


async def async_train_and_judge(
    hass: HomeAssistant,
    entry: HabitusConfigEntry,
    *,
    held_out: list[Sequence],
    data: tuple[list[Any], list[str], list[str]],
    progress: Progress | None = None,
    epochs: int | None = None,
    on_evaluate: Callable[[], None] | None = None,
    sasrec_sequences: list[Any] | None = None,
    margin: bool = True,
) -> dict[str, Any]:
    """Train on ``data`` (raw sequences, devices, actions) in a scratch folder, judge, deploy if better.

    ``on_evaluate`` is called when training is done and the champion-vs-challenger evaluation starts.
    ``sasrec_sequences``: SASRec's own training set (TOF filtered per task), else ``data``'s.
    ``margin``: hold the challenger to ``is_better``'s one-standard-error margin (against a champion
    trained on this home only); a job judged on the sequences since a detected shift passes False (its
    verdict acknowledges the shift: a challenger kept for noise would not be tried again).
    """
    worker = entry.runtime_data.worker
    if worker is None or entry.runtime_data.live is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
    directory = Path(hass.config.path("habitus", "challenger"))
    await hass.async_add_executor_job(lambda: directory.mkdir(parents=True, exist_ok=True))
    workdir = Path(await hass.async_add_executor_job(lambda: tempfile.mkdtemp(dir=directory)))
    try:
        return await _train_and_judge(
            hass,
            entry=entry,
            worker=worker,
            progress=progress,
            epochs=epochs,
            workdir=workdir,
            held_out=held_out,
            data=data,
            on_evaluate=on_evaluate,
            sasrec_sequences=sasrec_sequences,
            margin=margin,
        )
    finally:
        await hass.async_add_executor_job(lambda: shutil.rmtree(workdir, ignore_errors=True))


def worker_crashed_issue(hass: HomeAssistant, err: WorkerCrashedError) -> None:
    """Raise the repair issue of a dead worker (the champion keeps serving)."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_WORKER_CRASHED,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_WORKER_CRASHED,
        translation_placeholders={"error": str(err)},
    )


async def _train_and_judge(
    hass: HomeAssistant,
    *,
    entry: HabitusConfigEntry,
    worker: HabitusWorker,
    progress: Progress | None,
    epochs: int | None,
    workdir: Path,
    held_out: list[Sequence],
    data: tuple[list[Any], list[str], list[str]],
    on_evaluate: Callable[[], None] | None = None,
    sasrec_sequences: list[Any] | None = None,
    margin: bool = True,
) -> dict[str, Any]:
    raw, devices, actions = data
    params: dict[str, Any] = {
        # as they are (lists of tuples): a per-behaviour copy here made ~100k objects on the loop at 16k
        # sequences, and the full garbage collection they set off stalled it for ~1 s
        "sequences": raw,
        "n_devices": len(devices),
        "n_actions": len(actions),
        "output_dir": str(workdir),
    }
    if epochs is not None:
        params["epochs"] = epochs
    if sasrec_sequences is not None:
        params["sasrec_sequences"] = sasrec_sequences
    probe = entry.runtime_data.loop_lag
    own_probe = probe is not None and not probe.running  # else a whole adaptation job is being probed
    if probe is not None and own_probe:
        probe.reset()
        probe.start()
    try:
        await worker.run("train_models", params, progress)
    except WorkerCrashedError as err:
        worker_crashed_issue(hass, err)
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="retrain_crashed",
            translation_placeholders={"error": str(err)},
        ) from err
    finally:
        if probe is not None and own_probe:
            await probe.async_stop()
    ir.async_delete_issue(hass, DOMAIN, ISSUE_WORKER_CRASHED)
    if on_evaluate is not None:
        on_evaluate()
    live = entry.runtime_data.live
    assert live is not None
    version = "home-" + dt_util.utcnow().strftime("%Y%m%d%H%M%S")
    champion = live.scorer.bundle

    def _judge() -> tuple[ModelBundle, Evaluation, Evaluation | None, tuple[bool, str]]:
        from .live_models import load_bundle  # noqa: PLC0415

        stamp_vocabulary(workdir, devices, actions, len(raw))
        challenger = load_bundle(
            workdir / "transae.npz", workdir / "sasrec.npz", version=version, source="home"
        )
        anomalies = injected_anomalies(held_out)  # one set for both: the same anomalies judge both
        new = evaluate(challenger, held_out, anomalies)
        if champion is None:
            return challenger, new, None, (True, "no model was serving")
        old = evaluate(champion, held_out, anomalies)
        # the margin protects a champion trained on this home; shipped base models give way on any gain
        return challenger, new, old, is_better(new, old, margin=margin and champion.info.source == "home")

    challenger, new, old, (deploy, reason) = await hass.async_add_executor_job(_judge)
    outcome: dict[str, Any] = {
        "deployed": deploy,
        "reason": reason,
        "version": version if deploy else (champion.info.version if champion else None),
        "challenger": new.as_metrics(),
        "champion": old.as_metrics() if old else None,
        "train_sequences": len(raw),
        "held_out_sequences": len(held_out),
        "loop_lag": probe.stats().as_dict() if probe is not None else None,
    }
    state = entry.runtime_data.adaptation
    if deploy:
        metrics = {**new.as_metrics(), **(old.as_metrics("champion_") if old else {})}
        challenger.info = _with_metrics(challenger, metrics)
        state.previous = champion
        live.scorer.swap_models(challenger)
        outcome["stored"] = await live.async_store(hass, champion)  # model_store.py: survives restarts
    _LOGGER.info(  # shared by retrain and adapt jobs: say what was decided, not which job asked
        "Habitus challenger models: %s (%s)",
        f"deployed as {version}" if deploy else "not deployed, the champion keeps serving",
        reason,
    )
    state.last_outcome = outcome
    return outcome


def _with_metrics(bundle: ModelBundle, metrics: dict[str, float]) -> Any:
    from dataclasses import replace  # noqa: PLC0415

    return replace(bundle.info, evaluated_on=dt_util.utcnow(), metrics=metrics)


def rollback(entry: HabitusConfigEntry) -> str:
    """Serve the bundle the last deploy replaced (the deployed one becomes the rollback target)."""
    runtime = entry.runtime_data
    state, live = runtime.adaptation, runtime.live
    if live is None or state.previous is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="nothing_to_roll_back")
    current = live.scorer.bundle
    live.scorer.swap_models(state.previous)
    state.previous = current
    live.schedule_store(current)  # the disk swaps current/previous too (model_store.py)
    return live.scorer.bundle.info.version if live.scorer.bundle else ""
