"""Config flow of the virtual home: import from YAML only, one entry per HA instance."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult

from .const import DOMAIN


class VirtualHomeConfigFlow(ConfigFlow, domain=DOMAIN):
    """Create (or update) the single entry from ``virtual_home:`` in configuration.yaml."""

    VERSION = 1

    async def async_step_import(self, import_data: dict[str, Any]) -> ConfigFlowResult:
        """Store the YAML device list; an existing entry gets the new list and reloads."""
        await self.async_set_unique_id(DOMAIN)
        self._abort_if_unique_id_configured(updates=import_data)
        return self.async_create_entry(title="Virtual home", data=import_data)
