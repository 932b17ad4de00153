"""A routine in words: "On weekdays, at 07:02: Kitchen light on 71 %, Bedroom thermostat heat to 21 °C".

Pure: no Home Assistant import. The triggers are said as their categories ("On weekday evenings after
sunset, when it is rainy"; not the time of day when the automation fires at a clock time, nor a sun
phase its sun trigger says), then when its automation fires (``automations.trigger_moment``); each
device as what it does, in the order of ``_DESCRIBE_ORDER``, any other setting after "with". A device
switched off or closed is said as that alone, as its automation only switches it off
(``automation_calls``). Settings are named as :mod:`.routines` and ``devices.settings_of`` record
them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .routines import Setting, Settings


def describe_routine(
    triggers: Mapping[str, str],
    actions: Mapping[str, Settings],
    names: Mapping[str, str] | None = None,
    temperature_unit: str = "°C",
    moment: str | None = None,
) -> str:
    """``Routine.describe``: its triggers, then ``moment`` (when its automation fires), then its actions."""
    words = describe_actions(actions, names, temperature_unit)
    sun = _SUN_WORDS.get(triggers.get("sun_phase", ""))
    if moment and sun and moment.endswith(sun):  # not "After sunset, 20 min after sunset"
        triggers = {k: v for k, v in triggers.items() if k != "sun_phase"}
    if moment and moment[3:4].isdigit():  # "at 16:10", not "On afternoons, at 16:10" (automations)
        triggers = {k: v for k, v in triggers.items() if k != "time_of_day"}
    when = describe_triggers(triggers)
    if moment:
        when = moment[0].upper() + moment[1:] if when == _ANY_TIME else f"{when}, {moment}"
    return f"{when}: {words}"


_TIME_WORDS = {"morning": "mornings", "afternoon": "afternoons", "evening": "evenings", "night": "nights"}
_ANY_TIME = "Any time"
_SUN_WORDS = {"before_sunrise": "before sunrise", "daylight": "in daylight", "after_sunset": "after sunset"}


def describe_triggers(triggers: Mapping[str, str]) -> str:
    """ "On weekday evenings after sunset, when it is rainy and cold" (or "Any time")."""
    days = triggers.get("day_of_week")
    when = _TIME_WORDS.get(triggers.get("time_of_day", ""))
    head = f"{days} {when}" if days and when else when or (f"{days}s" if days else "")  # "On weekdays"
    phrase = f"On {head}" if head else ""
    if "sun_phase" in triggers:
        sun = _SUN_WORDS[triggers["sun_phase"]]
        phrase = f"{phrase} {sun}" if phrase else sun[0].upper() + sun[1:]
    conditions = [triggers[k] for k in ("weather", "outdoor_temp") if k in triggers]
    if conditions:
        tail = f"when it is {' and '.join(conditions)}"
        phrase = f"{phrase}, {tail}" if phrase else tail[0].upper() + tail[1:]
    return phrase or _ANY_TIME


def describe_left_out(left_out: Sequence[str], names: Mapping[str, str] | None = None) -> str:
    """Why alarm panels are not in a routine's automation (``device_values.needs_code``), or ``""``:
    "Security is left out: it needs its code, which an automation does not have (a default code in its
    entity settings lets it in)." """
    if not left_out:
        return ""
    names = names or {}
    shown = " and ".join(names.get(e) or e for e in left_out)
    is_, it, needs, its, it_in = ("is", "it", "needs", "its", "it") if len(left_out) == 1 else _THEY
    return (
        f"{shown} {is_} left out: {it} {needs} {its} code, which an automation does not have "
        f"(a default code in {its} entity settings lets {it_in} in)."
    )


_THEY = ("are", "they", "need", "their", "them")


def describe_actions(
    actions: Mapping[str, Settings], names: Mapping[str, str] | None = None, temperature_unit: str = "°C"
) -> str:
    """ "light.living_room on 40 % 2700 K, climate.living_room heat to 21 °C" (or by ``names``)."""
    names = names or {}
    return ", ".join(_describe_action(names.get(e) or e, s, temperature_unit) for e, s in actions.items())


# What the device does, in this order ("Living room blind open to 20 %", "Sofa lamp on 40 % warm"); any
# other setting follows after "with" ("Bedroom thermostat auto to 23 °C with fan mode medium").
_DESCRIBE_ORDER = (
    "state",
    "hvac_mode",
    "brightness",
    "color_temp_kelvin",
    "temperature",
    "target_temp_low",
    "target_temp_high",
    "percentage",
    "current_position",
)


def _describe_action(shown: str, settings: Settings, temperature_unit: str) -> str:
    state = settings.get("hvac_mode", settings.get("state"))
    if state in ("off", "closed", "standby"):  # what an off device still reports (setpoint...) is not set
        return f"{shown} {state}"
    main = [_describe_setting(n, settings[n], temperature_unit) for n in _DESCRIBE_ORDER if n in settings]
    rest = [
        _describe_setting(n, settings[n], temperature_unit)
        for n in sorted(settings)
        if n not in _DESCRIBE_ORDER and not _said_already(n, settings)
    ]
    rest = [words for words in rest if words]
    text = " ".join([shown, *main])
    return f"{text} with {' and '.join(rest)}" if rest else text


def _said_already(name: str, settings: Settings) -> bool:
    """A white light reports its colour too (its automation sets the colour temperature only); a
    water heater's operation mode is its state."""
    if name == "hs_color":
        return "color_temp_kelvin" in settings
    return name == "operation_mode" and settings[name] == settings.get("state")


def brightness_percent(brightness: Setting) -> int:
    """A light's ``brightness`` (0-255) in %, as HA's automation editor shows it; the dimmest light on is
    1 %, never 0 (which HA reads as off)."""
    return max(1, round(float(brightness) / 2.55))


def _tone(kelvin: float) -> str:
    tone = "warm" if kelvin <= 3300 else "neutral" if kelvin <= 4800 else "cool"
    return f"{tone} ({round(kelvin)} K)"


def _hs_colour(value: Setting) -> str:
    """``"30.0,50.0"`` (``devices.settings_of``'s hue, saturation) as "colour hue 30° saturation 50 %"."""
    try:
        hue, saturation = (float(part) for part in str(value).split(","))
    except ValueError:
        return f"colour {value}"
    return f"colour hue {hue:.0f}° saturation {saturation:.0f} %"


# Scalar settings in words (``_describe_setting``): (number, temperature unit) -> words.
_NUMBER_WORDS: dict[str, Callable[[float, str], str]] = {
    "brightness": lambda v, _unit: f"{brightness_percent(v)} %",
    "color_temp_kelvin": lambda v, _unit: _tone(v),
    "temperature": lambda v, unit: f"to {v:g} {unit}",
    "target_temp_low": lambda v, unit: f"from {v:g} {unit}",
    "target_temp_high": lambda v, unit: f"to {v:g} {unit}",
    "volume_level": lambda v, _unit: f"volume {round(v * 100)} %",
    "percentage": lambda v, _unit: f"{round(v)} %",
    "current_position": lambda v, _unit: f"to {round(v)} %",
    "current_tilt_position": lambda v, _unit: f"tilt {round(v)} %",
    "humidity": lambda v, _unit: f"humidity {round(v)} %",
}
# Yes/no settings (``devices.settings_of`` writes them "true"/"false"): the words for each.
_FLAG_WORDS: dict[str, tuple[str, str]] = {
    "is_volume_muted": ("sound muted", ""),  # unmuted: as a player plays, nothing said nor set
    "oscillating": ("oscillation on", "oscillation off"),
}
_MODE_WORDS = {"heat_cool": "heat/cool"}  # as HA's climate card says it; others: "_" -> " "


def _describe_setting(name: str, value: Setting, temperature_unit: str) -> str:
    """One setting in words ("71 %", "to 21 °C", "armed away", "fan mode medium", "muted")."""
    if name in _NUMBER_WORDS and isinstance(value, int | float):
        return _NUMBER_WORDS[name](float(value), temperature_unit)
    if name in _FLAG_WORDS and str(value) in ("true", "false"):
        return _FLAG_WORDS[name][str(value) != "true"]
    if name in ("state", "hvac_mode"):
        return _MODE_WORDS.get(str(value)) or str(value).replace("_", " ")  # "armed away", "fan only"
    if name == "hs_color":
        return _hs_colour(value)
    if name == "effect" and str(value).lower() in ("none", "off"):  # HA's names for a light's no effect
        return "no effect"
    shown = f"{value:g}" if isinstance(value, int | float) else str(value)
    return f"{name.replace('_', ' ')} {shown}"
