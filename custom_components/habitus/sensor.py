"""Sensors: behaviours and sequences learned, and the learning state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .adaptation_sensor import adaptation_sensors
from .const import LearningState
from .entity import HabitusEntity
from .learner import HabitusLearner
from .live_sensor import live_sensors
from .runtime import HabitusConfigEntry
from .suggestions import SENSOR_LIST_LIMIT

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class HabitusSensorDescription(SensorEntityDescription):
    """A sensor reading one value off the learner."""

    value_fn: Callable[[HabitusLearner], StateType]
    attributes_fn: Callable[[HabitusLearner], dict[str, Any]] | None = None


SENSORS: tuple[HabitusSensorDescription, ...] = (
    HabitusSensorDescription(
        key="behaviours_learned",
        translation_key="behaviours_learned",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda learner: learner.behaviours_learned,
        attributes_fn=lambda learner: {
            "stored": learner.store.stored_behaviours,
            "open_sequence": len(learner.open_sequence),
        },
    ),
    HabitusSensorDescription(
        key="sequences_learned",
        translation_key="sequences_learned",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda learner: learner.sequences_learned,
        attributes_fn=lambda learner: {"stored": learner.store.stored_sequences},
    ),
    HabitusSensorDescription(
        key="learning_state",
        translation_key="learning_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in LearningState],
        value_fn=lambda learner: learner.state.value,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HabitusConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the Habitus sensors."""
    async_add_entities(HabitusSensor(entry, description) for description in SENSORS)
    if entry.runtime_data.suggester is not None:
        async_add_entities([RoutineSuggestionsSensor(entry, ROUTINE_SUGGESTIONS)])
    async_add_entities(live_sensors(entry))
    async_add_entities(adaptation_sensors(entry))


class HabitusSensor(HabitusEntity, SensorEntity):
    """One learner figure."""

    entity_description: HabitusSensorDescription
    # These change with nearly every behaviour; the recorder keeps the state, not them.
    _unrecorded_attributes = frozenset({"stored", "open_sequence"})

    @property
    def native_value(self) -> StateType:
        """The figure now."""
        return self.entity_description.value_fn(self.runtime.learner)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Stored (bounded) counts next to the totals."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.runtime.learner)


ROUTINE_SUGGESTIONS = SensorEntityDescription(
    key="routine_suggestions", translation_key="routine_suggestions"
)


class RoutineSuggestionsSensor(HabitusEntity, SensorEntity):
    """How many routines are suggested as automations now (the first few listed in an attribute)."""

    _unrecorded_attributes = frozenset({"suggestions"})

    @property
    def native_value(self) -> StateType:
        """The number of current suggestions."""
        suggester = self.runtime.suggester
        return len(suggester.suggestions) if suggester else 0

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Id and readable text of the first suggestions (not recorded)."""
        suggester = self.runtime.suggester
        if suggester is None:
            return None
        listed = list(suggester.suggestions.values())[:SENSOR_LIST_LIMIT]
        return {"suggestions": [{"id": s.id, "description": s.text} for s in listed]}
