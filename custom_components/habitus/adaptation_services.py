"""Adaptation services: ``retrain`` (in the background) and ``rollback`` (see ``adaptation.py``)."""

from __future__ import annotations

import logging

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .adaptation import async_retrain, rollback
from .const import DOMAIN
from .runtime import HabitusConfigEntry, HabitusRuntime
from .worker import WorkerError

_LOGGER = logging.getLogger(__name__)

SERVICE_RETRAIN = "retrain"
SERVICE_ROLLBACK = "rollback"
ATTR_EPOCHS = "epochs"
_RETRAIN_SCHEMA = vol.Schema({vol.Optional(ATTR_EPOCHS): vol.All(vol.Coerce(int), vol.Range(min=1, max=500))})


def _entry(hass: HomeAssistant) -> HabitusConfigEntry:
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        if isinstance(entry.runtime_data, HabitusRuntime) and entry.runtime_data.live is not None:
            return entry
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")


async def _retrain_logged(hass: HomeAssistant, entry: HabitusConfigEntry, epochs: int | None) -> None:
    """The background retrain: its outcome lands in ``runtime.adaptation.last_outcome``."""
    try:
        await async_retrain(hass, entry, epochs=epochs)
    except (HomeAssistantError, WorkerError) as err:
        entry.runtime_data.adaptation.last_outcome = {"deployed": False, "reason": str(err)}
        _LOGGER.warning("Habitus retrain failed, the champion keeps serving: %s", err)


async def _retrain(call: ServiceCall) -> None:
    """Start a retrain in the background (one at a time: the worker queues a second)."""
    entry = _entry(call.hass)
    epochs = call.data.get(ATTR_EPOCHS)
    entry.async_create_background_task(
        call.hass, _retrain_logged(call.hass, entry, epochs), "habitus retrain"
    )


async def _rollback(call: ServiceCall) -> ServiceResponse:
    """Serve the models the last deploy replaced."""
    return {"version": rollback(_entry(call.hass))}


@callback
def async_setup_adaptation_services(hass: HomeAssistant) -> None:
    """Register ``retrain`` and ``rollback`` (once, at integration setup)."""
    hass.services.async_register(DOMAIN, SERVICE_RETRAIN, _retrain, schema=_RETRAIN_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_ROLLBACK,
        _rollback,
        schema=vol.Schema({}),
        supports_response=SupportsResponse.OPTIONAL,
    )
