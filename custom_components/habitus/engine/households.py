"""Seeded synthetic households for the routine miner: true routines plus the HA event log they produce.

Like EdgeWisePersona's dataset construction (section 3.2), a household is a set of routines drawn from
the schema (:mod:`.routines`); sessions are generated in which the routines fire under their contexts,
about a quarter of the user's sessions are spontaneous, and times and settings are noisy. Unlike
EdgeWisePersona the sessions are not dialogues but what Home Assistant records: state snapshots of
devices, ``sun.sun`` and a ``weather.*`` entity, with each snapshot's origin (user, automation, device).
Existing automations act too (``origin: automation``): the miner must ignore them.

Two differently designed variants, so the miner is scored on households unlike those it was built on:

==================  ============================================  ============================================
                    ``"a"`` (EdgeWisePersona-like)                 ``"b"`` (different design)
==================  ============================================  ============================================
devices             colour light, climate, TV, speaker, alarm      dimmer + colour lights, cover, fan, switch,
                    (the five EdgeWisePersona devices)             bedroom climate, kitchen radio
triggers            2-5 fields per routine                         1-3 fields per routine
session structure   a routine's actions within ~3 min              spread over ~15 min, corrections (a wrong
                                                                   value first), 10 % of devices skipped,
                                                                   20 % with a spontaneous action mixed in
setting noise       Gaussian on every occurrence                   65 % exact, else Laplace (heavier tails)
time noise          Gaussian, sd 20 min                            Laplace, scale 25 min
weather             i.i.d. per half day, seasonal temperature      hourly Markov chain, AR(1) temperature,
                                                                   harsher climate, higher latitude
log                 120 days, UTC+01:00                            90 days, UTC-05:00
==================  ============================================  ============================================

A third variant ``"c"`` is for evaluation only (never used to set the miner's parameters), designed
after the miner: eight devices (porch dimmer, office colour light, climate, fan and speaker, den TV,
bedroom cover, heater switch), 1-4 trigger fields, 3-6 routines, slow sessions (5 s-8 min between
actions) with repeated actions, 5 % skipped devices and a second occupant acting midway in a quarter of
them, discrete setting noise (half exact, else one or two user steps off), uniform time noise (±40 min),
fire probability 0.6, 35 % spontaneous sessions, three automations, 150 days at UTC+09:00 with a short
day-length swing (hourly Markov weather as in ``"b"``).

A routine's triggers are *closed*: a field that every occasion of the routine fixes is stated (e.g.
``daylight`` next to a routine done at 14:00 in midsummer), because no data could tell the two
routines apart; EdgeWisePersona's own routines state nearly every field (4.98 of 5 on average).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import numpy as np

from .routines import TRIGGER_FIELDS, Routine, Settings, domain_of
from .routines_events import ContextTimeline, parse_events

type Variant = Literal["a", "b", "c"]
type Rng = np.random.Generator

_DEVICES: dict[Variant, dict[str, str]] = {  # entity id -> kind
    "a": {
        "light.living_room": "light_color",
        "climate.living_room": "climate",
        "media_player.tv": "tv",
        "media_player.speaker": "speaker",
        "alarm_control_panel.home": "alarm",
    },
    "b": {
        "light.kitchen": "light_dimmer",
        "light.bedroom": "light_color",
        "cover.living_room": "cover",
        "fan.bedroom": "fan",
        "switch.coffee_maker": "switch",
        "climate.bedroom": "climate",
        "media_player.kitchen_radio": "radio",
    },
    "c": {
        "light.porch": "light_dimmer",
        "light.office": "light_color",
        "climate.office": "climate",
        "media_player.den_tv": "tv",
        "cover.bedroom": "cover",
        "fan.office": "fan",
        "switch.heater": "switch",
        "media_player.office_speaker": "speaker",
    },
}
_SOURCES = {"tv": ("HDMI1", "HDMI2", "AV", "Netflix", "YouTube"), "radio": ("FM", "DAB", "Spotify")}
_SOUND_MODES = ("bass boost", "balanced", "treble boost")
_KELVINS = (2700.0, 3000.0, 4000.0, 5000.0, 6500.0)
_TIME_WINDOWS = {
    "morning": (6.5, 10.0),
    "afternoon": (12.5, 16.5),
    "evening": (17.5, 21.5),
    "night": (22.2, 23.8),
}


@dataclass(frozen=True, slots=True)
class HouseholdConfig:
    """How one variant's households are made (see the module docstring for the two designs)."""

    variant: Variant = "a"
    days: int = 120
    utc_offset_h: int = 1
    routines: tuple[int, int] = (3, 5)  # inclusive range of routines per household
    trigger_fields: tuple[int, int] = (2, 5)  # inclusive range of drawn trigger fields per routine
    devices_per_routine: tuple[int, int] = (1, 4)
    fire_probability: float = 0.75  # chance a routine happens on a day its context occurs
    spontaneous_share: float = 0.25  # share of the user's sessions that follow no routine
    min_days: int = 12  # a routine's context must occur on at least this many days
    automations: int = 2  # existing automations acting daily (origin "automation")
    time_noise_min: float = 20.0
    daylength_amplitude_h: float = 3.5
    solar_noon_h: float = 12.75
    year: int = 2025

    @classmethod
    def for_variant(cls, variant: Variant) -> HouseholdConfig:
        """The default configuration of variant ``"a"``, ``"b"`` or ``"c"``."""
        if variant == "a":
            return cls()
        if variant == "c":
            return cls(
                variant="c",
                days=150,
                utc_offset_h=9,
                routines=(3, 6),
                trigger_fields=(1, 4),
                devices_per_routine=(1, 3),
                fire_probability=0.6,
                spontaneous_share=0.35,
                automations=3,
                time_noise_min=40.0,
                daylength_amplitude_h=2.0,
                solar_noon_h=11.6,
                year=2023,
            )
        return cls(
            variant="b",
            days=90,
            utc_offset_h=-5,
            routines=(2, 5),
            trigger_fields=(1, 3),
            devices_per_routine=(1, 3),
            fire_probability=0.7,
            automations=1,
            time_noise_min=25.0,
            daylength_amplitude_h=5.5,
            solar_noon_h=12.2,
            year=2024,
        )


@dataclass(slots=True)
class Household:
    """True routines and the event log (``events.jsonl`` element) they produced."""

    routines: list[Routine]
    events: list[dict[str, Any]]
    automation_entities: set[str] = field(default_factory=set)
    routine_sessions: int = 0  # sessions in which a routine happened
    spontaneous_sessions: int = 0  # sessions that follow no routine


def generate_household(seed: int, config: HouseholdConfig | None = None) -> Household:
    """One household, fully determined by ``seed`` and ``config``."""
    config = config or HouseholdConfig()
    rng = np.random.default_rng(seed)
    tz = timezone(timedelta(hours=config.utc_offset_h))
    start = datetime(config.year, 1, 1, tzinfo=tz) + timedelta(days=int(rng.integers(0, 365)))
    context_events = _sun_events(start, config) + _weather_events(start, config, rng)
    timeline = ContextTimeline(parse_events(context_events))
    slots = [(when, c) for when, c in timeline.sample(15.0) if when.hour >= 6]
    devices = _DEVICES[config.variant]
    drawn = _draw_routines(rng, config, devices, timeline, slots)
    log = _Log(devices)
    for when, event in sorted(context_events_as_pairs(context_events), key=lambda p: p[0]):
        log.raw.append((when, event))
    routine_starts = _fire_routines(rng, config, drawn, timeline, log)
    spontaneous = _spontaneous(rng, config, start, len(routine_starts), log)
    automated = _automations(rng, config, devices, start, log)
    routines = [d.routine for d in drawn]
    return Household(routines, log.sorted_events(), automated, len(routine_starts), spontaneous)


def context_events_as_pairs(events: list[dict[str, Any]]) -> list[tuple[datetime, dict[str, Any]]]:
    """(time, event) pairs of already-serialised events."""
    return [(datetime.fromisoformat(e["time"]), e) for e in events]


# ---------------------------------------------------------------------------------------------- world


def _sun_events(start: datetime, config: HouseholdConfig) -> list[dict[str, Any]]:
    """``sun.sun`` snapshots at each sunrise (above_horizon) and sunset (below_horizon)."""
    events = [_event(start, "sun.sun", "below_horizon", {}, "device")]
    for day in range(config.days):
        date = start + timedelta(days=day)
        doy = date.timetuple().tm_yday
        half = (12.0 + config.daylength_amplitude_h * math.sin(2 * math.pi * (doy - 80) / 365.0)) / 2.0
        for hour, state in (
            (config.solar_noon_h - half, "above_horizon"),
            (config.solar_noon_h + half, "below_horizon"),
        ):
            events.append(_event(date + timedelta(hours=hour), "sun.sun", state, {}, "device"))
    return events


def _weather_events(start: datetime, config: HouseholdConfig, rng: Rng) -> list[dict[str, Any]]:
    """Hourly ``weather.home`` snapshots (condition + temperature °C)."""
    hours = config.days * 24
    doy = np.array([(start + timedelta(hours=h)).timetuple().tm_yday for h in range(hours)])  # [hours]
    hour_of_day = (np.arange(hours) + start.hour) % 24  # [hours]
    if config.variant == "a":
        seasonal = 10.0 - 9.0 * np.cos(2 * np.pi * (doy - 15) / 365.0)  # [hours]
        daily = np.repeat(rng.normal(0.0, 3.0, config.days), 24)  # [hours]
        temps = seasonal + daily + 4.0 * np.cos(2 * np.pi * (hour_of_day - 15) / 24.0)
        half_days = rng.choice(3, size=config.days * 2, p=(0.4, 0.3, 0.3))  # sunny, cloudy, rainy
        conditions = np.repeat(half_days, 12)
    else:
        seasonal = 12.0 - 14.0 * np.cos(2 * np.pi * (doy - 20) / 365.0)
        anomaly = np.zeros(hours)
        for h in range(1, hours):
            anomaly[h] = 0.97 * anomaly[h - 1] + rng.normal(0.0, 0.8)
        temps = seasonal + anomaly + 5.0 * np.cos(2 * np.pi * (hour_of_day - 16) / 24.0)
        conditions = np.zeros(hours, dtype=int)
        for h in range(1, hours):
            stay = rng.random() < 0.92
            conditions[h] = conditions[h - 1] if stay else rng.choice(3, p=(0.35, 0.4, 0.25))
    names = ("sunny", "cloudy", "rainy")
    events = []
    for h in range(hours):
        condition = names[int(conditions[h])]
        if condition == "rainy" and temps[h] < 1.0:
            condition = "snowy"
        attributes = {"temperature": round(float(temps[h]), 1), "temperature_unit": "°C"}
        events.append(_event(start + timedelta(hours=h), "weather.home", condition, attributes, "device"))
    return events


def _event(
    when: datetime, entity_id: str, state: str, attributes: Mapping[str, Any], origin: str
) -> dict[str, Any]:
    return {
        "time": when.isoformat(timespec="seconds"),
        "entity_id": entity_id,
        "state": state,
        "attributes": dict(attributes),
        "origin": origin,
    }


# ------------------------------------------------------------------------------------------- settings


def random_settings(kind: str, rng: Rng) -> Settings:
    """A target state a user could choose for a device of this kind."""
    off = rng.random() < 0.15
    if kind in ("light_color", "light_dimmer"):
        if off:
            return {"state": "off"}
        settings: Settings = {"state": "on", "brightness": float(rng.integers(4, 52) * 5)}
        if kind == "light_color":
            settings["color_temp_kelvin"] = float(rng.choice(_KELVINS))
            settings["effect"] = str(rng.choice(("none", "colorloop")))
        return settings
    if kind == "climate":
        if off:
            return {"hvac_mode": "off"}
        return {
            "hvac_mode": str(rng.choice(("heat", "cool", "auto"))),
            "temperature": float(rng.integers(16, 31)),
            "fan_mode": str(rng.choice(("auto", "low", "medium", "high"))),
        }
    if kind in ("tv", "radio", "speaker"):
        if off:
            return {"state": "off"}
        settings = {"state": "on", "volume_level": float(rng.integers(5, 81)) / 100.0}
        if kind == "speaker":
            settings["sound_mode"] = str(rng.choice(_SOUND_MODES))
        else:
            settings["source"] = str(rng.choice(_SOURCES[kind]))
        return settings
    if kind == "alarm":
        return {"state": str(rng.choice(("armed_away", "armed_home", "armed_night", "disarmed")))}
    if kind == "cover":
        return (
            {"state": "closed"}
            if off
            else {"state": "open", "current_position": float(rng.integers(2, 21) * 5)}
        )
    if kind == "fan":
        return {"state": "off"} if off else {"state": "on", "percentage": float(rng.integers(1, 11) * 10)}
    return {"state": "off" if off else "on"}


_NOISE_SCALE = {
    "brightness": 6.0,
    "color_temp_kelvin": 60.0,
    "temperature": 0.4,
    "volume_level": 0.02,
    "percentage": 3.0,
    "current_position": 3.0,
}
_STEP = {"temperature": 0.5, "volume_level": 0.01, "color_temp_kelvin": 10.0}
_LIMITS = {
    "brightness": (1.0, 255.0),
    "color_temp_kelvin": (2000.0, 6500.0),
    "temperature": (7.0, 35.0),
    "volume_level": (0.0, 1.0),
    "percentage": (1.0, 100.0),
    "current_position": (1.0, 100.0),
}


def noisy_settings(settings: Settings, variant: Variant, rng: Rng) -> Settings:
    """The settings a user actually ends up with when following a routine (see module docstring)."""
    out: Settings = {}
    for name, value in settings.items():
        if isinstance(value, str) or name not in _NOISE_SCALE:
            out[name] = value
            continue
        scale = _NOISE_SCALE[name]
        if variant == "a":
            delta = rng.normal(0.0, scale)
        elif variant == "c":  # half exact, else one or two user steps off (a discrete noise model)
            delta = 0.0 if rng.random() < 0.5 else float(rng.choice((-2, -1, 1, 2))) * scale / 2.0
        else:
            delta = 0.0 if rng.random() < 0.65 else rng.laplace(0.0, scale * 1.2)
        step = _STEP.get(name, 1.0)
        low, high = _LIMITS[name]
        out[name] = round(min(max(round((float(value) + delta) / step) * step, low), high), 4)
    return out


# ------------------------------------------------------------------------------------------- routines


@dataclass(slots=True)
class _Drawn:
    routine: Routine
    preferred_h: float | None  # habitual local hour when time_of_day is a trigger
    days: list[list[datetime]]  # per day of the log, the slots whose context satisfies the triggers


def _draw_routines(
    rng: Rng,
    config: HouseholdConfig,
    devices: Mapping[str, str],
    timeline: ContextTimeline,
    slots: list[tuple[datetime, dict[str, str | float]]],
) -> list[_Drawn]:
    """Routines whose triggers come from a real context of the household (so they are satisfiable)."""
    wanted = int(rng.integers(config.routines[0], config.routines[1] + 1))
    drawn: list[_Drawn] = []
    for _ in range(200 * wanted):
        if len(drawn) == wanted:
            break
        when, context = slots[int(rng.integers(len(slots)))]
        k = int(rng.integers(config.trigger_fields[0], config.trigger_fields[1] + 1))
        names = [str(n) for n in rng.choice(TRIGGER_FIELDS, size=k, replace=False)]
        triggers = {n: str(context[n]) for n in sorted(names, key=TRIGGER_FIELDS.index)}
        n_devices = int(rng.integers(config.devices_per_routine[0], config.devices_per_routine[1] + 1))
        chosen = sorted(
            str(e) for e in rng.choice(sorted(devices), size=min(n_devices, len(devices)), replace=False)
        )
        actions = {e: random_settings(devices[e], rng) for e in chosen}
        candidate = _Drawn(Routine(triggers, actions), _preferred_hour(triggers, when), [])
        candidate.days = _firing_slots(candidate, slots, config)
        _close_over_habit(candidate, timeline)
        candidate.days = _firing_slots(candidate, slots, config)
        if sum(1 for d in candidate.days if d) >= config.min_days and not any(
            _conflict(candidate, d) for d in drawn
        ):
            drawn.append(candidate)
    return drawn


def _close_over_habit(drawn: _Drawn, timeline: ContextTimeline) -> None:
    """Add the fields that are fixed on every occasion the routine can happen (its *closure*).

    A routine done at 23:15 on cold nights is, in this household, also an after-sunset routine, and a
    before-sunrise routine of a household awake from 06:00 is a morning one: the data cannot say
    otherwise, so the truth says so (EdgeWisePersona's routines likewise state nearly every field).
    """
    if drawn.preferred_h is None:
        contexts = [timeline.context_at(when) for slots in drawn.days for when in slots]
    else:
        contexts = [
            timeline.context_at(slots[0].replace(hour=0, minute=0) + timedelta(hours=drawn.preferred_h))
            for slots in drawn.days
            if slots
        ]
    triggers = drawn.routine.triggers
    contexts = [c for c in contexts if all(c[k] == v for k, v in triggers.items())]
    if not contexts:
        return
    for name in TRIGGER_FIELDS:
        values = {str(c[name]) for c in contexts}
        if name not in triggers and len(values) == 1:
            triggers[name] = values.pop()
    drawn.routine.triggers = {k: triggers[k] for k in TRIGGER_FIELDS if k in triggers}


def _preferred_hour(triggers: Mapping[str, str], when: datetime) -> float | None:
    if "time_of_day" not in triggers:
        return None
    low, high = _TIME_WINDOWS[triggers["time_of_day"]]
    return min(max(when.hour + when.minute / 60.0, low), high)


def _firing_slots(
    drawn: _Drawn, slots: list[tuple[datetime, dict[str, str | float]]], config: HouseholdConfig
) -> list[list[datetime]]:
    by_day: dict[int, list[datetime]] = {}
    first = slots[0][0].date()
    for when, context in slots:
        if all(context[k] == v for k, v in drawn.routine.triggers.items()):
            by_day.setdefault((when.date() - first).days, []).append(when)
    return [by_day.get(d, []) for d in range(config.days + 1)]


def _conflict(a: _Drawn, b: _Drawn) -> bool:
    """Two routines conflict when they share a device and some context satisfies both."""
    if not set(a.routine.actions) & set(b.routine.actions):
        return False
    shared = set(a.routine.triggers) & set(b.routine.triggers)
    return all(a.routine.triggers[k] == b.routine.triggers[k] for k in shared)


# ---------------------------------------------------------------------------------------------- log


class _Log:
    """Device snapshots with carried-over state, serialised to ``events.jsonl`` events."""

    def __init__(self, devices: Mapping[str, str]) -> None:
        self.devices = devices
        self.raw: list[tuple[datetime, dict[str, Any]]] = []

    def act(self, when: datetime, entity_id: str, settings: Settings, origin: str) -> None:
        domain = domain_of(entity_id)
        state = str(settings.get("hvac_mode" if domain == "climate" else "state", "on"))
        attributes: dict[str, Any] = {"friendly_name": entity_id.split(".", 1)[1].replace("_", " ").title()}
        attributes |= {k: v for k, v in settings.items() if k not in ("state", "hvac_mode")}
        if domain == "light" and "brightness" in attributes:
            attributes["brightness"] = int(attributes["brightness"])
        self.raw.append((when, _event(when, entity_id, state, attributes, origin)))

    def sorted_events(self) -> list[dict[str, Any]]:
        return [e for _, e in sorted(self.raw, key=lambda p: p[0])]


def _fire_routines(
    rng: Rng, config: HouseholdConfig, drawn: list[_Drawn], timeline: ContextTimeline, log: _Log
) -> list[datetime]:
    """Each routine happens on ``fire_probability`` of the days its context occurs; returns session starts."""
    starts: list[datetime] = []
    for item in drawn:
        for day_slots in item.days:
            if not day_slots or rng.random() >= config.fire_probability:
                continue
            when = _fire_time(item, day_slots, config, rng)
            context = timeline.context_at(when)
            if when.hour < 6 or not all(context[k] == v for k, v in item.routine.triggers.items()):
                continue
            _session(rng, config, item.routine, when, log)
            starts.append(when)
    return starts


def _fire_time(item: _Drawn, day_slots: list[datetime], config: HouseholdConfig, rng: Rng) -> datetime:
    """Habitual time plus noise, or (without a time-of-day trigger) any moment the context holds."""
    base = day_slots[int(rng.integers(len(day_slots)))] + timedelta(minutes=float(rng.uniform(0, 15)))
    if item.preferred_h is None:
        return base
    if config.variant == "c":
        noise = rng.uniform(-config.time_noise_min, config.time_noise_min)
    elif config.variant == "a":
        noise = rng.normal(0.0, config.time_noise_min)
    else:
        noise = rng.laplace(0.0, config.time_noise_min)
    midnight = base.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(hours=item.preferred_h, minutes=float(noise))


def _session(rng: Rng, config: HouseholdConfig, routine: Routine, start: datetime, log: _Log) -> None:
    """The user's actions for one occurrence of a routine (structure differs per variant)."""
    if config.variant == "c":
        _session_c(rng, routine, start, log)
        return
    entities = list(routine.actions)
    rng.shuffle(entities)
    when = start
    for entity_id in entities:
        settings = noisy_settings(routine.actions[entity_id], config.variant, rng)
        if config.variant == "a":
            log.act(when, entity_id, settings, "user")
            when += timedelta(seconds=float(rng.uniform(10, 90)))
            continue
        if rng.random() < 0.1 and len(entities) > 1:
            continue  # forgot this one today
        if rng.random() < 0.3:  # first a wrong value, corrected a little later
            log.act(when, entity_id, random_settings(log.devices[entity_id], rng), "user")
            when += timedelta(seconds=float(rng.uniform(20, 120)))
        log.act(when, entity_id, settings, "user")
        when += timedelta(seconds=float(rng.uniform(30, 300)))
    if config.variant == "b" and rng.random() < 0.2:
        extra = str(rng.choice(sorted(set(log.devices) - set(routine.actions)) or sorted(log.devices)))
        log.act(when, extra, random_settings(log.devices[extra], rng), "user")


def _session_c(rng: Rng, routine: Routine, start: datetime, log: _Log) -> None:
    """Variant c: slow sessions (5 s-8 min between actions), 15 % of actions repeated a few minutes later,
    5 % of devices skipped, and in a quarter of sessions a second occupant touches some other device
    midway."""
    entities = list(routine.actions)
    rng.shuffle(entities)
    when = start
    for position, entity_id in enumerate(entities):
        if rng.random() < 0.05 and len(entities) > 1:
            continue
        settings = noisy_settings(routine.actions[entity_id], "c", rng)
        log.act(when, entity_id, settings, "user")
        if rng.random() < 0.15:
            log.act(when + timedelta(minutes=float(rng.uniform(1, 4))), entity_id, settings, "user")
        when += timedelta(seconds=float(rng.uniform(5, 480)))
        if position == 0 and rng.random() < 0.25:
            other = str(rng.choice(sorted(log.devices)))
            log.act(when, other, random_settings(log.devices[other], rng), "user")
            when += timedelta(seconds=float(rng.uniform(5, 60)))


def _spontaneous(rng: Rng, config: HouseholdConfig, start: datetime, routine_sessions: int, log: _Log) -> int:
    """Sessions that follow no routine: random devices, settings and moments (``spontaneous_share``)."""
    count = round(routine_sessions * config.spontaneous_share / (1.0 - config.spontaneous_share))
    devices = log.devices
    for _ in range(count):
        when = start + timedelta(days=int(rng.integers(config.days)), hours=float(rng.uniform(6.5, 23.5)))
        for entity_id in rng.choice(sorted(devices), size=int(rng.integers(1, 3)), replace=False):
            log.act(when, str(entity_id), random_settings(devices[str(entity_id)], rng), "user")
            when += timedelta(seconds=float(rng.uniform(10, 120)))
    return count


def _automations(
    rng: Rng, config: HouseholdConfig, devices: Mapping[str, str], start: datetime, log: _Log
) -> set[str]:
    """Existing automations: the same action every day at the same time (``origin: automation``)."""
    entities: set[str] = set()
    for _ in range(config.automations):
        entity_id = str(rng.choice(sorted(devices)))
        settings = random_settings(devices[entity_id], rng)
        hour = float(rng.uniform(5.0, 23.0))
        for day in range(config.days):
            log.act(start + timedelta(days=day, hours=hour), entity_id, settings, "automation")
        entities.add(entity_id)
    return entities


def write_households(
    directory: Any, seeds: range, config: HouseholdConfig, progress: Callable[[int], None] | None = None
) -> int:
    """Write ``routines.jsonl`` and ``events.jsonl`` (line-aligned, one household per line)."""
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    with (
        (path / "routines.jsonl").open("w", encoding="utf-8") as routines,
        (path / "events.jsonl").open("w", encoding="utf-8") as events,
    ):
        for i, seed in enumerate(seeds):
            household = generate_household(seed, config)
            routines.write(
                json.dumps([_truth_json(r) for r in household.routines], ensure_ascii=False) + "\n"
            )
            events.write(json.dumps(household.events, ensure_ascii=False) + "\n")
            if progress is not None:
                progress(i)
    return len(seeds)


def _truth_json(routine: Routine) -> dict[str, Any]:
    return {"triggers": routine.triggers, "actions": routine.actions}
