"""Trigger inference of the routine miner: which context fields a routine's occurrences require.

A field is a candidate trigger when one value covers most occurrences; it is kept unless a likelihood
ratio calls its agreement chance against the household's own context time (:class:`.BaseContexts`) at
the hours the routine is done, and ``time_of_day`` only when the routine is done at a habitual time.
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
            if base.rate(name, value, others, _hours_for(name, contexts)) < config.implied_rate:
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
    """
    value = triggers[name]
    others = {k: v for k, v in triggers.items() if k != name}
    rate = min(max(base.rate(name, value, others, _hours_for(name, contexts)), 1e-3), 1.0 - 1e-6)
    given = [c for c in contexts if all(c.get(k) == v for k, v in others.items())]
    hits = sum(1 for c in given if c.get(name) == value)
    misses = len(given) - hits
    eps = config.noise
    return hits * math.log((1.0 - eps * (1.0 - rate)) / rate) + misses * math.log(eps)


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
