"""One mined routine as a suggestion: the automation HA would run, in words the user reads.

The routine keeps only what each device supports (``engine/device_features.py``) and the values it
accepts (``engine/device_values.py``; an alarm panel that needs its code is left out, and said),
becomes an automation config (``engine/automations.py``) named by its devices' names
(``action_names.py``), and is offered only if HA's own automation validation accepts it.
``suggestions.py`` mines the routines and shows the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import voluptuous as vol
from homeassistant.components.alarm_control_panel import CONF_DEFAULT_CODE
from homeassistant.components.alarm_control_panel.const import DOMAIN as ALARM_DOMAIN
from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.const import ATTR_SUPPORTED_FEATURES, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.util.yaml import dump

from .action_names import entity_name
from .engine.automations import routine_automation_id, routine_to_automation, trigger_moment
from .engine.device_features import settable_routine
from .engine.device_values import DEFAULT_CODE, accepted_routine
from .engine.routine_words import describe_left_out
from .engine.routines import Routine, RoutineError

_LOGGER = logging.getLogger(__name__)
_NOT_THERE = frozenset({STATE_UNAVAILABLE, STATE_UNKNOWN})  # states that report nothing about the device


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One routine offered as an automation."""

    id: str  # the automation id it gets: the mined routine's routine_automation_id
    routine: Routine
    automation: dict[str, Any]
    text: str  # readable routine
    yaml: str  # the automation as automations.yaml would hold it

    def as_dict(self) -> dict[str, Any]:
        """Service response / attribute form."""
        return {
            "id": self.id,
            "description": self.text,
            "support": self.routine.support,
            "confidence": round(self.routine.confidence, 3),
            "triggers": dict(self.routine.triggers),  # the routine in the schema (engine/routines.py)
            "actions": {entity: dict(settings) for entity, settings in self.routine.actions.items()},
            "automation": self.automation,
        }


async def async_build_suggestion(
    hass: HomeAssistant, routine: Routine, weather_entity: Callable[[], str | None]
) -> Suggestion | None:
    """The routine as a validated automation (None: not expressible, or HA rejects it).

    Only what each device supports, with values it accepts, is set and said
    (``engine/device_features.py``, ``engine/device_values.py``); the id stays the mined routine's,
    so a dismissal holds whatever the devices report supporting.
    """
    mined_id = routine_automation_id(routine)
    states = _present_states(hass, routine)
    routine = settable_routine(routine, _features(states))
    routine, left_out = accepted_routine(routine, _attributes(hass, states))
    if not routine.actions:  # every device left out
        return None
    try:
        config = routine_to_automation(routine, weather_entity())
    except RoutineError as err:
        _LOGGER.debug("Routine %s cannot become an automation: %s", routine.describe(), err)
        return None
    config["id"] = mined_id
    moment = trigger_moment(config["triggers"])
    names = _names(hass, routine.actions.keys() | set(left_out))
    text = routine.describe(names, hass.config.units.temperature_unit, moment)
    config["alias"] = f"Habitus: {text}"[:255]
    if left_out:
        text = f"{text}. {describe_left_out(left_out, names)}"
    if not await async_automation_is_valid(hass, config):
        return None
    return Suggestion(config["id"], routine, config, text, dump(config))


def _present_states(hass: HomeAssistant, routine: Routine) -> dict[str, State]:
    """The states of the routine's entities that are there. One unavailable or unknown reports
    nothing about itself: it is left as mined, not read as supporting nothing (its routine would
    vanish until the device is back)."""
    return {
        e: state
        for e in routine.actions
        if (state := hass.states.get(e)) is not None and state.state not in _NOT_THERE
    }


def _features(states: dict[str, State]) -> dict[str, int]:
    """The ``supported_features`` of ``states`` (none reported: 0, as HA reads it)."""
    return {
        e: features if isinstance(features := s.attributes.get(ATTR_SUPPORTED_FEATURES), int) else 0
        for e, s in states.items()
    }


def _attributes(hass: HomeAssistant, states: dict[str, State]) -> dict[str, dict[str, Any]]:
    """The state attributes of ``states``, an alarm panel's with ``DEFAULT_CODE`` when its entity
    settings hold a default code (HA arms and disarms with it when a call gives none)."""
    registry = er.async_get(hass)
    attributes = {e: dict(s.attributes) for e, s in states.items()}
    for entity, attrs in attributes.items():
        entry = registry.async_get(entity) if entity.startswith(f"{ALARM_DOMAIN}.") else None
        options: Mapping[str, Any] = entry.options.get(ALARM_DOMAIN, {}) if entry is not None else {}
        if options.get(CONF_DEFAULT_CODE):
            attrs[DEFAULT_CODE] = True
    return attributes


def _names(hass: HomeAssistant, entities: Iterable[str]) -> dict[str, str]:
    """The names of ``entities`` (``entity_name``; one without a name is shown by its id)."""
    return {e: name for e in entities if (name := entity_name(hass, e)) is not None}


async def async_automation_is_valid(hass: HomeAssistant, config: dict[str, Any]) -> bool:
    """Whether HA's own automation config validation accepts ``config``."""
    try:
        validated = await async_validate_config_item(hass, config["id"], config)
    except (vol.Invalid, HomeAssistantError, ValueError) as err:
        _LOGGER.warning("Habitus produced an automation HA rejects (%s): %s", err, config)
        return False
    if validated is None or validated.validation_error is not None:
        _LOGGER.warning("Habitus produced an automation HA rejects: %s", config)
        return False
    return True
