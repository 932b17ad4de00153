"""Dataset controls (the part after ``Type:`` in ``"Light:switch on"``) to device-neutral commands.

SmartThings capabilities (``switch on``, ``windowShade close``, ``mediaPlayback play``) and the AN
dataset's short verbs (``on``, ``light_up``, ``sweep``) are read into one ``Command`` vocabulary;
``mapping`` then turns a command into the service call of whichever HA domain the device has.

Some controls leave no state behind in Home Assistant (a refresh, a notification, a camera snapshot,
a momentary button press): they parse to ``Intent.NO_STATE`` and the replay skips and counts them.
A control no rule understands parses to ``None`` (skipped and counted as unknown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    """What a control asks a device to do, independent of the device's HA domain."""

    NO_STATE = "no_state"  # nothing in HA's state machine would change (refresh, notification...)
    ON = "on"
    OFF = "off"
    TOGGLE = "toggle"
    OPEN = "open"
    CLOSE = "close"
    LOCK = "lock"
    UNLOCK = "unlock"
    PLAY = "play"
    PAUSE = "pause"
    STOP = "stop"
    NEXT = "next"
    MUTE = "mute"
    UNMUTE = "unmute"
    VOLUME = "volume"  # value: "up", "down" or None (set a level)
    LEVEL = "level"  # brightness / position; value: "up", "down" or None
    COLOR = "color"
    COLOR_TEMP = "color_temp"
    EFFECT = "effect"
    SETPOINT = "setpoint"  # value: "up", "down" or None
    MODE = "mode"  # value: an HVAC mode hint ("cool", "heat", "auto", "dry") or None
    FAN_SPEED = "fan_speed"  # value: "up", "down", "turbo", "quiet", "standard" or None
    PRESET = "preset"
    SOURCE = "source"
    CHANNEL = "channel"
    SOUND_MODE = "sound_mode"
    CLEAN = "clean"
    CLEAN_SPOT = "clean_spot"
    DOCK = "dock"
    ALARM_ON = "alarm_on"
    ALARM_OFF = "alarm_off"


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed control: an intent plus an optional hint (``"up"``, ``"cool"``, ``"turbo"``...)."""

    intent: Intent
    value: str | None = None


# First match wins; patterns run on the normalized control (lower case, "_" and "." as spaces).
_RULES: tuple[tuple[str, Intent, str | None], ...] = (
    # No state in HA: refreshes, notifications, captures, momentary presses, programme tweaks.
    (
        r"^refresh|notification|textmessage|capture|imagecapture|resetenergymeter|motioncommands|bixby"
        r"|momentary|camerapreset|elevatorcall|setsecuritysystem|setprogram|^(location|scene|sleep"
        r"|setting|act|interact|feed|detect move|pour water|control|direction change)$|movement reserve",
        Intent.NO_STATE,
        None,
    ),
    (r"alarm both|alarm on|guard mode", Intent.ALARM_ON, None),
    (r"alarm off", Intent.ALARM_OFF, None),
    (r"unmute", Intent.UNMUTE, None),
    (r"mute", Intent.MUTE, None),
    (r"mediaplayback play|^play$", Intent.PLAY, None),
    (r"mediaplayback pause|setpausestate|setmachinestate pause", Intent.PAUSE, None),
    (r"mediaplayback stop", Intent.STOP, None),
    (r"nexttrack|^next$", Intent.NEXT, None),
    (r"volumedown|sound down", Intent.VOLUME, "down"),
    (r"volumeup|sound up", Intent.VOLUME, "up"),
    (r"volume", Intent.VOLUME, None),
    (r"turbomode off", Intent.FAN_SPEED, "standard"),
    (r"turbomode silence", Intent.FAN_SPEED, "quiet"),
    (r"turbomode", Intent.FAN_SPEED, "turbo"),
    (r"movement (homing|charging)|^return$", Intent.DOCK, None),
    (r"movement point", Intent.CLEAN_SPOT, None),
    (r"movement cleaning|cleaningmode (auto|map|part)|^sweep$|^clean$", Intent.CLEAN, None),
    (r"movement poweroff|cleaningmode stop", Intent.STOP, None),
    (r"(lock|doorcontrol) lock|^lock$", Intent.LOCK, None),
    (r"unlock", Intent.UNLOCK, None),
    (r"windowshade open|doorcontrol open|valve open|^open$", Intent.OPEN, None),
    (r"windowshade close|doorcontrol close|valve close|^close$", Intent.CLOSE, None),
    (r"toggle|setbutton|setstartstop", Intent.TOGGLE, None),
    (r"shadelevel|switchlevel|presetposition|setlevel", Intent.LEVEL, None),
    (r"^light up", Intent.LEVEL, "up"),
    (r"^light down", Intent.LEVEL, "down"),
    (r"^power up", Intent.FAN_SPEED, "up"),
    (r"^power down", Intent.FAN_SPEED, "down"),
    (r"colortemperature|color temper", Intent.COLOR_TEMP, None),
    (r"setcolor|colorcontrol", Intent.COLOR, None),
    (r"lightingmode|ambient|^change mode$", Intent.EFFECT, None),
    (r"temperatureup|temper up", Intent.SETPOINT, "up"),
    (r"temperaturedown|temper down", Intent.SETPOINT, "down"),
    (r"setpoint|cooltemperature", Intent.SETPOINT, None),
    (r"cooling mode", Intent.MODE, "cool"),
    (r"heating mode", Intent.MODE, "heat"),
    (r"automatic mode", Intent.MODE, "auto"),
    (r"dehumidification mode", Intent.MODE, "dry"),
    (
        r"airconditionermode|thermostatmode|heatermode|acoptionalmode|outingmode|^setmode|chmode",
        Intent.MODE,
        None,
    ),
    (r"fanspeedup|wind up", Intent.FAN_SPEED, "up"),
    (r"fanspeeddown|wind down", Intent.FAN_SPEED, "down"),
    (r"fanspeed|fanmode", Intent.FAN_SPEED, None),
    (
        r"purifiermode|welcomecare|wind mode|blow mode|power (low|normal|strong)|(normal|strong) mode",
        Intent.PRESET,
        None,
    ),
    (r"inputsource", Intent.SOURCE, None),
    (r"setchannel", Intent.CHANNEL, None),
    (r"soundmode|picturemode", Intent.SOUND_MODE, None),
    (r"powercool activate|powerfreeze activate", Intent.ON, None),
    (r"powercool deactivate|powerfreeze deactivate", Intent.OFF, None),
    (
        r"setmachinestate run|^start$|^(wash|heat|heat on|exhaust on|light on|plug on|on|switch on)$",
        Intent.ON,
        None,
    ),
    (
        r"setmachinestate stop|^(stop|finish|end|heat off|exhaust off|light off|plug off|delay off"
        r"|off|switch off)$",
        Intent.OFF,
        None,
    ),
    (r"powertoggle", Intent.TOGGLE, None),
)
_COMPILED = tuple((re.compile(pattern), intent, value) for pattern, intent, value in _RULES)


def normalize_control(control: str) -> str:
    """Lower case, ``_``/``.``/``-`` as spaces, single spaces: ``"temper_up"`` -> ``"temper up"``."""
    return " ".join(re.sub(r"[_.\-]", " ", control.lower()).split())


def parse_control(control: str) -> Command | None:
    """The command a control asks for, or ``None`` when no rule understands it."""
    text = normalize_control(control)
    for pattern, intent, value in _COMPILED:
        if pattern.search(text):
            return Command(intent, value)
    return None


def split_action(action: str) -> tuple[str, str]:
    """``"Light:switch on"`` -> ``("Light", "switch on")``; an action without ``:`` has no type."""
    device_type, sep, control = action.partition(":")
    return (device_type, control) if sep else ("", action)
