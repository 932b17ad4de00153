"""Virtual fans and air purifiers: speed in percent and preset modes."""

from __future__ import annotations

from typing import Any

from homeassistant.components.fan import FanEntity, FanEntityFeature
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DeviceSpec
from .entity import VirtualEntity, specs_for

DEFAULT_PERCENTAGE = 66


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry, add: AddEntitiesCallback) -> None:
    """Add the entry's fans."""
    add(VirtualFan(spec) for spec in specs_for(entry, "fan"))


class VirtualFan(VirtualEntity, FanEntity):
    """Off, or on at a percentage with an optional preset."""

    _attr_supported_features = (
        FanEntityFeature.SET_SPEED
        | FanEntityFeature.PRESET_MODE
        | FanEntityFeature.TURN_ON
        | FanEntityFeature.TURN_OFF
    )
    _attr_percentage = 0
    _attr_preset_mode = None

    def __init__(self, spec: DeviceSpec) -> None:
        """A fan with three presets."""
        super().__init__(spec)
        self._attr_preset_modes = ["auto", "sleep", "natural"]

    async def async_turn_on(
        self, percentage: int | None = None, preset_mode: str | None = None, **kwargs: Any
    ) -> None:
        """Switch on at a speed (or the default one), optionally with a preset."""
        self._attr_percentage = percentage or self._attr_percentage or DEFAULT_PERCENTAGE
        if preset_mode is not None:
            self._attr_preset_mode = preset_mode
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch off."""
        self._attr_percentage = 0
        self._attr_preset_mode = None
        self.async_write_ha_state()

    async def async_set_percentage(self, percentage: int) -> None:
        """Run at ``percentage`` (0 switches off)."""
        self._attr_percentage = percentage
        if percentage == 0:
            self._attr_preset_mode = None
        self.async_write_ha_state()

    async def async_set_preset_mode(self, preset_mode: str) -> None:
        """Select a preset (switches on)."""
        self._attr_preset_mode = preset_mode
        self._attr_percentage = self._attr_percentage or DEFAULT_PERCENTAGE
        self.async_write_ha_state()
