"""The models a home is scored with: TransAE (anomaly) and SASRec (next action), and their vocabulary.

A ``ModelBundle`` pairs the two estimators with a ``VocabularyMap``: a live behaviour ``(time, device
entity, "Type:control")`` becomes the raw ``(day, bucket, device id, action id)`` the models were trained
on. Cold start uses the base models shipped in ``model_assets/`` (trained on SmartThings FR, whose devices
are device *types*): a behaviour maps when its action name is in the model's vocabulary, its device by
entity id first (a home-trained model), else by device type (a base model). Anything else is *unknown*:
it is reported, and left out of the model input, never an error.

The base TransAE's threshold was calibrated on FR and means nothing in another home: while the base
models serve, the bundle carries a ``Calibration`` of it on the home's own stored sequences
(``calibrate_base``, run by ``base_calibration.py``; the rule is ``engine/calibration.py``) and raises
no anomaly until it has one (``ThresholdSource.CALIBRATING``). A home-trained model uses its own.

Everything here is synchronous and runs off the event loop: loading files and creating ONNX Runtime
sessions in the executor, live inference in the scorer's own thread (``scoring_thread.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from homeassistant.util import dt as dt_util

from .engine.behaviour import Behaviour
from .engine.behaviour import Sequence as BehaviourSequence
from .engine.calibration import MIN_CALIBRATION_SEQUENCES, home_threshold, max_prefix_scores
from .engine.datasets import RawBehaviour, RawSequence
from .engine.models import SASRec, TransAE
from .engine.models.base import Backend
from .live_const import SCORING_WINDOW

ASSETS_DIR = Path(__file__).parent / "model_assets"
BASE_DATASET = "fr"
TOP_K = 5


def day_bucket(time_hours: float) -> tuple[int, int]:
    """SmartGen's (day 0=Mon..6, 3-hour bucket 0..7) of an epoch-hours time, in HA's local time zone."""
    local: datetime = dt_util.as_local(dt_util.utc_from_timestamp(time_hours * 3600.0))
    return local.weekday(), local.hour // 3


@dataclass(frozen=True, slots=True)
class VocabularyMap:
    """Names -> ids of one model vocabulary (devices and ``Type:control`` actions)."""

    devices: tuple[str, ...]
    actions: tuple[str, ...]
    _device_ids: dict[str, int] = field(init=False, repr=False)
    _action_ids: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_device_ids", {name: i for i, name in enumerate(self.devices)})
        object.__setattr__(self, "_action_ids", {name: i for i, name in enumerate(self.actions)})

    @classmethod
    def from_model(cls, vocabulary: Mapping[str, Any] | None) -> VocabularyMap:
        """The vocabulary a model file carries (``{"devices": [...], "actions": [...]}``)."""
        if not vocabulary:
            raise ValueError("the model carries no vocabulary")
        return cls(tuple(map(str, vocabulary["devices"])), tuple(map(str, vocabulary["actions"])))

    def knows(self, behaviour: Behaviour) -> bool:
        """Whether the behaviour maps into this vocabulary (two dictionary lookups: cheap on the loop)."""
        return self.ids(behaviour.device, behaviour.action) is not None

    def ids(self, device: str, action: str) -> tuple[int, int] | None:
        """The model's ``(device, action)`` ids of a named pair (the device, else its type named by the
        action's ``Type:`` prefix), or None (outside the vocabulary)."""
        action_id = self._action_ids.get(action)
        device_id = self._device_ids.get(device, self._device_ids.get(action.split(":", 1)[0]))
        return None if action_id is None or device_id is None else (device_id, action_id)

    def raw(self, behaviour: Behaviour) -> RawBehaviour | None:
        """The model's ``(day, bucket, device, action)`` of a behaviour, or None (outside the vocabulary)."""
        pair = self.ids(behaviour.device, behaviour.action)
        return None if pair is None else (*day_bucket(behaviour.time), *pair)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the status sensors show about the serving models."""

    version: str  # "base-fr", or the adaptation loop's version label
    source: str  # "base" (shipped) or "home" (trained on this home)
    trained_on: datetime | None  # when the models were built
    data: int | None  # training sequences
    dataset: str  # the data's name ("fr", "home")
    evaluated_on: datetime | None = None
    metrics: dict[str, float] = field(default_factory=dict)


class ThresholdSource(StrEnum):
    """Where the served anomaly threshold comes from (the anomaly score sensor's ``threshold_source``)."""

    MODEL = "model"  # the model's own: a percentile of its validation scores (a home-trained model)
    CALIBRATING = "calibrating"  # base models, too few of the home's sequences scored yet: no anomaly
    HOME = "home"  # base models, the percentile of their scores of the home's own sequences


@dataclass(frozen=True, slots=True)
class Calibration:
    """The base TransAE's threshold calibrated on this home's stored sequences (``calibrate_base``)."""

    sequences: int  # the home's sequences scored (those with a behaviour in the vocabulary)
    threshold: float | None  # None: fewer than ``engine.calibration.MIN_CALIBRATION_SEQUENCES``
    revision: int  # the store's count of sequences ever closed it was computed at (stale once it moves)
    actions: frozenset[int] = frozenset()  # the vocabulary's action ids those sequences hold


@dataclass(slots=True)
class ModelBundle:
    """TransAE + SASRec + their vocabulary: what one scoring call needs (replaced whole, never mutated)."""

    transae: TransAE
    sasrec: SASRec
    vocab: VocabularyMap
    info: ModelInfo
    backend: Backend = "auto"
    served_by: str = "not loaded"  # the executor actually used: "onnxruntime" or "numpy"
    calibration: Calibration | None = None  # base models only: the threshold calibrated on this home

    @property
    def threshold_source(self) -> ThresholdSource:
        """The model's own threshold (home-trained), or the base models' calibration state."""
        if self.info.source != "base":
            return ThresholdSource.MODEL
        if self.calibration is not None and self.calibration.threshold is not None:
            return ThresholdSource.HOME
        return ThresholdSource.CALIBRATING

    @property
    def threshold(self) -> float:
        """TransAE's anomaly threshold: calibrated on this home (base models, once calibrated), else a
        percentile of its validation scores (while calibrating: the base file's, never alerted on)."""
        if self.calibration is not None and self.calibration.threshold is not None:
            return self.calibration.threshold
        return float(self.transae.threshold_ if self.transae.threshold_ is not None else np.inf)

    def threshold_status(self) -> dict[str, Any]:
        """The threshold as the anomaly score sensor and the diagnostics show it (None while calibrating),
        where it comes from and, for base models, how many of the home's sequences it was calibrated on."""
        source = self.threshold_source
        base = self.info.source == "base"
        return {
            "threshold": None if source is ThresholdSource.CALIBRATING else round(self.threshold, 4),
            "threshold_source": source.value,
            "calibration_sequences": (self.calibration.sequences if self.calibration else 0)
            if base
            else None,
            "calibration_needed": MIN_CALIBRATION_SEQUENCES if base else None,
        }

    def same_models(self, other: ModelBundle) -> bool:
        """Whether ``other`` serves the very same models (it may differ in its calibration only)."""
        return (self.transae, self.sasrec, self.vocab, self.backend) == (
            other.transae,
            other.sasrec,
            other.vocab,
            other.backend,
        )

    def warm_up(self) -> str:
        """Create the executors (ONNX Runtime sessions, in the calling executor thread); the backend used."""
        self.transae.score([[(0, 0, 0, 0)]], self.backend)
        self.sasrec.recommend([(0, 0, 0, 0)], 1, self.backend)
        return self.transae.executor(self.backend).backend


def _built_at(meta: Mapping[str, Any]) -> datetime | None:
    text = meta.get("built")
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M %Z").replace(tzinfo=dt_util.UTC)
    except ValueError:
        return None


def load_bundle(
    transae_path: Path, sasrec_path: Path, *, version: str, source: str, backend: Backend = "auto"
) -> ModelBundle:
    """Load two model files and warm their executors up (executor only: file I/O and session creation).

    Raises ``ModelFileError`` (a bad file) or ``ValueError`` (no vocabulary, or the two disagree).
    """
    transae = TransAE.load(transae_path)
    sasrec = SASRec.load(sasrec_path)
    vocab = VocabularyMap.from_model(transae.vocabulary)
    if VocabularyMap.from_model(sasrec.vocabulary).actions != vocab.actions:
        raise ValueError(f"{transae_path} and {sasrec_path} were trained on different vocabularies")
    meta = transae.metadata
    metrics = {k: float(v) for k, v in dict(meta.get("metrics") or {}).items() if isinstance(v, int | float)}
    built = _built_at(meta) or dt_util.utc_from_timestamp(transae_path.stat().st_mtime)
    info = ModelInfo(
        version=version,
        source=source,
        trained_on=built,
        data=int(meta["train_sequences"]) if "train_sequences" in meta else None,
        dataset=str(meta.get("dataset", source)),
        evaluated_on=built if metrics else None,
        metrics=metrics,
    )
    bundle = ModelBundle(transae, sasrec, vocab, info, backend)
    bundle.served_by = bundle.warm_up()
    return bundle


def calibrate_base(bundle: ModelBundle, sequences: Iterable[BehaviourSequence], revision: int) -> Calibration:
    """The base TransAE's threshold on this home: its percentile of the stored sequences (executor only).

    Each closed sequence counts with its highest score over the readings live scoring made of it, one
    after each behaviour (``engine.calibration.max_prefix_scores``), since any of them raises the
    sequence's anomaly; a sequence with no behaviour in the vocabulary is not counted. ``revision``:
    the store's count of sequences ever closed (what the calibration is stale against).
    """
    mapped = [[bundle.vocab.raw(b) for b in seq] for seq in sequences]
    known = [raws for raws in mapped if any(raw is not None for raw in raws)]
    scores = max_prefix_scores(
        lambda reads: bundle.transae.score(reads, bundle.backend),
        known,
        SCORING_WINDOW,
        bundle.transae.config.max_behaviours,
    )  # [N]
    threshold = home_threshold(scores, bundle.transae.config.threshold_percentile)
    actions = frozenset(raw[3] for raws in known for raw in raws if raw is not None)
    return Calibration(len(known), threshold, revision, actions)


def allowed_actions(bundle: ModelBundle, history: RawSequence) -> frozenset[int] | None:
    """The action ids SASRec may predict after ``history`` (None: its whole vocabulary).

    The shipped base models know the actions of the household they were trained on (SmartThings FR), a
    robot cleaner's or a location mode's among them. Once calibrated on this home, they predict only the
    actions this home's stored sequences or ``history`` hold: an action never done here is no prediction.
    A home-trained model's vocabulary is the home's own, so all of it may be predicted.
    """
    if bundle.info.source != "base" or bundle.calibration is None:
        return None
    return bundle.calibration.actions | {raw[3] for raw in history}


def next_actions(bundle: ModelBundle, history: RawSequence, k: int) -> list[tuple[int, float]]:
    """SASRec's top-k next actions after ``history`` as ``(action id, logit)``, best first, among
    ``allowed_actions`` (executor only)."""
    return bundle.sasrec.recommend(history, k, bundle.backend, allowed_actions(bundle, history))


def load_base_bundle(backend: Backend = "auto") -> ModelBundle:
    """The shipped cold-start models (``model_assets/*_fr.npz``)."""
    return load_bundle(
        ASSETS_DIR / f"transae_{BASE_DATASET}.npz",
        ASSETS_DIR / f"sasrec_{BASE_DATASET}.npz",
        version=f"base-{BASE_DATASET}",
        source="base",
        backend=backend,
    )


@dataclass(frozen=True, slots=True)
class LiveScore:
    """The models' reading of one open TSS sequence (computed in the executor)."""

    key: float  # the sequence's first behaviour time: identifies the open sequence
    length: int  # behaviours in the open sequence
    score: float | None  # TransAE anomaly score of its known behaviours (None: none known)
    threshold: float
    unknown: tuple[str, ...]  # actions outside the vocabulary (most recent last)
    top_k: tuple[tuple[str, float], ...]  # SASRec's next actions, best first, with probabilities
    most_surprising: str | None = None  # the behaviour whose removal lowers the score most
    behaviours: tuple[tuple[float, str, str], ...] = ()  # (time, device, action) of the scored ones
    earlier: int = 0  # the sequence's behaviours before the first of ``behaviours``
    calibrating: bool = False  # base models not calibrated on this home yet: never anomalous

    @property
    def anomalous(self) -> bool:
        """Above TransAE's threshold (and the threshold is not still being calibrated)."""
        return not self.calibrating and self.score is not None and self.score > self.threshold


def score_open_sequence(
    bundle: ModelBundle, key: float, recent: Sequence[Behaviour], length: int, explain: bool = True
) -> LiveScore:
    """Score the open sequence's recent behaviours: TransAE score, SASRec top-k (executor only).

    ``explain``: when anomalous, also find the most surprising behaviour (leave-one-out: one more
    batch of ``len(window)`` rows); the scorer asks only for a sequence not alerted about yet.
    """
    mapped = [(b, bundle.vocab.raw(b)) for b in recent]
    known = [(b, raw) for b, raw in mapped if raw is not None]
    unknown = tuple(b.action for b, raw in mapped if raw is None)
    calibrating = bundle.threshold_source is ThresholdSource.CALIBRATING
    if not known:
        return LiveScore(key, length, None, bundle.threshold, unknown, (), calibrating=calibrating)
    window = known[-bundle.transae.config.max_behaviours :]
    earlier = length - len(recent) + next(i for i, (b, _) in enumerate(mapped) if b is window[0][0])
    raws: RawSequence = [raw for _, raw in window]
    score = float(bundle.transae.score([raws], bundle.backend)[0])
    history: RawSequence = [raw for _, raw in known]
    top = next_actions(bundle, history, TOP_K)
    probs = 1.0 / (1.0 + np.exp(-np.array([s for _, s in top], dtype=np.float64)))
    top_k = tuple((bundle.vocab.actions[i], round(float(p), 4)) for (i, _), p in zip(top, probs, strict=True))
    result = LiveScore(
        key,
        length,
        score,
        bundle.threshold,
        unknown,
        top_k,
        behaviours=tuple((b.time, b.device, b.action) for b, _ in window),
        earlier=earlier,
        calibrating=calibrating,
    )
    if not explain or not result.anomalous:
        return result
    if len(window) > 1:
        drops = [raws[:i] + raws[i + 1 :] for i in range(len(raws))]
        without = bundle.transae.score(drops, bundle.backend)  # [n]: the score without behaviour i
        worst = window[int(np.argmin(without))][0]
        result = replace(result, most_surprising=f"{worst.action} ({worst.device})")
    else:
        result = replace(result, most_surprising=f"{window[0][0].action} ({window[0][0].device})")
    return result
