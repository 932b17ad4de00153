"""Trigger inference of the routine miner: which context fields a routine's occurrences require.

A field is a candidate trigger when one value covers most occurrences; it is kept unless a likelihood
ratio calls its agreement chance against the household's own context time (:class:`.BaseContexts`) at
the times the routine is done, and ``time_of_day`` only when the routine is done at a habitual time.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence

from .context import UNKNOWN
from .routines import TRIGGER_FIELDS
from .routines_base import BaseContexts, MinerConfig


def infer_triggers(
    contexts: Sequence[Mapping[str, str | float]], base: BaseContexts, config: MinerConfig
) -> dict[str, str]:
    """The most specific trigger set the occurrences support.

    Every field whose value covers ``min_value_share`` of the occurrences is a candidate. One is dropped
    (weakest first) only when its agreement is plausibly chance: its likelihood ratio stays below
    ``min_evidence`` although the other fields leave it free (base rate below ``implied_rate``). A field
    the others imply (afternoon -> daylight in summer) is kept: it is what the occurrences show.
    """
    n = len(contexts)
    triggers: dict[str, str] = {}
    for name in TRIGGER_FIELDS:
        value, count = Counter(str(c.get(name, UNKNOWN)) for c in contexts).most_common(1)[0]
        if value != UNKNOWN and count >= config.min_value_share * n:
            triggers[name] = value
    if "time_of_day" in triggers and not at_habitual_moment(contexts, config):
        others = {k: v for k, v in triggers.items() if k != "time_of_day"}
        if base.rate("time_of_day", triggers["time_of_day"], others) < config.implied_rate:
            del triggers["time_of_day"]
    prior = math.log(config.trigger_prior / (1.0 - config.trigger_prior))
    while triggers:
        removable = {}
        for name, value in triggers.items():
            others = {k: v for k, v in triggers.items() if k != name}
            if _base_rate(base, name, value, others, contexts=contexts, config=config) < config.implied_rate:
                score = _log_likelihood_ratio(contexts, name, triggers, base, config) + prior
                if score <= config.min_evidence:
                    removable[name] = score
        if not removable:
            break
        del triggers[min(removable, key=lambda k: (removable[k], TRIGGER_FIELDS.index(k)))]
    return triggers


def at_habitual_moment(contexts: Sequence[Mapping[str, str | float]], config: MinerConfig) -> bool:
    """Whether the occurrences are done at a habitual moment (:func:`habit_spread` <= ``habit_spread_min``).

    A routine tied to a time of day is done at a habitual time: by the clock, or at a steady offset
    from sunrise or sunset (lights at dusk: its clock time follows the season and the DST change, its
    part of the day does not). One tied only to other context (rain, after sunset) is done whenever
    that context holds, so both its clock times and its sun offsets spread. True without clock
    times: nothing to judge by.
    """
    moment = habit_spread(contexts)
    return moment is None or moment <= config.habit_spread_min


def habit_spread(contexts: Sequence[Mapping[str, str | float]]) -> float | None:
    """How tightly occurrences keep one moment: the smallest median absolute deviation (minutes).

    Of the clock times, the clock times unwrapped around midnight (23:50 and 00:10 are 20 min apart),
    and the offsets from sunrise or sunset when every occurrence follows the same one. None without
    clock times.
    """
    clock = [float(c["clock_min"]) for c in contexts if "clock_min" in c]
    if not clock:
        return None
    night = [m + 1440.0 if m < 720.0 else m for m in clock]
    spreads = [spread(clock), spread(night)]
    offsets = [float(c["sun_offset_min"]) for c in contexts if "sun_offset_min" in c]
    if len({c.get("sun_event") for c in contexts}) == 1 and len(offsets) == len(contexts):
        spreads.append(spread(offsets))
    return min(spreads)


def _log_likelihood_ratio(
    contexts: Sequence[Mapping[str, str | float]],
    name: str,
    triggers: Mapping[str, str],
    base: BaseContexts,
    config: MinerConfig,
) -> float:
    """log P(occurrences | field required) - log P(occurrences | field incidental).

    Incidental: an occurrence shows the value at its base rate ``r``. Required: it shows it unless it
    is one of the ``noise`` share of look-alike occurrences, which show it at the base rate too, so
    P(value) = 1 - noise * (1 - r). A field that the context implies anyway (r near 1) scores ~0.
    Only the occurrences where the other trigger fields hold count: ``r`` is the base rate given them,
    and an occurrence that breaks another field is a look-alike already, no evidence on this one.
    At a habitual clock time ``r`` is each occurrence's own: the rate at its time of day
    (:func:`_rate_at`). A routine at 19:50 shows ``after_sunset`` by chance on most days of a season
    whose sunset is at 18:30-20:00 although the hours 18-20 are after sunset half the time.
    """
    value = triggers[name]
    others = {k: v for k, v in triggers.items() if k != name}
    given = [c for c in contexts if all(c.get(k) == v for k, v in others.items())]
    shown = [c for c in given if c.get(name) == value]
    if name == "time_of_day" or clock_moment(contexts, config.habit_spread_min) is None:
        rates = [base.rate(name, value, others, _hours_for(name, contexts))] * len(shown)
    else:
        rates = [
            _rate_at(base, name, value, others, context=c, contexts=contexts, config=config) for c in shown
        ]
    eps = config.noise
    hits = sum(math.log((1.0 - eps * (1.0 - r)) / r) for r in (min(max(r, 1e-3), 1.0 - 1e-6) for r in rates))
    return hits + (len(given) - len(shown)) * math.log(eps)


def clock_moment(
    contexts: Sequence[Mapping[str, str | float]], max_spread: float = math.inf
) -> tuple[float, float] | None:
    """Typical clock time (minutes, median) and its spread (MAD), unwrapped around midnight if tighter.

    None without clock times, or when the spread is above ``max_spread`` (no habitual clock time).
    """
    clock = [float(c["clock_min"]) for c in contexts if "clock_min" in c]
    if not clock:
        return None
    night = [m + 1440.0 if m < 720.0 else m for m in clock]
    values = night if spread(night) < spread(clock) else clock
    if spread(values) > max_spread:
        return None
    return statistics.median(values) % 1440.0, spread(values)


def _base_rate(
    base: BaseContexts,
    name: str,
    value: str,
    others: Mapping[str, str],
    *,
    contexts: Sequence[Mapping[str, str | float]],
    config: MinerConfig,
) -> float:
    """P(field = value | the other triggers) when the routine is done.

    At a habitual clock time (spread at most ``habit_spread_min``): in the context time of its moment,
    the median clock time +- its spread (at least the context time's own sampling step); otherwise at
    its usual hours (:func:`_hours_for`).
    """
    moment = None if name == "time_of_day" else clock_moment(contexts, config.habit_spread_min)
    if moment is None:
        return base.rate(name, value, others, _hours_for(name, contexts))
    centre, mad = moment
    width = config.base_step_min
    half = max(mad, width / 2.0)
    hits, total = base.rate_by_clock(name, value, others, width)
    bins = [
        b % len(total)
        for b in range(math.floor((centre - half) / width), math.floor((centre + half) / width) + 1)
    ]
    time = sum(total[b] for b in bins)
    return sum(hits[b] for b in bins) / time if time else 1.0


def _rate_at(
    base: BaseContexts,
    name: str,
    value: str,
    others: Mapping[str, str],
    *,
    context: Mapping[str, str | float],
    contexts: Sequence[Mapping[str, str | float]],
    config: MinerConfig,
) -> float:
    """P(field = value | the other triggers) at one occurrence's time of day: the context time of its
    clock bin (``base_step_min`` wide), or of the nearest bin that has any; at the routine's moment
    (:func:`_base_rate`) without a clock time."""
    if "clock_min" not in context:
        return _base_rate(base, name, value, others, contexts=contexts, config=config)
    hits, total = base.rate_by_clock(name, value, others, config.base_step_min)
    here = int(float(context["clock_min"]) // config.base_step_min)
    for distance in range(len(total) // 2 + 1):
        for b in {(here - distance) % len(total), (here + distance) % len(total)}:
            if total[b]:
                return hits[b] / total[b]
    return 1.0


def _hours_for(name: str, contexts: Sequence[Mapping[str, str | float]]) -> set[int] | None:
    """Hours whose context time is the base rate of field ``name``: the routine's usual hours.

    A field is incidental when it shows whatever value the context has at the times the user acts;
    only ``time_of_day``, which those hours would fix by themselves, is weighed over all active hours.
    """
    if name == "time_of_day":
        return None
    hours = {int(float(c["clock_min"]) // 60) for c in contexts if "clock_min" in c}
    return {(h + d) % 24 for h in hours for d in (-1, 0, 1)} if hours else None


def spread(values: Sequence[float]) -> float:
    """Median absolute deviation."""
    centre = statistics.median(values)
    return statistics.median(abs(v - centre) for v in values)
