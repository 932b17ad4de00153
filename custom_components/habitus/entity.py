"""The Habitus device and the base of its entities."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN, signal_updated
from .runtime import HabitusConfigEntry, HabitusRuntime


class HabitusEntity(Entity):
    """An entity of the Habitus service device, refreshed by the entry's update signal (no polling)."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: HabitusConfigEntry, description: EntityDescription) -> None:
        self.entity_description = description
        self.runtime: HabitusRuntime = entry.runtime_data
        self._entry_id = entry.entry_id
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name="Habitus",
            manufacturer="Habitus",
            model="Behaviour learner",
            entry_type=DeviceEntryType.SERVICE,
        )

    async def async_added_to_hass(self) -> None:
        """Follow the learner's updates."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(self.hass, signal_updated(self._entry_id), self.async_write_ha_state)
        )
