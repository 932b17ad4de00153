"""Event entity: fired once per anomaly, for automations (event type ``anomaly_detected``)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import HabitusEntity
from .live_const import EVENT_ANOMALY_DETECTED, signal_anomaly
from .runtime import HabitusConfigEntry

PARALLEL_UPDATES = 0

ANOMALY_EVENT = EventEntityDescription(
    key="anomaly_event", translation_key="anomaly", event_types=[EVENT_ANOMALY_DETECTED]
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HabitusConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the anomaly event entity."""
    async_add_entities([HabitusAnomalyEvent(entry, ANOMALY_EVENT)])


class HabitusAnomalyEvent(HabitusEntity, EventEntity):
    """Fires ``anomaly_detected`` with the score, threshold, actions and devices of the sequence.

    Named "Anomalies", not "Anomaly" as the binary sensor is (two "Habitus Anomaly" in the entity
    list, the logbook and an automation's entity picker); its entity id stays ``event.habitus_anomaly``,
    the one it always had (it would follow the name).
    """

    def __init__(self, entry: HabitusConfigEntry, description: EventEntityDescription) -> None:
        super().__init__(entry, description)
        self.entity_id = "event.habitus_anomaly"

    async def async_added_to_hass(self) -> None:
        """Listen for anomalies (not for the learner's refreshes: an event entity changes only on events)."""
        self.async_on_remove(async_dispatcher_connect(self.hass, signal_anomaly(self._entry_id), self._fire))

    @callback
    def _fire(self, data: dict[str, Any]) -> None:
        self._trigger_event(EVENT_ANOMALY_DETECTED, data)
        self.async_write_ha_state()
