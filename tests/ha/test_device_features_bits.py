"""The engine's feature bits (``engine/device_features.py``, pure: no HA import) are HA's own.

The engine writes HA 2025.4's ``<Domain>EntityFeature`` values as numbers; this test reads them from
Home Assistant, so an HA upgrade that renumbers a feature fails here rather than in a user's automation.
"""

from __future__ import annotations

from homeassistant.components.alarm_control_panel import AlarmControlPanelEntityFeature as Alarm
from homeassistant.components.climate import ClimateEntityFeature as Climate
from homeassistant.components.cover import CoverEntityFeature as Cover
from homeassistant.components.fan import FanEntityFeature as Fan
from homeassistant.components.humidifier import HumidifierEntityFeature as Humidifier
from homeassistant.components.light import LightEntityFeature as Light
from homeassistant.components.lock import LockEntityFeature as Lock
from homeassistant.components.media_player import MediaPlayerEntityFeature as Player
from homeassistant.components.vacuum import VacuumEntityFeature as Vacuum
from homeassistant.components.valve import ValveEntityFeature as Valve
from homeassistant.components.water_heater import WaterHeaterEntityFeature as WaterHeater

from custom_components.habitus.engine import device_features

SETTING_FEATURES = {
    "media_player": {
        "volume_level": Player.VOLUME_SET,
        "is_volume_muted": Player.VOLUME_MUTE,
        "source": Player.SELECT_SOURCE,
        "sound_mode": Player.SELECT_SOUND_MODE,
    },
    "climate": {
        "temperature": Climate.TARGET_TEMPERATURE,
        "target_temp_low": Climate.TARGET_TEMPERATURE_RANGE,
        "target_temp_high": Climate.TARGET_TEMPERATURE_RANGE,
        "humidity": Climate.TARGET_HUMIDITY,
        "fan_mode": Climate.FAN_MODE,
        "preset_mode": Climate.PRESET_MODE,
        "swing_mode": Climate.SWING_MODE,
    },
    "cover": {"current_position": Cover.SET_POSITION, "current_tilt_position": Cover.SET_TILT_POSITION},
    "valve": {"current_position": Valve.SET_POSITION},
    "fan": {
        "percentage": Fan.SET_SPEED,
        "oscillating": Fan.OSCILLATE,
        "direction": Fan.DIRECTION,
        "preset_mode": Fan.PRESET_MODE | Fan.SET_SPEED,
    },
    "vacuum": {"fan_speed": Vacuum.FAN_SPEED},
    "humidifier": {"mode": Humidifier.MODES},
    "water_heater": {
        "temperature": WaterHeater.TARGET_TEMPERATURE,
        "operation_mode": WaterHeater.OPERATION_MODE,
    },
    "light": {"effect": Light.EFFECT},
}
STATE_FEATURES = {
    "media_player": {"off": Player.TURN_OFF, "standby": Player.TURN_OFF, "*": Player.TURN_ON},
    "fan": {"off": Fan.TURN_OFF, "on": Fan.TURN_ON},
    "cover": {"open": Cover.OPEN, "closed": Cover.CLOSE},
    "valve": {"open": Valve.OPEN, "closed": Valve.CLOSE},
    "vacuum": {
        "cleaning": Vacuum.START,
        "returning": Vacuum.RETURN_HOME,
        "docked": Vacuum.RETURN_HOME,
        "paused": Vacuum.PAUSE,
        "idle": Vacuum.STOP,
    },
    "lock": {"open": Lock.OPEN},
    "alarm_control_panel": {
        "armed_home": Alarm.ARM_HOME,
        "armed_away": Alarm.ARM_AWAY,
        "armed_night": Alarm.ARM_NIGHT,
        "armed_custom_bypass": Alarm.ARM_CUSTOM_BYPASS,
        "armed_vacation": Alarm.ARM_VACATION,
    },
    "water_heater": {"*": WaterHeater.OPERATION_MODE},
}


def _as_ints(table: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {domain: {key: int(bits) for key, bits in needs.items()} for domain, needs in table.items()}


def test_the_engines_setting_bits_are_home_assistants() -> None:
    assert _as_ints(SETTING_FEATURES) == device_features._SETTING_FEATURES


def test_the_engines_state_bits_are_home_assistants() -> None:
    assert _as_ints(STATE_FEATURES) == device_features._STATE_FEATURES
