"""Diagnostics: what Habitus is set to and how much it has learned (never the behaviours themselves)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.core import HomeAssistant

from .runtime import HabitusConfigEntry


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: HabitusConfigEntry
) -> dict[str, Any]:
    """Settings and counts. Behaviour data stays private: only sizes and the device-type mix."""
    runtime = entry.runtime_data
    learner, store = runtime.learner, runtime.learner.store
    settings = {
        key: sorted(value) if isinstance(value, frozenset) else value
        for key, value in asdict(runtime.settings).items()
    }
    return {
        "settings": settings,
        "learning_state": learner.state.value,
        "bootstrapped": store.bootstrapped,
        "behaviours_learned": learner.behaviours_learned,
        "sequences_learned": learner.sequences_learned,
        "stored_sequences": store.stored_sequences,
        "stored_behaviours": store.stored_behaviours,
        "open_sequence_length": len(learner.open_sequence),
        "store_atomic_writes": store.atomic_writes,
    }
