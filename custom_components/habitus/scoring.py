"""Live scoring: every ingested behaviour is read by TransAE and SASRec in its open TSS sequence.

On the event loop ``LiveScorer.observe`` only takes the open sequence's last ``SCORING_WINDOW``
behaviours and hands them to the executor (one job at a time; a burst coalesces to its latest state),
so the per-event cost on the loop is a slice and a dictionary lookup. In the executor
``live_models.score_open_sequence`` maps the behaviours onto the model vocabulary, scores the sequence
(TransAE's mean reconstruction cross-entropy) and ranks the next actions (SASRec). Back on the loop the
result updates the entities; a sequence that crosses the threshold for the first time is a new anomaly:
the event entity fires and ``alerts.py`` decides about a notification.

``swap_models`` is the adaptation loop's hook: it replaces the bundle atomically (a job already running
finishes with the old one and its result is dropped) and rescores the open sequence.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .alerts import AnomalyAlerts
from .const import LearningState
from .engine.behaviour import Behaviour, Sequence
from .engine.models import EncodingError, ModelFileError, NotFittedError
from .learner import HabitusLearner
from .live_const import SCORING_WINDOW, signal_anomaly, signal_live
from .live_models import LiveScore, ModelBundle, score_open_sequence

_LOGGER = logging.getLogger(__name__)
MAX_REMEMBERED_ANOMALIES = 100

type Snapshot = tuple[float, list[Behaviour], int, bool]  # (key, recent behaviours, length, explain)


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
        self._pending: Snapshot | None = None
        self._running = False
        self._closed = False
        self.known = 0  # live behaviours inside the model vocabulary
        self.unknown = 0  # and outside it
        self.scored = 0

    @property
    def coverage(self) -> float | None:
        """Share of live behaviours the models know (None: none seen yet)."""
        total = self.known + self.unknown
        return self.known / total if total else None

    @callback
    def observe(self, behaviour: Behaviour) -> None:
        """One live behaviour was learned: queue the open sequence for scoring (cheap, on the loop)."""
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
        if not current:
            return
        key = current[0].time
        self._pending = (key, current[-SCORING_WINDOW:], len(current), key not in self._alerted)
        if not self._running:
            self._start()

    @callback
    def _start(self) -> None:
        """Hand the pending snapshot to the executor (a future and a callback: no task per event)."""
        snapshot, self._pending = self._pending, None
        bundle = self.bundle
        if snapshot is None or bundle is None or self._closed:
            return
        self._running = True
        future = self._hass.async_add_executor_job(score_open_sequence, bundle, *snapshot)
        future.add_done_callback(lambda done: self._done(bundle, done))

    @callback
    def _done(self, bundle: ModelBundle, future: asyncio.Future[LiveScore]) -> None:
        self._running = False
        if self._closed or future.cancelled():
            return
        try:
            result: LiveScore | None = future.result()
        except (EncodingError, ModelFileError, NotFittedError, ValueError, RuntimeError) as err:
            _LOGGER.warning("Habitus could not score the open sequence: %r", err)
            result = None
        if result is not None and bundle is self.bundle:
            self._apply(result)
        if self._pending is not None:
            self._start()

    @callback
    def close(self) -> None:
        """The entry unloads: drop pending work and any result still on its way."""
        self._closed = True
        self._pending = None

    @callback
    def _apply(self, result: LiveScore) -> None:
        self.scored += 1
        self.result = result
        anomalous = result.anomalous and result.key not in self.normal_keys
        if anomalous and result.key not in self._alerted:
            self._alerted.append(result.key)
            self.last_anomaly = result
            notified = self._alerts.on_anomaly(result)
            async_dispatcher_send(
                self._hass, signal_anomaly(self._entry.entry_id), event_data(result, notified)
            )
        self.anomaly_active = anomalous
        async_dispatcher_send(self._hass, signal_live(self._entry.entry_id))

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
        self.known = self.unknown = 0
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
