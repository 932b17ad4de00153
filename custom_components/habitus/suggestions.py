"""Routine suggestions: mined routines offered to the user as Home Assistant automations (issue 6).

Periodically (``SUGGESTIONS_INTERVAL``) and on demand, the routine miner (``engine/routines_miner.py``,
EdgeWisePersona routines) runs in the executor over the stored *user-initiated* behaviours; each routine
becomes an automation config that HA's own automation validation must accept (``routine_suggestion.py``).
What is left after the user's decisions (accepted, dismissed, snoozed: ``decisions.py``) and after the
automations that already do the same thing (``automation_file.py``) is shown as one fixable repair issue
per routine (``repairs.py``), counted by ``sensor.habitus_routine_suggestions`` and returned by the
``habitus.get_routine_suggestions`` service.

An issue stays while its routine stands: a refresh creates the issues of the routines found (HA's
registry keeps an existing issue's "created" time) and deletes the other routine issues in the registry,
shown before a reload or a restart included. A reload (saving the options) therefore leaves them alone:
deleting them on unload gave each one a new "created" time ("2 minutes ago") after every options save.
They go when the user decides on the routine, when the entry is disabled and when Habitus is removed.

The miner needs each behaviour's local clock time (``clock_min``): it is derived here from the
behaviour's time in HA's time zone, not stored, so the store's interned contexts stay few.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta, tzinfo
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_point_in_time, async_track_time_interval
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.sun import get_astral_location
from homeassistant.util import dt as dt_util

from .automation_file import async_add_automation, equivalent_automation_exists
from .const import DOMAIN, SUGGESTIONS_INTERVAL, signal_updated
from .decisions import SuggestionDecisions
from .engine.behaviour import Behaviour, Sequence
from .engine.routines import Routine
from .engine.routines_miner import MinerConfig, RoutineMiner
from .ingest import weather_entity_id
from .learner import HabitusLearner
from .routine_suggestion import Suggestion, async_build_suggestion
from .runtime import HabitusConfigEntry
from .sun_clock import SunClock, with_sun_offset

ISSUE_TRANSLATION_KEY = "routine_suggestion"
SENSOR_LIST_LIMIT = 10  # suggestions listed in the sensor's attributes
SHOWN_ID_LENGTH = 60  # characters of an unknown routine id repeated in the error message


def with_clock(behaviour: Behaviour, zone: tzinfo) -> Behaviour:
    """The behaviour with ``clock_min`` (minutes after local midnight) in its context."""
    if "clock_min" in behaviour.context:
        return behaviour
    local = datetime.fromtimestamp(round(behaviour.time * 3600.0), zone)  # the store keeps 3.6 ms
    clock = float(local.hour * 60 + local.minute)
    return dataclasses.replace(behaviour, context={**behaviour.context, "clock_min": clock})


def mine_routines(
    sequences: list[Sequence], zone: tzinfo, config: MinerConfig, sun: SunClock | None = None
) -> list[Routine]:
    """Routines of the user's own behaviours (automation and device changes are not routines).

    The miner's second tier (routines under its confidence floor, ``extras["tier"] == 2``) is left out:
    suggestions are the routines the household does on most of their days.
    """
    user = [with_clock(b, zone) for sequence in sequences for b in sequence if b.origin == "user"]
    if sun is not None:
        user = [with_sun_offset(b, sun) for b in user]
    routines = RoutineMiner(config).fit(user).predict()
    return [r for r in routines if r.extras.get("tier") != 2]  # the second tier is not suggested


class RoutineSuggester:
    """Mines, validates, filters and surfaces routine suggestions for one Habitus entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        learner: HabitusLearner,
        weather_entity: Callable[[], str | None],  # the weather entity routines' conditions use
        config: MinerConfig | None = None,
    ) -> None:
        self._hass = hass
        self._entry_id = entry_id
        self._learner = learner
        self._weather_entity = weather_entity
        self._config = config or MinerConfig()
        self.decisions = SuggestionDecisions(hass, entry_id)
        self.suggestions: dict[str, Suggestion] = {}
        self._lock = asyncio.Lock()
        self._run: Callable[[Coroutine[Any, Any, Any]], object] | None = None
        self._snooze_timers: dict[str, CALLBACK_TYPE] = {}

    async def async_load(self) -> None:
        """Read the user's past decisions."""
        await self.decisions.async_load()

    @callback
    def async_start(self, run: Callable[[Coroutine[Any, Any, Any]], object]) -> CALLBACK_TYPE:
        """Refresh every ``SUGGESTIONS_INTERVAL`` and when a snooze ends, through ``run``.

        Returns the callback that cancels both (the entry's unload).
        """
        self._run = run

        @callback
        def _tick(_now: datetime) -> None:
            run(self.async_refresh())

        cancel_interval = async_track_time_interval(
            self._hass, _tick, SUGGESTIONS_INTERVAL, cancel_on_shutdown=True
        )
        for routine_id, until in self.decisions.snoozed.items():
            self._schedule_snooze_end(routine_id, until)

        @callback
        def _cancel() -> None:
            cancel_interval()
            for cancel in self._snooze_timers.values():
                cancel()
            self._snooze_timers.clear()
            self._run = None

        return _cancel

    @callback
    def _schedule_snooze_end(self, routine_id: str, until: datetime) -> None:
        """Refresh right after ``until``, so a snoozed suggestion reappears when its snooze ends."""
        if (previous := self._snooze_timers.pop(routine_id, None)) is not None:
            previous()
        if self._run is None or until <= dt_util.utcnow():
            return
        run = self._run

        @callback
        def _ended(_now: datetime) -> None:
            self._snooze_timers.pop(routine_id, None)
            run(self.async_refresh())

        self._snooze_timers[routine_id] = async_track_point_in_time(
            self._hass, _ended, until + timedelta(seconds=1)
        )

    async def async_refresh(self) -> list[Suggestion]:
        """Mine again and show what is new; returns the current suggestions."""
        async with self._lock:
            routines = await self._async_mine()
            built = [await async_build_suggestion(self._hass, r, self._weather_entity) for r in routines]
            valid = [s for s in built if s is not None]
            # Filtered last, after every await: a decision taken meanwhile counts.
            found = {s.id: s for s in valid if not self._is_hidden(s)}
            self._replace(found)
            return list(found.values())

    async def _async_mine(self) -> list[Routine]:
        sequences = [*await self._async_stored_sequences(), list(self._learner.open_sequence)]
        zone = dt_util.get_default_time_zone()
        location, elevation = get_astral_location(self._hass)
        sun = SunClock(location, elevation, zone)
        return await self._hass.async_add_executor_job(mine_routines, sequences, zone, self._config, sun)

    async def _async_stored_sequences(self) -> list[Sequence]:
        """Decode the store in the executor (retried if the loop added a sequence meanwhile)."""
        for _ in range(3):
            try:
                return await self._hass.async_add_executor_job(self._learner.store.sequences)
            except RuntimeError:  # "deque mutated during iteration": a sequence closed meanwhile
                await asyncio.sleep(0)
        return []

    def _is_hidden(self, suggestion: Suggestion) -> bool:
        """Decided on by the user, or already done by an existing automation."""
        if self.decisions.is_hidden(suggestion.id, dt_util.utcnow()):
            return True
        return equivalent_automation_exists(self._hass, suggestion.automation)

    def _replace(self, found: dict[str, Suggestion]) -> None:
        """Sync the repair issues (those shown before a reload or a restart too) and the sensor with
        ``found``; an issue that stands is created again, which keeps its "created" time."""
        for gone in suggestion_issue_ids(self._hass) - set(found):
            ir.async_delete_issue(self._hass, DOMAIN, gone)
        for suggestion in found.values():
            _create_issue(self._hass, suggestion)
        self.suggestions = found
        async_dispatcher_send(self._hass, signal_updated(self._entry_id))

    async def async_current(self, suggestion_id: str) -> Suggestion | None:
        """The suggestion with this id once a refresh in progress has ended (None: none). A reload
        keeps the issues, and the reloaded entry knows them only after its first refresh."""
        async with self._lock:
            return self.suggestions.get(suggestion_id)

    def get(self, suggestion_id: str) -> Suggestion:
        """The current suggestion with this id (translated ``ServiceValidationError`` if none)."""
        suggestion = self.suggestions.get(suggestion_id)
        if suggestion is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_routine",
                translation_placeholders={"routine_id": _shown_id(suggestion_id)},
            )
        return suggestion

    async def async_accept(self, suggestion_id: str) -> None:
        """Create the automation (automations.yaml + reload, as HA's editor does) and stop suggesting it."""
        suggestion = self.get(suggestion_id)
        await async_add_automation(self._hass, suggestion.automation)
        await self._async_decided(suggestion_id, self.decisions.accept)

    async def async_dismiss(self, suggestion_id: str) -> None:
        """Never suggest this routine again."""
        self.get(suggestion_id)
        await self._async_decided(suggestion_id, self.decisions.dismiss)

    async def async_snooze(self, suggestion_id: str, days: float) -> None:
        """Hide this routine for ``days``; a refresh when the snooze ends brings it back."""
        self.get(suggestion_id)
        until = dt_util.utcnow() + timedelta(days=days)
        await self._async_decided(suggestion_id, lambda sid: self.decisions.snooze(sid, until))
        self._schedule_snooze_end(suggestion_id, until)

    async def _async_decided(self, suggestion_id: str, record: Callable[[str], None]) -> None:
        record(suggestion_id)
        await self.decisions.async_save()
        self._replace({k: v for k, v in self.suggestions.items() if k != suggestion_id})


def _shown_id(suggestion_id: str) -> str:
    """An unknown id as the error message repeats it: its first ``SHOWN_ID_LENGTH`` characters."""
    if len(suggestion_id) <= SHOWN_ID_LENGTH:
        return suggestion_id
    return suggestion_id[:SHOWN_ID_LENGTH] + "…"


def suggestion_issue_ids(hass: HomeAssistant) -> set[str]:
    """The routine suggestions' repair issues in HA's registry (Habitus has one entry)."""
    return {
        issue_id
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.translation_key == ISSUE_TRANSLATION_KEY
    }


@callback
def async_forget_suggestion_issues(hass: HomeAssistant) -> None:
    """Remove every routine suggestion issue (Habitus is removed or disabled: no fix flow can answer)."""
    for issue_id in suggestion_issue_ids(hass):
        ir.async_delete_issue(hass, DOMAIN, issue_id)


def _create_issue(hass: HomeAssistant, suggestion: Suggestion) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        suggestion.id,
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_TRANSLATION_KEY,
        translation_placeholders={
            "routine": suggestion.text,
            "support": str(suggestion.routine.support),
            "confidence": str(round(suggestion.routine.confidence * 100)),
            "yaml": suggestion.yaml,
        },
        data={"routine_id": suggestion.id},
    )


async def async_setup_suggestions(hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
    """Create the entry's suggester: decisions loaded, first mining once HA has started, then periodic."""
    runtime = entry.runtime_data
    suggester = RoutineSuggester(
        hass, entry.entry_id, runtime.learner, lambda: weather_entity_id(hass, runtime.settings)
    )
    await suggester.async_load()
    runtime.suggester = suggester

    def run(coro: Coroutine[Any, Any, Any]) -> object:
        return entry.async_create_background_task(hass, coro, "habitus routine suggestions")

    @callback
    def _first(_hass: HomeAssistant) -> None:
        run(suggester.async_refresh())

    entry.async_on_unload(suggester.async_start(run))
    entry.async_on_unload(async_at_started(hass, _first))

    @callback
    def _unloaded() -> None:
        """A reload keeps the issues (the next refresh keeps those that stand); disabling removes them."""
        if entry.disabled_by is not None:
            async_forget_suggestion_issues(hass)

    entry.async_on_unload(_unloaded)
