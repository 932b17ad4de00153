"""The context sensor's source: ``engine/context_monitor.py``'s ``ContextMonitor`` fed from HA's signals.

* user behaviours (origin ``user``) at their local hour: the schedule (SmartGen's TT, daytime/night);
* people at home: ``person`` entities in state ``home`` (if the home has none, ``device_tracker``
  entities), sampled at each change and every ``OCCUPANCY_SAMPLE_MINUTES``: occupancy (NT);
* the configured home latitude and the local date: the season (ST, flipped south of the equator),
  confirmed by the weather entity's outdoor temperature (the configured one, else the first
  ``weather.*``), sampled with the head count; a missing or unreadable temperature is simply not sampled.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED, STATE_HOME
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .engine.behaviour import Behaviour
from .ingest import outdoor_celsius
from .live_const import OCCUPANCY_SAMPLE_MINUTES, signal_live
from .live_store import LiveStore

PRESENCE_DOMAINS = ("person", "device_tracker")


class ContextTracker:
    """Feeds the entry's context monitor and answers the context sensor."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        store: LiveStore,
        weather_entity: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._hass = hass
        self._entry_id = entry_id
        self._store = store
        self._weather_entity = weather_entity

    @property
    def latitude(self) -> float:
        """The home's configured latitude."""
        return float(self._hass.config.latitude)

    @callback
    def observe(self, behaviour: Behaviour) -> None:
        """A live behaviour: user ones count for the schedule."""
        if behaviour.origin == "user":
            when = dt_util.as_local(dt_util.utc_from_timestamp(behaviour.time * 3600.0))
            self._store.monitor.observe_behaviour(when)
            self._store.schedule_save()

    def people_home(self) -> int:
        """Persons at home (else device trackers at home, when the home has no person entities)."""
        for domain in PRESENCE_DOMAINS:
            states = self._hass.states.async_all(domain)
            if states:
                return sum(1 for state in states if state.state == STATE_HOME)
        return 0

    def outdoor_celsius_now(self) -> float | None:
        """The weather entity's temperature in °C now (None: no weather entity or no temperature)."""
        entity_id = self._weather_entity()
        state = self._hass.states.get(entity_id) if entity_id else None
        if state is None:
            return None
        return outdoor_celsius(state.attributes, self._hass.config.units.temperature_unit)

    def current(self) -> dict[str, Any]:
        """Season, schedule and occupancy now, with the live head count."""
        today = dt_util.now().date()
        return {**self._store.monitor.current(today, self.latitude), "people_home": self.people_home()}

    @callback
    def async_start(self) -> list[CALLBACK_TYPE]:
        """Follow presence changes and sample the head count periodically; returns the unsubscribers."""
        return [
            self._hass.bus.async_listen(EVENT_STATE_CHANGED, self._presence_changed, self._is_presence),
            async_track_time_interval(
                self._hass, self._sample, timedelta(minutes=OCCUPANCY_SAMPLE_MINUTES), cancel_on_shutdown=True
            ),
        ]

    @callback
    def _is_presence(self, data: EventStateChangedData) -> bool:
        return data["entity_id"].split(".", 1)[0] in PRESENCE_DOMAINS

    @callback
    def _presence_changed(self, _event: Event[EventStateChangedData]) -> None:
        self._sample()

    @callback
    def _sample(self, _now: datetime | None = None) -> None:
        now = dt_util.now()
        self._store.monitor.observe_occupancy(now, self.people_home())
        celsius = self.outdoor_celsius_now()
        if celsius is not None:
            self._store.monitor.observe_temperature(now, celsius)
        self._store.schedule_save()
        async_dispatcher_send(self._hass, signal_live(self._entry_id))
