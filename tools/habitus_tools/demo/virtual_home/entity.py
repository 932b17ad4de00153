"""Base entity of the virtual home: one device per entity, in its area, with a fixed entity id."""

from __future__ import annotations

from collections.abc import Iterator

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity

from .const import CONF_DEVICES, DOMAIN, DeviceSpec
from .probe import write_state


def specs_for(entry: ConfigEntry, domain: str) -> Iterator[DeviceSpec]:
    """The entry's devices whose entity lives in ``domain``."""
    for spec in entry.data[CONF_DEVICES]:
        if spec["domain"] == domain:
            yield spec


class VirtualEntity(Entity):
    """An entity that is its device's main feature; state changes only through service calls."""

    _attr_has_entity_name = True
    _attr_name = None
    _attr_should_poll = False

    def __init__(self, spec: DeviceSpec) -> None:
        """Entity id ``<domain>.<key>``, so the demo's replay can address it without a lookup."""
        self.spec = spec
        self.entity_id = f"{spec['domain']}.{spec['key']}"
        self._attr_unique_id = spec["key"]
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, spec["key"])},
            name=spec["name"],
            manufacturer="Habitus demo",
            model=spec["model"],
            suggested_area=spec["area"],
        )

    @callback
    def async_write_ha_state(self) -> None:
        """Write the state; with the past time ``virtual_home.replay_past`` gives, while it runs."""
        write_state(self.hass, super().async_write_ha_state)
