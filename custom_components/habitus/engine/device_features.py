"""Which of a routine's settings a device can be set to, from its ``supported_features`` bits.

Pure: no Home Assistant import. HA refuses an entity service the entity lacks the feature for
(``ServiceNotSupported``, from ``async_register_entity_service(..., required_features)``), and an
automation stops at the first refused call, before its later devices. A device still *reports*
what it cannot set (a player's ``volume_level``, a thermostat's ``fan_mode``), so a mined routine
holds such settings; :func:`settable_routine` leaves them out, and the routine's words and its
automation (``automation_calls``) are both made from what is left.

The bits are HA 2025.4's ``<Domain>EntityFeature`` values, as the service of each setting requires
them (any one bit of a mask suffices, as HA's list of required features).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from .routines import Routine, Settings, domain_of

# domain -> setting -> the feature bits the service that sets it requires.
_SETTING_FEATURES: dict[str, dict[str, int]] = {
    # VOLUME_SET, VOLUME_MUTE, SELECT_SOURCE, SELECT_SOUND_MODE
    "media_player": {"volume_level": 4, "is_volume_muted": 8, "source": 2048, "sound_mode": 65536},
    # TARGET_TEMPERATURE (set_temperature checks it per field), TARGET_TEMPERATURE_RANGE,
    # TARGET_HUMIDITY, FAN_MODE, PRESET_MODE, SWING_MODE
    "climate": {
        "temperature": 1,
        "target_temp_low": 2,
        "target_temp_high": 2,
        "humidity": 4,
        "fan_mode": 8,
        "preset_mode": 16,
        "swing_mode": 32,
    },
    "cover": {"current_position": 4, "current_tilt_position": 128},  # SET_POSITION, SET_TILT_POSITION
    "valve": {"current_position": 4},  # SET_POSITION
    # SET_SPEED, OSCILLATE, DIRECTION, PRESET_MODE or SET_SPEED
    "fan": {"percentage": 1, "oscillating": 2, "direction": 4, "preset_mode": 8 | 1},
    "vacuum": {"fan_speed": 32},  # FAN_SPEED
    "humidifier": {"mode": 1},  # MODES
    # Not HA's required_features but what the entity needs: TARGET_TEMPERATURE; OPERATION_MODE (without
    # it the entity has no operation list and set_operation_mode raises)
    "water_heater": {"temperature": 1, "operation_mode": 2},
    "light": {"effect": 4},  # EFFECT: light.turn_on drops it silently; the words must not say it
}
# domain -> state -> the feature bits its service requires ("*": any other state).
_STATE_FEATURES: dict[str, dict[str, int]] = {
    "media_player": {"off": 256, "standby": 256, "*": 128},  # TURN_OFF, TURN_ON
    "fan": {"off": 16, "on": 32},  # TURN_OFF, TURN_ON
    "cover": {"open": 1, "closed": 2},  # OPEN, CLOSE
    "valve": {"open": 1, "closed": 2},
    # START, RETURN_HOME, PAUSE, STOP
    "vacuum": {"cleaning": 8192, "returning": 16, "docked": 16, "paused": 4, "idle": 8},
    "lock": {"open": 1},  # OPEN (lock, unlock: none)
    # ARM_HOME, ARM_AWAY, ARM_NIGHT, ARM_CUSTOM_BYPASS, ARM_VACATION (disarm: none)
    "alarm_control_panel": {
        "armed_home": 1,
        "armed_away": 2,
        "armed_night": 4,
        "armed_custom_bypass": 16,
        "armed_vacation": 32,
    },
    "water_heater": {"*": 2},  # its state is its operation mode: OPERATION_MODE
}
# A device switched off or closed is only switched off (automation_calls): if it cannot be, it has
# nothing left to set.
_OFF_STATES = ("off", "standby", "closed")


def settable_settings(entity_id: str, settings: Settings, features: int) -> Settings:
    """``settings`` without those the services of ``entity_id`` refuse for its ``features``
    (``{}``: none is left)."""
    domain = domain_of(entity_id)
    needs = _SETTING_FEATURES.get(domain, {})
    kept = {name: value for name, value in settings.items() if _supports(features, needs.get(name, 0))}
    if "state" not in settings:
        return kept
    state = str(settings["state"])
    state_needs = _STATE_FEATURES.get(domain, {})
    if _supports(features, state_needs.get(state, state_needs.get("*", 0))):
        return kept
    return {} if state in _OFF_STATES else {k: v for k, v in kept.items() if k != "state"}


def settable_routine(routine: Routine, features: Mapping[str, int]) -> Routine:
    """``routine`` with each device of ``features`` (entity -> its ``supported_features``) reduced to
    what it can be set to; a device left with nothing keeps ``{}``, so the routine is no automation
    (``automations.routine_to_automation``). The same routine when nothing is left out."""
    actions = {
        entity: settable_settings(entity, settings, features[entity]) if entity in features else settings
        for entity, settings in routine.actions.items()
    }
    return routine if actions == routine.actions else dataclasses.replace(routine, actions=actions)


def _supports(features: int, needed: int) -> bool:
    return needed == 0 or bool(features & needed)
