"""A routine's values a device does not accept are neither set nor said (engine/device_values.py).

Attributes are as HA 2025.4's entities report them; real HA entities refuse the calls in
tests/ha/test_routine_values.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from habitus_engine.automation_calls import service_calls
from habitus_engine.automations import routine_to_automation
from habitus_engine.device_values import DEFAULT_CODE, accepted_routine, accepted_settings, needs_code
from habitus_engine.routine_words import describe_left_out
from habitus_engine.routines import Routine, RoutineError, Settings

THERMOSTAT = {
    "hvac_modes": ["off", "heat", "cool"],
    "fan_modes": ["low", "high"],
    "preset_modes": ["eco", "comfort"],
    "swing_modes": ["off", "vertical"],
    "min_temp": 7.0,
    "max_temp": 30.0,
    "min_humidity": 30,
    "max_humidity": 60,
}


def _calls(entity: str, settings: Settings, attributes: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (c["action"], c.get("data", {}))
        for c in service_calls(entity, accepted_settings(entity, settings, attributes))
    ]


@pytest.mark.parametrize(
    ("entity", "settings", "attributes", "expected"),
    [
        (  # a fan mode, preset and swing mode it no longer lists; a temperature under its minimum
            "climate.hall",
            {
                "hvac_mode": "heat",
                "temperature": 5.0,
                "fan_mode": "auto",
                "preset_mode": "away",
                "swing_mode": "both",
                "humidity": 45.0,
            },
            THERMOSTAT,
            [("climate.set_hvac_mode", {"hvac_mode": "heat"}), ("climate.set_humidity", {"humidity": 45})],
        ),
        (  # in its lists and ranges: all kept
            "climate.hall",
            {"hvac_mode": "heat", "temperature": 21.0, "fan_mode": "low", "humidity": 45.0},
            THERMOSTAT,
            [
                ("climate.set_temperature", {"temperature": 21.0, "hvac_mode": "heat"}),
                ("climate.set_fan_mode", {"fan_mode": "low"}),
                ("climate.set_humidity", {"humidity": 45}),
            ],
        ),
        (  # the range's high end over its maximum: the low end leaves with it
            "climate.hall",
            {"hvac_mode": "heat_cool", "target_temp_low": 19.0, "target_temp_high": 32.0, "humidity": 70.0},
            THERMOSTAT,
            [("climate.set_hvac_mode", {"hvac_mode": "heat_cool"})],
        ),
        (  # HA only warns of an hvac mode outside hvac_modes: it is kept
            "climate.hall",
            {"hvac_mode": "dry"},
            THERMOSTAT,
            [("climate.set_hvac_mode", {"hvac_mode": "dry"})],
        ),
        (  # FAN_MODE reported with no list: HA takes no fan mode
            "climate.hall",
            {"hvac_mode": "cool", "fan_mode": "low"},
            {"fan_modes": None},
            [("climate.set_hvac_mode", {"hvac_mode": "cool"})],
        ),
        (  # nothing declared (attributes absent): as mined
            "climate.hall",
            {"hvac_mode": "cool", "fan_mode": "low", "temperature": 40.0},
            {},
            [
                ("climate.set_temperature", {"temperature": 40.0, "hvac_mode": "cool"}),
                ("climate.set_fan_mode", {"fan_mode": "low"}),
            ],
        ),
        (
            "humidifier.room",
            {"state": "on", "mode": "eco", "humidity": 80.0},
            {"min_humidity": 30, "max_humidity": 70, "available_modes": ["normal"]},
            [("humidifier.turn_on", {}), ("humidifier.set_mode", {"mode": "eco"})],  # mode: unchecked by HA
        ),
        (
            "fan.desk",
            {"state": "on", "percentage": 40.0, "preset_mode": "sleep"},
            {"preset_modes": ["auto", "smart"]},
            [("fan.turn_on", {"percentage": 40})],
        ),
        (  # an operation mode it no longer lists: its temperature alone
            "water_heater.tank",
            {"state": "performance", "operation_mode": "performance", "temperature": 55.0},
            {"operation_list": ["eco", "electric"]},
            [("water_heater.set_temperature", {"temperature": 55.0})],
        ),
        ("water_heater.tank", {"state": "off", "operation_mode": "off"}, {"operation_list": ["eco"]}, []),
        (  # a dimmer: HA drops a colour silently
            "light.sofa",
            {"state": "on", "brightness": 102.0, "color_temp_kelvin": 2700.0, "hs_color": "30.0,50.0"},
            {"supported_color_modes": ["brightness"]},
            [("light.turn_on", {"brightness_pct": 40})],
        ),
        (  # HA turns a colour temperature into hs for a colour-only light: kept
            "light.sofa",
            {"state": "on", "color_temp_kelvin": 2700.0},
            {"supported_color_modes": ["hs"]},
            [("light.turn_on", {"color_temp_kelvin": 2700})],
        ),
    ],
    ids=[
        "climate-outside",
        "climate-inside",
        "climate-range-high",
        "climate-hvac-mode-unchecked",
        "climate-no-fan-modes",
        "climate-nothing-declared",
        "humidifier-humidity",
        "fan-preset",
        "water-heater-mode",
        "water-heater-off-unlisted",
        "light-dimmer-colour",
        "light-hs-takes-temperature",
    ],
)
def test_only_accepted_values_are_set(
    entity: str, settings: Settings, attributes: dict[str, Any], expected: list[tuple[str, dict[str, Any]]]
) -> None:
    assert _calls(entity, settings, attributes) == expected


@pytest.mark.parametrize(
    ("state", "attributes", "needed"),
    [
        ("armed_away", {"code_arm_required": True, "code_format": "number"}, True),
        ("armed_away", {"code_arm_required": True, "code_format": None}, True),  # HA checks only the flag
        ("armed_night", {"code_arm_required": False, "code_format": "number"}, False),
        ("disarmed", {"code_arm_required": False, "code_format": "number"}, True),
        ("disarmed", {"code_arm_required": True, "code_format": None}, False),
        ("armed_away", {"code_arm_required": True, DEFAULT_CODE: True}, False),
        ("disarmed", {"code_format": "text", DEFAULT_CODE: True}, False),
    ],
)
def test_an_alarm_panel_needs_its_code(state: str, attributes: dict[str, Any], needed: bool) -> None:
    assert needs_code("alarm_control_panel.home", {"state": state}, attributes) is needed


def test_a_panel_that_needs_its_code_is_left_out_and_said() -> None:
    routine = Routine(
        {"time_of_day": "night"},
        {"light.hall": {"state": "off"}, "alarm_control_panel.home": {"state": "armed_night"}},
    )
    panel = {"code_arm_required": True, "code_format": "number"}
    accepted, left_out = accepted_routine(routine, {"alarm_control_panel.home": panel})
    assert left_out == ("alarm_control_panel.home",)
    assert accepted.describe() == "On nights: light.hall off"
    assert [c["action"] for c in routine_to_automation(accepted)["actions"]] == ["light.turn_off"]
    assert describe_left_out(left_out, {"alarm_control_panel.home": "Security"}).startswith(
        "Security is left out: it needs its code"
    )
    assert accepted_routine(routine, {"alarm_control_panel.home": {**panel, DEFAULT_CODE: True}}) == (
        routine,
        (),
    )


def test_the_words_say_only_the_values_the_automation_sets() -> None:
    routine = Routine(
        {"time_of_day": "evening"},
        {"climate.hall": {"hvac_mode": "heat", "temperature": 21.0, "fan_mode": "auto"}},
    )
    assert "fan mode auto" in routine.describe()
    accepted, left_out = accepted_routine(routine, {"climate.hall": THERMOSTAT})
    assert (accepted.describe(), left_out) == ("On evenings: climate.hall heat to 21 °C", ())
    assert accepted_routine(routine, {}) == (routine, ())  # no state known: as mined


def test_a_device_left_with_no_value_makes_no_automation() -> None:
    """As a device nothing can set (e1eaa68): the routine is not suggested."""
    routine = Routine({"time_of_day": "night"}, {"fan.desk": {"preset_mode": "sleep"}})
    accepted, _ = accepted_routine(routine, {"fan.desk": {"preset_modes": ["auto"]}})
    with pytest.raises(RoutineError, match=r"fan\.desk"):
        routine_to_automation(accepted)


def test_two_panels_left_out_are_said_together() -> None:
    assert describe_left_out(
        ["alarm_control_panel.a", "alarm_control_panel.b"], {"alarm_control_panel.a": "Hall"}
    ) == (
        "Hall and alarm_control_panel.b are left out: they need their code, which an automation does not "
        "have (a default code in their entity settings lets them in)."
    )
    assert describe_left_out([]) == ""
