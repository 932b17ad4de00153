"""Routine -> HA automation config: triggers, conditions and service calls (HA validates them in tests/ha)."""

from __future__ import annotations

from typing import Any

import pytest

from habitus_engine.automation_calls import service_calls
from habitus_engine.automations import (
    HA_WEATHER_CONDITIONS,
    TEMP_BAND_LIMITS,
    ha_conditions_for,
    routine_automation_id,
    routine_to_automation,
    trigger_moment,
)
from habitus_engine.context import OUTDOOR_TEMPS, WEATHERS, outdoor_temp_band, weather_category
from habitus_engine.routines import Routine, RoutineError

EVENING = Routine(
    {
        "time_of_day": "evening",
        "day_of_week": "weekday",
        "sun_phase": "after_sunset",
        "weather": "rainy",
        "outdoor_temp": "cold",
    },
    {
        "light.living_room": {"state": "on", "brightness": 102.0, "color_temp_kelvin": 2700.0},
        "climate.living_room": {"hvac_mode": "heat", "temperature": 21.0},
    },
    support=14,
    confidence=0.7,
    typical_time="19:40",
)


def test_conditions_follow_the_triggers() -> None:
    """The evening (17:00-22:00) goes without saying for an automation that fires at 19:40: the editor
    showed "If the time is after 5:00 PM and before 10:00 PM", a condition that could never fail."""
    config = routine_to_automation(EVENING, "weather.home")
    assert config["triggers"] == [{"trigger": "time", "at": "19:40:00"}]
    assert config["conditions"] == [
        {"condition": "time", "weekday": ["mon", "tue", "wed", "thu", "fri"]},
        {"condition": "sun", "after": "sunset"},
        {"condition": "state", "entity_id": "weather.home", "state": ha_conditions_for("rainy")},
        {
            "condition": "numeric_state",
            "entity_id": "weather.home",
            "attribute": "temperature",
            "above": 0.0,
            "below": 10.0,
        },
    ]
    assert config["mode"] == "single"
    assert config["alias"].startswith("Habitus: On weekday evenings after sunset")


def test_actions_set_the_learned_settings() -> None:
    config = routine_to_automation(EVENING, "weather.home")
    assert config["actions"] == [
        {
            "action": "light.turn_on",
            "target": {"entity_id": "light.living_room"},
            "data": {"brightness_pct": 40, "color_temp_kelvin": 2700},
        },
        {
            "action": "climate.set_temperature",
            "target": {"entity_id": "climate.living_room"},
            "data": {"temperature": 21.0, "hvac_mode": "heat"},
        },
    ]


def test_sun_trigger_when_the_routine_follows_the_sun() -> None:
    routine = Routine(
        {"sun_phase": "after_sunset"},
        {"light.porch": {"state": "on"}},
        sun_offset_min=-25.0,
        extras={"sun_event": "sunset"},
    )
    assert routine_to_automation(routine)["triggers"] == [
        {"trigger": "sun", "event": "sunset", "offset": "-00:25:00"}
    ]


def test_a_time_of_day_stays_a_condition_after_a_sun_trigger() -> None:
    """Sunset moves through the year: "20 min after sunset" in the evening only is a real condition."""
    routine = Routine(
        {"time_of_day": "evening"},
        {"light.porch": {"state": "on"}},
        typical_time="19:30",
        sun_offset_min=20.0,
        extras={"sun_event": "sunset"},
    )
    assert routine_to_automation(routine)["conditions"] == [
        {"condition": "time", "after": "17:00:00", "before": "22:00:00"}
    ]


def test_state_trigger_for_weather_routine_without_a_clock() -> None:
    routine = Routine({"weather": "snowy"}, {"cover.garage": {"state": "closed"}})
    config = routine_to_automation(routine, "weather.home")
    assert config["triggers"] == [
        {"trigger": "state", "entity_id": "weather.home", "to": ["snowy", "snowy-rainy"]}
    ]
    assert config["actions"] == [{"action": "cover.close_cover", "target": {"entity_id": "cover.garage"}}]


def test_weather_routine_needs_a_weather_entity() -> None:
    with pytest.raises(RoutineError, match="weather entity"):
        routine_to_automation(Routine({"outdoor_temp": "hot"}, {"fan.a": {"state": "on"}}))


def test_unmappable_actions_are_an_error() -> None:
    with pytest.raises(RoutineError, match="service call"):
        routine_to_automation(Routine({}, {"sensor.x": {"state": "12"}}))


@pytest.mark.parametrize(
    ("entity_id", "settings", "actions"),
    [
        ("light.a", {"state": "off"}, ["light.turn_off"]),
        ("climate.a", {"hvac_mode": "off"}, ["climate.set_hvac_mode"]),
        (
            "climate.a",
            {"hvac_mode": "cool", "temperature": 23.0, "fan_mode": "high"},
            ["climate.set_temperature", "climate.set_fan_mode"],
        ),
        (
            "media_player.tv",
            {"state": "on", "volume_level": 0.3, "source": "HDMI1"},
            ["media_player.turn_on", "media_player.volume_set", "media_player.select_source"],
        ),
        ("media_player.tv", {"state": "off"}, ["media_player.turn_off"]),
        (
            "media_player.spk",
            {"state": "on", "sound_mode": "balanced"},
            ["media_player.turn_on", "media_player.select_sound_mode"],
        ),
        ("alarm_control_panel.h", {"state": "armed_night"}, ["alarm_control_panel.alarm_arm_night"]),
        ("alarm_control_panel.h", {"state": "disarmed"}, ["alarm_control_panel.alarm_disarm"]),
        ("cover.c", {"state": "open", "current_position": 40.0}, ["cover.set_cover_position"]),
        ("cover.c", {"state": "open"}, ["cover.open_cover"]),
        ("fan.f", {"state": "on", "percentage": 60.0}, ["fan.turn_on"]),
        ("lock.door", {"state": "locked"}, ["lock.lock"]),
        ("switch.s", {"state": "on"}, ["homeassistant.turn_on"]),
        ("input_boolean.b", {"state": "off"}, ["homeassistant.turn_off"]),
        ("sensor.t", {"state": "21"}, []),
    ],
)
def test_service_calls_per_domain(
    entity_id: str, settings: dict[str, str | float], actions: list[str]
) -> None:
    calls = service_calls(entity_id, settings)
    assert [c["action"] for c in calls] == actions
    assert all(c["target"] == {"entity_id": entity_id} for c in calls)


def test_band_limits_agree_with_context_bands() -> None:
    assert set(TEMP_BAND_LIMITS) == set(OUTDOOR_TEMPS)
    for band, (above, below) in TEMP_BAND_LIMITS.items():
        inside = [x for x in (above, below) if x is not None]
        probe = sum(inside) / 2 if len(inside) == 2 else inside[0] + (1.0 if below is None else -1.0)
        assert outdoor_temp_band(probe) == band


def test_every_ha_weather_condition_has_a_category() -> None:
    assert {weather_category(c) for c in HA_WEATHER_CONDITIONS} == set(WEATHERS)
    assert sum(len(ha_conditions_for(w)) for w in WEATHERS) == len(HA_WEATHER_CONDITIONS)


def test_automation_id_is_stable_and_depends_on_the_routine() -> None:
    same = Routine(dict(EVENING.triggers), dict(EVENING.actions), support=99)
    assert routine_automation_id(same) == routine_automation_id(EVENING)
    other = Routine({"time_of_day": "morning"}, EVENING.actions)
    assert routine_automation_id(other) != routine_automation_id(EVENING)


@pytest.mark.parametrize(
    ("trigger", "words"),
    [
        ({"trigger": "time", "at": "16:10:00"}, "at 16:10"),
        ({"trigger": "sun", "event": "sunset", "offset": "+00:15:00"}, "15 min after sunset"),
        ({"trigger": "sun", "event": "sunrise", "offset": "-01:05:00"}, "1 h 5 min before sunrise"),
        ({"trigger": "sun", "event": "sunset", "offset": "+00:00:00"}, "at sunset"),
        (
            {"trigger": "sun", "event": "sunrise", "offset": "+02:00:00"},
            "2 h after sunrise",
        ),  # not "2 h 0 min"
        ({"trigger": "state", "entity_id": "weather.home", "to": ["rainy"]}, None),
    ],
)
def test_trigger_moment_says_when_the_automation_fires(trigger: dict[str, Any], words: str | None) -> None:
    assert trigger_moment([trigger]) == words


def test_the_moment_of_a_sun_routine_is_its_sun_trigger() -> None:
    routine = Routine(
        {"sun_phase": "after_sunset"},
        {"light.x": {"state": "on"}},
        typical_time="19:30",
        sun_offset_min=20.0,
        extras={"sun_event": "sunset"},
    )
    assert trigger_moment(routine_to_automation(routine)["triggers"]) == "20 min after sunset"


def test_a_light_is_set_in_percent_as_the_editor_shows_it() -> None:
    """The demo's "Kitchen light on 78 %" became ``brightness: 200``: HA's automation editor showed its
    Brightness (%) unset, the value hidden under Advanced options. The dimmest light stays on (1 %)."""
    [call] = service_calls("light.x", {"state": "on", "brightness": 200.0})
    assert call["data"] == {"brightness_pct": 78}
    [dim] = service_calls("light.x", {"state": "on", "brightness": 1.0})
    assert dim["data"] == {"brightness_pct": 1}


@pytest.mark.parametrize(
    ("entity", "settings", "calls"),
    [
        (
            "climate.living",
            {"hvac_mode": "heat_cool", "target_temp_low": 19.0, "target_temp_high": 24.0, "swing_mode": "on"},
            [
                (
                    "climate.set_temperature",
                    {"target_temp_low": 19.0, "target_temp_high": 24.0, "hvac_mode": "heat_cool"},
                ),
                ("climate.set_swing_mode", {"swing_mode": "on"}),
            ],
        ),
        (
            "climate.living",
            {"hvac_mode": "cool", "humidity": 45.0},
            [("climate.set_hvac_mode", {"hvac_mode": "cool"}), ("climate.set_humidity", {"humidity": 45})],
        ),
        (
            "light.sofa",
            {"state": "on", "hs_color": "30.0,50.0"},
            [("light.turn_on", {"hs_color": [30.0, 50.0]})],
        ),
        (
            "light.sofa",
            {"state": "on", "color_temp_kelvin": 2700.0, "hs_color": "30.0,50.0"},
            [("light.turn_on", {"color_temp_kelvin": 2700})],  # HA takes one of the two
        ),
        (
            "media_player.tv",
            {"state": "on", "is_volume_muted": "true"},
            [("media_player.turn_on", {}), ("media_player.volume_mute", {"is_volume_muted": True})],
        ),
        (  # a TV switched off may report standby (and still its volume): it was switched on
            "media_player.tv",
            {"state": "standby", "volume_level": 0.3},
            [("media_player.turn_off", {})],
        ),
        (  # a player plays unmuted: no call (a player may report it without supporting mute)
            "media_player.tv",
            {"state": "on", "is_volume_muted": "false"},
            [("media_player.turn_on", {})],
        ),
        (
            "fan.desk",
            {"state": "on", "oscillating": "false", "direction": "reverse"},
            [
                ("fan.turn_on", {}),
                ("fan.oscillate", {"oscillating": False}),
                ("fan.set_direction", {"direction": "reverse"}),
            ],
        ),
        (
            "cover.blind",
            {"state": "open", "current_position": 80.0, "current_tilt_position": 40.0},
            [
                ("cover.set_cover_position", {"position": 80}),
                ("cover.set_cover_tilt_position", {"tilt_position": 40}),
            ],
        ),
    ],
    ids=[
        "heat-cool-swing",
        "humidity",
        "colour",
        "white",
        "mute",
        "standby",
        "unmuted",
        "oscillation-direction",
        "tilt",
    ],
)
def test_every_recorded_setting_its_words_say_is_set(
    entity: str, settings: dict[str, str | float], calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """The routine's words say each setting Habitus records (``devices.settings_of``); its automation
    left these out (a suggestion read "with swing mode on", its automation did not set it)."""
    assert [(call["action"], call.get("data", {})) for call in service_calls(entity, settings)] == calls


def test_a_number_setting_that_is_text_is_a_routine_error() -> None:
    """A ``ValueError`` from ``float("max")`` escaped the suggester, which expects :class:`RoutineError`
    for a routine that cannot become an automation (every other suggestion was lost with it)."""
    routine = Routine({"time_of_day": "evening"}, {"light.x": {"state": "on", "brightness": "max"}})
    with pytest.raises(RoutineError, match="no number"):
        routine_to_automation(routine)


@pytest.mark.parametrize(
    ("entity", "settings", "calls"),
    [
        ("alarm_control_panel.home", {"state": "armed_custom_bypass"}, [("alarm_arm_custom_bypass", {})]),
        ("lock.front", {"state": "open"}, [("open", {})]),
        (
            "valve.garden",
            {"state": "open", "current_position": 40.0},
            [("set_valve_position", {"position": 40})],
        ),
        ("valve.garden", {"state": "closed"}, [("close_valve", {})]),
        (
            "vacuum.robot",
            {"state": "cleaning", "fan_speed": "max"},
            [("start", {}), ("set_fan_speed", {"fan_speed": "max"})],
        ),
        ("vacuum.robot", {"state": "docked"}, [("return_to_base", {})]),
        (
            "humidifier.bedroom",
            {"state": "on", "mode": "sleep", "humidity": 45.0},
            [("turn_on", {}), ("set_mode", {"mode": "sleep"}), ("set_humidity", {"humidity": 45})],
        ),
        (
            "water_heater.tank",
            {"state": "eco", "operation_mode": "eco", "temperature": 55.0},
            [("set_operation_mode", {"operation_mode": "eco"}), ("set_temperature", {"temperature": 55.0})],
        ),
        (
            "water_heater.tank",
            {"state": "off", "operation_mode": "off", "temperature": 55.0},
            [("set_operation_mode", {"operation_mode": "off"})],
        ),
    ],
    ids=[
        "alarm-bypass",
        "lock-open",
        "valve-position",
        "valve-closed",
        "vacuum",
        "dock",
        "humidifier",
        "water-heater",
        "water-heater-off",
    ],
)
def test_every_device_type_habitus_learns_from_is_set(
    entity: str, settings: dict[str, str | float], calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """These devices' routines were said ("Robot cleaner cleaning", "Garden valve open to 40 %") but
    their automations left them out (the routine's other devices only) or were not made at all."""
    domain = entity.split(".", 1)[0]
    expected = [(f"{domain}.{service}", data) for service, data in calls]
    assert [(call["action"], call.get("data", {})) for call in service_calls(entity, settings)] == expected


def test_a_routine_with_a_device_no_call_can_set_is_no_automation() -> None:
    """Its words promise what the automation would not do: a camera left recording was dropped from the
    automation while the suggestion said "Porch camera recording"."""
    routine = Routine(
        {"time_of_day": "evening"},
        {"light.porch": {"state": "on"}, "camera.porch": {"state": "recording"}},
    )
    with pytest.raises(RoutineError, match=r"camera\.porch"):
        routine_to_automation(routine)
