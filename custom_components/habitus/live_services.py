"""Live services: ``feedback`` ("that was me"), ``export_dataset``, ``snooze_alerts``, ``dismiss_alert``.

Errors a user can fix are translated ``ServiceValidationError``s; file I/O runs in the executor.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .export import ExportPathError, resolve_export_dir, write_dataset
from .live import LiveRuntime
from .live_const import (
    DEFAULT_SNOOZE_MINUTES,
    MAX_SNOOZE_MINUTES,
    SERVICE_DISMISS_ALERT,
    SERVICE_EXPORT_DATASET,
    SERVICE_FEEDBACK,
    SERVICE_SNOOZE_ALERTS,
)
from .runtime import HabitusRuntime

ATTR_PATH = "path"
ATTR_MINUTES = "minutes"

_EXPORT_SCHEMA = vol.Schema({vol.Required(ATTR_PATH): cv.string})
_SNOOZE_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_MINUTES, default=DEFAULT_SNOOZE_MINUTES): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=MAX_SNOOZE_MINUTES)
        )
    }
)


def _loaded(hass: HomeAssistant) -> tuple[HabitusRuntime, LiveRuntime]:
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        runtime = entry.runtime_data
        if isinstance(runtime, HabitusRuntime) and runtime.live is not None:
            return runtime, runtime.live
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")


async def _feedback(call: ServiceCall) -> None:
    """The latest anomaly was the user: store its sequence as normal (the next retraining uses it)."""
    _runtime, live = _loaded(call.hass)
    behaviours = live.scorer.mark_normal()
    if behaviours is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_anomaly")
    live.store.add_feedback(behaviours)
    live.alerts.dismiss()


async def _export(call: ServiceCall) -> ServiceResponse:
    """Write the learned dataset (stored sequences, then those marked normal) under the config dir."""
    runtime, live = _loaded(call.hass)
    requested = str(call.data[ATTR_PATH])
    try:
        directory = resolve_export_dir(Path(call.hass.config.config_dir), requested)
    except ExportPathError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="export_path_invalid",
            translation_placeholders={"path": requested},
        ) from err
    read_stored = runtime.learner.store.sequences_snapshot()
    feedback = live.store.feedback_sequences()

    def _write() -> tuple[int, int, int]:
        sequences = read_stored() + feedback
        if not sequences:
            return (0, 0, 0)
        result = write_dataset(directory, sequences)
        return result.sequences, result.devices, result.actions

    try:
        count, devices, actions = await call.hass.async_add_executor_job(_write)
    except OSError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="export_failed",
            translation_placeholders={"path": str(directory), "error": str(err)},
        ) from err
    if count == 0:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="export_empty")
    return {"path": str(directory), "sequences": count, "devices": devices, "actions": actions}


async def _snooze(call: ServiceCall) -> ServiceResponse:
    """No anomaly notifications for ``minutes`` (0 ends a snooze)."""
    _runtime, live = _loaded(call.hass)
    until = live.alerts.snooze(timedelta(minutes=float(call.data[ATTR_MINUTES])))
    return {"snoozed_until": dt_util.utc_from_timestamp(until).isoformat()}


async def _dismiss(call: ServiceCall) -> None:
    """Remove the anomaly notification shown now."""
    _runtime, live = _loaded(call.hass)
    if not live.alerts.dismiss():
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_alert")


@callback
def async_setup_live_services(hass: HomeAssistant) -> None:
    """Register the live services (once, at integration setup)."""
    hass.services.async_register(DOMAIN, SERVICE_FEEDBACK, _feedback, schema=vol.Schema({}))
    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT_DATASET,
        _export,
        schema=_EXPORT_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SNOOZE_ALERTS,
        _snooze,
        schema=_SNOOZE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(DOMAIN, SERVICE_DISMISS_ALERT, _dismiss, schema=vol.Schema({}))
