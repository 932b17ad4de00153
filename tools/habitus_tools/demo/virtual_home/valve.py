"""Virtual (water) valves."""

from __future__ import annotations

from homeassistant.components.valve import ValveDeviceClass, ValveEntity, ValveEntityFeature
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .entity import VirtualEntity, specs_for


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry, add: AddEntitiesCallback) -> None:
    """Add the entry's valves."""
    add(VirtualValve(spec) for spec in specs_for(entry, "valve"))


class VirtualValve(VirtualEntity, ValveEntity):
    """Open or closed, no position."""

    _attr_device_class = ValveDeviceClass.WATER
    _attr_reports_position = False
    _attr_is_closed = True
    _attr_supported_features = ValveEntityFeature.OPEN | ValveEntityFeature.CLOSE

    async def async_open_valve(self) -> None:
        """Open."""
        self._attr_is_closed = False
        self.async_write_ha_state()

    async def async_close_valve(self) -> None:
        """Close."""
        self._attr_is_closed = True
        self.async_write_ha_state()
