"""Behaviours and sequences: the records every engine module shares.

A *behaviour* is SmartGen's ``(time, device, action)`` triple. Here ``time`` is in hours on one
monotonic axis: real epoch hours for Home Assistant events, ``day*24 + bucket*3`` (+168 h per week
wrap) for the SmartThings datasets. ``action`` is named ``"<DeviceType>:<control>"`` as in the
SmartThings vocabularies (e.g. ``"Light:switch on"``), so a home's actions and the public datasets
share one naming scheme.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

type Origin = Literal["user", "automation", "device"]
ORIGINS: tuple[Origin, ...] = ("user", "automation", "device")


@dataclass(frozen=True, slots=True)
class Behaviour:
    """One device action at one time (SmartGen's behaviour ``b = (t, device, action)``).

    ``context`` carries what a routine can depend on (time of day, weekday, sun phase, weather,
    outdoor temperature); keys are free-form strings, missing context is absent, never an error.
    """

    time: float  # hours on the home's time axis (see module docstring)
    device: str  # the device it happened on: an HA entity id, or a dataset device name
    action: str  # "<DeviceType>:<control>", e.g. "Light:switch on"
    origin: Origin = "device"  # user (UI/API), automation (script/automation), device (by itself)
    context: dict[str, str | float] = field(default_factory=dict)  # see engine/context.py for keys
    # Target settings the action left the device in, named as HA attributes (brightness 0-255,
    # color_temp_kelvin, hvac_mode, temperature, fan_mode, volume_level 0-1, source, ...).
    settings: dict[str, str | float] = field(default_factory=dict)

    @property
    def device_type(self) -> str:
        """The device type named by the action's ``Type:`` prefix (``"Light"``)."""
        return self.action.split(":", 1)[0]

    @property
    def control(self) -> str:
        """The control part of the action (``"switch on"``)."""
        return self.action.split(":", 1)[1] if ":" in self.action else self.action


type Sequence = list[Behaviour]
