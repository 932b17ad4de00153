"""Behaviour context: the conditions an EdgeWisePersona routine can depend on.

Every behaviour is stored with a snapshot of these, derived from Home Assistant's own signals (local
time, the ``sun.sun`` entity, a weather entity). The categories are EdgeWisePersona's trigger schema
(appendix, "Routine Model Structure"); a value that cannot be derived is ``"unknown"``, never an error.

Keys of ``Behaviour.context``: ``time_of_day``, ``day_of_week``, ``sun_phase``, ``weather`` (categories
below) and ``outdoor_temp_c`` (°C, a float, absent when unknown) with its band ``outdoor_temp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

UNKNOWN = "unknown"

TIMES_OF_DAY = ("morning", "afternoon", "evening", "night")
DAYS_OF_WEEK = ("weekday", "weekend")
SUN_PHASES = ("before_sunrise", "daylight", "after_sunset")
WEATHERS = ("sunny", "cloudy", "rainy", "snowy")
OUTDOOR_TEMPS = ("very cold", "cold", "mild", "warm", "hot")

# HA weather conditions (homeassistant.components.weather ATTR_CONDITION_*) -> EdgeWisePersona weather.
_WEATHER_BY_CONDITION = {
    "sunny": "sunny",
    "clear-night": "sunny",
    "partlycloudy": "cloudy",
    "cloudy": "cloudy",
    "fog": "cloudy",
    "windy": "cloudy",
    "windy-variant": "cloudy",
    "exceptional": "cloudy",
    "rainy": "rainy",
    "pouring": "rainy",
    "lightning": "rainy",
    "lightning-rainy": "rainy",
    "hail": "rainy",
    "snowy": "snowy",
    "snowy-rainy": "snowy",
}

# Upper bounds (°C, exclusive) of the outdoor temperature bands; above the last one is "hot".
_TEMP_BAND_UPPER_C = ((0.0, "very cold"), (10.0, "cold"), (18.0, "mild"), (26.0, "warm"))


def time_of_day(local: datetime) -> str:
    """Morning 05-12 h, afternoon 12-17 h, evening 17-22 h, night 22-05 h (local time)."""
    hour = local.hour
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 17:
        return "afternoon"
    if 17 <= hour < 22:
        return "evening"
    return "night"


def day_of_week(local: datetime) -> str:
    """Weekday (Mon-Fri) or weekend (Sat, Sun)."""
    return "weekend" if local.weekday() >= 5 else "weekday"


def sun_phase(sun_state: str | None, local: datetime) -> str:
    """From ``sun.sun``'s state: above the horizon is daylight; below it, before or after noon decides."""
    if sun_state == "above_horizon":
        return "daylight"
    if sun_state == "below_horizon":
        return "before_sunrise" if local.hour < 12 else "after_sunset"
    return UNKNOWN


def weather_category(condition: str | None) -> str:
    """Map an HA weather condition onto sunny/cloudy/rainy/snowy (``unknown`` if unmapped)."""
    return _WEATHER_BY_CONDITION.get((condition or "").lower(), UNKNOWN)


def outdoor_temp_band(celsius: float | None) -> str:
    """Very cold < 0 °C ≤ cold < 10 ≤ mild < 18 ≤ warm < 26 ≤ hot."""
    if celsius is None:
        return UNKNOWN
    for upper, band in _TEMP_BAND_UPPER_C:
        if celsius < upper:
            return band
    return "hot"


@dataclass(frozen=True, slots=True)
class ContextSignals:
    """Raw signals read from HA at the time of a behaviour (all optional)."""

    local_time: datetime
    sun_state: str | None = None
    weather_condition: str | None = None
    outdoor_temp_c: float | None = None


def derive_context(signals: ContextSignals) -> dict[str, str | float]:
    """The ``Behaviour.context`` snapshot for these signals."""
    context: dict[str, str | float] = {
        "time_of_day": time_of_day(signals.local_time),
        "day_of_week": day_of_week(signals.local_time),
        "sun_phase": sun_phase(signals.sun_state, signals.local_time),
        "weather": weather_category(signals.weather_condition),
        "outdoor_temp": outdoor_temp_band(signals.outdoor_temp_c),
    }
    if signals.outdoor_temp_c is not None:
        context["outdoor_temp_c"] = float(signals.outdoor_temp_c)
    return context
