"""Dataset behaviours to real Home Assistant service calls.

A behaviour ``(device id, action id)`` is addressed to the virtual entity planned for the dataset
device (``home``) and its control is parsed into a ``Command`` (``controls``); the table of the
entity's domain turns the command into a service call (``Light:setLevel`` on ``light.light`` ->
``light.turn_on`` with a brightness). Values the dataset does not carry (which brightness, which
source) are picked deterministically from the behaviour's position in the replay, so a replay is
reproducible.

Policy for what cannot be replayed: it is **skipped and counted, never approximated by a toggle**, so
Habitus only ever sees the state changes the dataset describes. ``Skip.reason`` says why:

* ``no_state``: the control leaves nothing in HA's state machine (refresh, notification, snapshot);
* ``unknown``: no rule understands the control;
* ``unsupported``: understood, but the entity's domain has no such service (a volume on a lock);
* ``no_device``: the dataset device has no virtual entity (none of its own actions is replayable).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from habitus_engine.datasets import Vocabulary

from .controls import Command, Intent, parse_control, split_action
from .home import VirtualDevice, plan_device

type JsonValue = str | int | float | bool | list[int]
type SkipReason = Literal["no_state", "unknown", "unsupported", "no_device"]
SKIP_REASONS: tuple[SkipReason, ...] = ("no_state", "unknown", "unsupported", "no_device")


@dataclass(frozen=True, slots=True)
class ServiceCall:
    """One call to ``POST /api/services/<domain>/<service>``; ``data`` includes ``entity_id``."""

    domain: str
    service: str
    data: dict[str, JsonValue] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``"light.turn_on"``."""
        return f"{self.domain}.{self.service}"


@dataclass(frozen=True, slots=True)
class Skip:
    """A behaviour the replay does not send, and why (see the module docstring)."""

    reason: SkipReason


type Mapped = ServiceCall | Skip
# A domain table: (command, device, variant) -> (service, extra data), or None if unsupported.
type DomainTable = Callable[[Command, VirtualDevice, int], tuple[str, dict[str, JsonValue]] | None]


def _pick[T](options: tuple[T, ...], variant: int) -> T:
    return options[variant % len(options)]


def _simple(cmd: Command, services: Mapping[Intent, str]) -> tuple[str, dict[str, JsonValue]] | None:
    service = services.get(cmd.intent)
    return (service, {}) if service else None


_SWITCH = {
    Intent.ON: "turn_on", Intent.OPEN: "turn_on", Intent.CLEAN: "turn_on", Intent.ALARM_ON: "turn_on",
    Intent.PLAY: "turn_on", Intent.OFF: "turn_off", Intent.CLOSE: "turn_off", Intent.STOP: "turn_off",
    Intent.PAUSE: "turn_off", Intent.ALARM_OFF: "turn_off", Intent.TOGGLE: "toggle",
}  # fmt: skip


def _switch(cmd: Command, _device: VirtualDevice, _variant: int) -> tuple[str, dict[str, JsonValue]] | None:
    return _simple(cmd, _SWITCH)


def _light(cmd: Command, device: VirtualDevice, variant: int) -> tuple[str, dict[str, JsonValue]] | None:
    if cmd.intent is Intent.LEVEL:
        if cmd.value in ("up", "down"):
            return "turn_on", {"brightness_step_pct": 20 if cmd.value == "up" else -20}
        return "turn_on", {"brightness": _pick((64, 128, 192, 255), variant)}
    if cmd.intent is Intent.COLOR:
        return "turn_on", {"hs_color": _pick(([30, 80], [200, 60], [120, 50], [0, 70]), variant)}
    if cmd.intent is Intent.COLOR_TEMP:
        return "turn_on", {"color_temp_kelvin": _pick((2700, 3500, 4500, 6000), variant)}
    if cmd.intent is Intent.EFFECT:
        return "turn_on", {"effect": _pick(("Relax", "Read", "Party"), variant)}
    return _simple(cmd, {Intent.ON: "turn_on", Intent.OFF: "turn_off", Intent.TOGGLE: "toggle"})


def _fan(cmd: Command, _device: VirtualDevice, variant: int) -> tuple[str, dict[str, JsonValue]] | None:
    if cmd.intent in (Intent.FAN_SPEED, Intent.LEVEL):
        if cmd.value == "up":
            return "increase_speed", {}
        if cmd.value == "down":
            return "decrease_speed", {}
        return "set_percentage", {"percentage": _pick((33, 66, 100), variant)}
    if cmd.intent is Intent.PRESET:
        return "set_preset_mode", {"preset_mode": _pick(("auto", "sleep", "natural"), variant)}
    return _simple(cmd, {Intent.ON: "turn_on", Intent.OFF: "turn_off", Intent.TOGGLE: "toggle"})


CLIMATE_MODES: dict[str, tuple[str, ...]] = {
    "heater": ("heat", "auto"),
    "air_conditioner": ("cool", "dry", "fan_only", "auto"),
}


def _climate(cmd: Command, device: VirtualDevice, variant: int) -> tuple[str, dict[str, JsonValue]] | None:
    modes = CLIMATE_MODES.get(device.kind, CLIMATE_MODES["heater"])
    if cmd.intent is Intent.ON:
        return "set_hvac_mode", {"hvac_mode": modes[0]}
    if cmd.intent is Intent.OFF:
        return "set_hvac_mode", {"hvac_mode": "off"}
    if cmd.intent is Intent.MODE:
        mode = cmd.value if cmd.value in modes else _pick(modes, variant)
        return "set_hvac_mode", {"hvac_mode": mode}
    if cmd.intent is Intent.SETPOINT:
        base = 20.0 if device.kind == "heater" else 24.0
        offsets = {"up": (1.0, 2.0), "down": (-1.0, -2.0)}.get(cmd.value or "", (-1.0, 0.0, 1.0))
        return "set_temperature", {"temperature": base + _pick(offsets, variant)}
    if cmd.intent is Intent.FAN_SPEED:
        fan_mode = {"up": "high", "down": "low"}.get(
            cmd.value or "", _pick(("low", "medium", "auto"), variant)
        )
        return "set_fan_mode", {"fan_mode": fan_mode}
    return _simple(cmd, {Intent.TOGGLE: "toggle"})


def _cover(cmd: Command, device: VirtualDevice, variant: int) -> tuple[str, dict[str, JsonValue]] | None:
    if cmd.intent is Intent.LEVEL and device.kind != "garage":
        return "set_cover_position", {"position": _pick((25, 50, 75), variant)}
    return _simple(
        cmd,
        {
            Intent.OPEN: "open_cover", Intent.ON: "open_cover", Intent.CLOSE: "close_cover",
            Intent.OFF: "close_cover", Intent.TOGGLE: "toggle", Intent.STOP: "stop_cover",
        },
    )  # fmt: skip


def _media_player(
    cmd: Command, _device: VirtualDevice, variant: int
) -> tuple[str, dict[str, JsonValue]] | None:
    if cmd.intent in (Intent.MUTE, Intent.UNMUTE):
        return "volume_mute", {"is_volume_muted": cmd.intent is Intent.MUTE}
    if cmd.intent is Intent.VOLUME:
        if cmd.value in ("up", "down"):
            return f"volume_{cmd.value}", {}
        return "volume_set", {"volume_level": _pick((0.2, 0.35, 0.5), variant)}
    if cmd.intent is Intent.SOURCE:
        return "select_source", {"source": _pick(("HDMI 1", "HDMI 2", "TV", "Streaming"), variant)}
    if cmd.intent is Intent.SOUND_MODE:
        return "select_sound_mode", {"sound_mode": _pick(("Standard", "Movie", "Music"), variant)}
    return _simple(
        cmd,
        {
            Intent.ON: "turn_on", Intent.OFF: "turn_off", Intent.TOGGLE: "toggle", Intent.PLAY: "media_play",
            Intent.PAUSE: "media_pause", Intent.STOP: "media_stop", Intent.NEXT: "media_next_track",
            Intent.CHANNEL: "media_next_track",
        },
    )  # fmt: skip


_LOCK = {
    Intent.LOCK: "lock", Intent.CLOSE: "lock", Intent.ON: "lock",
    Intent.UNLOCK: "unlock", Intent.OPEN: "unlock", Intent.OFF: "unlock",
}  # fmt: skip


def _lock(cmd: Command, _device: VirtualDevice, _variant: int) -> tuple[str, dict[str, JsonValue]] | None:
    return _simple(cmd, _LOCK)


def _vacuum(cmd: Command, _device: VirtualDevice, variant: int) -> tuple[str, dict[str, JsonValue]] | None:
    if cmd.intent is Intent.FAN_SPEED:
        speeds = ("quiet", "standard", "turbo")
        speed = cmd.value if cmd.value in speeds else _pick(speeds, variant)
        return "set_fan_speed", {"fan_speed": speed}
    return _simple(
        cmd,
        {
            Intent.CLEAN: "start", Intent.ON: "start", Intent.STOP: "stop", Intent.OFF: "stop",
            Intent.PAUSE: "pause", Intent.DOCK: "return_to_base", Intent.CLEAN_SPOT: "clean_spot",
        },
    )  # fmt: skip


_VALVE = {
    Intent.OPEN: "open_valve", Intent.ON: "open_valve", Intent.CLOSE: "close_valve",
    Intent.OFF: "close_valve", Intent.TOGGLE: "toggle",
}  # fmt: skip
_SIREN = {
    Intent.ALARM_ON: "turn_on", Intent.ON: "turn_on", Intent.ALARM_OFF: "turn_off",
    Intent.OFF: "turn_off", Intent.TOGGLE: "toggle",
}  # fmt: skip


def _valve(cmd: Command, _device: VirtualDevice, _variant: int) -> tuple[str, dict[str, JsonValue]] | None:
    return _simple(cmd, _VALVE)


def _siren(cmd: Command, _device: VirtualDevice, _variant: int) -> tuple[str, dict[str, JsonValue]] | None:
    return _simple(cmd, _SIREN)


DOMAIN_TABLES: dict[str, DomainTable] = {
    "switch": _switch,
    "light": _light,
    "fan": _fan,
    "climate": _climate,
    "cover": _cover,
    "media_player": _media_player,
    "lock": _lock,
    "vacuum": _vacuum,
    "valve": _valve,
    "siren": _siren,
}


def map_command(command: Command | None, device: VirtualDevice, variant: int = 0) -> Mapped:
    """The service call a parsed control becomes on ``device``, or why it is skipped."""
    if command is None:
        return Skip("unknown")
    if command.intent is Intent.NO_STATE:
        return Skip("no_state")
    result = DOMAIN_TABLES[device.domain](command, device, variant)
    if result is None:
        return Skip("unsupported")
    service, extra = result
    return ServiceCall(device.domain, service, {"entity_id": device.entity_id, **extra})


def map_action(action: str, device: VirtualDevice, variant: int = 0) -> Mapped:
    """``map_command`` for a ``"Type:control"`` action name."""
    return map_command(parse_control(split_action(action)[1]), device, variant)


def _own_actions(vocab: Vocabulary, device_name: str) -> list[str]:
    """The vocabulary's actions whose ``Type:`` prefix names this device (case-insensitive)."""
    wanted = device_name.casefold()
    return [a for a in vocab.actions if split_action(a)[0].casefold() == wanted]


def plan_home(vocab: Vocabulary) -> dict[int, VirtualDevice]:
    """The virtual home for a dataset: device id -> virtual device.

    A dataset device gets an entity when at least one of its own actions replays as a service call
    (``None``, whose actions are location/scene/sleep, gets none).
    """
    taken: set[str] = set()
    home: dict[int, VirtualDevice] = {}
    for device_id, name in enumerate(vocab.devices):
        device = plan_device(name, set(taken))
        if any(isinstance(map_action(a, device), ServiceCall) for a in _own_actions(vocab, name)):
            home[device_id] = plan_device(name, taken)
    return home


class ActionMapper:
    """Maps a dataset's ``(device id, action id)`` behaviours onto the virtual home's services."""

    def __init__(self, vocab: Vocabulary, home: dict[int, VirtualDevice] | None = None) -> None:
        self.vocab = vocab
        self.home = plan_home(vocab) if home is None else home
        self._commands = [parse_control(split_action(a)[1]) for a in vocab.actions]

    def replayable(self, device_id: int, action_id: int) -> bool:
        """Does this behaviour become a service call (whatever the variant)?"""
        return isinstance(self.map(device_id, action_id), ServiceCall)

    def map(self, device_id: int, action_id: int, variant: int = 0) -> Mapped:
        """The call for one behaviour; ids outside the vocabulary raise ``IndexError``."""
        command = self._commands[action_id]
        device = self.home.get(device_id)
        if device is None:
            if device_id >= len(self.vocab.devices):
                raise IndexError(f"device id {device_id} outside the {self.vocab.name} vocabulary")
            return Skip("no_device")
        return map_command(command, device, variant)
