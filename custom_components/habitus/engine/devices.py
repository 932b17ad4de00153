"""The device dictionary: Home Assistant entity changes as SmartThings-style actions.

IoTGen and SmartGen describe a home through a *device dictionary*: every device has a type and a small
set of controls, and a behaviour's action is ``"<DeviceType>:<control>"`` (``"Light:switch on"``), the
naming of the SmartThings vocabularies in ``shared/datasets/smartthings/*/vocab.json``. This module maps
one observed change of an HA entity, ``(domain, device_class, state, attributes)`` before and after,
onto such an action, so a live home and the public datasets share one vocabulary. Pure Python.

Device types (``device_type``)

============================  ==============================================================
HA domain (device_class)      device type
============================  ==============================================================
light                         Light
switch (outlet / other)       SmartPlug / Switch
input_boolean                 Switch
fan                           Fan
climate                       Heater in ``heat``; AirConditioner in cool, dry, fan_only, auto,
                              heat_cool; ``off`` keeps the type of the mode it left (default
                              AirConditioner)
cover (garage, gate)          GarageDoor
cover (window / door)         Window / Door
cover (blind, shade, ...)     Blind (also awning, curtain, shutter, damper and no class)
media_player (tv)             Television
media_player (speaker,        NetworkAudio
receiver)
media_player (other)          MediaPlayer
lock                          SmartLock
vacuum                        RobotCleaner
valve                         WaterValve
siren                         Siren
humidifier                    Humidifier
water_heater                  WaterHeater
alarm_control_panel           SecuritySystem
camera                        Camera
anything else                 ``None``: not a behaviour source, ignored
============================  ==============================================================

Controls (``describe_change``)

* on/off states: ``switch on`` / ``switch off`` (light, switch, input_boolean, fan, humidifier, climate
  from/to ``off``, water_heater from/to ``off``, media_player ``on``/``off``/``standby``).
* cover: ``windowShade open|close`` (Blind, Window), ``doorControl open|close`` (GarageDoor, Door); a
  cover that stops part-way while closing (``closing`` -> ``open``) is ``windowShadeLevel
  setShadeLevel``.
* lock: ``lock lock`` / ``lock unlock`` / ``lock open``; valve: ``valve open|close``; siren: ``alarm
  both|off``; alarm panel: ``securitySystem armAway|armStay|armNight|armVacation|armCustomBypass|disarm``
  (``triggered``: ``alarm both``); vacuum: ``setRobotCleanerMovement cleaning|homing|charging|pause|
  idle``; camera: ``videoCapture capture`` (recording), ``switch on`` (streaming), ``switch off``
  (idle); media_player: ``mediaPlayback play|pause|stop``.
* climate mode change between two active modes: ``setAirConditionerMode`` or ``setHeaterMode``;
  water_heater: ``setWaterHeaterMode``.

Which attribute changes count as behaviours (``SETTING_CONTROLS``): only settings a person chooses,
and only while the device is active (on, open, playing...): light effect, colour temperature, colour,
brightness; fan speed, preset, oscillation, direction; media_player source, sound mode, volume, mute;
cover position and tilt; humidifier mode and target humidity; water_heater target temperature; vacuum
fan speed; climate target temperatures (``setHeatingSetpoint`` for Heater or the low bound,
``setCoolingSetpoint`` for AirConditioner or the high bound), fan, preset and swing mode. Measured
values (current temperature, hvac_action, media position, power...) never are. When several settings
change at once, the first in the table names the control and all of them are in the settings.

Transitional states (opening, closing, locking, unlocking, jammed, buffering, arming, pending, ...)
are not behaviours; the settled state that follows is. A change from or to ``unavailable``/``unknown``
is a device (re)appearing, not a behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

IGNORED_STATES = frozenset({"unavailable", "unknown"})
TRANSITIONAL_STATES = frozenset(
    {"opening", "closing", "locking", "unlocking", "jammed", "buffering", "arming", "disarming", "pending"}
)
_INACTIVE_STATES = frozenset({"off", "closed", "standby", "locked", "idle", "docked", "disarmed"})

_FIXED_TYPES: dict[str, str] = {
    "light": "Light",
    "input_boolean": "Switch",
    "fan": "Fan",
    "lock": "SmartLock",
    "vacuum": "RobotCleaner",
    "valve": "WaterValve",
    "siren": "Siren",
    "humidifier": "Humidifier",
    "water_heater": "WaterHeater",
    "alarm_control_panel": "SecuritySystem",
    "camera": "Camera",
}
_COVER_TYPES = {"garage": "GarageDoor", "gate": "GarageDoor", "window": "Window", "door": "Door"}
_MEDIA_TYPES = {"tv": "Television", "speaker": "NetworkAudio", "receiver": "NetworkAudio"}
_HEATING_MODES = frozenset({"heat"})

SUPPORTED_DOMAINS: tuple[str, ...] = (*sorted({*_FIXED_TYPES, "switch", "climate", "cover", "media_player"}),)

_STATE_CONTROLS: dict[str, dict[str, str]] = {
    "lock": {"locked": "lock lock", "unlocked": "lock unlock", "open": "lock open"},
    "valve": {"open": "valve open", "closed": "valve close"},
    "siren": {"on": "alarm both", "off": "alarm off"},
    "alarm_control_panel": {
        "armed_away": "securitySystem armAway",
        "armed_home": "securitySystem armStay",
        "armed_night": "securitySystem armNight",
        "armed_vacation": "securitySystem armVacation",
        "armed_custom_bypass": "securitySystem armCustomBypass",
        "disarmed": "securitySystem disarm",
        "triggered": "alarm both",
    },
    "vacuum": {
        "cleaning": "setRobotCleanerMovement cleaning",
        "returning": "setRobotCleanerMovement homing",
        "docked": "setRobotCleanerMovement charging",
        "paused": "setRobotCleanerMovement pause",
        "idle": "setRobotCleanerMovement idle",
    },
    "camera": {"recording": "videoCapture capture", "streaming": "switch on", "idle": "switch off"},
}

# Attribute changes that are behaviours, per domain, in priority order: (attribute, control).
SETTING_CONTROLS: dict[str, tuple[tuple[str, str], ...]] = {
    "light": (
        ("effect", "setLightingMode"),
        ("color_temp_kelvin", "setColorTemperature"),
        ("hs_color", "setColor"),
        ("brightness", "setLevel"),
    ),
    "fan": (
        ("percentage", "fanSpeed setFanSpeed"),
        ("preset_mode", "setFanMode"),
        ("oscillating", "fanOscillationMode setFanOscillationMode"),
        ("direction", "setFanDirection"),
    ),
    "media_player": (
        ("source", "setInputSource"),
        ("sound_mode", "setSoundMode"),
        ("is_volume_muted", "audioMute"),
        ("volume_level", "setVolume"),
    ),
    "cover": (
        ("current_position", "windowShadeLevel setShadeLevel"),
        ("current_tilt_position", "windowShadeTiltLevel setShadeTiltLevel"),
    ),
    "humidifier": (("mode", "setHumidifierMode"), ("humidity", "setHumidity")),
    "water_heater": (("temperature", "setHeatingSetpoint"),),
    "vacuum": (("fan_speed", "setRobotCleanerTurboMode"),),
    "climate": (
        ("temperature", "setpoint"),  # resolved per type in _climate_setting_control
        ("target_temp_low", "setHeatingSetpoint"),
        ("target_temp_high", "setCoolingSetpoint"),
        ("fan_mode", "fanmode"),  # resolved per type
        ("preset_mode", "setMode"),
        ("swing_mode", "setFanOscillationMode"),
    ),
}

# Settings recorded with a behaviour (Behaviour.settings), named as the HA attributes they come from.
_SETTING_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    domain: tuple(attribute for attribute, _ in controls) for domain, controls in SETTING_CONTROLS.items()
}
_SETTING_ATTRIBUTES["climate"] += ("humidity",)
_SETTING_ATTRIBUTES["valve"] = ("current_position",)
_STATE_AS_SETTING = {"climate": "hvac_mode", "water_heater": "operation_mode"}
# A longer text is no setting anyone chose (a broken integration's dump): kept, it would be rewritten
# with every save of the store. HA's own limit for a state.
MAX_SETTING_CHARS = 255


@dataclass(frozen=True, slots=True)
class DeviceState:
    """One observed state of an HA entity, reduced to what the dictionary reads."""

    domain: str  # "light"
    state: str  # "on"
    device_class: str | None = None  # registry device_class, else original_device_class
    attributes: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceAction:
    """What a change means: ``Light`` + ``switch on``, and the settings it left the device in."""

    device_type: str
    control: str
    settings: dict[str, str | float] = field(default_factory=dict)

    @property
    def action(self) -> str:
        """The behaviour's action, ``"<DeviceType>:<control>"``."""
        return f"{self.device_type}:{self.control}"


def device_type(current: DeviceState, previous: DeviceState | None = None) -> str | None:
    """The SmartThings device type of ``current`` (``None``: a domain Habitus does not learn from).

    ``previous`` only matters for a climate switched ``off``: it keeps the type of the mode it left.
    """
    domain, device_class = current.domain, current.device_class
    if domain in _FIXED_TYPES:
        return _FIXED_TYPES[domain]
    if domain == "switch":
        return "SmartPlug" if device_class == "outlet" else "Switch"
    if domain == "cover":
        return _COVER_TYPES.get(device_class or "", "Blind")
    if domain == "media_player":
        return _MEDIA_TYPES.get(device_class or "", "MediaPlayer")
    if domain == "climate":
        mode = current.state
        if mode == "off" and previous is not None and previous.state != "off":
            mode = previous.state
        return "Heater" if mode in _HEATING_MODES else "AirConditioner"
    return None


def describe_change(old: DeviceState | None, new: DeviceState) -> DeviceAction | None:
    """The behaviour ``old -> new`` is, or ``None`` when it is not one (see the module docstring)."""
    kind = device_type(new, old)
    if kind is None or old is None or old.domain != new.domain:
        return None
    if new.state in IGNORED_STATES or old.state in IGNORED_STATES or new.state in TRANSITIONAL_STATES:
        return None
    if old.state != new.state:
        control = _state_control(old, new, kind)
    elif new.state in _INACTIVE_STATES:
        control = None
    else:
        control = _setting_control(old, new, kind)
    if control is None:
        return None
    return DeviceAction(kind, control, settings_of(new))


def settings_of(current: DeviceState) -> dict[str, str | float]:
    """The user-chosen settings ``current`` is in (``Behaviour.settings``); absent ones are left out."""
    settings: dict[str, str | float] = {}
    if current.domain in _STATE_AS_SETTING:
        settings[_STATE_AS_SETTING[current.domain]] = current.state
    for attribute in _SETTING_ATTRIBUTES.get(current.domain, ()):
        value = _setting_value(current.attributes.get(attribute))
        if value is not None:
            settings[attribute] = value
    return settings


def _setting_value(value: object) -> str | float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None  # NaN/inf are no setting (nor valid JSON)
    if isinstance(value, list | tuple):
        text = ",".join(str(round(float(v), 3)) if isinstance(v, int | float) else str(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= MAX_SETTING_CHARS else None


def _state_control(old: DeviceState, new: DeviceState, kind: str) -> str | None:
    domain = new.domain
    if domain in _STATE_CONTROLS:
        return _STATE_CONTROLS[domain].get(new.state)
    if domain == "cover":
        return _cover_control(old.state, new.state, kind)
    if domain == "media_player":
        return _media_control(old.state, new.state)
    if domain in ("climate", "water_heater"):
        return _mode_control(old.state, new.state, kind)
    return {"on": "switch on", "off": "switch off"}.get(new.state)


def _cover_control(old: str, new: str, kind: str) -> str | None:
    verb = "doorControl" if kind in ("GarageDoor", "Door") else "windowShade"
    if new == "closed":
        return f"{verb} close"
    if new != "open":
        return None
    if old == "closing" and verb == "windowShade":
        return "windowShadeLevel setShadeLevel"  # stopped part-way
    return f"{verb} open"


def _media_control(old: str, new: str) -> str | None:
    if new in ("off", "standby"):
        return "switch off"
    if new == "playing":
        return "mediaPlayback play"
    if old in ("off", "standby"):
        return "switch on"
    return {"paused": "mediaPlayback pause", "idle": "mediaPlayback stop", "on": "mediaPlayback stop"}.get(
        new
    )


def _mode_control(old: str, new: str, kind: str) -> str:
    if new == "off":
        return "switch off"
    if old == "off":
        return "switch on"
    if kind == "WaterHeater":
        return "setWaterHeaterMode"
    return "setHeaterMode" if kind == "Heater" else "setAirConditionerMode"


def _setting_control(old: DeviceState, new: DeviceState, kind: str) -> str | None:
    if kind in ("GarageDoor", "Door"):
        return None  # a door's position is not a setting anyone chooses
    for attribute, control in SETTING_CONTROLS.get(new.domain, ()):
        before, after = old.attributes.get(attribute), new.attributes.get(attribute)
        if after is None or _setting_value(before) == _setting_value(after):
            continue
        if attribute == "is_volume_muted":
            return "audioMute mute" if after else "audioMute unmute"
        if control == "setpoint":
            return "setHeatingSetpoint" if kind == "Heater" else "setCoolingSetpoint"
        if control == "fanmode":
            return "setHeaterFanMode" if kind == "Heater" else "setFanMode"
        return control
    return None
