"""The household's context time for the routine miner: base rates of trigger contexts, active hours.

A trigger field is only evidence of a routine when its value is rarer in the household's own context
time than among the routine's occurrences; :class:`BaseContexts` holds that context time (how often each
combination of :data:`.routines.TRIGGER_FIELDS` values occurs, on which days and local hours). Also
the miner's configuration, :class:`MinerConfig`, shared by the miner and its trigger inference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .behaviour import Behaviour
from .context import UNKNOWN
from .routines import TRIGGER_FIELDS

type ContextKey = tuple[str, ...]  # the TRIGGER_FIELDS values, in order


@dataclass(frozen=True, slots=True)
class BaseContexts:
    """The household's context time: how often each trigger context occurs, and on which days and hours."""

    weights: Mapping[ContextKey, float]
    days: Mapping[ContextKey, frozenset[tuple[int, int]]]  # (epoch day, local hour) it occurred at

    @classmethod
    def from_samples(
        cls,
        samples: Iterable[tuple[int, Mapping[str, str | float]]],
        hour_weights: Sequence[float] | None = None,
    ) -> BaseContexts:
        """From (epoch day, context) samples, e.g. a timeline every 15 min.

        ``hour_weights`` (24 values) weight each sample by the household's activity at its local hour
        (``clock_min``), so hours when nobody is ever active (the night's sleep) do not count as
        occasions a routine could have happened.
        """
        weights: dict[ContextKey, float] = {}
        days: dict[ContextKey, set[tuple[int, int]]] = {}
        for day, context in samples:
            hour = int(float(context.get("clock_min", 0.0)) // 60) % 24
            weight = 1.0 if hour_weights is None else hour_weights[hour]
            if weight <= 0.0:
                continue
            key = context_key(context)
            weights[key] = weights.get(key, 0.0) + weight
            days.setdefault(key, set()).add((day, hour))
        return cls(weights, {k: frozenset(v) for k, v in days.items()})

    def rate(
        self, field_name: str, value: str, given: Mapping[str, str], hours: set[int] | None = None
    ) -> float:
        """P(field = value | the ``given`` trigger fields hold) over the context time.

        With ``hours`` (local hours), only the context time within them counts, measured in the (day,
        hour) slots each context occurred in: how often the value holds *when the routine is done*.
        """
        index = TRIGGER_FIELDS.index(field_name)
        total = hits = 0.0
        for key, weight in self.weights.items():
            if matches_triggers(key, given):
                count = weight if hours is None else sum(1.0 for _, h in self.days[key] if h in hours)
                total += count
                hits += count if key[index] == value else 0
        return hits / total if total else 1.0

    def matching_days(self, triggers: Mapping[str, str], hours: set[int] | None = None) -> int:
        """Days on which the trigger context occurred at least once (within ``hours``, if given)."""
        days: set[int] = set()
        for key, key_days in self.days.items():
            if matches_triggers(key, triggers):
                days |= {day for day, hour in key_days if hours is None or hour in hours}
        return len(days)


def context_key(context: Mapping[str, str | float]) -> ContextKey:
    """The trigger-field values of a context (``unknown`` where absent)."""
    return tuple(str(context.get(name, UNKNOWN)) for name in TRIGGER_FIELDS)


def matches_triggers(key: ContextKey, triggers: Mapping[str, str]) -> bool:
    """Whether the context ``key`` satisfies every trigger field."""
    return all(key[TRIGGER_FIELDS.index(name)] == value for name, value in triggers.items())


def activity_by_hour(behaviours: Iterable[Behaviour]) -> list[float] | None:
    """1.0 for local hours in which the user is ever active, 0.0 for the others (24 values).

    An hour counts as active when it holds at least a tenth of an average hour's user behaviours. The
    mask is binary on purpose: weighting by the activity itself would let the routines being mined
    inflate the base rate of their own contexts. None without any ``clock_min``.
    """
    counts = [0.0] * 24
    for behaviour in behaviours:
        if behaviour.origin == "user" and "clock_min" in behaviour.context:
            counts[int(float(behaviour.context["clock_min"]) // 60) % 24] += 1.0
    total = sum(counts)
    if not total:
        return None
    return [1.0 if c >= 0.1 * total / 24.0 else 0.0 for c in counts]


@dataclass(frozen=True, slots=True)
class MinerConfig:
    """Parameters of :class:`RoutineMiner` (defaults are documented in docs/BENCHMARKS.md)."""

    session_gap_min: float = 30.0  # idle minutes that close a session
    min_support: int = 4  # occurrences a routine needs
    min_value_share: float = 0.8  # a trigger field's value must cover this share of occurrences
    noise: float = 0.05  # share of occurrences, where the other triggers hold, that break a real one
    trigger_prior: float = 0.5  # prior probability that a constant field is part of the trigger
    min_evidence: float = 0.0  # log-likelihood ratio (nats) a trigger field must reach beyond the prior
    implied_rate: float = 0.99  # a field this certain given the others is implied, never chance
    habit_spread_min: float = 45.0  # clock spread (MAD, minutes) of a routine tied to a time of day
    merge_share: float = 0.8  # same-trigger parts done together in this share of sessions are one routine
    scalar_split_fraction: float = 0.12  # scalar gap (share of range) that splits one pattern in two
    scalar_split_steps: float = 2.0  # ... or a gap of this many user-noticeable steps (SCALAR_TOLERANCE)
    min_confidence: float = 0.25  # a routine happens on at least this share of its context's days
    day_split_penalty: float = 1.5  # x log(days): weekday/weekend rates this far apart split a routine
    base_step_min: float = 15.0  # sampling step of the context timeline (base rates)
    max_routines: int = 25
