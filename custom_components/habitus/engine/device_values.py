"""Which of a routine's setting values a device accepts, from the state attributes that declare them.

Pure: no Home Assistant import (the caller passes each entity's attributes as a plain dict). HA 2025.4
refuses a service call whose value is outside what the entity declares, with ``ServiceValidationError``,
and an automation stops at the first refused call, before its later devices. A mined value can be
outside (the device's list or range changed since: a firmware update, another integration, a new
device under the same entity id), so :func:`accepted_routine` leaves such a setting out, and the
routine's words and its automation (``automation_calls``) are both made from what is left. A value
is left out, not moved into range: HA refuses rather than clamps, and an automation named as the
user's routine should not set a number the user never chose.

Checked, as HA 2025.4 checks them:

* climate ``fan_mode``/``preset_mode``/``swing_mode`` in ``fan_modes``/``preset_modes``/``swing_modes``
  (``ClimateEntity._valid_mode_or_raise``; a declared list that is empty or ``None`` takes nothing);
* climate ``temperature``/``target_temp_low``/``target_temp_high`` in ``min_temp``..``max_temp``
  (``async_service_temperature_set``; the range leaves with both of its ends) and ``humidity`` in
  ``min_humidity``..``max_humidity``; a humidifier's ``humidity`` likewise;
* fan ``preset_mode`` in ``preset_modes`` (``NotValidPresetModeError``);
* water heater operation mode (its state) in ``operation_list``; a heater that cannot be switched
  ``off`` so is left with nothing to set (its temperature is not set on an off heater);
* a light's colour (``color_temp_kelvin``, ``hs_color``) when its ``supported_color_modes`` hold no
  colour mode: HA drops it silently (``filter_turn_on_params``), so it must not be said. A light with
  another colour mode keeps it: HA converts colour temperature and hs between the modes.
* an alarm panel armed with ``code_arm_required`` (``check_code_arm_required`` raises), or disarmed
  when its ``code_format`` says it takes a code (the panel refuses; HA's manual/demo panel raises),
  with no default code in its entity settings (:data:`DEFAULT_CODE`): an automation has no code, so
  the panel is left out of the routine and :func:`accepted_routine` names it (the words say why).

Not checked, as HA 2025.4 passes them to the device unchecked: a climate ``hvac_mode`` outside
``hvac_modes`` (HA only logs a warning), a media player's ``source``/``sound_mode``, a light's
``effect`` outside ``effect_list``, a humidifier's ``mode``, a vacuum's ``fan_speed``, a water heater's
temperature.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .routines import Routine, Settings, domain_of

# Set (to True) by the caller in an alarm panel's attributes when its entity settings hold a default
# code, which HA uses when a call gives none.
DEFAULT_CODE = "habitus_default_code"

# domain -> setting -> the attribute listing the values HA accepts for it.
_LISTED: dict[str, dict[str, str]] = {
    "climate": {"fan_mode": "fan_modes", "preset_mode": "preset_modes", "swing_mode": "swing_modes"},
    "fan": {"preset_mode": "preset_modes"},
    "water_heater": {"operation_mode": "operation_list", "state": "operation_list"},
}
# domain -> setting -> the attributes of its least and greatest accepted value.
_TEMPERATURE = ("min_temp", "max_temp")
_HUMIDITY = ("min_humidity", "max_humidity")
_RANGED: dict[str, dict[str, tuple[str, str]]] = {
    "climate": {
        "temperature": _TEMPERATURE,
        "target_temp_low": _TEMPERATURE,
        "target_temp_high": _TEMPERATURE,
        "humidity": _HUMIDITY,
    },
    "humidifier": {"humidity": _HUMIDITY},
}
# Settings that go together: one refused, the other leaves too (climate.set_temperature takes both).
_PAIRED = {"target_temp_low": "target_temp_high", "target_temp_high": "target_temp_low"}
_COLOUR_SETTINGS = ("color_temp_kelvin", "hs_color")
_COLOUR_MODES_ATTRIBUTE = "supported_color_modes"
_COLOUR_MODES = frozenset(
    {"color_temp", "hs", "xy", "rgb", "rgbw", "rgbww"}
)  # (not onoff, brightness, white)
_CODE_ARM_REQUIRED = "code_arm_required"
_CODE_FORMAT = "code_format"  # None: the panel takes no code


def accepted_settings(entity_id: str, settings: Settings, attributes: Mapping[str, Any]) -> Settings:
    """``settings`` without the values ``attributes`` (the entity's state attributes) say HA refuses,
    or drops, for ``entity_id`` (``{}``: none is left). An attribute absent declares nothing."""
    domain = domain_of(entity_id)
    refused = {
        name
        for name, value in settings.items()
        if not _listed(attributes, _LISTED.get(domain, {}).get(name), value)
        or not _in_range(attributes, _RANGED.get(domain, {}).get(name), value)
    }
    refused |= {_PAIRED[name] for name in refused if name in _PAIRED}
    if domain == "light" and not _has_colour(attributes):
        refused.update(_COLOUR_SETTINGS)
    if domain == "water_heater" and "state" in refused and settings.get("state") == "off":
        return {}
    return {name: value for name, value in settings.items() if name not in refused}


def needs_code(entity_id: str, settings: Settings, attributes: Mapping[str, Any]) -> bool:
    """Whether ``entity_id`` (an alarm panel) refuses its routine's state without a code, which an
    automation does not have: arming with ``code_arm_required``, disarming with a ``code_format``,
    either with no default code (:data:`DEFAULT_CODE`)."""
    if domain_of(entity_id) != "alarm_control_panel" or attributes.get(DEFAULT_CODE) is True:
        return False
    state = str(settings.get("state", ""))
    if state.startswith("armed_"):
        return attributes.get(_CODE_ARM_REQUIRED) is True
    return state == "disarmed" and attributes.get(_CODE_FORMAT) is not None


def accepted_routine(
    routine: Routine, attributes: Mapping[str, Mapping[str, Any]]
) -> tuple[Routine, tuple[str, ...]]:
    """``routine`` with each device of ``attributes`` (entity -> its state attributes) reduced to the
    values it accepts, and the devices left out of it as they need a code (:func:`needs_code`). A
    device left with nothing keeps ``{}``, so the routine is no automation
    (``automations.routine_to_automation``). The same routine when nothing is left out."""
    left_out = tuple(
        entity
        for entity, settings in routine.actions.items()
        if entity in attributes and needs_code(entity, settings, attributes[entity])
    )
    actions = {
        entity: accepted_settings(entity, settings, attributes[entity]) if entity in attributes else settings
        for entity, settings in routine.actions.items()
        if entity not in left_out
    }
    if actions == routine.actions:
        return routine, ()
    return dataclasses.replace(routine, actions=actions), left_out


def _listed(attributes: Mapping[str, Any], attribute: str | None, value: object) -> bool:
    """Whether ``value`` is in the list ``attribute`` declares (a list that is no list: none is)."""
    if attribute is None or attribute not in attributes:
        return True
    values = attributes[attribute]
    return isinstance(values, list | tuple) and str(value) in (str(v) for v in values)


def _in_range(attributes: Mapping[str, Any], bounds: tuple[str, str] | None, value: object) -> bool:
    if bounds is None or not isinstance(value, int | float):
        return True
    low, high = (attributes.get(bound) for bound in bounds)
    too_low = isinstance(low, int | float) and value < low
    too_high = isinstance(high, int | float) and value > high
    return not (too_low or too_high)


def _has_colour(attributes: Mapping[str, Any]) -> bool:
    """Whether a light takes a colour (no ``supported_color_modes`` declared: as HA's legacy lights, yes)."""
    modes = attributes.get(_COLOUR_MODES_ATTRIBUTE)
    if not isinstance(modes, list | tuple | set | frozenset):
        return True
    return any(str(mode) in _COLOUR_MODES for mode in modes)
