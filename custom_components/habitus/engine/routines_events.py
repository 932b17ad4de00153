"""Event logs for routine mining: parse ``events.jsonl`` arrays, derive context, cut user sessions.

An event log is a JSON array of state snapshots ``{"time": ISO 8601 with offset, "entity_id", "state",
"attributes": {...}, "origin": "user"|"automation"|"device"}``. ``sun.sun`` and ``weather.*`` snapshots
are the context signals: each behaviour gets the EdgeWisePersona context (:mod:`.context`) of the
moment it happened, read from the latest sun and weather snapshot before it. The local time is the
time in the event's own UTC offset.

Besides the routine trigger fields, each behaviour's context carries ``clock_min`` (minutes after
local midnight) and ``sun_offset_min`` (minutes since the last sunrise or sunset, with ``sun_event``
naming which), used for the automation's trigger time.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .behaviour import ORIGINS, Behaviour, Origin
from .context import ContextSignals, derive_context
from .routines import domain_of, settings_from_snapshot

# Domains that are context signals or read-only sensors, never user actions.
NON_ACTION_DOMAINS = frozenset(
    {"sun", "weather", "sensor", "binary_sensor", "person", "device_tracker", "zone", "automation"}
)


class EventLogError(ValueError):
    """An event log that is not a JSON array of well-formed events."""


@dataclass(frozen=True, slots=True)
class Event:
    """One state snapshot of an event log."""

    time: datetime  # timezone-aware, in the event's own UTC offset (= local time)
    entity_id: str
    state: str
    attributes: Mapping[str, Any]
    origin: Origin


def parse_events(data: Any) -> list[Event]:
    """Validate a decoded event log (a JSON array) into events sorted by time."""
    if not isinstance(data, list):
        raise EventLogError("an event log must be a JSON array of events")
    events = [_parse_event(i, item) for i, item in enumerate(data)]
    events.sort(key=lambda e: e.time)
    return events


def _parse_event(index: int, item: Any) -> Event:
    if not isinstance(item, Mapping):
        raise EventLogError(f"event {index}: expected an object, got {type(item).__name__}")
    try:
        when = datetime.fromisoformat(str(item["time"]))
        entity_id = str(item["entity_id"])
        state = str(item["state"])
    except (KeyError, ValueError) as err:
        raise EventLogError(
            f"event {index}: needs 'time' (ISO 8601), 'entity_id' and 'state': {err}"
        ) from err
    if when.tzinfo is None:
        raise EventLogError(f"event {index}: time {item['time']!r} has no UTC offset")
    if "." not in entity_id:
        raise EventLogError(f"event {index}: {entity_id!r} is not an entity id")
    origin = item.get("origin", "device")
    if origin not in ORIGINS:
        raise EventLogError(f"event {index}: origin {origin!r} not in {ORIGINS}")
    attributes = item.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise EventLogError(f"event {index}: 'attributes' must be an object")
    return Event(when, entity_id, state, attributes, origin)


class ContextTimeline:
    """The context signals of a log over time: sun.sun state changes and weather snapshots."""

    def __init__(self, events: Iterable[Event]) -> None:
        self._sun: list[tuple[datetime, str]] = []
        self._weather: list[tuple[datetime, str, float | None]] = []
        self.weather_entity: str | None = None
        self.start: datetime | None = None
        self.end: datetime | None = None
        for event in events:
            self.start = event.time if self.start is None else min(self.start, event.time)
            self.end = event.time if self.end is None else max(self.end, event.time)
            if event.entity_id == "sun.sun":
                self._sun.append((event.time, event.state))
            elif event.entity_id.startswith("weather."):
                self.weather_entity = self.weather_entity or event.entity_id
                if event.entity_id == self.weather_entity:
                    temp = event.attributes.get("temperature")
                    celsius = float(temp) if isinstance(temp, int | float) else None
                    self._weather.append((event.time, event.state, celsius))
        self._sun_times = [t for t, _ in self._sun]
        self._weather_times = [t for t, _, _ in self._weather]

    def context_at(self, when: datetime) -> dict[str, str | float]:
        """EdgeWisePersona context at ``when`` plus ``clock_min`` and the sun offset."""
        sun_state = None
        i = bisect.bisect_right(self._sun_times, when) - 1
        if i >= 0:
            sun_state = self._sun[i][1]
        condition, celsius = None, None
        j = bisect.bisect_right(self._weather_times, when) - 1
        if j >= 0:
            _, condition, celsius = self._weather[j]
        context = derive_context(ContextSignals(when, sun_state, condition, celsius))
        context["clock_min"] = float(when.hour * 60 + when.minute)
        transition = self._last_sun_transition(i)
        if transition is not None:
            context["sun_event"] = "sunrise" if self._sun[transition][1] == "above_horizon" else "sunset"
            context["sun_offset_min"] = (when - self._sun[transition][0]).total_seconds() / 60.0
        return context

    def _last_sun_transition(self, i: int) -> int | None:
        """Index of the last sun snapshot at or before ``i`` whose state differs from the one before it."""
        while i >= 1 and self._sun[i][1] == self._sun[i - 1][1]:
            i -= 1
        return i if i >= 1 else None

    def sample(self, step_minutes: float = 15.0) -> Iterator[tuple[datetime, dict[str, str | float]]]:
        """(time, context) every ``step_minutes`` over the log's span: the base rate of each context."""
        if self.start is None or self.end is None:
            return
        when, step = self.start, timedelta(minutes=step_minutes)
        while when <= self.end:
            yield when, self.context_at(when)
            when += step


def behaviours_from_events(events: Iterable[Event], timeline: ContextTimeline) -> list[Behaviour]:
    """Every device action of the log as a :class:`Behaviour` with its context and settings.

    Automation- and device-originated snapshots are kept (with their origin) so callers decide; the
    routine miner uses only ``origin == "user"``.
    """
    out: list[Behaviour] = []
    for event in events:
        domain = domain_of(event.entity_id)
        if domain in NON_ACTION_DOMAINS:
            continue
        out.append(
            Behaviour(
                time=event.time.timestamp() / 3600.0,
                device=event.entity_id,
                action=f"{domain}:{event.state}",
                origin=event.origin,
                context=timeline.context_at(event.time),
                settings=settings_from_snapshot(event.entity_id, event.state, event.attributes),
            )
        )
    return out


def split_sessions(behaviours: Iterable[Behaviour], gap_minutes: float) -> list[list[Behaviour]]:
    """Group behaviours (sorted by time) into sessions: a new one starts after ``gap_minutes`` idle."""
    sessions: list[list[Behaviour]] = []
    last = None
    for behaviour in sorted(behaviours, key=lambda b: b.time):
        if last is None or (behaviour.time - last) * 60.0 > gap_minutes:
            sessions.append([])
        sessions[-1].append(behaviour)
        last = behaviour.time
    return sessions
