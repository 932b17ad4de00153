"""Routine schema (EdgeWisePersona, generalised to HA), event logs and context derivation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from habitus_engine.routines import (
    Routine,
    RoutineError,
    from_edgewisepersona,
    routines_from_json,
    routines_to_json,
    settings_from_snapshot,
)
from habitus_engine.routines_events import (
    ContextTimeline,
    EventLogError,
    behaviours_from_events,
    parse_events,
    split_sessions,
)

EVENING = Routine(
    triggers={
        "time_of_day": "evening",
        "day_of_week": "weekday",
        "sun_phase": "after_sunset",
        "outdoor_temp": "cold",
    },
    actions={
        "light.living_room": {"state": "on", "brightness": 102.0, "color_temp_kelvin": 2700.0},
        "climate.living_room": {"hvac_mode": "heat", "temperature": 21.0},
    },
    support=12,
    confidence=0.75,
    typical_time="19:30",
)


def test_describe_reads_like_the_issue_example() -> None:
    assert EVENING.describe() == (
        "On weekday evenings after sunset, when it is cold: "
        "light.living_room on 40 % warm (2700 K), climate.living_room heat to 21 °C"
    )


def test_describe_shows_names_and_the_homes_temperature_unit() -> None:
    """A Fahrenheit home saw "heat to 70 °C"; entities show by name where one is given."""
    fahrenheit = Routine(
        triggers=EVENING.triggers,
        actions={**EVENING.actions, "climate.living_room": {"hvac_mode": "heat", "temperature": 70.0}},
        support=12,
        confidence=0.75,
    )
    assert fahrenheit.describe({"light.living_room": "Sofa lamp"}, "°F") == (
        "On weekday evenings after sunset, when it is cold: "
        "Sofa lamp on 40 % warm (2700 K), climate.living_room heat to 70 °F"
    )


def test_describe_says_each_device_in_a_sentence() -> None:
    """The demo's repairs read "Bedroom thermostat auto to 23 °C fan mode medium, Living room blind open
    current position 20 %" and "Bedroom fan on percentage 70 %": setting names, run together."""
    routine = Routine(
        {"time_of_day": "afternoon"},
        {
            "climate.bedroom": {"hvac_mode": "auto", "temperature": 23.0, "fan_mode": "medium"},
            "cover.living_room": {"state": "open", "current_position": 20.0},
            "fan.bedroom": {"state": "on", "percentage": 70.0},
            "media_player.radio": {"state": "on", "volume_level": 0.3, "source": "FM"},
        },
    )
    names = {"climate.bedroom": "Bedroom thermostat", "cover.living_room": "Living room blind"}
    assert routine.describe(names, moment="at 16:10") == (
        "At 16:10: Bedroom thermostat auto to 23 °C with fan mode medium, "
        "Living room blind open to 20 %, fan.bedroom on 70 %, "
        "media_player.radio on with source FM and volume 30 %"
    )
    assert Routine({}, {"fan.bedroom": {"state": "off"}}).describe(moment="15 min after sunset") == (
        "15 min after sunset: fan.bedroom off"
    )
    # The moment says the sun phase already: not "On weekdays after sunset, 20 min after sunset".
    evening = Routine({"day_of_week": "weekday", "sun_phase": "after_sunset"}, {"light.x": {"state": "on"}})
    assert evening.describe(moment="20 min after sunset") == "On weekdays, 20 min after sunset: light.x on"
    assert evening.describe(moment="at 19:30") == "On weekdays after sunset, at 19:30: light.x on"


def test_a_clock_time_says_the_time_of_day_already() -> None:
    """The demo's repairs read "On afternoons, at 16:10: ..." and "On evenings after sunset, at 20:58:
    ...": the time said twice, as its automation fires at that time (and has no time-of-day condition)."""
    afternoon = Routine({"time_of_day": "afternoon"}, {"light.x": {"state": "on"}})
    assert afternoon.describe(moment="at 16:10") == "At 16:10: light.x on"
    evening = Routine({"time_of_day": "evening", "sun_phase": "after_sunset"}, {"light.x": {"state": "on"}})
    assert evening.describe(moment="at 20:58") == "After sunset, at 20:58: light.x on"
    weekday = Routine({"time_of_day": "morning", "day_of_week": "weekday"}, {"light.x": {"state": "on"}})
    assert weekday.describe(moment="at 07:02") == "On weekdays, at 07:02: light.x on"
    # After a sun trigger the time of day is a condition of its own, and said.
    assert evening.describe(moment="20 min after sunset") == "On evenings, 20 min after sunset: light.x on"
    assert afternoon.describe(moment="at sunset") == "On afternoons, at sunset: light.x on"


@pytest.mark.parametrize(
    ("triggers", "text"),
    [
        ({}, "Any time"),
        ({"weather": "rainy"}, "When it is rainy"),
        ({"sun_phase": "before_sunrise"}, "Before sunrise"),
        ({"day_of_week": "weekend"}, "On weekends"),
        ({"day_of_week": "weekday", "sun_phase": "after_sunset"}, "On weekdays after sunset"),
        ({"day_of_week": "weekday", "time_of_day": "morning"}, "On weekday mornings"),
        ({"time_of_day": "evening", "sun_phase": "after_sunset"}, "On evenings after sunset"),
        (
            {"time_of_day": "night", "weather": "snowy", "outdoor_temp": "very cold"},
            "On nights, when it is snowy and very cold",
        ),
    ],
)
def test_describe_triggers(triggers: dict[str, str], text: str) -> None:
    assert Routine(triggers, {"switch.x": {"state": "on"}}).describe().startswith(text + ":")


def test_json_round_trip_keeps_schema_and_statistics() -> None:
    [back] = routines_from_json(routines_to_json([EVENING]))
    assert back.triggers == EVENING.triggers
    assert back.actions == EVENING.actions
    assert (back.support, back.confidence, back.typical_time) == (12, 0.75, "19:30")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"triggers": {"season": "winter"}, "actions": {"light.a": {"state": "on"}}},
            "unknown trigger field",
        ),
        ({"triggers": {"weather": "foggy"}, "actions": {"light.a": {"state": "on"}}}, "not in"),
        ({"triggers": {}, "actions": {}}, "at least one action"),
        ({"triggers": {}, "actions": {"lamp": {"state": "on"}}}, "entity id"),
        ({"triggers": {}, "actions": {"light.a": {"brightness": [1]}}}, "string or a number"),
        ({"triggers": [], "actions": {}}, "JSON objects"),
    ],
)
def test_invalid_routines_are_rejected_with_a_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(RoutineError, match=message):
        Routine.from_json(data)


def test_routines_line_must_be_a_json_array() -> None:
    with pytest.raises(RoutineError, match="array"):
        routines_from_json('{"triggers": {}}')
    with pytest.raises(RoutineError, match="not JSON"):
        routines_from_json("[{")


def test_edgewisepersona_devices_map_onto_ha_domains() -> None:
    ewp = {
        "triggers": {"time_of_day": "evening", "weather": None},
        "actions": {
            "tv": {"volume": 30, "brightness": 70, "input_source": "Netflix"},
            "ac": {"temperature": 22, "mode": "heat", "fan_speed": 2},
            "lights": {"brightness": 40, "color": "warm", "mode": "dynamic"},
            "speaker": {"volume": 55, "equalizer": "bass boost"},
            "security": {"armed": True, "alarm_volume": 80},
        },
    }
    entities = {
        "tv": "media_player.tv",
        "ac": "climate.living_room",
        "lights": "light.living_room",
        "speaker": "media_player.speaker",
        "security": "alarm_control_panel.home",
    }
    routine = from_edgewisepersona(ewp, entities)
    assert routine.triggers == {"time_of_day": "evening"}
    assert routine.actions == {
        "media_player.tv": {"state": "on", "volume_level": 0.3, "source": "Netflix"},
        "climate.living_room": {"hvac_mode": "heat", "temperature": 22.0, "fan_mode": "medium"},
        "light.living_room": {
            "state": "on",
            "brightness": 102.0,
            "color_temp_kelvin": 2700.0,
            "effect": "colorloop",
        },
        "media_player.speaker": {"state": "on", "volume_level": 0.55, "sound_mode": "bass boost"},
        "alarm_control_panel.home": {"state": "armed_away"},
    }


@pytest.mark.parametrize(
    ("entity_id", "state", "attributes", "expected"),
    [
        (
            "light.a",
            "on",
            {"brightness": 128, "color_temp_kelvin": 3000, "friendly_name": "A"},
            {"state": "on", "brightness": 128.0, "color_temp_kelvin": 3000.0},
        ),
        ("light.a", "off", {"brightness": None}, {"state": "off"}),
        (
            "climate.a",
            "heat",
            {"temperature": 21, "fan_mode": "low", "current_temperature": 19},
            {"hvac_mode": "heat", "temperature": 21.0, "fan_mode": "low"},
        ),
        (
            "media_player.a",
            "on",
            {"volume_level": 0.4, "source": "TV", "is_volume_muted": False},
            {"state": "on", "volume_level": 0.4, "source": "TV"},
        ),
        ("switch.a", "on", {"friendly_name": "A"}, {"state": "on"}),
    ],
)
def test_settings_from_snapshot(
    entity_id: str, state: str, attributes: dict[str, object], expected: dict[str, object]
) -> None:
    assert settings_from_snapshot(entity_id, state, attributes) == expected


TZ = timezone(timedelta(hours=1))


def _event(
    hour: float, entity_id: str, state: str, origin: str = "device", **attributes: object
) -> dict[str, object]:
    when = datetime(2025, 1, 6, tzinfo=TZ) + timedelta(hours=hour)  # a Monday
    return {
        "time": when.isoformat(),
        "entity_id": entity_id,
        "state": state,
        "attributes": attributes,
        "origin": origin,
    }


def test_context_comes_from_sun_and_weather_snapshots_in_local_time() -> None:
    events = parse_events(
        [
            _event(0, "sun.sun", "below_horizon"),
            _event(8.2, "sun.sun", "above_horizon"),
            _event(16.5, "sun.sun", "below_horizon"),
            _event(6, "weather.home", "pouring", temperature=4.0),
            _event(7.5, "light.hall", "on", "user", brightness=200),
            _event(18, "light.hall", "off", "user"),
            _event(18.1, "switch.fan", "on", "automation"),
        ]
    )
    timeline = ContextTimeline(events)
    behaviours = behaviours_from_events(events, timeline)
    assert [b.device for b in behaviours] == ["light.hall", "light.hall", "switch.fan"]
    morning, evening, automated = behaviours
    assert {
        k: morning.context[k] for k in ("time_of_day", "day_of_week", "sun_phase", "weather", "outdoor_temp")
    } == {
        "time_of_day": "morning",
        "day_of_week": "weekday",
        "sun_phase": "before_sunrise",
        "weather": "rainy",
        "outdoor_temp": "cold",
    }
    assert morning.context["clock_min"] == 450.0
    assert morning.settings == {"state": "on", "brightness": 200.0}
    assert evening.context["sun_phase"] == "after_sunset"
    assert evening.context["sun_event"] == "sunset"
    assert evening.context["sun_offset_min"] == pytest.approx(90.0)
    assert automated.origin == "automation"
    assert timeline.weather_entity == "weather.home"


def test_missing_context_is_unknown_not_an_error() -> None:
    events = parse_events([_event(9, "light.hall", "on", "user")])
    [behaviour] = behaviours_from_events(events, ContextTimeline(events))
    assert behaviour.context["sun_phase"] == "unknown"
    assert behaviour.context["weather"] == "unknown"
    assert behaviour.context["time_of_day"] == "morning"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"time": "x"}, "not an array|must be a JSON array"),
        ([{"entity_id": "light.a", "state": "on"}], "needs 'time'"),
        ([{"time": "2025-01-01T10:00:00", "entity_id": "light.a", "state": "on"}], "no UTC offset"),
        ([{"time": "2025-01-01T10:00:00+00:00", "entity_id": "lamp", "state": "on"}], "not an entity id"),
        (
            [{"time": "2025-01-01T10:00:00+00:00", "entity_id": "light.a", "state": "on", "origin": "ghost"}],
            "origin",
        ),
        (
            [{"time": "2025-01-01T10:00:00+00:00", "entity_id": "light.a", "state": "on", "attributes": [1]}],
            "attributes",
        ),
        (["nope"], "expected an object"),
    ],
)
def test_bad_event_logs_get_a_clear_error(data: object, message: str) -> None:
    with pytest.raises(EventLogError, match=message):
        parse_events(data)


def test_events_are_sorted_and_sessions_split_at_idle_gaps() -> None:
    base = datetime(2025, 3, 1, 12, tzinfo=UTC)
    raw = [
        {
            "time": (base + timedelta(minutes=m)).isoformat(),
            "entity_id": f"light.l{m}",
            "state": "on",
            "origin": "user",
        }
        for m in (50, 0, 5, 45, 200)
    ]
    events = parse_events(json.loads(json.dumps(raw)))
    assert [e.time for e in events] == sorted(e.time for e in events)
    behaviours = behaviours_from_events(events, ContextTimeline(events))
    sessions = split_sessions(behaviours, gap_minutes=30)
    assert [[b.device for b in s] for s in sessions] == [
        ["light.l0", "light.l5"],
        ["light.l45", "light.l50"],
        ["light.l200"],
    ]


@pytest.mark.parametrize(
    ("entity", "settings", "words"),
    [
        ("alarm_control_panel.home", {"state": "armed_away"}, "armed away"),
        ("climate.living", {"hvac_mode": "fan_only", "fan_mode": "high"}, "fan only with fan mode high"),
        (
            "climate.living",
            {"hvac_mode": "heat_cool", "target_temp_low": 19.0, "target_temp_high": 24.5, "humidity": 45.0},
            "heat/cool from 19 °C to 24.5 °C with humidity 45 %",
        ),
        ("light.sofa", {"state": "on", "brightness": 1.0}, "on 1 %"),  # its automation: 1 %, not off
        ("light.sofa", {"state": "on", "hs_color": "30.0,50.0"}, "on with colour hue 30° saturation 50 %"),
        (
            "light.sofa",
            {"state": "on", "color_temp_kelvin": 2700.0, "hs_color": "30.0,50.0"},
            "on warm (2700 K)",
        ),
        ("media_player.tv", {"state": "on", "is_volume_muted": "true"}, "on with sound muted"),
        (
            "media_player.tv",
            {"state": "on", "is_volume_muted": "false", "volume_level": 0.3},
            "on with volume 30 %",
        ),
        ("fan.desk", {"state": "on", "oscillating": "false"}, "on with oscillation off"),
        ("cover.blind", {"state": "open", "current_tilt_position": 40.0}, "open with tilt 40 %"),
        ("fan.desk", {"state": "on", "speed_count": 3.0}, "on with speed count 3"),
        # Switched off, a thermostat still reports its setpoint and fan mode, a fan its speed: its
        # automation only switches it off ("Bedroom thermostat off to 20 °C with fan mode auto").
        ("climate.bedroom", {"hvac_mode": "off", "temperature": 20.0, "fan_mode": "auto"}, "off"),
        ("fan.desk", {"state": "off", "percentage": 0.0, "oscillating": "false"}, "off"),
        ("cover.blind", {"state": "closed", "current_position": 0.0}, "closed"),
        ("media_player.tv", {"state": "standby", "volume_level": 0.3}, "standby"),
        ("light.sofa", {"state": "on", "effect": "none"}, "on with no effect"),
        (
            "water_heater.tank",
            {"state": "eco", "operation_mode": "eco", "temperature": 55.0},
            "eco to 55 °C",
        ),
    ],
    ids=[
        "alarm",
        "hvac-mode",
        "heat-cool",
        "dimmest",
        "colour",
        "white",
        "mute",
        "unmuted",
        "oscillation",
        "tilt",
        "other",
        "thermostat-off",
        "fan-off",
        "closed",
        "standby",
        "no-effect",
        "water-heater",
    ],
)
def test_describe_says_every_setting_kind_in_words(
    entity: str, settings: dict[str, str | float], words: str
) -> None:
    """Settings Habitus records (``devices.settings_of``) read as HA's raw values: "armed_away",
    "is volume muted true", "hs color 30.0,50.0", "target temp low 19.0" (no unit), "0 %" for the
    dimmest light its automation sets to 1 %."""
    assert Routine({}, {entity: settings}).describe() == f"Any time: {entity} {words}"
