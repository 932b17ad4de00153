"""What the live side keeps across restarts: feedback ("that was me"), the context monitor, snooze,
and the adaptation jobs' record (``completed_jobs`` and ``last_outcome`` of the adaptation sensor).

One HA ``Store`` per entry (``.storage/habitus.<entry_id>.live``), next to the learner's store and
removed with the entry. Feedback sequences are kept as ``[time, device, action]`` triples, labelled
normal; the next retraining (the adaptation loop) reads them through ``feedback_sequences``. Bounded.
"""

from __future__ import annotations

import logging
from typing import Any, NotRequired, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN, SAVE_DELAY_SECONDS
from .engine.behaviour import Behaviour, Sequence
from .engine.context_monitor import ContextMonitor
from .write_issues import ReportedStore

_LOGGER = logging.getLogger(__name__)

LIVE_STORAGE_VERSION = 1
MAX_FEEDBACK_SEQUENCES = 500

type StoredTriple = list[Any]  # [time (epoch hours), device, action]


class StoredLive(TypedDict):
    """The JSON document of the live store (version 1)."""

    feedback_normal: list[list[StoredTriple]]
    monitor: dict[str, Any]
    snoozed_until: float | None  # epoch seconds
    adaptation: NotRequired[dict[str, Any]]  # {"completed_jobs": int, "last_outcome": {...}}


def live_storage_key(entry_id: str) -> str:
    """The storage key of one entry's live data."""
    return f"{DOMAIN}.{entry_id}.live"


class LiveStore:
    """Feedback, monitor and snooze of one entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self._store = ReportedStore[StoredLive](
            hass,
            LIVE_STORAGE_VERSION,
            live_storage_key(entry_id),
            atomic_writes=True,
            what="the feedback, context monitor and adaptation record",
        )
        self.feedback_normal: list[list[StoredTriple]] = []
        self.monitor = ContextMonitor()
        self.snoozed_until: float | None = None
        self.adaptation: dict[str, Any] = {}  # the adaptation jobs' record (adaptation_job.py)
        self._save_scheduled = False

    async def async_load(self) -> None:
        """Read the stored document; a malformed one is logged and replaced (feedback is not essential)."""
        data = await self._store.async_load()
        if data is None:
            return
        try:
            self.feedback_normal = [
                [[float(t), str(d), str(a)] for t, d, a in seq] for seq in data["feedback_normal"]
            ]
            until = data.get("snoozed_until")
            self.snoozed_until = float(until) if until is not None else None
            adaptation = data.get("adaptation") or {}
            self.adaptation = dict(adaptation) if isinstance(adaptation, dict) else {}
            self.monitor = ContextMonitor.from_dict(data.get("monitor") or {})  # last: the least to lose
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            _LOGGER.warning("Ignoring unreadable Habitus live data %s: %r", self._store.path, err)

    def add_feedback(self, behaviours: Sequence) -> None:
        """Keep one sequence the user marked normal (oldest dropped beyond ``MAX_FEEDBACK_SEQUENCES``)."""
        self.feedback_normal.append([[b.time, b.device, b.action] for b in behaviours])
        del self.feedback_normal[:-MAX_FEEDBACK_SEQUENCES]
        self.schedule_save()

    def feedback_sequences(self) -> list[Sequence]:
        """The sequences marked normal, as behaviours (for the next retraining and the export)."""
        return [[Behaviour(time=t, device=d, action=a) for t, d, a in seq] for seq in self.feedback_normal]

    def schedule_save(self) -> None:
        """Write within ``SAVE_DELAY_SECONDS`` (one timer however many changes: cheap per event)."""
        if not self._save_scheduled:
            self._save_scheduled = True
            self._store.async_delay_save(self._data, SAVE_DELAY_SECONDS)

    async def async_flush(self) -> None:
        """Write now (unload)."""
        await self._store.async_save(self._data())

    def _data(self) -> StoredLive:
        self._save_scheduled = False
        return StoredLive(
            feedback_normal=self.feedback_normal,
            monitor=self.monitor.to_dict(),
            snoozed_until=self.snoozed_until,
            adaptation=self.adaptation,
        )


async def async_remove_live_store(hass: HomeAssistant, entry_id: str) -> None:
    """Delete one entry's live data (the entry is being removed)."""
    await Store[StoredLive](hass, LIVE_STORAGE_VERSION, live_storage_key(entry_id)).async_remove()
