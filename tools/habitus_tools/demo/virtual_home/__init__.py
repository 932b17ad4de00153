"""Virtual home: real HA entities (light, climate, cover, ...) that obey service calls.

Demo tooling for ``habitus demo`` only; not part of the Habitus integration and never shipped by HACS.
Configured from YAML::

    virtual_home:
      devices:
        - {key: light, name: Light, model: Light, domain: light, kind: light, area: Living Room}

The YAML is imported into a single config entry (devices need one to appear in the device registry
with their area); editing the YAML and restarting updates the entry. ``probe.py`` adds the demo's
instrumentation (HA's loop lag, a backdated replay of the home's past).
"""

from __future__ import annotations

import voluptuous as vol
from homeassistant.config_entries import SOURCE_IMPORT, ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import CONF_DEVICES, DOMAIN, PLATFORMS
from .probe import register_services, start_probe

DEVICE_SCHEMA = vol.Schema(
    {
        vol.Required("key"): cv.slug,
        vol.Required("name"): cv.string,
        vol.Required("model"): cv.string,
        vol.Required("domain"): vol.In([str(p) for p in PLATFORMS]),
        vol.Required("kind"): cv.string,
        vol.Required("area"): cv.string,
    }
)
CONFIG_SCHEMA = vol.Schema(
    {DOMAIN: vol.Schema({vol.Required(CONF_DEVICES): vol.All(cv.ensure_list, [DEVICE_SCHEMA])})},
    extra=vol.ALLOW_EXTRA,
)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Import the YAML device list into the (single) config entry; start the demo's instrumentation."""
    start_probe(hass)
    register_services(hass)
    if DOMAIN in config:
        hass.async_create_task(
            hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_IMPORT}, data={CONF_DEVICES: config[DOMAIN][CONF_DEVICES]}
            )
        )
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Create every device's entity on its platform."""
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Remove the entities."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
