"""A regular home for the adaptation and model-store tests: three daily routines in the real store."""

from __future__ import annotations

from homeassistant.util import dt as dt_util

from custom_components.habitus.engine.behaviour import Behaviour
from custom_components.habitus.runtime import HabitusConfigEntry

ROUTINES = (
    (
        7.0,
        (
            ("light.kitchen", "Light:switch on"),
            ("switch.coffee", "Switch:switch on"),
            ("light.kitchen", "Light:switch off"),
        ),
    ),
    (
        19.0,
        (
            ("media_player.tv", "Television:switch on"),
            ("light.living", "Light:switch on"),
            ("media_player.tv", "Television:switch off"),
            ("light.living", "Light:switch off"),
        ),
    ),
    (22.5, (("lock.front", "SmartLock:lock"), ("light.hall", "Light:switch off"))),
)


def store_regular_home(entry: HabitusConfigEntry, days: int) -> None:
    """``days`` days of the three ``ROUTINES`` (user behaviours), ending yesterday, into the entry's
    real store."""
    now = dt_util.utcnow().timestamp() / 3600.0
    first_day = (now // 24 - days) * 24
    sequences = [
        [
            Behaviour(first_day + 24 * d + hour + i / 60, dev, act, "user")
            for i, (dev, act) in enumerate(steps)
        ]
        for d in range(days)
        for hour, steps in ROUTINES
    ]
    entry.runtime_data.learner.store.add_older_sequences(sequences, now)
