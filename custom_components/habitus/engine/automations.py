"""Routine -> Home Assistant automation config (a plain dict, the shape ``automations.yaml`` holds).

Pure: no Home Assistant import. The HA side validates the result with HA's own automation schema
(``homeassistant.components.automation.config.async_validate_config_item``).

* **triggers**: a ``sun`` trigger (sunrise/sunset with the learned offset) when the routine follows
  the sun more tightly than the clock, else a ``time`` trigger at its typical time; without a typical
  time (behaviours that carry no local clock), a ``state`` trigger on the weather entity for a weather
  routine, else a ``time`` trigger in the middle of its time of day.
* **conditions**: one per trigger field: ``time`` (weekday list; time-of-day window), ``sun``
  (before sunrise / daylight / after sunset), ``state`` of the weather entity (the HA conditions of
  that EdgeWisePersona category), ``numeric_state`` on its ``temperature`` attribute (the band).
* **actions**: service calls that put each device into its learned settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .context import weather_category
from .routines import Routine, RoutineError, Setting, Settings, brightness_percent, domain_of

# Every HA weather condition (homeassistant.components.weather ATTR_CONDITION_*).
HA_WEATHER_CONDITIONS: tuple[str, ...] = (
    "clear-night",
    "cloudy",
    "exceptional",
    "fog",
    "hail",
    "lightning",
    "lightning-rainy",
    "partlycloudy",
    "pouring",
    "rainy",
    "snowy",
    "snowy-rainy",
    "sunny",
    "windy",
    "windy-variant",
)
# Outdoor temperature bands as (above, below) °C for a numeric_state condition (see context.py).
TEMP_BAND_LIMITS: dict[str, tuple[float | None, float | None]] = {
    "very cold": (None, 0.0),
    "cold": (0.0, 10.0),
    "mild": (10.0, 18.0),
    "warm": (18.0, 26.0),
    "hot": (26.0, None),
}
TIME_OF_DAY_WINDOWS: dict[str, tuple[str, str]] = {
    "morning": ("05:00:00", "12:00:00"),
    "afternoon": ("12:00:00", "17:00:00"),
    "evening": ("17:00:00", "22:00:00"),
    "night": ("22:00:00", "05:00:00"),  # HA's time condition wraps past midnight
}
_DEFAULT_TIME = {"morning": "08:00:00", "afternoon": "14:30:00", "evening": "19:30:00", "night": "23:00:00"}
_WEEKDAYS = {"weekday": ["mon", "tue", "wed", "thu", "fri"], "weekend": ["sat", "sun"]}
_SUN_CONDITIONS: dict[str, dict[str, str]] = {
    "before_sunrise": {"before": "sunrise"},
    "daylight": {"after": "sunrise", "before": "sunset"},
    "after_sunset": {"after": "sunset"},
}
_COVER_SERVICES = {"open": "open_cover", "closed": "close_cover"}
_ALARM_SERVICES = {
    "armed_away": "alarm_arm_away",
    "armed_home": "alarm_arm_home",
    "armed_night": "alarm_arm_night",
    "armed_vacation": "alarm_arm_vacation",
    "disarmed": "alarm_disarm",
}


def ha_conditions_for(category: str) -> list[str]:
    """The HA weather conditions that :func:`.context.weather_category` maps onto ``category``."""
    return [c for c in HA_WEATHER_CONDITIONS if weather_category(c) == category]


def routine_automation_id(routine: Routine) -> str:
    """Stable id from the routine's schema fields (the same routine always gets the same id)."""
    key = repr(
        (sorted(routine.triggers.items()), sorted((e, sorted(s.items())) for e, s in routine.actions.items()))
    )
    return "habitus_" + hashlib.sha256(key.encode()).hexdigest()[:12]


def routine_to_automation(routine: Routine, weather_entity: str | None = None) -> dict[str, Any]:
    """The automation config of ``routine`` (raises :class:`RoutineError` if it cannot be expressed)."""
    if ("weather" in routine.triggers or "outdoor_temp" in routine.triggers) and not weather_entity:
        raise RoutineError("a weather or outdoor temperature routine needs a weather entity")
    try:
        actions = [
            call for entity, settings in routine.actions.items() for call in service_calls(entity, settings)
        ]
    except ValueError as err:  # a number setting that is text ("brightness": "max")
        raise RoutineError(f"a setting is no number: {err}") from err
    if not actions:
        raise RoutineError("none of the routine's actions maps onto a service call")
    return {
        "id": routine_automation_id(routine),
        "alias": f"Habitus: {routine.describe()}"[:255],
        "description": (
            f"Suggested by Habitus from {routine.support} occurrences "
            f"(confidence {round(routine.confidence * 100)} %)."
        ),
        "triggers": _triggers(routine, weather_entity),
        "conditions": _conditions(routine.triggers, weather_entity),
        "actions": actions,
        "mode": "single",
    }


def trigger_moment(triggers: list[dict[str, Any]]) -> str | None:
    """When an automation of :func:`routine_to_automation` fires, in words: "at 07:02" (its time
    trigger), "15 min after sunset", "at sunrise" (its sun trigger); ``None`` for a weather state
    trigger (the routine's own words already say "when it is rainy")."""
    if len(triggers) != 1:
        return None
    trigger = triggers[0]
    if trigger.get("trigger") == "time" and isinstance(trigger.get("at"), str):
        return f"at {trigger['at'][:5]}"
    if trigger.get("trigger") == "sun" and trigger.get("event") in ("sunrise", "sunset"):
        offset = str(trigger.get("offset") or "+00:00:00")
        hours, minutes = (int(part) for part in offset.lstrip("+-").split(":")[:2])
        if hours == minutes == 0:
            return f"at {trigger['event']}"
        span = " ".join(f"{n} {unit}" for n, unit in ((hours, "h"), (minutes, "min")) if n)  # "1 h 5 min"
        return f"{span} {'before' if offset.startswith('-') else 'after'} {trigger['event']}"
    return None


def _triggers(routine: Routine, weather_entity: str | None) -> list[dict[str, Any]]:
    sun_event = routine.extras.get("sun_event")
    if routine.sun_offset_min is not None and sun_event in ("sunrise", "sunset"):
        return [{"trigger": "sun", "event": sun_event, "offset": _offset(routine.sun_offset_min)}]
    if routine.typical_time is not None:
        return [{"trigger": "time", "at": f"{routine.typical_time}:00"}]
    weather = routine.triggers.get("weather")
    if weather is not None and weather_entity is not None:
        return [{"trigger": "state", "entity_id": weather_entity, "to": ha_conditions_for(weather)}]
    return [{"trigger": "time", "at": _DEFAULT_TIME.get(routine.triggers.get("time_of_day", ""), "08:00:00")}]


def _offset(minutes: float) -> str:
    sign = "-" if minutes < 0 else "+"
    total = round(abs(minutes))
    return f"{sign}{total // 60:02d}:{total % 60:02d}:00"


def _conditions(triggers: Mapping[str, str], weather_entity: str | None) -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = []
    if "day_of_week" in triggers:
        conditions.append({"condition": "time", "weekday": list(_WEEKDAYS[triggers["day_of_week"]])})
    if "time_of_day" in triggers:
        after, before = TIME_OF_DAY_WINDOWS[triggers["time_of_day"]]
        conditions.append({"condition": "time", "after": after, "before": before})
    if "sun_phase" in triggers:
        conditions.append({"condition": "sun", **_SUN_CONDITIONS[triggers["sun_phase"]]})
    if "weather" in triggers:
        states = ha_conditions_for(triggers["weather"])
        conditions.append({"condition": "state", "entity_id": weather_entity, "state": states})
    if "outdoor_temp" in triggers:
        above, below = TEMP_BAND_LIMITS[triggers["outdoor_temp"]]
        condition: dict[str, Any] = {
            "condition": "numeric_state",
            "entity_id": weather_entity,
            "attribute": "temperature",
        }
        if above is not None:
            condition["above"] = above
        if below is not None:
            condition["below"] = below
        conditions.append(condition)
    return conditions


def service_calls(entity_id: str, settings: Settings) -> list[dict[str, Any]]:
    """Service calls that put ``entity_id`` into ``settings`` (empty if the domain has no mapping)."""
    domain = domain_of(entity_id)
    builder = _BUILDERS.get(domain, _generic)
    return [
        {"action": action, "target": {"entity_id": entity_id}, **({"data": data} if data else {})}
        for action, data in builder(domain, settings)
    ]


type _Calls = list[tuple[str, dict[str, Any]]]


def _light(domain: str, s: Settings) -> _Calls:
    if s.get("state") == "off":
        return [("light.turn_off", {})]
    data: dict[str, Any] = {}
    if "brightness" in s:  # in %, as the routine's words say it and the automation editor shows it
        data["brightness_pct"] = brightness_percent(s["brightness"])
    if "color_temp_kelvin" in s:
        data["color_temp_kelvin"] = round(float(s["color_temp_kelvin"]))
    elif (hs := _hs_color(s.get("hs_color"))) is not None:  # HA takes one of the two
        data["hs_color"] = hs
    if "effect" in s:
        data["effect"] = str(s["effect"])
    return [("light.turn_on", data)]


def _climate(domain: str, s: Settings) -> _Calls:
    mode = str(s.get("hvac_mode", s.get("state", "")))
    if mode == "off":
        return [("climate.set_hvac_mode", {"hvac_mode": "off"})]
    target: dict[str, Any] = {}
    if "temperature" in s:
        target["temperature"] = float(s["temperature"])
    elif "target_temp_low" in s and "target_temp_high" in s:  # heat/cool: between the two
        target = {name: float(s[name]) for name in ("target_temp_low", "target_temp_high")}
    calls: _Calls = []
    if target:
        calls.append(("climate.set_temperature", {**target, **({"hvac_mode": mode} if mode else {})}))
    elif mode:
        calls.append(("climate.set_hvac_mode", {"hvac_mode": mode}))
    return calls + _climate_options(s)


def _climate_options(s: Settings) -> _Calls:
    """A climate's fan, preset and swing modes and target humidity."""
    calls: _Calls = [
        (f"climate.set_{name}", {name: str(s[name])})
        for name in ("fan_mode", "preset_mode", "swing_mode")
        if name in s
    ]
    if "humidity" in s:
        calls.append(("climate.set_humidity", {"humidity": round(float(s["humidity"]))}))
    return calls


def _media_player(domain: str, s: Settings) -> _Calls:
    if s.get("state") in ("off", "standby"):  # a TV switched off may report standby
        return [("media_player.turn_off", {})]
    calls: _Calls = [("media_player.turn_on", {})]
    if "volume_level" in s:
        calls.append(("media_player.volume_set", {"volume_level": round(float(s["volume_level"]), 2)}))
    if "source" in s:
        calls.append(("media_player.select_source", {"source": str(s["source"])}))
    if "sound_mode" in s:
        calls.append(("media_player.select_sound_mode", {"sound_mode": str(s["sound_mode"])}))
    if s.get("is_volume_muted") == "true":  # (not "false": a player reports it without supporting mute)
        calls.append(("media_player.volume_mute", {"is_volume_muted": True}))
    return calls


def _alarm(domain: str, s: Settings) -> _Calls:
    service = _ALARM_SERVICES.get(str(s.get("state")))
    return [(f"alarm_control_panel.{service}", {})] if service else []


def _cover(domain: str, s: Settings) -> _Calls:
    state = s.get("state")
    if "current_position" in s:
        calls = [("cover.set_cover_position", {"position": round(float(s["current_position"]))})]
    else:
        calls = [(f"cover.{_COVER_SERVICES[state]}", {})] if state in _COVER_SERVICES else []
    if "current_tilt_position" in s and state != "closed":
        tilt = round(float(s["current_tilt_position"]))
        calls.append(("cover.set_cover_tilt_position", {"tilt_position": tilt}))
    return calls


def _fan(domain: str, s: Settings) -> _Calls:
    if s.get("state") == "off":
        return [("fan.turn_off", {})]
    data = {"percentage": round(float(s["percentage"]))} if "percentage" in s else {}
    calls: _Calls = [("fan.turn_on", data)]
    if "preset_mode" in s:
        calls.append(("fan.set_preset_mode", {"preset_mode": str(s["preset_mode"])}))
    if s.get("oscillating") in ("true", "false"):  # devices.settings_of's form of a yes/no
        calls.append(("fan.oscillate", {"oscillating": s["oscillating"] == "true"}))
    if "direction" in s:
        calls.append(("fan.set_direction", {"direction": str(s["direction"])}))
    return calls


def _hs_color(value: Setting | None) -> list[float] | None:
    """``"30.0,50.0"`` (``devices.settings_of``'s hue, saturation) as HA's ``hs_color``."""
    parts = str(value).split(",") if value is not None else []
    try:
        hue, saturation = (float(part) for part in parts)
    except ValueError:
        return None
    return [hue, saturation]


def _lock(domain: str, s: Settings) -> _Calls:
    state = s.get("state")
    return [("lock.lock", {})] if state == "locked" else [("lock.unlock", {})] if state == "unlocked" else []


def _generic(domain: str, s: Settings) -> _Calls:
    """On/off devices of any other domain (switch, input_boolean, ...) through ``homeassistant.turn_*``."""
    state = s.get("state")
    return [(f"homeassistant.turn_{state}", {})] if state in ("on", "off") else []


_BUILDERS = {
    "light": _light,
    "climate": _climate,
    "media_player": _media_player,
    "alarm_control_panel": _alarm,
    "cover": _cover,
    "fan": _fan,
    "lock": _lock,
}
