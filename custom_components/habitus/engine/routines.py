"""Routines: EdgeWisePersona's routine schema, generalised to every Home Assistant device type.

A *routine* (EdgeWisePersona, appendix "Routine Model Structure") is a pair ``triggers -> actions``:

* ``triggers``: any subset of ``time_of_day`` (morning/afternoon/evening/night), ``day_of_week``
  (weekday/weekend), ``sun_phase`` (before_sunrise/daylight/after_sunset), ``weather``
  (sunny/cloudy/rainy/snowy) and ``outdoor_temp`` (very cold/cold/mild/warm/hot). The categories are
  those of :mod:`.context`; an absent field means "any value".
* ``actions``: keyed by HA entity id, each the device's target settings named as HA attributes:
  ``state``, ``brightness`` (0-255), ``color_temp_kelvin``, ``effect``, ``hvac_mode``, ``temperature``,
  ``fan_mode``, ``volume_level`` (0-1), ``source``, ``sound_mode``, ``percentage``,
  ``current_position``, ``preset_mode``. Any other attribute of any device type is accepted: numbers
  are scalar settings, strings categorical ones.

Habitus' routines also carry statistics (``support``: occurrences, ``confidence``: share of the
trigger's contexts in which the routine happened) and ``typical_time`` ("HH:MM" local, optional), which
are metadata: they are not part of the schema that the EdgeWisePersona metrics compare.

EdgeWisePersona devices map onto HA domains as follows (:func:`from_edgewisepersona`):

==========  ======================  =============================================================
EWP device  HA domain               fields
==========  ======================  =============================================================
tv          media_player            volume (0-100) -> volume_level (0-1); input_source -> source;
                                    brightness has no media_player attribute and is dropped
ac          climate                 temperature -> temperature (°C); mode cool/heat/auto ->
                                    hvac_mode cool/heat/auto; fan_speed 0-3 -> fan_mode
                                    auto/low/medium/high
lights      light                   brightness (0-100 %) -> brightness (0-255), state "on";
                                    color warm/neutral/cool -> color_temp_kelvin 2700/4000/6500;
                                    mode static/dynamic -> effect "none"/"colorloop"
speaker     media_player            volume (0-100) -> volume_level (0-1); equalizer -> sound_mode
security    alarm_control_panel     armed true/false -> state armed_away/disarmed; alarm_volume has
                                    no alarm_control_panel attribute and is dropped
==========  ======================  =============================================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .context import DAYS_OF_WEEK, OUTDOOR_TEMPS, SUN_PHASES, TIMES_OF_DAY, WEATHERS
from .devices import MAX_SETTING_CHARS
from .routine_words import describe_routine

type Setting = str | float
type Settings = dict[str, Setting]

TRIGGER_VALUES: dict[str, tuple[str, ...]] = {
    "time_of_day": TIMES_OF_DAY,
    "day_of_week": DAYS_OF_WEEK,
    "sun_phase": SUN_PHASES,
    "weather": WEATHERS,
    "outdoor_temp": OUTDOOR_TEMPS,
}
TRIGGER_FIELDS: tuple[str, ...] = tuple(TRIGGER_VALUES)

# Scalar settings with their full range (used to judge noise and to scale MAE tolerances).
SCALAR_RANGES: dict[str, tuple[float, float]] = {
    "brightness": (0.0, 255.0),
    "color_temp_kelvin": (2000.0, 6500.0),
    "temperature": (7.0, 35.0),
    "volume_level": (0.0, 1.0),
    "percentage": (0.0, 100.0),
    "current_position": (0.0, 100.0),
}
CATEGORICAL_SETTINGS: tuple[str, ...] = (
    "state",
    "effect",
    "hvac_mode",
    "fan_mode",
    "source",
    "sound_mode",
    "preset_mode",
)

# Per HA domain: which attributes of a state snapshot are the device's settings, and which state values
# mean "off" (then only the state itself is a setting). Climate's state *is* its hvac_mode.
DOMAIN_SETTINGS: dict[str, tuple[str, ...]] = {
    "light": ("brightness", "color_temp_kelvin", "effect"),
    "climate": ("temperature", "fan_mode", "preset_mode"),
    "media_player": ("volume_level", "source", "sound_mode"),
    "fan": ("percentage", "preset_mode"),
    "cover": ("current_position",),
}
OFF_STATES: frozenset[str] = frozenset({"off", "closed", "unavailable", "unknown"})
STATE_KEY_BY_DOMAIN: dict[str, str] = {"climate": "hvac_mode"}


class RoutineError(ValueError):
    """A routine that does not follow the schema."""


def is_scalar(name: str, value: Setting) -> bool:
    """Scalar (compared by MAE) or categorical (compared by equality) setting."""
    if name in CATEGORICAL_SETTINGS:
        return False
    return name in SCALAR_RANGES or (isinstance(value, int | float) and not isinstance(value, bool))


def domain_of(entity_id: str) -> str:
    """``light`` for ``light.kitchen``."""
    return entity_id.split(".", 1)[0]


def settings_from_snapshot(entity_id: str, state: str, attributes: Mapping[str, Any]) -> Settings:
    """The target settings an HA state snapshot shows (state plus the domain's setting attributes)."""
    domain = domain_of(entity_id)
    settings: Settings = {STATE_KEY_BY_DOMAIN.get(domain, "state"): state}
    if state in OFF_STATES:
        return settings
    for name in DOMAIN_SETTINGS.get(domain, ()):
        value = attributes.get(name)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            if math.isfinite(value):  # NaN/inf are no setting (nor valid JSON: the store writes null)
                settings[name] = float(value)
        elif isinstance(value, str) and len(value) <= MAX_SETTING_CHARS:
            settings[name] = value
    return settings


@dataclass(slots=True)
class Routine:
    """EdgeWisePersona routine: ``triggers`` (field -> category) -> ``actions`` (entity -> settings)."""

    triggers: dict[str, str]
    actions: dict[str, Settings]
    support: int = 0  # sessions in which it happened
    confidence: float = 0.0  # share of the trigger's context occurrences (days) in which it happened
    typical_time: str | None = None  # "HH:MM" local, median of its occurrences
    sun_offset_min: float | None = None  # median minutes after the last sunrise/sunset, if tighter
    extras: dict[str, Any] = field(default_factory=dict)  # free metadata, not compared

    def validate(self) -> Routine:
        """Raise :class:`RoutineError` unless the triggers and actions follow the schema."""
        for name, value in self.triggers.items():
            if name not in TRIGGER_VALUES:
                raise RoutineError(f"unknown trigger field {name!r} (expected one of {TRIGGER_FIELDS})")
            if value not in TRIGGER_VALUES[name]:
                raise RoutineError(f"trigger {name}={value!r} not in {TRIGGER_VALUES[name]}")
        if not self.actions:
            raise RoutineError("a routine needs at least one action")
        for entity_id, settings in self.actions.items():
            if "." not in entity_id or not settings:
                raise RoutineError(f"action {entity_id!r} needs an HA entity id and settings")
            for setting, target in settings.items():
                if isinstance(target, bool) or not isinstance(target, str | int | float):
                    raise RoutineError(f"setting {entity_id}.{setting} must be a string or a number")
        return self

    def to_json(self) -> dict[str, Any]:
        """The ``routines.jsonl`` element (schema fields plus statistics)."""
        out: dict[str, Any] = {
            "triggers": dict(self.triggers),
            "actions": {e: dict(s) for e, s in self.actions.items()},
            "support": self.support,
            "confidence": round(self.confidence, 4),
        }
        if self.typical_time is not None:
            out["typical_time"] = self.typical_time
        if self.sun_offset_min is not None:
            out["sun_offset_min"] = round(self.sun_offset_min, 1)
        if self.extras.get("tier") == 2:
            out["tier"] = 2  # below the miner's confidence floor (its second tier)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Routine:
        """Parse one element of a ``routines.jsonl`` array (raises :class:`RoutineError`)."""
        if not isinstance(data, Mapping):
            raise RoutineError(f"a routine must be a JSON object, got {type(data).__name__}")
        triggers = data.get("triggers", {})
        actions = data.get("actions", {})
        if not isinstance(triggers, Mapping) or not isinstance(actions, Mapping):
            raise RoutineError("'triggers' and 'actions' must be JSON objects")
        parsed_actions: dict[str, Settings] = {}
        for entity_id, settings in actions.items():
            if not isinstance(settings, Mapping):
                raise RoutineError(f"action {entity_id!r} must be an object of settings")
            parsed_actions[str(entity_id)] = {str(k): _setting(v) for k, v in settings.items()}
        offset = data.get("sun_offset_min")
        return cls(
            triggers={str(k): str(v) for k, v in triggers.items() if v is not None},
            actions=parsed_actions,
            support=int(data.get("support", 0)),
            confidence=float(data.get("confidence", 0.0)),
            typical_time=data.get("typical_time"),
            sun_offset_min=None if offset is None else float(offset),
            extras={"tier": 2} if data.get("tier") == 2 else {},
        ).validate()

    def describe(
        self, names: Mapping[str, str] | None = None, temperature_unit: str = "°C", moment: str | None = None
    ) -> str:
        """Readable sentence, e.g. "On weekday evenings after sunset, when it is cold: ...".

        ``names``: entity id -> the name to show (Home Assistant's friendly names; an entity without one
        is shown by its id); ``temperature_unit``: the unit target temperatures are stored in;
        ``moment``: when its automation fires ("at 07:02", "15 min after sunset"), said after the
        triggers ("On weekdays, at 07:02: ...").
        """
        return describe_routine(self.triggers, self.actions, names, temperature_unit, moment)


def _setting(value: Any) -> Setting:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return value
    raise RoutineError(f"setting value {value!r} must be a string or a number")


def routines_to_json(routines: list[Routine]) -> str:
    """One ``routines.jsonl`` line (a JSON array)."""
    return json.dumps([r.to_json() for r in routines], ensure_ascii=False)


def routines_from_json(text: str) -> list[Routine]:
    """Parse one ``routines.jsonl`` line (raises :class:`RoutineError`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RoutineError(f"not JSON: {err}") from err
    if not isinstance(data, list):
        raise RoutineError("a household's routines must be a JSON array")
    return [Routine.from_json(item) for item in data]


# EdgeWisePersona -> HA (see module docstring).
_EWP_FAN = {0: "auto", 1: "low", 2: "medium", 3: "high"}
_EWP_COLOR_K = {"warm": 2700.0, "neutral": 4000.0, "cool": 6500.0}
_EWP_EFFECT = {"static": "none", "dynamic": "colorloop"}


def from_edgewisepersona(routine: Mapping[str, Any], entities: Mapping[str, str]) -> Routine:
    """Convert an EdgeWisePersona routine; ``entities`` maps its devices (tv, ac...) to HA entity ids."""
    actions: dict[str, Settings] = {}
    for device, fields in (routine.get("actions") or {}).items():
        if not fields or device not in entities:
            continue
        settings = _ewp_settings(device, {k: v for k, v in fields.items() if v is not None})
        if settings:
            actions[entities[device]] = settings
    triggers = {k: str(v) for k, v in (routine.get("triggers") or {}).items() if v is not None}
    return Routine(triggers=triggers, actions=actions).validate()


def _ewp_settings(device: str, fields: Mapping[str, Any]) -> Settings:
    out: Settings = {}
    if device in ("tv", "speaker"):
        out["state"] = "on"
        if "volume" in fields:
            out["volume_level"] = round(float(fields["volume"]) / 100.0, 2)
        if "input_source" in fields:
            out["source"] = str(fields["input_source"])
        if "equalizer" in fields:
            out["sound_mode"] = str(fields["equalizer"])
    elif device == "ac":
        out["hvac_mode"] = str(fields.get("mode", "auto"))
        if "temperature" in fields:
            out["temperature"] = float(fields["temperature"])
        if "fan_speed" in fields:
            out["fan_mode"] = _EWP_FAN[int(fields["fan_speed"])]
    elif device == "lights":
        out["state"] = "on"
        if "brightness" in fields:
            out["brightness"] = float(round(float(fields["brightness"]) * 2.55))
        if "color" in fields:
            out["color_temp_kelvin"] = _EWP_COLOR_K[str(fields["color"])]
        if "mode" in fields:
            out["effect"] = _EWP_EFFECT[str(fields["mode"])]
    elif device == "security" and "armed" in fields:
        out["state"] = "armed_away" if fields["armed"] else "disarmed"
    return out
