"""Live scoring: every ingested behaviour is read by TransAE and SASRec in its open TSS sequence.

The event loop does O(1) bookkeeping per behaviour; the models run in the executor, one job at a
time, and a burst coalesces into that one job without losing a behaviour:

* ``LiveScorer.observe`` (on the loop) counts the behaviour as known or unknown and appends a
  *snapshot* of the open sequence (its key, its last ``SCORING_WINDOW`` behaviours, its length) to the
  pending list. If no job is running it starts one at once.
* A job (``score_snapshots``, in the executor) takes every pending snapshot: behaviours are mapped
  onto the model vocabulary once per job (and cached across jobs), TransAE scores all the windows in
  one batch (mean reconstruction cross-entropy) and SASRec ranks the next actions for all histories
  in one batch. The explanation (leave-one-out) is computed only for the first anomalous snapshot of
  a sequence not alerted about yet.
* Back on the loop the results are applied **in order**, each exactly once: every new anomaly fires
  the event entity and goes to ``alerts.py``; the entities showing the reading are refreshed once
  per job with the last one (``signal_reading``; the model and context entities are not rewritten).
  A reading whose sequence closed while the job ran still raises its alert, but the sensors show it
  only if its sequence is still the open one. Snapshots that arrived meanwhile start the next job.

``swap_models`` is the adaptation loop's hook: it replaces the bundle atomically; a job already
running finishes with the old models, its snapshots are scored again with the new ones, and the
open sequence is rescored. After ``close`` (entry unload) nothing is written any more.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from numpy.typing import NDArray

from .alerts import AnomalyAlerts
from .const import LearningState
from .engine.behaviour import Behaviour, Sequence
from .engine.datasets import RawBehaviour, RawSequence
from .engine.models import EncodingError, ModelFileError, NotFittedError
from .learner import HabitusLearner
from .live_const import SCORING_WINDOW, signal_anomaly, signal_live, signal_reading
from .live_models import TOP_K, LiveScore, ModelBundle

_LOGGER = logging.getLogger(__name__)
MAX_REMEMBERED_ANOMALIES = 100
RAW_CACHE_SIZE = 1024  # mapped behaviours kept across jobs (one entry per recent behaviour)

type Snapshot = tuple[float, list[Behaviour], int]  # (sequence key, recent behaviours, length)
type RawCache = dict[tuple[float, str, str], RawBehaviour | None]


class LiveScorer:
    """Scores the open sequence after each live behaviour; holds the latest reading."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], learner: HabitusLearner, alerts: AnomalyAlerts
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._learner = learner
        self._alerts = alerts
        self.bundle: ModelBundle | None = None
        self.result: LiveScore | None = None
        self.anomaly_active = False
        self.last_anomaly: LiveScore | None = None
        self.normal_keys: deque[float] = deque(maxlen=MAX_REMEMBERED_ANOMALIES)  # marked "that was me"
        self._alerted: deque[float] = deque(maxlen=MAX_REMEMBERED_ANOMALIES)
        self._pending: list[Snapshot] = []
        self._running = False
        self._closed = False
        self._raw_cache: RawCache = {}
        self.known = 0  # live behaviours inside the model vocabulary
        self.unknown = 0  # and outside it
        self.scored = 0  # snapshots scored and applied (one per behaviour, plus rescoring on a swap)
        self.jobs = 0  # executor jobs those took

    @property
    def coverage(self) -> float | None:
        """Share of live behaviours the models know (None: none seen yet)."""
        total = self.known + self.unknown
        return self.known / total if total else None

    @callback
    def observe(self, behaviour: Behaviour) -> None:
        """One live behaviour was learned: queue the open sequence for scoring (O(1), on the loop)."""
        bundle = self.bundle
        if bundle is None or self._learner.state is LearningState.BOOTSTRAPPING:
            return
        if bundle.vocab.knows(behaviour):
            self.known += 1
        else:
            self.unknown += 1
        self._queue_open()

    @callback
    def _queue_open(self) -> None:
        current = self._learner.open_sequence
        if not current or self._closed:
            return
        self._pending.append((current[0].time, current[-SCORING_WINDOW:], len(current)))
        if not self._running:
            self._start()

    @callback
    def _start(self) -> None:
        """Hand every pending snapshot to the executor as one job (a future and a callback, no task)."""
        snapshots, self._pending = self._pending, []
        bundle = self.bundle
        if not snapshots or bundle is None or self._closed:
            return
        self._running = True
        self.jobs += 1
        explain = frozenset(key for key, _, _ in snapshots if key not in self._alerted)
        future = self._hass.async_add_executor_job(
            score_snapshots, bundle, snapshots, explain, self._raw_cache
        )
        future.add_done_callback(lambda done: self._done(bundle, snapshots, done))

    @callback
    def _done(
        self, bundle: ModelBundle, snapshots: list[Snapshot], future: asyncio.Future[list[LiveScore]]
    ) -> None:
        self._running = False
        if self._closed or future.cancelled():
            return
        try:
            results = future.result()
        except (EncodingError, ModelFileError, NotFittedError, ValueError, RuntimeError) as err:
            _LOGGER.warning("Habitus could not score the open sequence: %r", err)
            results = []
        if bundle is not self.bundle:  # swapped meanwhile: score these behaviours with the new models
            self._pending[:0] = _without_repeat(snapshots, self._pending)
        elif results:
            self._apply(results)
        if self._pending:
            self._start()

    @callback
    def close(self) -> None:
        """The entry unloads: drop pending work and any result still on its way."""
        self._closed = True
        self._pending = []

    @callback
    def _apply(self, results: Iterable[LiveScore]) -> None:
        """Apply readings in their order: alerts for each new anomaly, then one entity refresh."""
        latest: LiveScore | None = None
        for result in results:
            self.scored += 1
            latest = result
            if result.anomalous and result.key not in self.normal_keys and result.key not in self._alerted:
                self._alerted.append(result.key)
                self.last_anomaly = result
                notified = self._alerts.on_anomaly(result)
                async_dispatcher_send(
                    self._hass, signal_anomaly(self._entry.entry_id), event_data(result, notified)
                )
        if latest is None:
            return
        current = self._learner.open_sequence
        if current and current[0].time == latest.key:
            self.result = latest
            self.anomaly_active = latest.anomalous and latest.key not in self.normal_keys
        else:  # its sequence closed while the job ran: the alert stands, the sensors show no reading
            self.result = None
            self.anomaly_active = False
        async_dispatcher_send(self._hass, signal_reading(self._entry.entry_id))

    @callback
    def sequence_closed_check(self) -> None:
        """The learner changed (maybe closed the open sequence when idle): end a stale reading."""
        current = self._learner.open_sequence
        if self.result is not None and (not current or current[0].time != self.result.key):
            self.result = None
            self.anomaly_active = False
            async_dispatcher_send(self._hass, signal_live(self._entry.entry_id))

    @callback
    def swap_models(self, new: ModelBundle) -> None:
        """Serve ``new`` from now on (atomic: the next job uses it) and rescore the open sequence."""
        self.bundle = new
        self._raw_cache = {}  # ids of the old vocabulary
        self.known = self.unknown = 0
        current = self._learner.open_sequence
        if current and not any(s[0] == current[0].time and s[2] == len(current) for s in self._pending):
            self._queue_open()
        async_dispatcher_send(self._hass, signal_live(self._entry.entry_id))

    @callback
    def mark_normal(self) -> Sequence | None:
        """ "That was me": the latest anomaly is normal; returns its behaviours (None: no anomaly yet)."""
        anomaly = self.last_anomaly
        if anomaly is None:
            return None
        self.normal_keys.append(anomaly.key)
        current = self._learner.open_sequence
        if current and current[0].time == anomaly.key:
            behaviours = list(current)
            self.anomaly_active = False
        else:
            behaviours = [Behaviour(time=t, device=d, action=a) for t, d, a in anomaly.behaviours]
        self.last_anomaly = None
        async_dispatcher_send(self._hass, signal_live(self._entry.entry_id))
        return behaviours


def _without_repeat(first: list[Snapshot], then: list[Snapshot]) -> list[Snapshot]:
    """``first`` minus the snapshots ``then`` already holds (same sequence key and length)."""
    queued = {(key, length) for key, _, length in then}
    return [s for s in first if (s[0], s[2]) not in queued]


def _mapped(bundle: ModelBundle, recent: list[Behaviour], cache: RawCache) -> list[RawBehaviour | None]:
    """Each behaviour's model ids (None: outside the vocabulary), through the job's cache."""
    out: list[RawBehaviour | None] = []
    for b in recent:
        ident = (b.time, b.device, b.action)
        if ident not in cache:
            cache[ident] = bundle.vocab.raw(b)
        out.append(cache[ident])
    return out


def score_snapshots(
    bundle: ModelBundle, snapshots: list[Snapshot], explain: frozenset[float], cache: RawCache
) -> list[LiveScore]:
    """Score every snapshot in two batched model calls (executor only); one reading per snapshot.

    Each reading equals ``live_models.score_open_sequence`` of that snapshot: TransAE's score of the
    last ``max_behaviours`` known behaviours, SASRec's top-k after all known ones. The explanation
    (most surprising behaviour, leave-one-out) is filled in for the first anomalous snapshot of each
    sequence in ``explain``. ``cache`` (behaviour -> ids) belongs to the bundle; only one job uses it.
    """
    if bundle.sasrec.config.item_mode != "action":
        raise ValueError("live scoring needs a SASRec with item_mode='action'")
    if len(cache) > RAW_CACHE_SIZE:
        cache.clear()
    max_behaviours = bundle.transae.config.max_behaviours
    threshold = bundle.threshold
    known_of: list[list[tuple[Behaviour, RawBehaviour]]] = []
    unknown_of: list[tuple[str, ...]] = []
    for _, recent, _ in snapshots:
        mapped = _mapped(bundle, recent, cache)
        known_of.append([(b, raw) for b, raw in zip(recent, mapped, strict=True) if raw is not None])
        unknown_of.append(tuple(b.action for b, raw in zip(recent, mapped, strict=True) if raw is None))
    rows = [i for i, known in enumerate(known_of) if known]
    windows: list[RawSequence] = [[raw for _, raw in known_of[i][-max_behaviours:]] for i in rows]
    scores = bundle.transae.score(windows, bundle.backend) if rows else np.zeros(0, np.float32)
    histories = [bundle.sasrec.items([raw for _, raw in known_of[i]]) for i in rows]
    items = bundle.sasrec.item_scores(histories, bundle.backend) if rows else np.zeros((0, 1), np.float32)
    results = [
        LiveScore(key, length, None, threshold, unknown_of[i], ())
        for i, (key, _, length) in enumerate(snapshots)
    ]
    explained: set[float] = set()
    for row, i in enumerate(rows):
        key, _, length = snapshots[i]
        window = known_of[i][-max_behaviours:]
        result = LiveScore(
            key,
            length,
            float(scores[row]),
            threshold,
            unknown_of[i],
            _top_k(bundle, items[row]),
            behaviours=tuple((b.time, b.device, b.action) for b, _ in window),
        )
        if result.anomalous and key in explain and key not in explained:
            explained.add(key)
            result = replace(result, most_surprising=_most_surprising(bundle, window))
        results[i] = result
    return results


def _top_k(bundle: ModelBundle, scores: NDArray[np.float32]) -> tuple[tuple[str, float], ...]:
    """SASRec's ``recommend``: the best ``TOP_K`` actions (stable order), as sigmoid probabilities."""
    actions = scores[1:]  # column 0 is padding
    top = np.argsort(-actions, kind="stable")[:TOP_K]
    probs = 1.0 / (1.0 + np.exp(-np.array([float(actions[i]) for i in top], dtype=np.float64)))
    return tuple((bundle.vocab.actions[int(i)], round(float(p), 4)) for i, p in zip(top, probs, strict=True))


def _most_surprising(bundle: ModelBundle, window: list[tuple[Behaviour, RawBehaviour]]) -> str:
    """The behaviour whose removal lowers TransAE's score most (one batch of ``len(window)`` rows)."""
    if len(window) == 1:
        worst = window[0][0]
    else:
        raws = [raw for _, raw in window]
        drops = [raws[:i] + raws[i + 1 :] for i in range(len(raws))]
        without = bundle.transae.score(drops, bundle.backend)  # [n]: the score without behaviour i
        worst = window[int(np.argmin(without))][0]
    return f"{worst.action} ({worst.device})"


def event_data(result: LiveScore, notified: bool) -> dict[str, Any]:
    """The event entity's attributes for one anomaly (small: automations read them)."""
    return {
        "score": round(result.score or 0.0, 4),
        "threshold": round(result.threshold, 4),
        "most_surprising": result.most_surprising,
        "actions": [action for _, _, action in result.behaviours],
        "devices": sorted({device for _, device, _ in result.behaviours}),
        "notified": notified,
    }
