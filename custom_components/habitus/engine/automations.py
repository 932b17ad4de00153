"""Routine -> Home Assistant automation config (a plain dict, the shape ``automations.yaml`` holds).

Pure: no Home Assistant import. The HA side validates the result with HA's own automation schema
(``homeassistant.components.automation.config.async_validate_config_item``).

* **triggers**: a ``sun`` trigger (sunrise/sunset with the learned offset) when the routine follows
  the sun more tightly than the clock, else a ``time`` trigger at its typical time; without a typical
  time (behaviours that carry no local clock), a ``state`` trigger on the weather entity for a weather
  routine, else a ``time`` trigger in the middle of its time of day.
* **conditions**: one per trigger field: ``time`` (weekday list; time-of-day window, left out when
  the automation fires at a clock time, which lies in it), ``sun``
  (before sunrise / daylight / after sunset), ``state`` of the weather entity (the HA conditions of
  that EdgeWisePersona category), ``numeric_state`` on its ``temperature`` attribute (the band).
* **actions**: service calls that put each device into its learned settings (``automation_calls``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .automation_calls import service_calls
from .context import weather_category
from .routines import Routine, RoutineError

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
        calls = {entity: service_calls(entity, settings) for entity, settings in routine.actions.items()}
    except ValueError as err:  # a number setting that is text ("brightness": "max")
        raise RoutineError(f"a setting is no number: {err}") from err
    if unset := [entity for entity, entity_calls in calls.items() if not entity_calls]:
        # Its words would say what the automation does not do ("Camera recording").
        raise RoutineError(f"no service call puts {', '.join(unset)} into the routine's settings")
    actions = [call for entity_calls in calls.values() for call in entity_calls]
    return {
        "id": routine_automation_id(routine),
        "alias": f"Habitus: {routine.describe()}"[:255],
        "description": (
            f"Suggested by Habitus from {routine.support} occurrences "
            f"(confidence {round(routine.confidence * 100)} %)."
        ),
        "triggers": (triggers := _triggers(routine, weather_entity)),
        "conditions": _conditions(routine.triggers, weather_entity, triggers),
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


def _at_clock_time(triggers: list[dict[str, Any]]) -> bool:
    """Whether the automation fires at a clock time (one ``time`` trigger)."""
    return len(triggers) == 1 and triggers[0].get("trigger") == "time"


def _offset(minutes: float) -> str:
    sign = "-" if minutes < 0 else "+"
    total = round(abs(minutes))
    return f"{sign}{total // 60:02d}:{total % 60:02d}:00"


def _conditions(
    triggers: Mapping[str, str], weather_entity: str | None, fires: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The routine's trigger fields as conditions. A time of day goes without saying when the
    automation fires at a clock time (``fires``, a ``time`` trigger): that time, the median of the
    routine's occurrences in that time of day or its middle, lies in its window, so the condition
    could never fail (the editor showed "When the time is 4:10 PM", "If the time is after 12:00 PM
    and before 5:00 PM"). After a sun trigger, whose clock time moves with the seasons, it stays."""
    conditions: list[dict[str, Any]] = []
    if "day_of_week" in triggers:
        conditions.append({"condition": "time", "weekday": list(_WEEKDAYS[triggers["day_of_week"]])})
    if "time_of_day" in triggers and not _at_clock_time(fires):
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
