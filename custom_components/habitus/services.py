"""Habitus services: routine suggestions as response data, and the user's decisions on them."""

from __future__ import annotations

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse, callback
from homeassistant.helpers import config_validation as cv

from .const import DEFAULT_SNOOZE_DAYS, DOMAIN
from .repairs import loaded_suggester

SERVICE_GET_SUGGESTIONS = "get_routine_suggestions"
SERVICE_ACCEPT = "accept_routine"
SERVICE_DISMISS = "dismiss_routine"
SERVICE_SNOOZE = "snooze_routine"
ATTR_ROUTINE_ID = "routine_id"
ATTR_DAYS = "days"
ATTR_REFRESH = "refresh"

_ID_SCHEMA = vol.Schema({vol.Required(ATTR_ROUTINE_ID): cv.string})
_SNOOZE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_ROUTINE_ID): cv.string,
        vol.Optional(ATTR_DAYS, default=DEFAULT_SNOOZE_DAYS): vol.All(
            vol.Coerce(float), vol.Range(min=1.0 / 24.0, max=365.0)
        ),
    }
)


async def _get_suggestions(call: ServiceCall) -> ServiceResponse:
    suggester = loaded_suggester(call.hass)
    if call.data.get(ATTR_REFRESH):
        await suggester.async_refresh()
    return {"suggestions": [s.as_dict() for s in suggester.suggestions.values()]}


async def _accept(call: ServiceCall) -> None:
    await loaded_suggester(call.hass).async_accept(call.data[ATTR_ROUTINE_ID])


async def _dismiss(call: ServiceCall) -> None:
    await loaded_suggester(call.hass).async_dismiss(call.data[ATTR_ROUTINE_ID])


async def _snooze(call: ServiceCall) -> None:
    await loaded_suggester(call.hass).async_snooze(call.data[ATTR_ROUTINE_ID], call.data[ATTR_DAYS])


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the services (once, at integration setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_SUGGESTIONS,
        _get_suggestions,
        schema=vol.Schema({vol.Optional(ATTR_REFRESH, default=False): cv.boolean}),
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(DOMAIN, SERVICE_ACCEPT, _accept, schema=_ID_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_DISMISS, _dismiss, schema=_ID_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_SNOOZE, _snooze, schema=_SNOOZE_SCHEMA)
