"""Live sensors: anomaly score, next action (SASRec top-k), context, model status, learning progress.

Added by ``sensor.py``'s platform set-up (``live_sensors``). Large or fast-changing attributes (the
top-k list, the unknown behaviours, the metrics) are kept out of the recorder.
"""

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
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.helpers.typing import StateType

from .const import READY_MIN_SEQUENCES
from .engine.context_monitor import SEASONS
from .live import LiveRuntime
from .live_entity import HabitusLiveEntity
from .runtime import HabitusConfigEntry, HabitusRuntime


@dataclass(frozen=True, kw_only=True)
class LiveSensorDescription(SensorEntityDescription):
    """A sensor reading one value off the entry's runtime (learner and live side)."""

    value_fn: Callable[[HabitusRuntime, LiveRuntime], StateType | Any]
    attributes_fn: Callable[[HabitusRuntime, LiveRuntime], dict[str, Any]] | None = None


def _score(_rt: HabitusRuntime, live: LiveRuntime) -> float | None:
    result = live.scorer.result
    return round(result.score, 4) if result is not None and result.score is not None else None


def _score_attributes(_rt: HabitusRuntime, live: LiveRuntime) -> dict[str, Any]:
    result = live.scorer.result
    bundle = live.scorer.bundle
    return {
        **(bundle.threshold_status() if bundle is not None else {"threshold": None}),
        "sequence_length": result.length if result else 0,
        "unknown_behaviours": list(result.unknown[-10:]) if result else [],
    }


def _next_action(_rt: HabitusRuntime, live: LiveRuntime) -> str | None:
    """The most likely next action in words ("Kitchen light: switch on"; ``action_names.py``)."""
    result = live.scorer.result
    return live.actions.describe(result.top_k[0][0])["name"] if result is not None and result.top_k else None


def _top_k(_rt: HabitusRuntime, live: LiveRuntime) -> dict[str, Any]:
    """The raw action and its entities (for automations), and the top five, each named too."""
    result = live.scorer.result
    top = [
        {"action": action, **live.actions.describe(action), "probability": p}
        for action, p in (result.top_k if result is not None else ())
    ]
    if not top:  # no open sequence: no prediction, and no empty attributes ("Action: Unknown")
        return {}
    return {"action": top[0]["action"], "entities": top[0]["entities"], "top_k": top}


def _context_attributes(_rt: HabitusRuntime, live: LiveRuntime) -> dict[str, Any]:
    current = live.context.current()
    return {k: v for k, v in current.items() if k != "season"} | {"latitude": live.context.latitude}


def _model_attributes(_rt: HabitusRuntime, live: LiveRuntime) -> dict[str, Any]:
    bundle = live.scorer.bundle
    coverage = live.scorer.coverage
    return {
        "source": bundle.info.source if bundle else None,
        "backend": bundle.served_by if bundle else None,
        "vocabulary_coverage": round(coverage * 100.0, 1) if coverage is not None else None,
    }


def _progress(rt: HabitusRuntime, _live: LiveRuntime) -> float:
    return round(min(1.0, rt.learner.store.stored_sequences / READY_MIN_SEQUENCES) * 100.0, 1)


LIVE_SENSORS: tuple[LiveSensorDescription, ...] = (
    LiveSensorDescription(
        key="anomaly_score",
        translation_key="anomaly_score",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=_score,
        attributes_fn=_score_attributes,
    ),
    LiveSensorDescription(
        key="next_action", translation_key="next_action", value_fn=_next_action, attributes_fn=_top_k
    ),
    LiveSensorDescription(
        key="context",
        translation_key="context",
        device_class=SensorDeviceClass.ENUM,
        options=list(SEASONS),
        value_fn=lambda _rt, live: live.context.current()["season"],
        attributes_fn=_context_attributes,
    ),
    LiveSensorDescription(
        key="model_version",
        translation_key="model_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda _rt, live: live.scorer.bundle.info.version if live.scorer.bundle else "none",
        attributes_fn=_model_attributes,
    ),
    LiveSensorDescription(
        key="model_trained_on",
        translation_key="model_trained_on",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda _rt, live: live.scorer.bundle.info.trained_on if live.scorer.bundle else None,
    ),
    LiveSensorDescription(
        key="model_data",
        translation_key="model_data",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda _rt, live: live.scorer.bundle.info.data if live.scorer.bundle else None,
        attributes_fn=lambda _rt, live: {
            "dataset": live.scorer.bundle.info.dataset if live.scorer.bundle else None
        },
    ),
    LiveSensorDescription(
        key="model_last_evaluation",
        translation_key="model_last_evaluation",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda _rt, live: live.scorer.bundle.info.evaluated_on if live.scorer.bundle else None,
        attributes_fn=lambda _rt, live: {
            "metrics": dict(live.scorer.bundle.info.metrics) if live.scorer.bundle else {}
        },
    ),
    LiveSensorDescription(
        key="learning_progress",
        translation_key="learning_progress",
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_progress,
    ),
)


def live_sensors(entry: HabitusConfigEntry) -> list[SensorEntity]:
    """The live sensors of an entry (none when its live side is not set up)."""
    if entry.runtime_data.live is None:
        return []
    return [HabitusLiveSensor(entry, description) for description in LIVE_SENSORS]


class HabitusLiveSensor(HabitusLiveEntity, SensorEntity):
    """One live figure."""

    entity_description: LiveSensorDescription
    _unrecorded_attributes = frozenset({"top_k", "unknown_behaviours", "metrics", "sequence_length"})

    @property
    def native_value(self) -> Any:
        """The figure now."""
        return self.entity_description.value_fn(self.runtime, self.live)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details (some not recorded)."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.runtime, self.live)
