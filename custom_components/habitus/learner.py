"""Where TSS happens on the hub: behaviours in, closed sequences out to the store.

``HabitusLearner`` owns the entry's ``OnlineSegmenter`` (SmartGen's TSS, ``engine/segment.py``) and its
``HabitusStore``. Ingest (live bus) and bootstrap (recorder history) both feed it. While the bootstrap
runs, live behaviours wait in a buffer, so history and live events reach TSS in time order.

When the TSS thresholds in the options differ from those the store's sequences were cut with, setup
cuts everything kept again with the new ones (``HabitusStore.async_resegment``). An interrupted
bootstrap (unload, options change, HA stop) is rolled back, so the next setup's bootstrap learns the
history once, under its own thresholds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import READY_MIN_SEQUENCES, LearningState, signal_updated
from .engine.behaviour import Behaviour, Sequence
from .engine.segment import OnlineSegmenter, TSSConfig, split_sequences
from .store import HabitusStore, StoreCheckpoint

_LOGGER = logging.getLogger(__name__)
BOOTSTRAP_CHUNK = 500  # behaviours learned between two yields to the event loop
NOTIFY_INTERVAL_S = 1.0  # the sensors are refreshed at most this often (a scene = one refresh)


async def yield_to_loop() -> None:
    """Let the event loop run between two bootstrap chunks (where a bootstrap can be cancelled)."""
    await asyncio.sleep(0)


def epoch_hours(moment: datetime) -> float:
    """Habitus's time axis for HA events: hours since the Unix epoch."""
    return moment.timestamp() / 3600.0


class ThrottledSignal:
    """A dispatcher signal sent at most once per ``interval`` seconds; a burst ends with one more send."""

    def __init__(self, hass: HomeAssistant, signal: str, interval: float) -> None:
        self._hass, self._signal, self._interval = hass, signal, interval
        self._job = HassJob(self._send_later, "habitus sensor refresh", cancel_on_shutdown=True)
        self._last = float("-inf")
        self._pending: CALLBACK_TYPE | None = None

    @callback
    def send(self) -> None:
        """Send now, or once the interval since the last send has passed."""
        if self._pending is not None:
            return
        wait = self._last + self._interval - self._hass.loop.time()
        if wait <= 0:
            self._send_now()
        else:
            self._pending = async_call_later(self._hass, wait, self._job)

    @callback
    def cancel(self) -> None:
        """Drop a pending send (unload)."""
        if self._pending is not None:
            self._pending()
            self._pending = None

    @callback
    def send_now(self) -> None:
        """Send at once (the learning state changed), replacing any pending send."""
        self.cancel()
        self._send_now()

    @callback
    def _send_later(self, _now: datetime) -> None:
        self._pending = None
        self._send_now()

    def _send_now(self) -> None:
        self._last = self._hass.loop.time()
        async_dispatcher_send(self._hass, self._signal)


class HabitusLearner:
    """TSS over one home's behaviour stream, with bounded persistent storage."""

    def __init__(self, hass: HomeAssistant, entry_id: str, store: HabitusStore, config: TSSConfig) -> None:
        self._hass = hass
        self.notify = ThrottledSignal(hass, signal_updated(entry_id), NOTIFY_INTERVAL_S)
        self.store = store
        self._segmenter = OnlineSegmenter(config)
        self._buffer: list[Behaviour] | None = None  # live behaviours held back during bootstrap
        self._notified_state: LearningState | None = None
        self._before_bootstrap: tuple[StoreCheckpoint, Sequence] | None = None
        self._bootstrap_task: asyncio.Future[None] | None = None
        # Called with each live behaviour once TSS has it (live scoring, context); not during bootstrap.
        self.observers: list[Callable[[Behaviour], None]] = []

    def _notify(self) -> None:
        """Refresh the sensors: at once when the learning state changed, else throttled."""
        state = self.state
        if state is not self._notified_state:
            self._notified_state = state
            self.notify.send_now()
        else:
            self.notify.send()

    def _segmenter_open(self) -> Sequence:
        return self._segmenter.open_sequence

    async def async_load(self, excluded: frozenset[str]) -> None:
        """Load the store, apply the current bounds and exclusions, resume the open sequence saved before."""
        await self.store.async_load()
        if self.store.prune(epoch_hours(dt_util.utcnow())):
            self.store.schedule_save()
        await self.store.async_forget(self._hass, excluded)
        await self._async_resegment_if_changed()
        self._segmenter.restore(self.store.open_sequence)
        self.store.track_open(self._segmenter_open)

    async def _async_resegment_if_changed(self) -> None:
        """TSS again over what is kept if it was cut with other thresholds than the settings' now."""
        config, store = self._segmenter.config, self.store
        if store.tss == config:
            return
        if not store.stored_sequences and not store.open_sequence:
            store.tss = config  # nothing to cut again
            store.schedule_save()
            return
        old = store.tss
        before, after = await store.async_resegment(self._hass, config, epoch_hours(dt_util.utcnow()))
        _LOGGER.info(
            "TSS thresholds changed (Δt_max %s h -> %s h, T_max %s h -> %s h): re-segmented %d "
            "behaviours, %d sequences before, %d after (open one included)",
            old.max_gap_hours,
            config.max_gap_hours,
            old.max_span_hours,
            config.max_span_hours,
            store.stored_behaviours + len(store.open_sequence),
            before,
            after,
        )
        self._notify()

    @property
    def state(self) -> LearningState:
        """Bootstrapping, learning, or ready (enough closed sequences for the models)."""
        if self._buffer is not None:
            return LearningState.BOOTSTRAPPING
        if self.store.stored_sequences >= READY_MIN_SEQUENCES:
            return LearningState.READY
        return LearningState.LEARNING

    @property
    def behaviours_learned(self) -> int:
        """Behaviours ingested since the entry was created (history included)."""
        return self.store.behaviours_total

    @property
    def sequences_learned(self) -> int:
        """Sequences TSS has closed and stored since the entry was created."""
        return self.store.sequences_total

    @property
    def open_sequence(self) -> Sequence:
        """The sequence TSS is building now."""
        return self._segmenter.open_sequence

    @property
    def open_key(self) -> float | None:
        """The open sequence's first behaviour time (None: none open); no copy, cheap per event."""
        return self._segmenter.open_key

    def open_tail(self, n: int) -> tuple[Sequence, int]:
        """The open sequence's last ``n`` behaviours and its length (live scoring's snapshot)."""
        return self._segmenter.open_tail(n)

    @callback
    def learn(self, behaviour: Behaviour) -> None:
        """One live behaviour (already filtered and mapped by ingest)."""
        if self._buffer is not None:
            self._buffer.append(behaviour)
            return
        self._learn_many([behaviour])
        for observer in self.observers:
            observer(behaviour)

    @callback
    def close_if_idle(self, now: datetime | None = None) -> None:
        """Close the open sequence once nothing can join it any more (periodic)."""
        if self._buffer is not None:
            return
        now_hours = epoch_hours(now or dt_util.utcnow())
        closed = self._segmenter.close_if_idle(now_hours)
        if closed:
            self.store.add_sequence(closed, now_hours)
            self.store.schedule_save()
            self._notify()

    @callback
    def begin_bootstrap(self) -> None:
        """From now until ``async_finish_bootstrap``, hold live behaviours back (and remember the
        state to roll back to if the bootstrap is interrupted)."""
        self._buffer = []
        self._before_bootstrap = (self.store.checkpoint(), self._segmenter.open_sequence)
        self._notify()

    def track_bootstrap(self, task: asyncio.Future[None]) -> None:
        """The running bootstrap task (cancelled by ``async_cancel_bootstrap``)."""
        self._bootstrap_task = task

    async def async_cancel_bootstrap(self) -> None:
        """Unload: stop a running bootstrap and wait until it has rolled back (before the last write)."""
        task, self._bootstrap_task = self._bootstrap_task, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @callback
    def abort_bootstrap(self) -> None:
        """The bootstrap was cancelled midway: undo what it learned, so the next one starts clean.

        The store and TSS go back to where they were at ``begin_bootstrap`` (``bootstrapped`` stays
        False). The live behaviours held back are dropped on a first attempt: the next bootstrap's
        window ends at its own start, so the recorder gives them back, in order, none twice. On a retry
        (``history_until`` set: that window ends where live learning began) they are learned now.
        """
        if self._buffer is None or self._before_bootstrap is None:
            return  # finished already
        checkpoint, open_sequence = self._before_bootstrap
        buffered, self._buffer, self._before_bootstrap = self._buffer, None, None
        self.store.rollback(checkpoint)
        self._segmenter.restore(open_sequence)
        if self.store.history_until is not None:
            self._learn_many(buffered)
        _LOGGER.info("Bootstrap interrupted; it starts again at the next setup")

    async def async_finish_bootstrap(
        self, history: list[Behaviour], window_end: float, completed: bool = True
    ) -> None:
        """Learn the history (time-ordered, before any buffered live behaviour), then the buffer.

        The history goes through TSS in chunks, yielding to the event loop in between (a month of a
        busy home is tens of thousands of behaviours). ``completed=False`` (the history could not be
        read) still releases the buffer; the store remembers ``window_end`` (epoch hours) so the
        retry at the next setup reads only up to there. History older than what is already learned
        (that retry) is split by offline TSS into closed sequences of its own.
        """
        latest = self._latest_time()
        older = [b for b in history if b.time <= latest]
        if older:
            self.store.add_older_sequences(
                split_sequences(older, self._segmenter.config), epoch_hours(dt_util.utcnow())
            )
            self.store.count_behaviours(len(older))
        newer = [b for b in history if b.time > latest]
        for start in range(0, len(newer), BOOTSTRAP_CHUNK):
            self._learn_many(newer[start : start + BOOTSTRAP_CHUNK])
            await yield_to_loop()
        buffered, self._buffer, self._before_bootstrap = self._buffer or [], None, None
        self._learn_many(buffered)
        if completed:
            self.store.mark_bootstrapped()
        elif self.store.history_until is None:
            self.store.history_until = window_end
        self._notify()

    def _latest_time(self) -> float:
        """Time of the latest behaviour learned so far (-inf: none)."""
        current = self._segmenter.open_sequence
        if current:
            return current[-1].time
        return self.store.latest_end

    def _learn_many(self, behaviours: list[Behaviour]) -> None:
        now_hours = epoch_hours(dt_util.utcnow())
        for behaviour in behaviours:
            closed = self._segmenter.push(behaviour)
            if closed:
                self.store.add_sequence(closed, now_hours)
        if behaviours:
            self.store.count_behaviours(len(behaviours))
            self.store.schedule_save()
            self._notify()
