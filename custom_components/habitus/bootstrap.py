"""Bootstrap: on first setup, learn from the recorder's history in the background.

Setup is not delayed: ``__init__`` calls ``HabitusLearner.begin_bootstrap`` (live behaviours are held
back from then on, so history and live events reach TSS in time order, none twice) and starts this
as an entry background task once HA has started. The recorder is read on the recorder's executor for
an explicit list of selected entity ids (never an excluded one) plus ``sun.sun`` and the weather entity,
with attributes (settings need them), from ``min(retention_days, BOOTSTRAP_MAX_DAYS)`` ago up to the
moment the bootstrap began. Each entity's consecutive states go through the very mapping live ingest
uses; the context comes from the sun and weather states current at each behaviour's time.

``get_significant_states`` returns states without their ``Context``; ``origins.py`` reads the recorder's
context user/parent id columns separately, so a bootstrapped behaviour is attributed like a live one
(``"device"`` when neither id was recorded, or if that query fails). Before reading, the bootstrap
waits (at most 5 min) for the recorder to commit what was queued before it began, so nothing between
the recorded history and the first live behaviour is missed.
If the recorder cannot be read, the buffered live behaviours are released, a repair issue says so, and
the next setup retries up to where live learning began (``HabitusStore.history_until``); that older
history becomes closed sequences of its own (offline TSS), so nothing is learned twice.
If the bootstrap is cancelled midway (the entry unloads, e.g. its options changed, or HA stops), what it
learned is rolled back (``HabitusLearner.abort_bootstrap``) and the next setup bootstraps again, under
that setup's TSS thresholds.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from homeassistant.components.recorder import history
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.recorder import get_instance
from sqlalchemy.exc import SQLAlchemyError

from .const import BOOTSTRAP_MAX_DAYS, DOMAIN
from .engine.behaviour import Behaviour
from .engine.context import derive_context
from .ingest import SUN_ENTITY, behaviour_from_change, context_signals
from .learner import HabitusLearner, epoch_hours
from .origins import origin_key, recorded_origins
from .selection import EntityInfo

_LOGGER = logging.getLogger(__name__)

ISSUE_HISTORY_UNREADABLE = "history_unreadable"
RECORDER_SYNC_TIMEOUT_S = 300.0  # longest wait for the recorder's queue before reading the history


def bootstrap_start(end: datetime, retention_days: float) -> datetime:
    """How far back the bootstrap reads."""
    return end - timedelta(days=min(retention_days, BOOTSTRAP_MAX_DAYS))


async def async_bootstrap(
    hass: HomeAssistant,
    learner: HabitusLearner,
    infos: list[EntityInfo],
    weather_id: str | None,
    window: tuple[datetime, datetime],
) -> None:
    """Read, map and learn the history in ``window`` (start, end) for ``infos``; roll back if cancelled."""
    try:
        await _async_bootstrap(hass, learner, infos, weather_id, window)
    except asyncio.CancelledError:
        learner.abort_bootstrap()
        raise


async def _async_bootstrap(
    hass: HomeAssistant,
    learner: HabitusLearner,
    infos: list[EntityInfo],
    weather_id: str | None,
    window: tuple[datetime, datetime],
) -> None:
    unit = hass.config.units.temperature_unit
    await _async_recorder_caught_up(hass)
    try:
        behaviours = await get_instance(hass).async_add_executor_job(
            _history_behaviours, hass, infos, weather_id, window, unit
        )
    except (SQLAlchemyError, HomeAssistantError) as err:
        _LOGGER.warning("Could not read the recorder history, will retry at the next start: %s", err)
        ir.async_create_issue(
            hass,
            DOMAIN,
            ISSUE_HISTORY_UNREADABLE,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_HISTORY_UNREADABLE,
            translation_placeholders={"error": str(err)},
        )
        await learner.async_finish_bootstrap([], epoch_hours(window[1]), completed=False)
        return
    ir.async_delete_issue(hass, DOMAIN, ISSUE_HISTORY_UNREADABLE)
    _LOGGER.debug("Bootstrapped %d behaviours from %d entities", len(behaviours), len(infos))
    await learner.async_finish_bootstrap(behaviours, epoch_hours(window[1]))


async def _async_recorder_caught_up(hass: HomeAssistant) -> None:
    """Wait until the recorder has committed what was queued before the bootstrap began (bounded)."""
    try:
        async with asyncio.timeout(RECORDER_SYNC_TIMEOUT_S):
            await get_instance(hass).async_block_till_done()
    except TimeoutError:
        _LOGGER.debug("The recorder is busy; bootstrapping from what it has committed so far")


def _history_behaviours(
    hass: HomeAssistant,
    infos: list[EntityInfo],
    weather_id: str | None,
    window: tuple[datetime, datetime],
    unit: str,
) -> list[Behaviour]:
    """(recorder executor) Query the history and map it to time-ordered behaviours."""
    if not infos:
        return []
    context_ids = [SUN_ENTITY] + ([weather_id] if weather_id else [])
    states = history.get_significant_states(
        hass,
        window[0],
        window[1],
        entity_ids=[info.entity_id for info in infos] + context_ids,
        significant_changes_only=False,
        include_start_time_state=True,
        no_attributes=False,
    )
    timeline = _ContextTimeline(_states(states.get(SUN_ENTITY)), _states(states.get(weather_id or "")), unit)
    origins = recorded_origins(hass, [info.entity_id for info in infos], window)
    behaviours: list[Behaviour] = []
    for info in infos:
        entity_states = _states(states.get(info.entity_id))
        for old, new in itertools.pairwise(entity_states):
            origin = origins.get(origin_key(info.entity_id, new.last_updated_timestamp), "device")
            behaviour = behaviour_from_change(info, old, new, origin, timeline.context_at)
            if behaviour is not None:
                behaviours.append(behaviour)
    behaviours.sort(key=lambda b: b.time)
    return behaviours


def _states(rows: Sequence[State | dict[str, object]] | None) -> list[State]:
    return [row for row in rows or () if isinstance(row, State)]


class _ContextTimeline:
    """The sun and weather states current at any past moment (for bootstrapped contexts)."""

    def __init__(self, sun: list[State], weather: list[State], unit: str) -> None:
        self._sun, self._weather, self._unit = sun, weather, unit
        self._sun_times = [s.last_updated_timestamp for s in sun]
        self._weather_times = [s.last_updated_timestamp for s in weather]

    def context_at(self, when: datetime) -> dict[str, str | float]:
        moment = when.timestamp()
        return derive_context(
            context_signals(
                when,
                _at(self._sun, self._sun_times, moment),
                _at(self._weather, self._weather_times, moment),
                self._unit,
            )
        )


def _at(states: list[State], times: list[float], moment: float) -> State | None:
    index = bisect.bisect_right(times, moment) - 1
    return states[index] if index >= 0 else None
