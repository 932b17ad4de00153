"""A routine's settings a device cannot be set to are neither set nor said (engine/device_features.py).

Feature bits are HA 2025.4's ``<Domain>EntityFeature`` values; a real media player without VOLUME_SET
runs a whole suggested automation in tests/ha/test_routine_suggestions.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from habitus_engine.automation_calls import service_calls
from habitus_engine.automations import routine_to_automation
from habitus_engine.device_features import settable_routine, settable_settings
from habitus_engine.routines import Routine, RoutineError, Settings

ALL = (1 << 24) - 1  # every feature bit of every domain


def _calls(entity: str, settings: Settings, features: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        (c["action"], c.get("data", {}))
        for c in service_calls(entity, settable_settings(entity, settings, features))
    ]


@pytest.mark.parametrize(
    ("entity", "settings", "features", "expected"),
    [
        (  # TURN_ON | TURN_OFF | SELECT_SOURCE: no VOLUME_SET, no SELECT_SOUND_MODE
            "media_player.tv",
            {"state": "playing", "volume_level": 0.3, "source": "dvd", "sound_mode": "movie"},
            128 | 256 | 2048,
            [("media_player.turn_on", {}), ("media_player.select_source", {"source": "dvd"})],
        ),
        (  # VOLUME_SET only: not switched on
            "media_player.speaker",
            {"state": "playing", "volume_level": 0.3},
            4,
            [("media_player.volume_set", {"volume_level": 0.3})],
        ),
        ("media_player.tv", {"state": "off"}, 128, []),  # no TURN_OFF: nothing left
        (  # FAN_MODE only: the mode without its temperature
            "climate.hall",
            {
                "hvac_mode": "heat",
                "temperature": 21.0,
                "fan_mode": "low",
                "preset_mode": "eco",
                "swing_mode": "on",
                "humidity": 40.0,
            },
            8,
            [("climate.set_hvac_mode", {"hvac_mode": "heat"}), ("climate.set_fan_mode", {"fan_mode": "low"})],
        ),
        (  # TARGET_TEMPERATURE, not TARGET_TEMPERATURE_RANGE
            "climate.hall",
            {"hvac_mode": "heat_cool", "target_temp_low": 19.0, "target_temp_high": 24.0},
            1,
            [("climate.set_hvac_mode", {"hvac_mode": "heat_cool"})],
        ),
        (  # OPEN | CLOSE: opened, not to a position nor tilted
            "cover.blind",
            {"state": "open", "current_position": 80.0, "current_tilt_position": 40.0},
            1 | 2,
            [("cover.open_cover", {})],
        ),
        ("cover.blind", {"state": "closed"}, 1 | 4, []),  # no CLOSE
        (  # TURN_ON | TURN_OFF: no speed, preset, oscillation, direction
            "fan.desk",
            {
                "state": "on",
                "percentage": 40.0,
                "preset_mode": "sleep",
                "oscillating": "true",
                "direction": "forward",
            },
            16 | 32,
            [("fan.turn_on", {})],
        ),
        (  # SET_SPEED | TURN_ON: a preset needs PRESET_MODE or SET_SPEED
            "fan.desk",
            {"state": "on", "percentage": 40.0, "preset_mode": "sleep"},
            1 | 32,
            [("fan.turn_on", {"percentage": 40}), ("fan.set_preset_mode", {"preset_mode": "sleep"})],
        ),
        ("fan.desk", {"state": "on", "percentage": 40.0}, 1, [("fan.set_percentage", {"percentage": 40})]),
        ("vacuum.robot", {"state": "cleaning", "fan_speed": "max"}, 8192, [("vacuum.start", {})]),
        ("vacuum.robot", {"state": "docked"}, 8192, []),  # no RETURN_HOME
        ("valve.tap", {"state": "open", "current_position": 50.0}, 1 | 2, [("valve.open_valve", {})]),
        (  # no MODES
            "humidifier.room",
            {"state": "on", "mode": "eco", "humidity": 45.0},
            0,
            [("humidifier.turn_on", {}), ("humidifier.set_humidity", {"humidity": 45})],
        ),
        (  # TARGET_TEMPERATURE, no OPERATION_MODE
            "water_heater.tank",
            {"state": "eco", "operation_mode": "eco", "temperature": 55.0},
            1,
            [("water_heater.set_temperature", {"temperature": 55.0})],
        ),
        ("water_heater.tank", {"state": "off"}, 1, []),
        (  # no EFFECT (light.turn_on would drop it)
            "light.sofa",
            {"state": "on", "brightness": 102.0, "effect": "rainbow"},
            0,
            [("light.turn_on", {"brightness_pct": 40})],
        ),
        ("lock.door", {"state": "open"}, 0, []),
        ("lock.door", {"state": "locked"}, 0, [("lock.lock", {})]),
        ("alarm_control_panel.home", {"state": "armed_night"}, 2, []),  # ARM_AWAY only
        ("alarm_control_panel.home", {"state": "disarmed"}, 0, [("alarm_control_panel.alarm_disarm", {})]),
        ("switch.kettle", {"state": "on"}, 0, [("homeassistant.turn_on", {})]),
    ],
    ids=[
        "player-no-volume",
        "player-no-turn-on",
        "player-no-turn-off",
        "climate-fan-mode-only",
        "climate-no-range",
        "cover-no-position",
        "cover-no-close",
        "fan-on-off-only",
        "fan-preset-by-speed",
        "fan-no-turn-on",
        "vacuum-no-fan-speed",
        "vacuum-no-return",
        "valve-no-position",
        "humidifier-no-modes",
        "water-heater-no-mode",
        "water-heater-off-no-mode",
        "light-no-effect",
        "lock-no-open",
        "lock-lock",
        "alarm-no-night",
        "alarm-disarm",
        "switch",
    ],
)
def test_only_supported_settings_are_set(
    entity: str, settings: Settings, features: int, expected: list[tuple[str, dict[str, Any]]]
) -> None:
    assert _calls(entity, settings, features) == expected


def test_a_device_supporting_everything_keeps_its_routine() -> None:
    routine = Routine(
        {"time_of_day": "evening"},
        {"media_player.tv": {"state": "playing", "volume_level": 0.3}, "cover.blind": {"state": "closed"}},
    )
    assert settable_routine(routine, {"media_player.tv": ALL, "cover.blind": ALL}) is routine
    assert settable_routine(routine, {}) is routine  # no state known: as mined


def test_the_words_say_only_what_the_automation_sets() -> None:
    routine = Routine(
        {"time_of_day": "evening"},
        {
            "media_player.tv": {"state": "playing", "volume_level": 0.3, "source": "dvd"},
            "light.sofa": {"state": "on", "brightness": 102.0},
        },
    )
    assert "volume" in routine.describe()
    settable = settable_routine(routine, {"media_player.tv": 128 | 2048})
    assert settable.describe() == "On evenings: media_player.tv playing with source dvd, light.sofa on 40 %"
    actions = [call["action"] for call in routine_to_automation(settable)["actions"]]
    assert actions == ["media_player.turn_on", "media_player.select_source", "light.turn_on"]


def test_a_routine_with_a_device_nothing_can_set_is_no_automation() -> None:
    """As a device no service sets (e1eaa68): the routine is not suggested, rather than its other
    devices alone under words that say more."""
    routine = Routine(
        {"time_of_day": "night"},
        {"cover.garage": {"state": "closed"}, "light.hall": {"state": "off"}},
    )
    with pytest.raises(RoutineError, match=r"cover\.garage"):
        routine_to_automation(settable_routine(routine, {"cover.garage": 1}))  # OPEN only
