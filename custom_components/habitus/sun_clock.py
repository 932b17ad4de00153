"""Sun offsets of behaviours: minutes since the last sunrise or sunset at HA's location (astral).

The routine miner (``engine/routines_miner.py``) turns a routine into a ``sun`` trigger when its
occurrences follow the sun more tightly than the clock (lights on 20 min after sunset all year). For
that, each behaviour's context needs ``sun_event`` (which came last, sunrise or sunset) and
``sun_offset_min``. They are computed from the behaviour's time with the astral location HA itself
uses for ``sun.sun`` and sun triggers; pure computation, run in the executor with the miner.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .engine.behaviour import Behaviour

_EVENTS = ("sunrise", "sunset")


class SunClock:
    """Sunrise/sunset times (UTC) of local dates, cached per date."""

    def __init__(self, location: Any, elevation: float, zone: Any) -> None:
        self._location = location  # astral.location.Location (homeassistant.helpers.sun.get_astral_location)
        self._elevation = elevation
        self._zone = zone
        self._cache: dict[date, list[tuple[datetime, str]]] = {}

    def _events(self, day: date) -> list[tuple[datetime, str]]:
        if day not in self._cache:
            found: list[tuple[datetime, str]] = []
            for name in _EVENTS:
                try:
                    moment = getattr(self._location, name)(
                        day, local=False, observer_elevation=self._elevation
                    )
                except ValueError:  # polar day or night: the event does not happen that date
                    continue
                found.append((moment, name))
            self._cache[day] = found
        return self._cache[day]

    def last_event(self, when: datetime) -> tuple[str, float] | None:
        """(``sunrise``|``sunset``, minutes since it) for the last one at or before ``when`` (aware)."""
        local_day = when.astimezone(self._zone).date()
        past = [
            (moment, name)
            for day in (local_day - timedelta(days=1), local_day)
            for moment, name in self._events(day)
            if moment <= when
        ]
        if not past:
            return None
        moment, name = max(past)
        return name, (when - moment).total_seconds() / 60.0


def with_sun_offset(behaviour: Behaviour, clock: SunClock) -> Behaviour:
    """The behaviour with ``sun_event`` and ``sun_offset_min`` in its context (unchanged if unknown)."""
    if "sun_offset_min" in behaviour.context:
        return behaviour
    when = datetime.fromtimestamp(round(behaviour.time * 3600.0), UTC)
    last = clock.last_event(when)
    if last is None:
        return behaviour
    name, minutes = last
    context = {**behaviour.context, "sun_event": name, "sun_offset_min": round(minutes, 2)}
    return dataclasses.replace(behaviour, context=context)
