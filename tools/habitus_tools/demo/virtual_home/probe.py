"""Demo instrumentation inside the running HA: the loop-lag probe and backdated replay of the home's past.

Demo tooling only (``virtual_home`` is never shipped). Two services:

* ``virtual_home.probe`` (response only): HA's event-loop lag since the last reset (and how long ago
  the worst lag ended), measured by the
  very ``LoopLagProbe`` Habitus's adaptation loop uses (``custom_components/habitus/looplag.py``),
  which samples here from ``virtual_home``'s set-up until HA stops; plus Habitus's last adaptation
  outcome when its entry exposes one (the demo's fallback when no adaptation sensor exists).
* ``virtual_home.replay_past``: runs a list of real service calls on the virtual entities, each one's
  state written with a given *past* time, so the recorder holds a history the home never lived
  through in real time (the demo's past, learned by Habitus's bootstrap).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import voluptuous as vol
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import entity as entity_helper

from custom_components.habitus.looplag import LoopLagProbe

from .const import DOMAIN

DATA_PROBE = f"{DOMAIN}_loop_lag"
DATA_BACKDATE = f"{DOMAIN}_backdate"  # the past time the next virtual entity write gets, while replaying
LOOP_LAG_CAPACITY = 72_000  # one hour at the probe's 20 samples per second
SERVICE_PROBE = "probe"
SERVICE_REPLAY_PAST = "replay_past"

PROBE_SCHEMA = vol.Schema({vol.Optional("reset", default=False): cv.boolean})
PAST_CALL = vol.Schema(
    {
        vol.Required("at"): vol.Coerce(float),  # epoch seconds, in the past
        vol.Required("domain"): cv.string,
        vol.Required("service"): cv.string,
        vol.Optional("data", default=dict): dict,
    }
)
REPLAY_PAST_SCHEMA = vol.Schema({vol.Required("calls"): [PAST_CALL]})


def start_probe(hass: HomeAssistant) -> None:
    """Start sampling HA's loop lag (once) and stop at HA's shutdown."""
    if DATA_PROBE in hass.data:
        return
    probe = LoopLagProbe(hass, capacity=LOOP_LAG_CAPACITY)
    hass.data[DATA_PROBE] = probe
    probe.start()

    async def _stop(_event: Event) -> None:
        await probe.async_stop()

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _stop)


def register_services(hass: HomeAssistant) -> None:
    """``virtual_home.probe`` and ``virtual_home.replay_past``."""

    async def _probe(call: ServiceCall) -> ServiceResponse:
        probe: LoopLagProbe = hass.data[DATA_PROBE]
        if call.data["reset"]:
            probe.reset()
        worst_ms, worst_at = probe.worst()
        return {
            "loop_lag": probe.stats().as_dict(),
            "loop_lag_worst_ago_s": round(time.monotonic() - worst_at, 3) if worst_ms > 0 else None,
            "habitus_last_outcome": habitus_last_outcome(hass),
        }

    async def _replay_past(call: ServiceCall) -> None:
        for past in sorted(call.data["calls"], key=lambda c: c["at"]):
            with backdated(hass, past["at"]):
                await hass.services.async_call(
                    past["domain"], past["service"], past["data"], blocking=True, context=call.context
                )

    hass.services.async_register(
        DOMAIN, SERVICE_PROBE, _probe, schema=PROBE_SCHEMA, supports_response=SupportsResponse.ONLY
    )
    hass.services.async_register(DOMAIN, SERVICE_REPLAY_PAST, _replay_past, schema=REPLAY_PAST_SCHEMA)


def habitus_last_outcome(hass: HomeAssistant) -> dict[str, Any] | None:
    """Habitus's last adaptation outcome (``runtime_data.adaptation.last_outcome``), if it has one."""
    for entry in hass.config_entries.async_loaded_entries("habitus"):
        state = getattr(getattr(entry, "runtime_data", None), "adaptation", None)
        outcome = getattr(state, "last_outcome", None)
        if isinstance(outcome, dict):
            return {
                str(k): v if isinstance(v, str | int | float | bool) or v is None else str(v)
                for k, v in outcome.items()
            }
    return None


@contextlib.contextmanager
def backdated(hass: HomeAssistant, at: float) -> Iterator[None]:
    """Virtual entities write their states with time ``at`` inside this block (see ``write_state``)."""
    hass.data[DATA_BACKDATE] = at
    try:
        yield
    finally:
        hass.data.pop(DATA_BACKDATE, None)


def write_state(hass: HomeAssistant, write: Any) -> None:
    """Call ``write`` (an entity's state write); backdated while ``replay_past`` runs.

    HA stamps a state with ``homeassistant.helpers.entity.timer()``. The write is synchronous on the
    event loop, so swapping that clock for its duration affects this one write and nothing else.
    """
    at = hass.data.get(DATA_BACKDATE)
    if at is None:
        write()
        return
    clock = entity_helper.timer
    entity_helper.timer = lambda: at
    try:
        write()
    finally:
        entity_helper.timer = clock
