"""Virtual covers: blinds (with a position) and garage doors."""

from __future__ import annotations

from typing import Any

from homeassistant.components.cover import ATTR_POSITION, CoverDeviceClass, CoverEntity, CoverEntityFeature
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DeviceSpec
from .entity import VirtualEntity, specs_for


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry, add: AddEntitiesCallback) -> None:
    """Add the entry's covers."""
    add(VirtualCover(spec) for spec in specs_for(entry, "cover"))


class VirtualCover(VirtualEntity, CoverEntity):
    """Moves instantly; a blind reports its position, a garage door only open/closed."""

    def __init__(self, spec: DeviceSpec) -> None:
        """Device class and features from the device's kind."""
        super().__init__(spec)
        self._attr_is_closed = True
        features = CoverEntityFeature.OPEN | CoverEntityFeature.CLOSE
        if spec["kind"] == "garage":
            self._attr_device_class = CoverDeviceClass.GARAGE
        else:
            self._attr_device_class = CoverDeviceClass.BLIND
            features |= CoverEntityFeature.SET_POSITION | CoverEntityFeature.STOP
            self._attr_current_cover_position = 0
        self._attr_supported_features = features

    def _move_to(self, position: int) -> None:
        self._attr_is_closed = position == 0
        if self._attr_device_class == CoverDeviceClass.BLIND:
            self._attr_current_cover_position = position
        self.async_write_ha_state()

    async def async_open_cover(self, **kwargs: Any) -> None:
        """Open fully."""
        self._move_to(100)

    async def async_close_cover(self, **kwargs: Any) -> None:
        """Close fully."""
        self._move_to(0)

    async def async_set_cover_position(self, **kwargs: Any) -> None:
        """Move to a position (0 = closed)."""
        self._move_to(int(kwargs[ATTR_POSITION]))

    async def async_stop_cover(self, **kwargs: Any) -> None:
        """Nothing moves for long enough to stop; report the state again."""
        self.async_write_ha_state()
