"""Virtual lights: brightness, colour, colour temperature and effects (kind ``light``); colour lights with
the routine household's effects (kind ``color``: ``none``/``colorloop``); dimmers (kind ``dimmer``:
brightness only)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.light import (
    ATTR_BRIGHTNESS,
    ATTR_COLOR_TEMP_KELVIN,
    ATTR_EFFECT,
    ATTR_HS_COLOR,
    LightEntity,
)
from homeassistant.components.light.const import ColorMode, LightEntityFeature
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DeviceSpec
from .entity import VirtualEntity, specs_for

EFFECTS_BY_KIND = {"light": ["Relax", "Read", "Party"], "color": ["none", "colorloop"]}


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry, add: AddEntitiesCallback) -> None:
    """Add the entry's lights."""
    add(VirtualLight(spec) for spec in specs_for(entry, "light"))


class VirtualLight(VirtualEntity, LightEntity):
    """A colour light that remembers its settings while off."""

    _attr_color_mode = ColorMode.COLOR_TEMP
    _attr_min_color_temp_kelvin = 2000
    _attr_max_color_temp_kelvin = 6500
    _attr_supported_features = LightEntityFeature.EFFECT
    _attr_is_on = False
    _attr_brightness = 255
    _attr_color_temp_kelvin = 3000
    _attr_hs_color = (30.0, 80.0)
    _attr_effect = None

    def __init__(self, spec: DeviceSpec) -> None:
        """Colour and colour-temperature modes with effects; a dimmer has brightness only."""
        super().__init__(spec)
        if spec["kind"] == "dimmer":
            self._attr_color_mode = ColorMode.BRIGHTNESS
            self._attr_supported_color_modes = {ColorMode.BRIGHTNESS}
            self._attr_supported_features = LightEntityFeature(0)
            return
        self._attr_supported_color_modes = {ColorMode.COLOR_TEMP, ColorMode.HS}
        self._attr_effect_list = EFFECTS_BY_KIND.get(spec["kind"], EFFECTS_BY_KIND["light"])

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch on, applying whatever settings the call carries."""
        self._attr_is_on = True
        if ATTR_BRIGHTNESS in kwargs:
            self._attr_brightness = int(kwargs[ATTR_BRIGHTNESS])
        if ATTR_HS_COLOR in kwargs:
            self._attr_hs_color = kwargs[ATTR_HS_COLOR]
            self._attr_color_mode = ColorMode.HS
        if ATTR_COLOR_TEMP_KELVIN in kwargs:
            self._attr_color_temp_kelvin = int(kwargs[ATTR_COLOR_TEMP_KELVIN])
            self._attr_color_mode = ColorMode.COLOR_TEMP
        if ATTR_EFFECT in kwargs:
            self._attr_effect = kwargs[ATTR_EFFECT]
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch off."""
        self._attr_is_on = False
        self.async_write_ha_state()
