"""Binary sensor: on while the open TSS sequence looks anomalous to TransAE."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .alerts import device_names, most_surprising_words
from .live_entity import HabitusLiveEntity
from .runtime import HabitusConfigEntry

PARALLEL_UPDATES = 0

ANOMALY = BinarySensorEntityDescription(
    key="anomaly", translation_key="anomaly", device_class=BinarySensorDeviceClass.PROBLEM
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HabitusConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the anomaly binary sensor."""
    async_add_entities([HabitusAnomalySensor(entry, ANOMALY)])


class HabitusAnomalySensor(HabitusLiveEntity, BinarySensorEntity):
    """On while the open sequence scores above the threshold (and was not marked normal)."""

    _unrecorded_attributes = frozenset({"score", "most_surprising"})

    @property
    def is_on(self) -> bool:
        """Anomalous now."""
        return self.live.scorer.anomaly_active

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The score behind the state and the most surprising behaviour, in the notification's words.

        None while there is no anomaly (the attributes panel read "Score: Unknown").
        """
        anomaly = self.live.scorer.last_anomaly if self.is_on else None
        if anomaly is None:
            return {}
        attributes: dict[str, Any] = {}
        if anomaly.score is not None:
            attributes["score"] = round(anomaly.score, 4)
        if (worst := most_surprising_words(anomaly, device_names(self.hass, anomaly))) is not None:
            attributes["most_surprising"] = worst
        return attributes
