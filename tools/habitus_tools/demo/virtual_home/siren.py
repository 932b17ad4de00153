"""Virtual sirens."""

from __future__ import annotations

from typing import Any

from homeassistant.components.siren import SirenEntity
from homeassistant.components.siren.const import SirenEntityFeature
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .entity import VirtualEntity, specs_for


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry, add: AddEntitiesCallback) -> None:
    """Add the entry's sirens."""
    add(VirtualSiren(spec) for spec in specs_for(entry, "siren"))


class VirtualSiren(VirtualEntity, SirenEntity):
    """Sounds or is silent."""

    _attr_is_on = False
    _attr_supported_features = SirenEntityFeature.TURN_ON | SirenEntityFeature.TURN_OFF

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Sound the alarm."""
        self._attr_is_on = True
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Silence it."""
        self._attr_is_on = False
        self.async_write_ha_state()
