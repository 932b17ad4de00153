"""The user's decisions on routine suggestions: accepted, dismissed, snoozed (until when).

A small versioned HA ``Store`` per entry (``.storage/habitus.<entry_id>.suggestions``), so a dismissed
routine stays dismissed across restarts; deleted with the entry.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .write_issues import ReportedStore

_LOGGER = logging.getLogger(__name__)

DECISIONS_VERSION = 1


class StoredDecisions(TypedDict):
    """The JSON document (version 1)."""

    accepted: list[str]
    dismissed: list[str]
    snoozed: dict[str, str]  # routine id -> ISO 8601 UTC time it may be suggested again


def decisions_key(entry_id: str) -> str:
    """The storage key of one entry's decisions."""
    return f"{DOMAIN}.{entry_id}.suggestions"


class _DecisionsStore(ReportedStore[StoredDecisions]):
    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> StoredDecisions:
        if old_major_version > DECISIONS_VERSION:
            raise NotImplementedError  # written by a newer Habitus
        return old_data  # type: ignore[return-value]


class SuggestionDecisions:
    """Which routine ids the user accepted, dismissed or snoozed."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self._store = _DecisionsStore(
            hass,
            DECISIONS_VERSION,
            decisions_key(entry_id),
            atomic_writes=True,
            what="your answers to its routine suggestions",
        )
        self.accepted: set[str] = set()
        self.dismissed: set[str] = set()
        self.snoozed: dict[str, datetime] = {}

    async def async_load(self) -> None:
        """Read the stored decisions (what is not in the layout is skipped with a warning, never raised:
        the file is left as it is until the next decision is saved)."""
        data: Any = await self._store.async_load()
        if not data:
            return
        if not isinstance(data, dict):
            self._skip("the document", data)
            return
        self.accepted, self.dismissed = self._ids(data, "accepted"), self._ids(data, "dismissed")
        snoozed = data.get("snoozed")
        if not isinstance(snoozed, dict):
            if snoozed is not None:
                self._skip("snoozed", snoozed)
            return
        for routine_id, until in snoozed.items():
            parsed = dt_util.parse_datetime(until) if isinstance(until, str) else None
            if parsed is None:
                self._skip(f"snoozed {routine_id!r}", until)
            else:
                self.snoozed[str(routine_id)] = parsed

    def _ids(self, data: dict[str, Any], name: str) -> set[str]:
        value = data.get(name)
        if isinstance(value, list):
            return {str(i) for i in value}
        if value is not None:
            self._skip(name, value)
        return set()

    def _skip(self, what: str, value: object) -> None:
        _LOGGER.warning(
            "Skipping unreadable routine decisions in %s: %s is %.80r", self._store.path, what, value
        )

    async def async_save(self) -> None:
        """Write now (decisions are rare)."""
        await self._store.async_save(
            StoredDecisions(
                accepted=sorted(self.accepted),
                dismissed=sorted(self.dismissed),
                snoozed={k: v.isoformat() for k, v in sorted(self.snoozed.items())},
            )
        )

    def is_hidden(self, routine_id: str, now: datetime) -> bool:
        """Accepted, dismissed, or snoozed until after ``now``."""
        if routine_id in self.accepted or routine_id in self.dismissed:
            return True
        until = self.snoozed.get(routine_id)
        return until is not None and until > now

    def accept(self, routine_id: str) -> None:
        """Accepted: the automation exists now."""
        self.accepted.add(routine_id)
        self.snoozed.pop(routine_id, None)

    def dismiss(self, routine_id: str) -> None:
        """Dismissed for good."""
        self.dismissed.add(routine_id)
        self.snoozed.pop(routine_id, None)

    def snooze(self, routine_id: str, until: datetime) -> None:
        """Hidden until ``until``."""
        self.snoozed[routine_id] = until


async def async_remove_decisions(hass: HomeAssistant, entry_id: str) -> None:
    """Delete one entry's decisions (the entry is being removed)."""
    await Store[StoredDecisions](hass, DECISIONS_VERSION, decisions_key(entry_id)).async_remove()
