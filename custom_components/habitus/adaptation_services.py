"""Adaptation services: ``adapt`` / ``retrain`` (background jobs), ``cancel_adaptation``, ``rollback``.

``adapt`` and ``retrain`` start a job of the entry's ``AdaptationManager`` (``adaptation_job.py``) and
return at once; its progress and outcome are on the adaptation sensor. ``rollback`` serves the models the
last deploy replaced (``adaptation.rollback``).
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .adaptation import rollback
from .adaptation_job import AdaptationManager, AdaptRequest, Trigger, enough_data
from .const import DOMAIN, AdaptMode
from .runtime import HabitusConfigEntry, HabitusRuntime

SERVICE_RETRAIN = "retrain"
SERVICE_ROLLBACK = "rollback"
SERVICE_ADAPT = "adapt"
SERVICE_CANCEL_ADAPTATION = "cancel_adaptation"
ATTR_EPOCHS = "epochs"
ATTR_CONTEXT = "context"
ATTR_MODE = "mode"
ATTR_MAX_PROMPTS = "max_prompts"
MAX_CONTEXT_LENGTH = 500


def _whole(value: Any) -> int:
    """``vol.Coerce(int)`` that also refuses infinity (``int(inf)`` raises OverflowError, which
    voluptuous lets through: the call then failed with an unexpected error, not an invalid value)."""
    try:
        return int(value)
    except (OverflowError, TypeError, ValueError) as err:
        raise vol.Invalid("expected int") from err


_EPOCHS = vol.All(_whole, vol.Range(min=1, max=500))
_RETRAIN_SCHEMA = vol.Schema({vol.Optional(ATTR_EPOCHS): _EPOCHS})
_ADAPT_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONTEXT): vol.All(cv.string, vol.Strip, vol.Length(max=MAX_CONTEXT_LENGTH)),
        vol.Optional(ATTR_MODE): vol.In([mode.value for mode in AdaptMode]),
        vol.Optional(ATTR_EPOCHS): _EPOCHS,
        vol.Optional(ATTR_MAX_PROMPTS): vol.All(_whole, vol.Range(min=1, max=64)),
    }
)


def _entry(hass: HomeAssistant) -> HabitusConfigEntry:
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        if isinstance(entry.runtime_data, HabitusRuntime) and entry.runtime_data.live is not None:
            return entry
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")


def _manager(entry: HabitusConfigEntry) -> AdaptationManager:
    manager = entry.runtime_data.adaptation_jobs
    if manager is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
    return manager


async def _retrain(call: ServiceCall) -> None:
    """Retrain on the home's real data in the background (no synthesis); one job at a time."""
    entry = _entry(call.hass)
    manager = _manager(entry)
    manager.async_start(
        AdaptRequest(trigger=Trigger.SERVICE, synthesize=False, epochs=call.data.get(ATTR_EPOCHS))
    )


async def _adapt(call: ServiceCall) -> None:
    """Synthesize data for the new context, retrain, deploy only if better: in the background."""
    entry = _entry(call.hass)
    manager = _manager(entry)
    if manager.running:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="adaptation_running")
    enough_data(entry)
    mode = call.data.get(ATTR_MODE)
    manager.async_start(
        AdaptRequest(
            trigger=Trigger.SERVICE,
            mode=AdaptMode(mode) if mode else entry.runtime_data.settings.adapt_mode,
            context=call.data.get(ATTR_CONTEXT) or None,
            detection=manager.pending_shift if not call.data.get(ATTR_CONTEXT) else None,
            epochs=call.data.get(ATTR_EPOCHS),
            max_prompts=call.data.get(ATTR_MAX_PROMPTS),
        )
    )


async def _cancel(call: ServiceCall) -> None:
    """Cancel the running job (the champion keeps serving)."""
    if not await _manager(_entry(call.hass)).async_cancel():
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_adaptation_running")


async def _rollback(call: ServiceCall) -> ServiceResponse:
    """Serve the models the last deploy replaced."""
    return {"version": rollback(_entry(call.hass))}


@callback
def async_setup_adaptation_services(hass: HomeAssistant) -> None:
    """Register ``adapt``, ``cancel_adaptation``, ``retrain`` and ``rollback`` (once, at setup)."""
    hass.services.async_register(DOMAIN, SERVICE_ADAPT, _adapt, schema=_ADAPT_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_CANCEL_ADAPTATION, _cancel, schema=vol.Schema({}))
    hass.services.async_register(DOMAIN, SERVICE_RETRAIN, _retrain, schema=_RETRAIN_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_ROLLBACK,
        _rollback,
        schema=vol.Schema({}),
        supports_response=SupportsResponse.OPTIONAL,
    )
