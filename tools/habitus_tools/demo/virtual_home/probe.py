"""Demo instrumentation inside the running HA: the loop-lag probe and backdated replay of the home's past.

Demo tooling only (``virtual_home`` is never shipped). Two services:

* ``virtual_home.probe`` (response only): HA's event-loop lag since the last reset (and how long ago
  the worst lag ended), measured by the
  very ``LoopLagProbe`` Habitus's adaptation loop uses (``custom_components/habitus/looplag.py``),
  which samples here from ``virtual_home``'s set-up until HA stops; plus Habitus's last adaptation
  outcome when its entry exposes one (the demo's fallback when no adaptation sensor exists).
* ``virtual_home.replay_past``: runs a list of real service calls on the virtual entities, each one's
  state written with a given *past* time, so the recorder holds a history the home never lived
  through in real time (the demo's past, learned by Habitus's bootstrap). A call's ``origin`` says who
  made it, as Habitus reads HA's ``Context``: ``user`` (the caller's context, the demo user), an
  ``automation`` (a context whose parent is the caller's) or the ``device`` itself (a bare context).
  ``states`` are the household's world at those times (``sun.sun``, a ``weather.*`` entity): each is
  written, stamped at its past time, and held until the next one of its entity, so a call's
  behaviour sees the sun and the weather of its own past moment. Once the batch is done, an entity
  another integration owns (``sun.sun``) gets its real state back.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import voluptuous as vol
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import (
    Context,
    Event,
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    State,
    SupportsResponse,
)
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import entity as entity_helper

from custom_components.habitus.looplag import LoopLagProbe

from .const import DOMAIN

DATA_PROBE = f"{DOMAIN}_loop_lag"
DATA_PAST_WORLD = f"{DOMAIN}_past_world"  # entity ids only the past writes (no integration owns them)
DATA_BACKDATE = f"{DOMAIN}_backdate"  # the past time the next virtual entity write gets, while replaying
LOOP_LAG_CAPACITY = 72_000  # one hour at the probe's 20 samples per second
SERVICE_PROBE = "probe"
SERVICE_REPLAY_PAST = "replay_past"
ORIGINS = ("user", "automation", "device")

PROBE_SCHEMA = vol.Schema({vol.Optional("reset", default=False): cv.boolean})
PAST_CALL = vol.Schema(
    {
        vol.Required("at"): vol.Coerce(float),  # epoch seconds, in the past
        vol.Required("domain"): cv.string,
        vol.Required("service"): cv.string,
        vol.Optional("data", default=dict): dict,
        vol.Optional("origin", default="user"): vol.In(ORIGINS),
    }
)
PAST_STATE = vol.Schema(
    {
        vol.Required("at"): vol.Coerce(float),
        vol.Required("entity_id"): cv.entity_id,
        vol.Required("state"): cv.string,
        vol.Optional("attributes", default=dict): dict,
    }
)
REPLAY_PAST_SCHEMA = vol.Schema(
    {vol.Required("calls"): [PAST_CALL], vol.Optional("states", default=list): [PAST_STATE]}
)


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

    hass.services.async_register(
        DOMAIN, SERVICE_PROBE, _probe, schema=PROBE_SCHEMA, supports_response=SupportsResponse.ONLY
    )
    hass.services.async_register(
        DOMAIN, SERVICE_REPLAY_PAST, partial(replay_past, hass), schema=REPLAY_PAST_SCHEMA
    )


async def replay_past(hass: HomeAssistant, call: ServiceCall) -> None:
    """``virtual_home.replay_past``: the past states and calls in time order (a state before a call at
    the same time), each call backdated and run with its origin's context."""
    world = PastWorld(hass)
    items = [
        *((s["at"], 0, s) for s in call.data["states"]),
        *((c["at"], 1, c) for c in call.data["calls"]),
    ]
    try:
        for _at, is_call, past in sorted(items, key=lambda item: (item[0], item[1])):
            if not is_call:
                world.set(past)
                continue
            world.hold()
            with backdated(hass, past["at"]):
                await hass.services.async_call(
                    past["domain"],
                    past["service"],
                    past["data"],
                    blocking=True,
                    context=origin_context(call.context, past["origin"]),
                )
    finally:
        world.restore()


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


def origin_context(caller: Context, origin: str) -> Context:
    """The context a past call runs with, so Habitus reads its ``origin`` back (``ingest.origin_of``)."""
    if origin == "automation":
        return Context(parent_id=caller.id)
    if origin == "device":
        return Context()
    return caller


class PastWorld:
    """The household's past sun and weather, written as states at their past times while a batch runs.

    An entity another integration owns (``sun.sun``) gets its real state back at the end; the
    ones only the past writes (the household's ``weather.*``) keep their last past state.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
        self._current: dict[str, dict[str, Any]] = {}
        self._real: dict[str, State] = {}

    def set(self, past: dict[str, Any]) -> None:
        """Write one past state (stamped at its time) and hold it until the next one of its entity."""
        entity_id = past["entity_id"]
        state = self._hass.states.get(entity_id)
        owned = self._hass.data.setdefault(DATA_PAST_WORLD, set())
        if entity_id not in owned and entity_id not in self._real and state is not None:
            self._real[entity_id] = state
        if state is None and entity_id not in self._real:
            owned.add(entity_id)
        self._current[entity_id] = past
        self._write(past)

    def hold(self) -> None:
        """Before a call: write again any past state the real integration has overwritten meanwhile."""
        for entity_id, past in self._current.items():
            state = self._hass.states.get(entity_id)
            if state is None or state.state != past["state"] or dict(state.attributes) != past["attributes"]:
                self._write(past)

    def restore(self) -> None:
        """Give the entities other integrations own their real states back."""
        for entity_id, state in self._real.items():
            self._hass.states.async_set(entity_id, state.state, state.attributes, force_update=True)
        self._real.clear()
        self._current.clear()

    def _write(self, past: dict[str, Any]) -> None:
        self._hass.states.async_set(
            past["entity_id"], past["state"], past["attributes"], force_update=True, timestamp=past["at"]
        )


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
