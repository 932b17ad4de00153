"""The next-action sensor's words: a predicted action named the way the user knows it.

SASRec predicts an *action* of the device dictionary (``engine/devices.py``), a device type and a
control such as ``"Light:switch on"``, never an entity: its items are actions
(``SASRecConfig.item_mode = "action"``), and the base models' vocabulary is another household's. The
sensor names the action after the one entity of this home that has done it ("Kitchen light: switch
on", by the name the alerts use). When several have done it (three lights) the model cannot tell which,
and when none has (a base model's action this home never did, possible only before the base models'
first calibration on the home) there is no entity to name: both name the device type ("Light: switch
on", "Robot cleaner: dock"). A control is said as what the device does ("Blind: open", not its
SmartThings capability "windowShade open"; ``CONTROL_WORDS``). The raw action and the entities stay in the
attributes, for automations.

``ActionDevices`` keeps, per action, the entities that did it: read once from the stored sequences (in
the executor, after any history read) and updated with every live behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import chain
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_FRIENDLY_NAME, MAX_LENGTH_STATE_STATE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .const import LearningState
from .engine.behaviour import Behaviour, Sequence
from .learner import HabitusLearner

_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
NO_DEVICE_TYPE: Final = "None"  # SmartThings' hub-level actions ("None:location", "None:scene")


# The controls Habitus records from Home Assistant's devices (``engine/devices.py``) whose SmartThings
# capability name says nothing to a person ("windowShade open", "setRobotCleanerMovement homing"): what
# the device does instead, and those that repeat the device type ("Air conditioner: set air conditioner
# mode"). Any other control is read as words ("setVolume": "set volume"); "switch on" stays as it is.
CONTROL_WORDS: Final[dict[str, str]] = {
    "windowShade open": "open",
    "windowShade close": "close",
    "windowShadeLevel setShadeLevel": "set position",
    "windowShadeTiltLevel setShadeTiltLevel": "set tilt",
    "doorControl open": "open",
    "doorControl close": "close",
    "mediaPlayback play": "play",
    "mediaPlayback pause": "pause",
    "mediaPlayback stop": "stop",
    "setRobotCleanerMovement cleaning": "start cleaning",
    "setRobotCleanerMovement homing": "return to base",
    "setRobotCleanerMovement charging": "dock",
    "setRobotCleanerMovement pause": "pause",
    "setRobotCleanerMovement idle": "stop",
    "lock lock": "lock",
    "lock unlock": "unlock",
    "lock open": "open",
    "valve open": "open",
    "valve close": "close",
    "alarm both": "sound",
    "alarm off": "silence",
    "securitySystem armAway": "arm away",
    "securitySystem armStay": "arm home",
    "securitySystem armNight": "arm night",
    "securitySystem armVacation": "arm vacation",
    "securitySystem armCustomBypass": "arm custom bypass",
    "securitySystem disarm": "disarm",
    "videoCapture capture": "record",
    "audioMute mute": "mute",
    "audioMute unmute": "unmute",
    "fanSpeed setFanSpeed": "set speed",
    "fanOscillationMode setFanOscillationMode": "set oscillation",
    "setLevel": "set brightness",
    "setColor": "set colour",
    "setColorTemperature": "set colour temperature",
    "setLightingMode": "set effect",
    "setAirConditionerMode": "set mode",
    "setHeaterMode": "set mode",
    "setWaterHeaterMode": "set mode",
    "setHumidifierMode": "set mode",
    "setCoolingSetpoint": "set target temperature",
    "setHeatingSetpoint": "set target temperature",
    "setHeaterFanMode": "set fan mode",
    "setMode": "set preset",
    "setFanOscillationMode": "set swing mode",
    "setRobotCleanerTurboMode": "set fan speed",
    "setInputSource": "set source",
    "setFanDirection": "set direction",
}
# Where the same control means another setting on a device type: a fan's "setFanMode" is its preset
# mode (``devices.SETTING_CONTROLS``), an air conditioner's its fan mode.
ACTION_WORDS: Final[dict[str, str]] = {"Fan:setFanMode": "set preset"}


def _words(text: str) -> str:
    """camelCase as lower-case words ("setRobotCleanerMovement" -> "set robot cleaner movement")."""
    return _CAMEL.sub(" ", text).lower()


def _device_type_words(kind: str) -> str:
    """A device type as a subject: "RobotCleaner" -> "Robot cleaner"; "TV", "LED" stay as they are."""
    return kind if kind.isupper() else _words(kind).capitalize()


def action_label(action: str, name: str | None = None) -> str:
    """``"Light:switch on"`` as a person reads it: ``name`` (the entity doing it) or the device type,
    then the control ("Kitchen light: switch on", "Air conditioner: switch off"); at most HA's 255
    characters for a state."""
    kind, _, control = action.partition(":")
    control = ACTION_WORDS.get(action) or CONTROL_WORDS.get(control) or _words(control)
    if name is None and kind == NO_DEVICE_TYPE:
        label = control.capitalize()
    else:
        subject = name or _device_type_words(kind)
        label = f"{subject}: {control}" if control else subject
    if len(label) > MAX_LENGTH_STATE_STATE:
        label = label[: MAX_LENGTH_STATE_STATE - 1] + "…"
    return label


def entity_name(hass: HomeAssistant, entity_id: str) -> str | None:
    """The name the user knows an entity by (friendly name, else the registry's name; None: none)."""
    state = hass.states.get(entity_id)
    name = state.attributes.get(ATTR_FRIENDLY_NAME) if state is not None else None
    if not (isinstance(name, str) and name.strip()) and (entry := er.async_get(hass).async_get(entity_id)):
        name = entry.name or entry.original_name  # a friendly name that is no text is none
    return name.strip() if isinstance(name, str) and name.strip() else None


def devices_by_action(sequences: Iterable[Sequence]) -> dict[str, dict[str, None]]:
    """The entities that did each action in ``sequences`` (an ordered set each; executor)."""
    found: dict[str, dict[str, None]] = {}
    for sequence in sequences:
        for behaviour in sequence:
            found.setdefault(behaviour.action, {})[behaviour.device] = None
    return found


class ActionDevices:
    """Which of one entry's entities have done each action, and the sensor's words for an action."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any], learner: HabitusLearner) -> None:
        self._hass = hass
        self._entry = entry
        self._learner = learner
        self._by_action: dict[str, dict[str, None]] = {}
        self._read = False  # the stored sequences were read (once per setup)
        self._reading = False

    @callback
    def observe(self, behaviour: Behaviour) -> None:
        """A live behaviour: its entity has done its action (O(1), on the loop)."""
        self._by_action.setdefault(behaviour.action, {})[behaviour.device] = None

    @callback
    def check(self) -> None:
        """Read the stored sequences in the background, once, and not while the history is read (its
        behaviours reach no observer: they are in the store when it ends)."""
        if self._read or self._reading or self._learner.state is LearningState.BOOTSTRAPPING:
            return
        self._reading = True
        self._entry.async_create_background_task(self._hass, self._async_read(), "habitus action devices")

    async def _async_read(self) -> None:
        read = self._learner.store.sequences_reader()
        open_sequence = list(self._learner.open_sequence)  # restored from the store: never observed
        try:
            found = await self._hass.async_add_executor_job(
                lambda: devices_by_action(chain(read(), [open_sequence]))
            )
        finally:
            self._reading = False
        for action, devices in found.items():
            self._by_action.setdefault(action, {}).update(devices)
        self._read = True

    def devices(self, action: str) -> list[str]:
        """The entities of this home that have done ``action``, first seen first; an entity no longer in
        the home (removed, or renamed: no state and no registry entry) is left out."""
        registry = er.async_get(self._hass)
        return [
            entity_id
            for entity_id in self._by_action.get(action, ())
            if self._hass.states.get(entity_id) is not None or registry.async_get(entity_id) is not None
        ]

    def describe(self, action: str) -> dict[str, Any]:
        """``name`` (the sensor's words for ``action``) and ``entities`` (those that have done it)."""
        devices = self.devices(action)
        name = None
        if len(devices) == 1:  # several: which one, the model cannot tell
            name = entity_name(self._hass, devices[0]) or devices[0]
        return {"name": action_label(action, name), "entities": devices}
