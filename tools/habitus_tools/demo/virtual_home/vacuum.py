"""Virtual robot cleaners."""

from __future__ import annotations

from typing import Any

from homeassistant.components.vacuum import StateVacuumEntity, VacuumEntityFeature
from homeassistant.components.vacuum.const import VacuumActivity
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DeviceSpec
from .entity import VirtualEntity, specs_for


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry, add: AddEntitiesCallback) -> None:
    """Add the entry's vacuums."""
    add(VirtualVacuum(spec) for spec in specs_for(entry, "vacuum"))


class VirtualVacuum(VirtualEntity, StateVacuumEntity):
    """Docked, cleaning, paused or idle; docks at once when sent home."""

    _attr_supported_features = (
        VacuumEntityFeature.START
        | VacuumEntityFeature.STOP
        | VacuumEntityFeature.PAUSE
        | VacuumEntityFeature.RETURN_HOME
        | VacuumEntityFeature.FAN_SPEED
        | VacuumEntityFeature.CLEAN_SPOT
        | VacuumEntityFeature.STATE
    )
    _attr_fan_speed = "standard"
    _attr_activity = VacuumActivity.DOCKED

    def __init__(self, spec: DeviceSpec) -> None:
        """Three suction levels."""
        super().__init__(spec)
        self._attr_fan_speed_list = ["quiet", "standard", "turbo"]

    def _set(self, activity: VacuumActivity) -> None:
        self._attr_activity = activity
        self.async_write_ha_state()

    async def async_start(self) -> None:
        """Start cleaning."""
        self._set(VacuumActivity.CLEANING)

    async def async_clean_spot(self, **kwargs: Any) -> None:
        """Clean one spot."""
        self._set(VacuumActivity.CLEANING)

    async def async_pause(self) -> None:
        """Pause."""
        self._set(VacuumActivity.PAUSED)

    async def async_stop(self, **kwargs: Any) -> None:
        """Stop where it is."""
        self._set(VacuumActivity.IDLE)

    async def async_return_to_base(self, **kwargs: Any) -> None:
        """Go back to the dock."""
        self._set(VacuumActivity.DOCKED)

    async def async_set_fan_speed(self, fan_speed: str, **kwargs: Any) -> None:
        """Suction power."""
        self._attr_fan_speed = fan_speed
        self.async_write_ha_state()
