"""The attributes the engine reads a device's accepted values from (``engine/device_values.py``, pure:
no HA import) are HA's own names, so an HA upgrade that renames one fails here rather than in a user's
automation (the engine would read nothing, and ask the device for a value it refuses)."""

from __future__ import annotations

from homeassistant.components import climate, fan, humidifier, water_heater
from homeassistant.components.alarm_control_panel import ATTR_CODE_ARM_REQUIRED, ATTR_CODE_FORMAT
from homeassistant.components.light import ATTR_SUPPORTED_COLOR_MODES, ColorMode, color_supported

from custom_components.habitus.engine import device_values


def test_the_engines_lists_and_ranges_are_home_assistants_attributes() -> None:
    assert device_values._LISTED == {
        "climate": {
            "fan_mode": climate.ATTR_FAN_MODES,
            "preset_mode": climate.ATTR_PRESET_MODES,
            "swing_mode": climate.ATTR_SWING_MODES,
        },
        "fan": {"preset_mode": fan.ATTR_PRESET_MODES},
        "water_heater": {
            "operation_mode": water_heater.ATTR_OPERATION_LIST,
            "state": water_heater.ATTR_OPERATION_LIST,
        },
    }
    temperature = (climate.ATTR_MIN_TEMP, climate.ATTR_MAX_TEMP)
    assert {
        "climate": {
            "temperature": temperature,
            "target_temp_low": temperature,
            "target_temp_high": temperature,
            "humidity": (climate.ATTR_MIN_HUMIDITY, climate.ATTR_MAX_HUMIDITY),
        },
        "humidifier": {"humidity": (humidifier.ATTR_MIN_HUMIDITY, humidifier.ATTR_MAX_HUMIDITY)},
    } == device_values._RANGED


def test_the_engines_colour_modes_are_those_home_assistant_gives_a_colour() -> None:
    assert device_values._COLOUR_MODES_ATTRIBUTE == ATTR_SUPPORTED_COLOR_MODES
    colour = {str(mode) for mode in ColorMode if color_supported({mode}) or mode == ColorMode.COLOR_TEMP}
    assert colour == device_values._COLOUR_MODES


def test_the_engines_alarm_code_attributes_are_home_assistants() -> None:
    assert (device_values._CODE_ARM_REQUIRED, device_values._CODE_FORMAT) == (
        ATTR_CODE_ARM_REQUIRED,
        ATTR_CODE_FORMAT,
    )
