"""Live scoring: every ingested behaviour is read by TransAE and SASRec in its open TSS sequence.

The event loop does O(1) bookkeeping per behaviour; the models run in the entry's scoring thread
(``scoring_thread.py``), one job at a time, and a burst coalesces into that one job without losing a
behaviour:

* ``LiveScorer.observe`` (on the loop) counts the behaviour as known or unknown and appends a
  *snapshot* of the open sequence (its key, its last ``SCORING_WINDOW`` behaviours, its length; only
  those are copied) to the pending list. If no job is running it queues one at once.
* A job (``scoring_batch.score_snapshots``, in the thread) takes every pending snapshot: behaviours
  are mapped onto the model vocabulary once per job (and cached across jobs), TransAE scores all the
  windows in one batch (mean reconstruction cross-entropy) and SASRec ranks the next actions for all
  histories in one batch. The explanation (leave-one-out) is computed only for the first anomalous
  snapshot of a sequence not alerted about yet, and for the job's last snapshot of the sequence whose
  notification is on screen (or was just raised).
* Back on the loop the results are applied **in order**, each exactly once: every new anomaly fires
  the event entity and goes to ``alerts.py`` at once; the job's last reading of the sequence whose
  notification is on screen rewrites that notification (its behaviours so far). The entities showing
  the reading (``signal_reading``; the model and context entities are not rewritten) show the latest
  one: at once when the anomaly state flips, otherwise at most every ``READING_REFRESH_SECONDS`` (a burst
  ends with one more refresh). A reading whose sequence closed while the job ran still raises its
  alert, but the sensors show it only if its sequence is still the open one. Snapshots that arrived
  meanwhile start the next job.

Why a thread of its own and a throttled refresh: with HA's executor and one entity refresh per job,
the hand-off and the four entity writes were most of the loop-side cost per behaviour and all of its
tail (docs/BENCHMARKS.md, "Per-event overhead with live scoring").

``calibrate`` serves the base bundle with its threshold calibrated on the home (``base_calibration.py``).
``swap_models`` is the adaptation loop's hook: it replaces the bundle atomically; a job already
running finishes with the old models, its snapshots are scored again with the new ones, and the
open sequence is rescored. After ``close`` (entry unload, HA stop) nothing is written any more and
``async_close`` stops the thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .alerts import AnomalyAlerts
from .const import LearningState
from .engine.behaviour import Behaviour, Sequence
from .engine.models import EncodingError, ModelFileError, NotFittedError
from .learner import HabitusLearner, ThrottledSignal
from .live_const import SCORING_WINDOW, signal_anomaly, signal_live, signal_reading
from .live_models import Calibration, LiveScore, ModelBundle
from .scoring_batch import RawCache, Snapshot, score_snapshots
from .scoring_thread import ScoringThread

__all__ = ["LiveScorer", "Snapshot", "event_data", "score_snapshots"]

_LOGGER = logging.getLogger(__name__)
READING_REFRESH_SECONDS: Final = 0.5  # the reading entities are rewritten at most this often
# What a bad model pair or input raises (a warning); anything else is a bug, logged with its traceback.
SCORING_ERRORS = (EncodingError, ModelFileError, NotFittedError, ValueError, RuntimeError)


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
        self.normal_keys = alerts.memory.normal_keys  # marked "that was me" (kept across reloads)
        self._alerted = alerts.memory.alerted
        self._pending: list[Snapshot] = []
        self._running = False
        self._closed = False
        self._raw_cache: RawCache = {}
        self._thread = ScoringThread(hass, entry.entry_id)
        self._reading = ThrottledSignal(hass, signal_reading(entry.entry_id), READING_REFRESH_SECONDS)
        self.known = 0  # live behaviours inside the model vocabulary
        self.unknown = 0  # and outside it
        self.scored = 0  # snapshots scored and applied (one per behaviour, plus rescoring on a swap)
        self.jobs = 0  # scoring jobs those took

    @property
    def coverage(self) -> float | None:
        """Share of live behaviours the models know (None: none seen yet)."""
        total = self.known + self.unknown
        return self.known / total if total else None

    @callback
    def start(self) -> None:
        """Start the scoring thread (entry set-up; ``async_close`` stops it)."""
        self._thread.start()

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
        key = self._learner.open_key
        if key is None or self._closed:
            return
        recent, length = self._learner.open_tail(SCORING_WINDOW)
        self._pending.append((key, recent, length))
        if not self._running:
            self._start()

    @callback
    def _start(self) -> None:
        """Hand every pending snapshot to the scoring thread as one job."""
        snapshots, self._pending = self._pending, []
        bundle = self.bundle
        if not snapshots or bundle is None or self._closed:
            return
        self._running = True
        self.jobs += 1
        explain = frozenset(key for key, _, _ in snapshots if key not in self._alerted)
        followed = self._alerts.followed_key
        follow = frozenset() if followed is None else frozenset({followed})
        job = partial(score_snapshots, bundle, snapshots, explain, self._raw_cache, follow)
        self._entry.async_create_background_task(
            self._hass, self._async_job(bundle, snapshots, job), "habitus scoring"
        )

    async def _async_job(
        self, bundle: ModelBundle, snapshots: list[Snapshot], job: Callable[[], list[LiveScore]]
    ) -> None:
        """Wait for one job of the thread (a background task, so HA can wait for it as for an executor
        job); a failed job is logged and its behaviours have no reading, scoring goes on."""
        try:
            results = await self._thread.run(job)
        except asyncio.CancelledError:  # unload or HA stop
            self._running = False
            raise
        except SCORING_ERRORS as err:
            _LOGGER.warning("Habitus could not score the open sequence: %r", err)
            results = []
        except Exception as err:  # a bug in one job must not end live scoring
            _LOGGER.error("Habitus live scoring failed: %r", err, exc_info=err)
            results = []
        self._done(bundle, snapshots, results)

    @callback
    def _done(self, bundle: ModelBundle, snapshots: list[Snapshot], results: list[LiveScore]) -> None:
        self._running = False
        if self._closed:
            return
        if self.bundle is None or not bundle.same_models(self.bundle):  # swapped meanwhile: score these
            # behaviours with the new models (a new calibration alone: the readings keep their threshold)
            self._pending[:0] = _without_repeat(snapshots, self._pending)
        elif results:
            self._apply(results)
        if self._pending:
            self._start()

    @callback
    def close(self) -> None:
        """The entry unloads: drop pending work, any result still on its way and a pending refresh."""
        self._closed = True
        self._pending = []
        self._reading.cancel()

    async def async_close(self) -> None:
        """``close``, then stop the scoring thread (its current job finishes; joined off the loop)."""
        self.close()
        await self._thread.async_stop(self._hass)

    async def async_on_stop(self, _event: Event) -> None:
        """HA stops (entries are not unloaded then): stop the thread too."""
        await self.async_close()

    @callback
    def _apply(self, results: Iterable[LiveScore]) -> None:
        """Apply readings in their order: alerts for each new anomaly, the latest reading of the sequence
        whose notification is on screen rewrites it (once per job), then the reading's refresh."""
        latest: LiveScore | None = None
        later: dict[float, LiveScore] = {}  # each sequence's last reading after its alert (if any)
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
                later.pop(result.key, None)
            else:
                later[result.key] = result
        followed = self._alerts.followed_key
        if followed is not None and followed in later and followed not in self.normal_keys:
            self._alerts.on_update(later[followed])
        if latest is None:
            return
        was_active = self.anomaly_active
        if self._learner.open_key == latest.key:
            self.result = latest
            self.anomaly_active = latest.anomalous and latest.key not in self.normal_keys
        else:  # its sequence closed while the job ran: the alert stands, the sensors show no reading
            self.result = None
            self.anomaly_active = False
        if self.anomaly_active != was_active:
            self._reading.send_now()  # an anomaly shows (or ends) at once
        else:
            self._reading.send()  # at most every READING_REFRESH_SECONDS

    @callback
    def sequence_closed_check(self) -> None:
        """The learner changed (maybe closed the open sequence when idle): end a stale reading."""
        if self.result is not None and self._learner.open_key != self.result.key:
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
    def calibrate(self, bundle: ModelBundle, calibration: Calibration) -> bool:
        """Serve ``bundle`` with its threshold calibrated on this home (``base_calibration.py``), unless
        another bundle serves by now (False). The next behaviour is read with it; readings already made
        or on their way keep the threshold they were scored with."""
        if bundle is not self.bundle or self._closed:
            return False
        self.bundle = replace(bundle, calibration=calibration)  # same vocabulary: the raw cache stays
        async_dispatcher_send(self._hass, signal_live(self._entry.entry_id))
        return True

    @property
    def last_anomaly(self) -> LiveScore | None:
        """The latest anomaly (kept across reloads with the notification that names it)."""
        return self._alerts.memory.last_anomaly

    @last_anomaly.setter
    def last_anomaly(self, anomaly: LiveScore | None) -> None:
        self._alerts.memory.last_anomaly = anomaly

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
