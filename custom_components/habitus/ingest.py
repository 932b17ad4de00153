"""Where events enter: HA's ``state_changed`` bus -> behaviours ``(time, device, action)`` -> TSS.

For each state change of a *selected* entity (``selection.py``; excluded entities, and entity ids no
state can have (a forged event), are rejected by the bus's event filter, before this module sees them)
the device dictionary (``engine/devices.py``) names the action, or says it is none:
``unavailable``/``unknown``, transitional states, unchanged states and attribute-only churn are dropped;
a user-chosen setting changed while the device is active (brightness, setpoint, volume, source... see
``SETTING_CONTROLS``) is a behaviour. Then:

* origin, from HA's ``Context``: ``user_id`` set -> ``"user"``; else ``parent_id`` set (an automation or
  script acting) -> ``"automation"``; else ``"device"`` (the device changed by itself, or a remote);
* time: epoch hours of ``new_state.last_updated``;
* context: ``engine/context.py``'s snapshot from local time, ``sun.sun`` and the weather entity (the
  configured one, else the first ``weather.*``; its temperature converted to °C).

Malformed events are logged and dropped, never raised into HA.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime

from homeassistant.const import EVENT_STATE_CHANGED, MAX_LENGTH_STATE_ENTITY_ID, UnitOfTemperature
from homeassistant.core import (
    CALLBACK_TYPE,
    Context,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
    valid_entity_id,
)
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import TemperatureConverter

from .engine.behaviour import Behaviour, Origin
from .engine.context import ContextSignals, derive_context
from .engine.devices import DeviceState, describe_change
from .engine.routines import settings_from_snapshot
from .learner import HabitusLearner
from .runtime import HabitusSettings
from .selection import EntityInfo, EntitySelector

_LOGGER = logging.getLogger(__name__)

SUN_ENTITY = "sun.sun"
WEATHER_DOMAIN = "weather"


def origin_of(context: Context | None) -> Origin:
    """User, automation or device, from the change's HA ``Context``."""
    if context is None:
        return "device"
    if context.user_id:
        return "user"
    if context.parent_id:
        return "automation"
    return "device"


def device_state(info: EntityInfo, state: State) -> DeviceState:
    """The dictionary's view of an HA state (registry device_class, else the state's attribute)."""
    device_class = info.device_class or state.attributes.get("device_class")
    return DeviceState(
        domain=info.domain,
        state=state.state,
        device_class=str(device_class) if device_class else None,
        attributes=state.attributes,
    )


def behaviour_from_change(
    info: EntityInfo,
    old: State | None,
    new: State,
    origin: Origin,
    context: Callable[[datetime], dict[str, str | float]],
) -> Behaviour | None:
    """The behaviour ``old -> new`` of a selected entity is, if any (live and bootstrap share this).

    ``context(when)`` is only asked for when the change is a behaviour. ``settings`` are the
    dictionary's settings plus the routine schema's view of the new state (``state``/``hvac_mode`` and
    the domain's setting attributes, ``engine/routines.py``'s ``settings_from_snapshot``), so the routine
    miner sees a light switched off (no attributes left) and the state a routine puts a device in.
    """
    described = describe_change(device_state(info, old) if old else None, device_state(info, new))
    if described is None:
        return None
    return Behaviour(
        time=new.last_updated_timestamp / 3600.0,
        device=info.entity_id,
        action=described.action,
        origin=origin,
        context=context(new.last_updated),
        settings={**settings_from_snapshot(info.entity_id, new.state, new.attributes), **described.settings},
    )


def outdoor_celsius(attributes: Mapping[str, object], default_unit: str) -> float | None:
    """A weather entity's temperature in °C (its ``temperature_unit``, else the system's unit)."""
    value = attributes.get("temperature")
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None  # NaN/inf: no temperature (TSS re-segmenting would take its row as malformed)
    unit = str(attributes.get("temperature_unit") or default_unit)
    try:
        return round(TemperatureConverter.convert(float(value), unit, UnitOfTemperature.CELSIUS), 2)
    except ValueError:  # HomeAssistantError subclasses are ValueErrors too: unknown unit
        return None


def context_signals(
    when: datetime, sun: State | None, weather: State | None, default_unit: str
) -> ContextSignals:
    """Raw context signals at ``when`` from the sun and weather states current then."""
    return ContextSignals(
        local_time=dt_util.as_local(when),
        sun_state=sun.state if sun else None,
        weather_condition=weather.state if weather else None,
        outdoor_temp_c=outdoor_celsius(weather.attributes, default_unit) if weather else None,
    )


def weather_entity_id(hass: HomeAssistant, settings: HabitusSettings) -> str | None:
    """The configured weather entity, else the first ``weather.*`` entity (``None``: none exists)."""
    if settings.weather_entity:
        return settings.weather_entity
    candidates = sorted(hass.states.async_entity_ids(WEATHER_DOMAIN))
    return candidates[0] if candidates else None


class Ingest:
    """The live subscription: one instance per loaded entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: HabitusSettings,
        selector: EntitySelector,
        learner: HabitusLearner,
    ) -> None:
        self._hass = hass
        self._settings = settings
        self._selector = selector
        self._learner = learner

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Subscribe to ``state_changed``; returns the unsubscribe callback."""
        return self._hass.bus.async_listen(EVENT_STATE_CHANGED, self._handle, event_filter=self._is_selected)

    @callback
    def _is_selected(self, data: EventStateChangedData) -> bool:
        """Bus-level filter: excluded and unselected entities never reach ``_handle``."""
        entity_id = data.get("entity_id")
        return (
            isinstance(entity_id, str)
            and len(entity_id) <= MAX_LENGTH_STATE_ENTITY_ID  # first: valid_entity_id caches its answers
            and valid_entity_id(entity_id)  # an id no state can have: a forged event, never learned
            and self._selector.describe(entity_id) is not None
        )

    @callback
    def _handle(self, event: Event[EventStateChangedData]) -> None:
        try:
            behaviour = self._behaviour(event)
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            _LOGGER.warning("Ignoring a malformed state_changed event %s: %r", event.data, err)
            return
        if behaviour is not None:
            self._learner.learn(behaviour)

    def _behaviour(self, event: Event[EventStateChangedData]) -> Behaviour | None:
        info = self._selector.describe(event.data["entity_id"])
        new = event.data["new_state"]
        if info is None or new is None:
            return None
        return behaviour_from_change(
            info, event.data["old_state"], new, origin_of(event.context), self._context_at
        )

    def _context_at(self, when: datetime) -> dict[str, str | float]:
        states = self._hass.states
        weather_id = weather_entity_id(self._hass, self._settings)
        signals = context_signals(
            when,
            states.get(SUN_ENTITY),
            states.get(weather_id) if weather_id else None,
            self._hass.config.units.temperature_unit,
        )
        return derive_context(signals)
