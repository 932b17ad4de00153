"""Virtual climate devices: heaters (heat/auto), air conditioners (cool/dry/fan only/auto) and thermostats
(heat/cool/auto)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.climate import ClimateEntity
from homeassistant.components.climate.const import ATTR_HVAC_MODE, ClimateEntityFeature, HVACMode
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_TEMPERATURE, UnitOfTemperature
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DeviceSpec
from .entity import VirtualEntity, specs_for

MODES_BY_KIND: dict[str, list[HVACMode]] = {
    "heater": [HVACMode.OFF, HVACMode.HEAT, HVACMode.AUTO],
    "air_conditioner": [HVACMode.OFF, HVACMode.COOL, HVACMode.DRY, HVACMode.FAN_ONLY, HVACMode.AUTO],
    "thermostat": [HVACMode.OFF, HVACMode.HEAT, HVACMode.COOL, HVACMode.AUTO],
}


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry, add: AddEntitiesCallback) -> None:
    """Add the entry's climate devices."""
    add(VirtualClimate(spec) for spec in specs_for(entry, "climate"))


class VirtualClimate(VirtualEntity, ClimateEntity):
    """HVAC mode, target temperature and fan mode; the room sits at a constant 20 °C."""

    _attr_temperature_unit = UnitOfTemperature.CELSIUS
    _attr_current_temperature = 20.0
    _attr_fan_mode = "auto"
    _attr_hvac_mode = HVACMode.OFF
    _attr_supported_features = (
        ClimateEntityFeature.TARGET_TEMPERATURE
        | ClimateEntityFeature.FAN_MODE
        | ClimateEntityFeature.TURN_ON
        | ClimateEntityFeature.TURN_OFF
    )

    def __init__(self, spec: DeviceSpec) -> None:
        """Modes and default target from the kind (heater or air conditioner)."""
        super().__init__(spec)
        self._attr_fan_modes = ["auto", "low", "medium", "high"]
        self._attr_hvac_modes = MODES_BY_KIND.get(spec["kind"], MODES_BY_KIND["heater"])
        self._attr_target_temperature = 24.0 if spec["kind"] == "air_conditioner" else 20.0

    async def async_set_hvac_mode(self, hvac_mode: HVACMode) -> None:
        """Switch mode (``off`` switches off)."""
        self._attr_hvac_mode = hvac_mode
        self.async_write_ha_state()

    async def async_turn_on(self) -> None:
        """Switch on in the device's main mode (heat or cool)."""
        await self.async_set_hvac_mode(self._attr_hvac_modes[1])

    async def async_turn_off(self) -> None:
        """Switch off."""
        await self.async_set_hvac_mode(HVACMode.OFF)

    async def async_set_temperature(self, **kwargs: Any) -> None:
        """New target temperature (and mode, if the call carries one)."""
        if ATTR_TEMPERATURE in kwargs:
            self._attr_target_temperature = float(kwargs[ATTR_TEMPERATURE])
        if ATTR_HVAC_MODE in kwargs:
            self._attr_hvac_mode = HVACMode(kwargs[ATTR_HVAC_MODE])
        self.async_write_ha_state()

    async def async_set_fan_mode(self, fan_mode: str) -> None:
        """New fan mode."""
        self._attr_fan_mode = fan_mode
        self.async_write_ha_state()
