"""Routine miner: EdgeWisePersona routines (triggers -> actions) from user behaviours, by statistics.

Deterministic and explainable, no model: every routine comes with its support (sessions) and
confidence (share of the days its trigger context occurred on which it happened).

1. **Sessions.** User-initiated behaviours only (automations' own actions are not routines) are cut
   into sessions at idle gaps (``session_gap_min``). A session's *items* are the devices it touched,
   each with its final categorical settings (``("light.hall", (("effect","none"), ("state","on")))``).
2. **Action patterns.** Candidate action sets are the frequent *closed itemsets* of the sessions
   (intersections of sessions' item sets with support >= ``min_support``), so a routine is found even
   when users mix other actions into the same session. A pattern whose occurrences fall into groups
   with far-apart scalar settings (a gap of ``scalar_split_fraction`` of the setting's range, or of
   ``scalar_split_steps`` user-noticeable steps, whichever is smaller) is split.
3. **Triggers.** For each pattern, the most specific trigger set its occurrences show: a field is a
   candidate when one value covers at least ``min_value_share`` of the occurrences. A candidate is
   dropped when its agreement is plausibly chance: a likelihood ratio compares "the routine requires
   this value" against "the value is incidental" (it shows up as often as in the household's own
   context time given the other trigger fields: the base rate from the log's sun/weather timeline).
   A routine done on one kind of day (weekend, weekday) and on the other far less often than
   ``min_confidence`` is the routine of its kind of day when two day rates beat one by a binomial
   likelihood ratio (penalty ``day_split_penalty * log(days)``); its other sessions are left over.
   When a pattern's routine keeps no habitual moment, the occurrences around its densest clock time
   are tried as a routine of their own (an alarm disarmed at 17:20 among disarms at any hour): taken
   when they fall there far more often than at any moment their context held (:func:`_at_one_moment`).
   When a routine's occurrences keep a habitual moment but fall into two groups at two moments of the
   day with an empty gap between them beyond chance, they are two routines of the same actions under
   different contexts: each group is described on its own (:func:`_two_moments`).
4. **Settings.** Categorical settings by mode, scalar ones by median, over the occurrences that match
   the triggers. Occurrences with a scalar setting more than ``scalar_split_steps`` user steps from
   where the pattern's values concentrate are another use of the device (not the routine's target):
   left out before the triggers are inferred. Confidence: the share of the days the trigger context
   held, in the hours the routine usually happens, on which it happened.
5. **Selection.** Greedy cover: repeatedly take the pattern that explains the most not-yet-explained
   (session, device) actions, while it still has ``min_support`` fresh occurrences. A pattern of more
   devices under a strictly narrower context is taken first when its added devices are done with the
   others in at least ``merge_share`` of their sessions in that context: the smaller pattern's sessions
   are then a mixture of two routines. A later pattern that does part of a chosen routine's actions in
   (a part of) its context is that routine done in part, unless it sets a shared device far from the
   routine's setting (a scalar more than ``scalar_split_steps`` user steps away, step 4's rule): then
   it is another use of the device, a routine of its own.
6. **Parts.** Same-context routines are checked by how often their parts share a session: a chosen
   routine whose two parts were each done together with the other in less than ``merge_share`` of their
   sessions where the other was needed (not already in its target state) is split into two routines
   (the sessions where it was not needed are occurrences of the routine); two chosen routines with the
   same triggers and disjoint devices that were done together in at least that share of their
   sessions, or far more often than independence explains (binomial likelihood ratio against the
   other's confidence, BIC penalty), are joined into one.
7. **Devices already set.** A device already in its target state leaves no event, so a routine's
   pattern can lack a device that only some of its occurrences set: a device set on at least half of
   the occurrences that needed it, far more often than in the routine's context without it, is added
   (:mod:`.routines_devices`). Sessions that did part of the routine's actions, and the sessions of
   another routine that sets the device at another moment of the day, are no background for it.
8. **One routine per routine.** Two routines that step 7 completed to the same actions, with nested
   triggers (parts of one routine, each seen in the sessions where the other part was already set),
   are joined and described again on the sessions of both (:func:`distinct`). Two routines the
   greedy cover took as the same action pattern were told apart by step 3 and stay apart, unless
   one is at a habitual moment and the other is not and the moment is no more than chance
   (:func:`_apart`): then they are one routine, as before.
9. **Order.** Habitual routines first; those done at no habitual moment (neither clock time nor sun
   offset, and no weather reaction: done more often under its weather or temperature trigger than
   without it, two day rates against one, BIC penalty) and fragments of a bigger routine after
   (:mod:`.routines_rank`).
10. **Second tier.** Routines done on fewer than ``min_confidence`` of their context's days, found
   once the routines above explain what they can (:func:`second_tier`), follow all of them, marked
   ``extras["tier"] = 2`` (lower confidence): each is done on its context's days far more often than
   its actions are done on all the other days.

The context time (base rates, active hours) and the configuration are :mod:`.routines_base`, trigger
inference (step 3) is :mod:`.routines_triggers`.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from .behaviour import Behaviour
from .context import UNKNOWN
from .routines import SCALAR_RANGES, TRIGGER_FIELDS, Routine, Settings, is_scalar
from .routines_base import BaseContexts, MinerConfig, activity_by_hour, matches_triggers
from .routines_devices import (
    Item,
    SessionLog,
    binomial_gain,
    item_of,
    needed,
    partial_devices,
    within_steps,
)
from .routines_events import ContextTimeline, Event, behaviours_from_events, split_sessions
from .routines_metrics import SCALAR_TOLERANCE, actions_equal
from .routines_rank import REACTIVE_FIELDS, fragment, ranked
from .routines_triggers import at_habitual_moment, habit_spread, infer_triggers, spread

__all__ = [
    "BaseContexts",
    "MinerConfig",
    "Occurrence",
    "RoutineMiner",
    "closed_itemsets",
    "distinct",
    "infer_triggers",
    "merge_parts",
    "mine_event_log",
    "second_tier",
    "split_by_scalars",
    "split_joint",
]

# Precision a learned scalar is rounded to (settings a user actually picks).
_SCALAR_STEP: dict[str, float] = {"temperature": 0.5, "volume_level": 0.01}


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One session in which an action pattern happened."""

    context: Mapping[str, str | float]  # context when the pattern's first device was touched
    day: int  # epoch day of that moment
    settings: Mapping[str, Settings]  # entity -> final settings in the session
    session: int


@dataclass(slots=True)
class _Candidate:
    items: frozenset[Item]
    occurrences: list[Occurrence]
    routine: Routine = field(default_factory=lambda: Routine({}, {}))


class RoutineMiner:
    """Mine EdgeWisePersona routines from behaviours (``fit``) and return them (``predict``)."""

    def __init__(self, config: MinerConfig | None = None) -> None:
        self.config = config or MinerConfig()
        self.routines_: list[Routine] = []

    def fit(self, behaviours: Sequence[Behaviour], base: BaseContexts | None = None) -> Self:
        """Learn routines from ``behaviours`` (only ``origin == "user"`` ones are used).

        ``base`` is the household's context time (see :class:`BaseContexts`); without it, the contexts
        of the user's own sessions stand in for it.
        """
        user = [b for b in behaviours if b.origin == "user" and b.settings]
        sessions = split_sessions(user, self.config.session_gap_min)
        if base is None:
            base = BaseContexts.from_samples((_day(s[0]), s[0].context) for s in sessions)
        transactions = [_transaction(s) for s in sessions]
        patterns = self._patterns(sessions, transactions)
        log = SessionLog.build([b for b in behaviours if b.settings], sessions)
        routines = _select(patterns, base, log, self.config)
        completed = [
            _complete(c, log, self.config, _elsewhere(routines, k, self.config))
            for k, c in enumerate(routines)
        ]
        chosen = distinct(completed, base, self.config, [c.items for c in routines])
        self.routines_ = self._ranked(chosen, base, log)
        for routine in self._ranked(second_tier(patterns, chosen, base, self.config), base, log):
            routine.extras["tier"] = 2
            self.routines_.append(routine)
        return self

    def _ranked(self, candidates: Sequence[_Candidate], base: BaseContexts, log: SessionLog) -> list[Routine]:
        """The candidates' routines in the order to present them (step 9, :func:`.routines_rank.ranked`)."""
        contexts = [[o.context for o in c.occurrences] for c in candidates]
        reactions = [_reacts(c, base, log) for c in candidates]
        order = ranked([c.routine for c in candidates], contexts, self.config, reactions)
        return [candidates[k].routine for k in order]

    def predict(self) -> list[Routine]:
        """The routines found by :meth:`fit`, habitual ones first (step 9), the second tier last (step 10)."""
        return list(self.routines_)

    def _patterns(
        self, sessions: list[list[Behaviour]], transactions: list[dict[Item, int]]
    ) -> list[tuple[frozenset[Item], list[Occurrence]]]:
        """Frequent closed action patterns with their occurrences, split where scalar settings differ."""
        item_sets = [frozenset(t) for t in transactions]
        out: list[tuple[frozenset[Item], list[Occurrence]]] = []
        for items in closed_itemsets(item_sets, self.config.min_support):
            occurrences = [
                _occurrence(sessions[i], transactions[i], items, i)
                for i, s in enumerate(item_sets)
                if items <= s
            ]
            out.extend((items, group) for group in split_by_scalars(occurrences, self.config))
        return out


def _day(behaviour: Behaviour) -> int:
    return math.floor(behaviour.time / 24.0)


def _item(behaviour: Behaviour) -> Item:
    return item_of(behaviour.device, behaviour.settings)


def _transaction(session: list[Behaviour]) -> dict[Item, int]:
    """Item -> index (in the session) of the device's last behaviour; one item per device."""
    last: dict[str, int] = {b.device: i for i, b in enumerate(session)}
    return {_item(session[i]): i for i in last.values()}


def _occurrence(
    session: list[Behaviour], transaction: dict[Item, int], items: frozenset[Item], i: int
) -> Occurrence:
    devices = {device for device, _ in items}
    first = next(b for b in session if b.device in devices)
    settings = {
        session[transaction[item]].device: dict(session[transaction[item]].settings) for item in items
    }
    return Occurrence(first.context, _day(first), settings, i)


def closed_itemsets(transactions: Sequence[frozenset[Item]], min_support: int) -> list[frozenset[Item]]:
    """Frequent closed itemsets: intersections of transactions contained in >= ``min_support`` of them."""
    frequent_items = {
        item for item, n in Counter(i for t in transactions for i in t).items() if n >= min_support
    }
    reduced = Counter(frozenset(t & frequent_items) for t in transactions)
    reduced.pop(frozenset(), None)
    closed: set[frozenset[Item]] = set(reduced)
    frontier = set(closed)
    while frontier:
        new: set[frozenset[Item]] = set()
        for x in frontier:
            for t in reduced:
                meet = x & t
                if meet and meet not in closed:
                    new.add(meet)
        closed |= new
        frontier = new
    support = {c: sum(n for t, n in reduced.items() if c <= t) for c in closed}
    return sorted((c for c in closed if support[c] >= min_support), key=lambda c: (-len(c), sorted(c)))


def split_by_scalars(occurrences: list[Occurrence], config: MinerConfig) -> list[list[Occurrence]]:
    """Split occurrences at the widest gap of a scalar setting when both sides are frequent."""
    best: tuple[float, float, str, str] | None = None  # (relative gap, cut value, entity, setting)
    for entity, name in sorted({(e, n) for o in occurrences for e, s in o.settings.items() for n in s}):
        values = sorted(
            float(v) for o in occurrences if is_scalar(name, v := o.settings[entity].get(name, ""))
        )
        low, high = SCALAR_RANGES.get(name, (min(values, default=0.0), max(values, default=1.0)))
        least = min(config.scalar_split_fraction, config.scalar_split_steps * _user_step(name, high - low))
        for k in range(config.min_support, len(values) - config.min_support + 1):
            gap = (values[k] - values[k - 1]) / max(high - low, 1e-9)
            if gap >= least and (best is None or gap > best[0]):
                best = (gap, (values[k] + values[k - 1]) / 2.0, entity, name)
    if best is None:
        return [occurrences]
    _, cut, entity, name = best
    below = [o for o in occurrences if float(o.settings[entity].get(name, cut)) < cut]
    above = [o for o in occurrences if float(o.settings[entity].get(name, cut)) >= cut]
    return split_by_scalars(below, config) + split_by_scalars(above, config)


def _user_step(name: str, width: float) -> float:
    """One user-noticeable step of a scalar setting, as a share of its range."""
    return SCALAR_TOLERANCE.get(name, 0.0) / max(width, 1e-9) if name in SCALAR_TOLERANCE else 1.0


def _peel_by_context(
    items: frozenset[Item], occurrences: list[Occurrence], base: BaseContexts, config: MinerConfig
) -> list[_Candidate]:
    """Routines sharing one action pattern under different contexts, most enriched context first.

    Seeds each routine with the context value most over-represented among the remaining occurrences
    (``hits * log(share / base rate)``), infers its triggers there, and repeats on what is left. A value
    seeds only when its over-representation is beyond chance (binomial likelihood ratio against the
    base rate above the BIC penalty ``0.5 * log(n)``): the triggers are then inferred on the occurrences
    that show it, all of which do by construction, so a value as common among the occurrences as in the
    household's context time (an alarm armed at any hour, slightly more often on mild days) would become
    a trigger of a routine that has none.
    """
    out: list[_Candidate] = []
    remaining = occurrences
    while len(remaining) >= config.min_support:
        seed = _most_enriched(remaining, base)
        subset = remaining if seed is None else [o for o in remaining if o.context.get(seed[0]) == seed[1]]
        candidate = _describe(items, subset, base, config)
        if candidate is not None:
            candidate = _one_of_two_moments(items, candidate, base, config) or candidate
        if candidate is None or not at_habitual_moment([o.context for o in candidate.occurrences], config):
            candidate = _at_one_moment(items, remaining, base, config) or candidate
        if candidate is None:
            break
        candidate = _by_kind_of_day(candidate, base, config)
        out.append(candidate)
        used = {o.session for o in candidate.occurrences}
        remaining = [o for o in remaining if o.session not in used]
    return out


def _one_of_two_moments(
    items: frozenset[Item], candidate: _Candidate, base: BaseContexts, config: MinerConfig
) -> _Candidate | None:
    """The routine at one of two habitual moments that ``candidate`` mixes, the one done more often.

    The same actions can be two routines at two moments of the day under different contexts (the
    blinds closed at 19:40 on warm evenings and at 21:40 on weekend nights): described as one, the
    occurrences keep a habitual moment (the bigger routine's) while the fields that tell the two apart
    cover neither ``min_value_share`` of them, so both routines lose them. When the occurrences fall
    into two groups at two moments (:func:`_two_moments`), each group is described on its own; the
    other stays for the next routine of the pattern. None when the candidate is at no habitual moment
    (a routine done at any moment its context holds: :func:`_at_one_moment`) or shows one moment.
    """
    if not at_habitual_moment([o.context for o in candidate.occurrences], config):
        return None
    groups = _two_moments(candidate.occurrences, config)
    if groups is None:
        return None
    described = [d for d in (_describe(items, g, base, config) for g in groups) if d is not None]
    return max(described, key=lambda d: len(d.occurrences), default=None)


def _two_moments(
    occurrences: Sequence[Occurrence], config: MinerConfig
) -> tuple[list[Occurrence], list[Occurrence]] | None:
    """The occurrences split at a gap between two habitual moments, or None when they keep one.

    A moment is the clock time, or the offset from sunrise or sunset when the occurrences follow the
    sun (their tightest spread, :func:`.routines_triggers.habit_spread`: a routine at dusk jumps an hour
    on the clock at the DST change, not on the sun). The moments, cut at the widest gap that leaves
    ``min_support`` occurrences on each side, are two when each side is habitual (spread at most
    ``habit_spread_min``), their typical moments are further apart than ``session_gap_min`` plus both
    spreads (two routines at other moments of the day, as in :func:`_elsewhere`), and the empty gap is
    beyond chance for one routine done at any moment of the span the occurrences cover: ``n`` moments
    spread evenly over a span ``W`` leave some gap of width ``g`` with probability at most
    ``(n - 1) * (1 - g / W) ** (n - 1)``, which must be below ``1 / n`` (the BIC penalty ``log n`` of
    the cut and the second moment's rate).
    """
    n = len(occurrences)
    if n < 2 * config.min_support or any("clock_min" not in o.context for o in occurrences):
        return None
    contexts = [o.context for o in occurrences]
    offsets = [float(c["sun_offset_min"]) for c in contexts if "sun_offset_min" in c]
    by_sun = len({c.get("sun_event") for c in contexts}) == 1 and len(offsets) == n
    if by_sun and habit_spread(contexts) == spread(offsets):
        timed = sorted((offset % 1440.0, k) for k, offset in enumerate(offsets))
    else:
        timed = sorted((float(c["clock_min"]) % 1440.0, k) for k, c in enumerate(contexts))
    widest = max(range(n), key=lambda i: ((timed[(i + 1) % n][0] - timed[i][0]) % 1440.0, i))
    start = (widest + 1) % n  # the widest gap on the clock face is where the two ends meet
    ring = timed[start:] + [(m + 1440.0, k) for m, k in timed[:start]]
    best: tuple[float, int] | None = None  # (gap, cut)
    for cut in range(config.min_support, n - config.min_support + 1):
        first, second = [m for m, _ in ring[:cut]], [m for m, _ in ring[cut:]]
        spreads = spread(first), spread(second)
        if max(spreads) > config.habit_spread_min:
            continue
        if statistics.median(second) - statistics.median(first) <= config.session_gap_min + sum(spreads):
            continue
        gap = ring[cut][0] - ring[cut - 1][0]
        if best is None or gap > best[0]:
            best = (gap, cut)
    if best is None:
        return None
    width = ring[-1][0] - ring[0][0]
    chance = math.log(n - 1) + (n - 1) * math.log(max(1.0 - best[0] / width, 1e-12))
    if chance >= -math.log(n):
        return None
    earlier = {k for _, k in ring[: best[1]]}
    return (
        [o for k, o in enumerate(occurrences) if k in earlier],
        [o for k, o in enumerate(occurrences) if k not in earlier],
    )


def _at_one_moment(
    items: frozenset[Item], occurrences: Sequence[Occurrence], base: BaseContexts, config: MinerConfig
) -> _Candidate | None:
    """The routine done at one habitual moment, hidden among occurrences of its actions at any hour.

    The same actions can be a routine at a habitual time and also happen at any hour for other reasons
    (the alarm disarmed at 17:20 on cloudy weekday evenings, and again hours after every routine that
    arms it), so the occurrences as a whole keep no moment and ``time_of_day`` is lost. The occurrences
    within ``habit_spread_min`` of the centre of their densest clock window (``2 * habit_spread_min``
    wide) are described as a routine; it is taken when it is done at a habitual moment with
    ``time_of_day`` among its triggers, and when its context's occurrences fall into that window more
    often than if they happened at any moment the context held that day (each occurrence's chance: the
    share of its day's context hours within the window). Binomial likelihood ratio against that rate,
    above the BIC penalty of two parameters (the window's centre and its rate, ``log(n)``) plus the log
    of the number of windows the active hours hold (the window is the best of those).
    """
    centre = _window_centre(occurrences, config)
    if centre is None:
        return None
    cluster = [o for o in occurrences if _in_window(o, centre, config)]
    if len(cluster) < config.min_support or len(cluster) == len(occurrences):
        return None
    moment = _describe(items, cluster, base, config)
    if moment is None or "time_of_day" not in moment.routine.triggers:
        return None
    if not at_habitual_moment([o.context for o in moment.occurrences], config):
        return None
    context = {k: v for k, v in moment.routine.triggers.items() if k != "time_of_day"}
    among = [o for o in occurrences if all(o.context.get(k) == v for k, v in context.items())]
    return moment if _beyond_chance(among, context, centre, base, config) else None


def _window_centre(occurrences: Sequence[Occurrence], config: MinerConfig) -> float | None:
    """Centre (clock minutes) of the occurrences' densest clock window ``2 * habit_spread_min`` wide."""
    clock = sorted(float(o.context["clock_min"]) for o in occurrences if "clock_min" in o.context)
    if len(clock) < config.min_support:
        return None
    width = 2.0 * config.habit_spread_min
    return float(statistics.median(_densest(clock + [c + 1440.0 for c in clock], width)) % 1440.0)


def _in_window(occurrence: Occurrence, centre: float, config: MinerConfig) -> bool:
    """Whether the occurrence is within ``habit_spread_min`` of the clock time ``centre``."""
    apart = abs(float(occurrence.context.get("clock_min", centre + 720.0)) - centre) % 1440.0
    return min(apart, 1440.0 - apart) <= config.habit_spread_min + 1e-9


def _beyond_chance(
    among: Sequence[Occurrence],
    context: Mapping[str, str],
    centre: float,
    base: BaseContexts,
    config: MinerConfig,
) -> bool:
    """Whether ``among`` (occurrences in ``context``) fall into the window at ``centre`` beyond chance.

    Chance for an occurrence: the share of the hours ``context`` held on its day that lie within
    ``habit_spread_min`` of ``centre`` (done at any moment its context held). Binomial likelihood ratio
    against that rate, above the BIC penalty of two parameters (the window's centre and its rate,
    ``log(n)``) plus the log of the number of windows the active hours hold (the window is the best of
    those).
    """
    if not among:
        return False
    held: dict[int, set[int]] = {}  # epoch day -> local hours the context held
    for key, key_days in base.days.items():
        if matches_triggers(key, context):
            for day, hour in key_days:
                held.setdefault(day, set()).add(hour)
    half = config.habit_spread_min
    rate = sum(_window_share(held.get(o.day, set()), centre, half) for o in among) / len(among)
    active = {hour for key_days in base.days.values() for _, hour in key_days}
    windows = max(1.0, 60.0 * len(active) / (2.0 * half))
    gain = binomial_gain(sum(1 for o in among if _in_window(o, centre, config)), len(among), rate)
    return gain > math.log(len(among)) + math.log(windows)


def _window_share(hours: set[int], centre: float, half: float) -> float:
    """Share of the local ``hours`` (whole hours) within ``half`` minutes of the clock time ``centre``."""
    if not hours:
        return 0.0
    covered = 0.0
    for hour in hours:
        for shift in (-1440.0, 0.0, 1440.0):
            start, end = hour * 60.0 + shift, hour * 60.0 + 60.0 + shift
            covered += max(0.0, min(end, centre + half) - max(start, centre - half))
    return covered / (60.0 * len(hours))


def _by_kind_of_day(candidate: _Candidate, base: BaseContexts, config: MinerConfig) -> _Candidate:
    """The routine on the kind of day it is done on, when its other days' sessions are no routine.

    Two routines of one action pattern, e.g. the lamp on weekend evenings and a few lamp sessions on
    weekday evenings (another routine's slip, a spontaneous session), are described as one when most,
    but fewer than ``min_value_share``, of the occurrences fall on weekends. Test on the days the
    routine's context held at its usual hours: does the routine happen at one rate on weekdays and
    weekends, or at two? Two rates are taken when their binomial log-likelihood ratio beats
    ``day_split_penalty * log(days)`` (three times the BIC penalty of the one extra rate; the gain is
    tested for every routine) and the other kind of day's rate is below ``min_confidence`` (it is no
    routine by the miner's own rule). The routine is then described on the occurrences of its kind of
    day (at least ``min_support``, ``day_of_week`` among the inferred triggers); the others stay for
    the next routine of the pattern.

    Only ``day_of_week`` is tested: it is the one field constant over a whole day, so the days of each
    value are exact. Weather, temperature and sun phase change within the routine's hours, so a day
    counts for both values and the rates are biased (tried on the development seeds: spurious
    splits on every variant).
    """
    occurrences = candidate.occurrences
    triggers = candidate.routine.triggers
    name = "day_of_week"
    counts = Counter(str(o.context.get(name, UNKNOWN)) for o in occurrences)
    counts.pop(UNKNOWN, None)
    if name in triggers or not counts:
        return candidate
    value, hits = counts.most_common(1)[0]
    if hits < config.min_support or 2 * hits < len(occurrences) or hits == len(occurrences):
        return candidate
    days, other_days = _days_by_value(base, triggers, _usual_hours(occurrences), name, value)
    kept = [o for o in occurrences if str(o.context.get(name, UNKNOWN)) == value]
    done = len({o.day for o in kept})
    other_done = len({o.day for o in occurrences if str(o.context.get(name, UNKNOWN)) != value})
    if not days or not other_days or other_done >= config.min_confidence * len(other_days):
        return candidate
    gain = _two_rates_gain(done, len(days), other_done, len(other_days))
    if gain <= config.day_split_penalty * math.log(len(days) + len(other_days)):
        return candidate
    narrowed = _describe(candidate.items, kept, base, config)
    if narrowed is None or narrowed.routine.triggers.get(name) != value:
        return candidate
    return narrowed


def _reacts(candidate: _Candidate, base: BaseContexts, log: SessionLog) -> bool:
    """Whether a weather or outdoor-temperature trigger of the routine is a reaction (step 9).

    A reaction is done more often when its weather holds than when it does not: sessions doing the
    routine's actions in its other triggers' context, at its usual hours, on the days mostly with the
    value against the other days, two rates beating one by a binomial likelihood ratio above the BIC
    penalty ``0.5 * log(days)``. An alarm armed at any hour on (mostly) cold days, as often on the
    milder ones, is no reaction to the cold: its value only holds on most of the days.
    """
    triggers = candidate.routine.triggers
    hours = _usual_hours(candidate.occurrences)
    for name in (n for n in REACTIVE_FIELDS if n in triggers):
        value = triggers[name]
        others = {k: v for k, v in triggers.items() if k != name}
        days, other_days = _days_by_value(base, others, hours, name, value)
        if not days or not other_days:
            return True  # never without its value: nothing tells a reaction from a coincidence
        done: set[int] = set()
        other_done: set[int] = set()
        for s in log.in_context(others, hours):
            if candidate.items <= log.items[s]:
                (done if str(log.contexts[s].get(name)) == value else other_done).add(log.days[s])
        hits, other_hits = min(len(done), len(days)), min(len(other_done), len(other_days))
        gain = _two_rates_gain(hits, len(days), other_hits, len(other_days))
        if hits / len(days) > other_hits / len(other_days) and gain > 0.5 * math.log(
            len(days) + len(other_days)
        ):
            return True
    return False


def _days_by_value(
    base: BaseContexts, triggers: Mapping[str, str], hours: set[int] | None, name: str, value: str
) -> tuple[set[int], set[int]]:
    """Days the ``triggers`` context held within ``hours``: mostly with ``name`` = ``value``, and the rest."""
    index = TRIGGER_FIELDS.index(name)
    with_value: Counter[int] = Counter()
    held: Counter[int] = Counter()
    for key, key_days in base.days.items():
        if matches_triggers(key, triggers) and key[index] != UNKNOWN:
            for day, hour in key_days:
                if hours is None or hour in hours:
                    held[day] += 1
                    with_value[day] += key[index] == value
    days = {day for day, total in held.items() if 2 * with_value[day] >= total}
    return days, set(held) - days


def _two_rates_gain(hits: int, n: int, other_hits: int, other_n: int) -> float:
    """Log-likelihood ratio of two binomial rates (``hits / n``, ``other_hits / other_n``) against one."""

    def log_likelihood(k: int, m: int, p: float) -> float:
        p = min(max(p, 1e-9), 1.0 - 1e-9)
        return k * math.log(p) + (m - k) * math.log(1.0 - p)

    hits, other_hits = min(hits, n), min(other_hits, other_n)
    pooled = (hits + other_hits) / (n + other_n)
    return (
        log_likelihood(hits, n, hits / n)
        + log_likelihood(other_hits, other_n, other_hits / other_n)
        - log_likelihood(hits, n, pooled)
        - log_likelihood(other_hits, other_n, pooled)
    )


def _most_enriched(occurrences: Sequence[Occurrence], base: BaseContexts) -> tuple[str, str] | None:
    best: tuple[float, str, str] | None = None
    for name in TRIGGER_FIELDS:
        counts = Counter(str(o.context.get(name, UNKNOWN)) for o in occurrences)
        counts.pop(UNKNOWN, None)
        if not counts:
            continue
        value, hits = counts.most_common(1)[0]
        rate = max(base.rate(name, value, {}), 1e-3)
        score = hits * math.log(hits / len(occurrences) / rate)
        if binomial_gain(hits, len(occurrences), rate) <= 0.5 * math.log(len(occurrences)):
            continue
        if score > 0.0 and (best is None or score > best[0]):
            best = (score, name, value)
    return None if best is None else (best[1], best[2])


def _describe(
    items: frozenset[Item], occurrences: list[Occurrence], base: BaseContexts, config: MinerConfig
) -> _Candidate | None:
    """Triggers, settings and statistics of one action pattern (None if too rare once triggered)."""
    if len(occurrences) < config.min_support:
        return None
    core = _near_target(occurrences, config.scalar_split_steps)
    if len(core) >= config.min_support:
        occurrences = core
    triggers = infer_triggers([o.context for o in occurrences], base, config)
    matching = [o for o in occurrences if all(o.context.get(k) == v for k, v in triggers.items())]
    if len(matching) < config.min_support:
        return None
    days = {o.day for o in matching}
    confidence = min(1.0, len(days) / max(base.matching_days(triggers, _usual_hours(matching)), 1))
    if confidence < config.min_confidence:
        return None
    routine = Routine(
        triggers=triggers,
        actions={entity: _settings(matching, entity) for entity, _ in sorted(items)},
        support=len(matching),
        confidence=confidence,
    )
    _timing(routine, matching)
    return _Candidate(items, matching, routine)


def _near_target(occurrences: list[Occurrence], steps: float) -> list[Occurrence]:
    """The occurrences whose scalar settings all lie within ``steps`` user steps of the routine's target.

    A routine's settings are one target plus noise; a session that set the device far from it (the
    lamp switched on at any brightness some time before the bedtime routine switches it off, a
    spontaneous session) is another use of the device with the same categorical settings, and its
    context is not the routine's. The target of a setting is where its values concentrate: the median
    of the densest window ``2 * steps`` user steps wide (a plain median would follow the scattered
    values when they outnumber the routine's). The steps are ``scalar_split_steps``, the gap that
    already splits a pattern in two (step 2), in units of :data:`.routines_metrics.SCALAR_TOLERANCE`.
    """
    target: dict[tuple[str, str], float] = {}
    for entity, name in sorted({(e, n) for o in occurrences for e, s in o.settings.items() for n in s}):
        values = sorted(
            float(v)
            for o in occurrences
            if isinstance(v := o.settings.get(entity, {}).get(name), int | float)
        )
        if name in SCALAR_TOLERANCE and values:
            target[(entity, name)] = statistics.median(_densest(values, 2.0 * steps * SCALAR_TOLERANCE[name]))

    def near(occurrence: Occurrence) -> bool:
        for (entity, name), value in target.items():
            setting = occurrence.settings.get(entity, {}).get(name)
            if isinstance(setting, int | float) and not within_steps(name, setting, value, steps):
                return False
        return True

    return [o for o in occurrences if near(o)]


def _densest(values: list[float], width: float) -> list[float]:
    """The most values (sorted) within ``width`` of each other, the lowest such window on a tie."""
    best = (0, 0)  # (start, count)
    end = 0
    for start in range(len(values)):
        while end < len(values) and values[end] - values[start] <= width + 1e-9:
            end += 1
        if end - start > best[1]:
            best = (start, end - start)
    return values[best[0] : best[0] + best[1]]


def _complete(
    candidate: _Candidate, log: SessionLog, config: MinerConfig, elsewhere: Mapping[str, set[int]]
) -> _Candidate:
    """The routine with the devices its occurrences show only in part (step 7, :mod:`.routines_devices`).

    ``elsewhere``: per device, other routines' sessions that are no background for it (:func:`_elsewhere`).
    """
    routine, matching = candidate.routine, candidate.occurrences
    sessions = {o.session for o in matching}
    others = [s for s in log.in_context(routine.triggers, _usual_hours(matching)) if s not in sessions]
    added = partial_devices(routine.actions, sorted(sessions), others, log, config, elsewhere=elsewhere)
    if not added:
        return candidate
    matching = [_with_devices(o, added, log) for o in matching]
    actions = routine.actions | {entity: _settings(matching, entity) for entity, _ in added}
    routine.actions = dict(sorted(actions.items()))
    return _Candidate(candidate.items | frozenset(added), matching, routine)


def _elsewhere(chosen: list[_Candidate], k: int, config: MinerConfig) -> dict[str, set[int]]:
    """Per device, the sessions of other chosen routines that say nothing about routine ``k`` (step 7).

    Those of a routine at another moment of the day: both habitual by the clock (spread at most
    ``habit_spread_min``) and their typical times further apart than ``session_gap_min`` plus both
    spreads. Its sessions are its own (sessions are cut at idle gaps), so it cannot be what sets its
    devices in ``k``'s sessions, and, being made of those devices, they would count as the household
    setting them without ``k``.
    """
    moment = _clock_moment(chosen[k].occurrences)
    out: dict[str, set[int]] = {}
    if moment is None or moment[1] > config.habit_spread_min:
        return out
    for j, other in enumerate(chosen):
        when = _clock_moment(other.occurrences)
        if j == k or when is None or when[1] > config.habit_spread_min:
            continue
        apart = abs(moment[0] - when[0])
        if min(apart, 1440.0 - apart) > config.session_gap_min + moment[1] + when[1]:
            for entity in other.routine.actions:
                out.setdefault(entity, set()).update(o.session for o in other.occurrences)
    return out


def _clock_moment(occurrences: Sequence[Occurrence]) -> tuple[float, float] | None:
    """Typical clock time (minutes, median) and its spread (MAD), unwrapped around midnight if tighter."""
    clock = [float(o.context["clock_min"]) for o in occurrences if "clock_min" in o.context]
    if not clock:
        return None
    night = [c + 1440.0 if c < 720.0 else c for c in clock]
    values = night if spread(night) < spread(clock) else clock
    return statistics.median(values) % 1440.0, spread(values)


def distinct(
    candidates: list[_Candidate],
    base: BaseContexts,
    config: MinerConfig,
    found: Sequence[frozenset[Item]] | None = None,
) -> list[_Candidate]:
    """One routine per routine: routines with the same actions and nested triggers are joined (step 8).

    A routine whose devices are often already set shows a different part in different sessions; the
    greedy cover can take two of those parts, which step 7 completes to the same devices. When two
    routines then have equal actions and one's triggers are part of the other's, they are one routine
    done in the sessions of both: described again on all of them (triggers inferred anew when they
    differed), in the place of the first.

    ``found`` (one per candidate): its action pattern before step 7. Two routines found as the same
    pattern are no parts of one routine: step 3 told them apart (by their contexts, or at two habitual
    moments), and they stay apart. When one is at a habitual moment and the other is not (the alarm
    disarmed at 18:36 on cloudy weekday evenings, and at any hour after the routines that arm it), the
    one at the moment stays a routine of its own only when :func:`_apart` finds its moment beyond
    chance among the occurrences of both; it takes the place of the first, and the other, the same
    actions at other hours, follows all the routines. Otherwise they are one routine, as before.
    """
    out: list[_Candidate] = []
    origin: list[int] = []  # per routine of ``out``: the candidate it was first
    rest: list[_Candidate] = []
    for i, candidate in enumerate(candidates):
        k = next((k for k, kept in enumerate(out) if _same_routine(kept.routine, candidate.routine)), None)
        if k is not None and found is not None and found[origin[k]] == found[i]:
            moment = _apart(out[k], candidate, base, config)
            if moment is not None:
                rest.append(out[k] if moment is candidate else candidate)
                out[k] = moment
                continue
            if _habitual(out[k], config) == _habitual(candidate, config):
                k = None
        if k is None:
            origin.append(i)
            out.append(candidate)
            continue
        kept = out[k]
        sessions = {o.session for o in kept.occurrences}
        occurrences = kept.occurrences + [o for o in candidate.occurrences if o.session not in sessions]
        joined = _describe(kept.items | candidate.items, occurrences, base, config)
        if joined is not None:
            joined.routine.actions = {e: _settings(joined.occurrences, e) for e in kept.routine.actions}
            out[k] = joined
    return out + rest


def _habitual(candidate: _Candidate, config: MinerConfig) -> bool:
    return at_habitual_moment([o.context for o in candidate.occurrences], config)


def _apart(a: _Candidate, b: _Candidate, base: BaseContexts, config: MinerConfig) -> _Candidate | None:
    """Of two routines of one action pattern, the one at a habitual moment when it is a routine of its own.

    One at a habitual moment, the other not (the same actions also done at any hour, as the alarm re-armed
    hours after every routine that disarms it): the moment is a routine of its own when the occurrences
    of both, in the other routine's context (without ``time_of_day``, which would fix the hours by
    itself), fall into the moment's densest clock window beyond chance (:func:`_beyond_chance`, the test
    that found the moment in step 3, now against the occurrences of both). Otherwise the "moment" is
    where the other routine's context happens to hold (a routine done whenever it is very cold after
    sunset bunches late in the evening) and they are one routine: None.
    """
    habitual = _habitual(a, config), _habitual(b, config)
    if habitual[0] == habitual[1]:
        return None
    moment, other = (a, b) if habitual[0] else (b, a)
    centre = _window_centre(moment.occurrences, config)
    if centre is None:
        return None
    sessions = {o.session for o in moment.occurrences}
    both = moment.occurrences + [o for o in other.occurrences if o.session not in sessions]
    context = {k: v for k, v in other.routine.triggers.items() if k != "time_of_day"}
    among = [o for o in both if all(o.context.get(k) == v for k, v in context.items())]
    return moment if _beyond_chance(among, context, centre, base, config) else None


def _same_routine(a: Routine, b: Routine) -> bool:
    """Equal actions and nested triggers (one routine's trigger fields are part of the other's)."""
    nested = all(b.triggers.get(k) == v for k, v in a.triggers.items()) or all(
        a.triggers.get(k) == v for k, v in b.triggers.items()
    )
    return nested and actions_equal(a.actions, b.actions)


def _with_devices(occurrence: Occurrence, added: Mapping[Item, list[int]], log: SessionLog) -> Occurrence:
    """The occurrence with the final settings of the added devices that its session set."""
    settings = dict(occurrence.settings)
    for (entity, _), sessions in added.items():
        if occurrence.session in sessions:
            settings[entity] = log.finals[occurrence.session][entity]
    return Occurrence(occurrence.context, occurrence.day, settings, occurrence.session)


def _usual_hours(occurrences: Sequence[Occurrence]) -> set[int] | None:
    """Local hours the routine happens in, widened by one hour each side (None without clock times).

    Confidence then counts the days its context held *when the household does it*: a routine done at
    07:00 on rainy mornings is not missed on a day that only turned rainy at noon.
    """
    hours = {int(float(o.context["clock_min"]) // 60) for o in occurrences if "clock_min" in o.context}
    if not hours:
        return None
    return {(h + d) % 24 for h in hours for d in (-1, 0, 1)}


def _settings(occurrences: Sequence[Occurrence], entity: str) -> Settings:
    """Mode of categorical, median of scalar settings present in at least half of the occurrences.

    Only the occurrences that set ``entity`` count (a device already in its target state shows nothing).
    """
    occurrences = [o for o in occurrences if entity in o.settings]
    names = Counter(n for o in occurrences for n in o.settings[entity])
    settings: Settings = {}
    for name, count in sorted(names.items()):
        if count * 2 < len(occurrences):
            continue
        values = [o.settings[entity][name] for o in occurrences if name in o.settings[entity]]
        if all(is_scalar(name, v) for v in values):
            step = _SCALAR_STEP.get(name, 1.0)
            settings[name] = round(round(statistics.median(float(v) for v in values) / step) * step, 4)
        else:
            settings[name] = Counter(str(v) for v in values).most_common(1)[0][0]
    return settings


def _timing(routine: Routine, occurrences: Sequence[Occurrence]) -> None:
    """Typical local time, and the sun offset when occurrences follow the sun more tightly than the clock."""
    clock = [float(o.context["clock_min"]) for o in occurrences if "clock_min" in o.context]
    if not clock:
        return
    if routine.triggers.get("time_of_day") == "night":
        clock = [c + 1440.0 if c < 720.0 else c for c in clock]  # unwrap around midnight
    median_clock = statistics.median(clock) % 1440.0
    routine.typical_time = f"{int(median_clock // 60):02d}:{int(median_clock % 60):02d}"
    events = {o.context.get("sun_event") for o in occurrences}
    offsets = [float(o.context["sun_offset_min"]) for o in occurrences if "sun_offset_min" in o.context]
    if len(events) == 1 and len(offsets) == len(occurrences) and spread(offsets) < spread(clock) / 2:
        routine.sun_offset_min = statistics.median(offsets)
        routine.extras["sun_event"] = events.pop()


def _select(
    patterns: list[tuple[frozenset[Item], list[Occurrence]]],
    base: BaseContexts,
    log: SessionLog,
    config: MinerConfig,
) -> list[_Candidate]:
    """Greedy cover of the user's (session, device) actions by routines.

    Each round describes every pattern on its *fresh* occurrences only (sessions none of whose devices
    an already chosen routine explains), so a device shared with a bigger routine does not borrow that
    routine's contexts, and takes the routine explaining the most actions.
    """
    explained: set[tuple[int, str]] = set()
    chosen: list[_Candidate] = []
    partials: list[_Candidate] = []
    cache: dict[tuple[frozenset[Item], tuple[int, ...]], list[_Candidate]] = {}
    while len(chosen) < config.max_routines:
        best: _Candidate | None = None
        candidates: list[_Candidate] = []
        for items, occurrences in patterns:
            fresh = [o for o in occurrences if not _touches(o, explained)]
            if len(fresh) < config.min_support:
                continue
            key = (items, tuple(o.session for o in fresh))
            if key not in cache:
                cache[key] = _peel_by_context(items, fresh, base, config)
            candidates += cache[key]
            for candidate in cache[key]:
                if best is None or _gain(candidate) > _gain(best):
                    best = candidate
        if best is None:
            break
        best = _narrower(best, candidates, log, config)
        explained |= {(o.session, e) for o in best.occurrences for e in o.settings}
        if any(_is_partial(best, other, config) for other in chosen):
            partials.append(best)
        else:
            chosen.append(best)
    joint = [
        part for c in chosen for part in split_joint(c, partials, patterns, base, log=log, config=config)
    ]
    return merge_parts(joint, config.merge_share)


def _narrower(
    best: _Candidate, candidates: list[_Candidate], log: SessionLog, config: MinerConfig
) -> _Candidate:
    """The routine of more devices under a narrower context that ``best``'s sessions mix in, if any.

    When a larger set of devices is done together in a strictly narrower context (more trigger fields,
    the same values for ``best``'s), ``best``'s sessions are a mixture of two routines: the smaller
    pattern also happens in another context. Taking the specific routine first leaves the rest to be
    described in its own context (the lamp and blinds at dusk, and with the TV on weekday evenings).
    Only when the added devices are done with ``best``'s in at least ``merge_share`` of their sessions
    in that context: else they are another routine that sometimes shares a session with it.
    """
    while True:
        triggers = best.routine.triggers
        wider = [
            c
            for c in candidates
            if c.items > best.items
            and len(c.routine.triggers) > len(triggers)
            and all(c.routine.triggers.get(k) == v for k, v in triggers.items())
            and _together(c.items - best.items, best.items, c, log) >= config.merge_share
        ]
        if not wider:
            return best
        best = max(wider, key=_gain)


def _together(
    extra: frozenset[Item], items: frozenset[Item], candidate: _Candidate, log: SessionLog
) -> float:
    """Share of the sessions with all of ``extra`` in ``candidate``'s context that also hold ``items``."""
    hours = _usual_hours(candidate.occurrences)
    with_extra = [s for s in log.in_context(candidate.routine.triggers, hours) if extra <= log.items[s]]
    return sum(1 for s in with_extra if items <= log.items[s]) / max(len(with_extra), 1)


def split_joint(
    routine: _Candidate,
    partials: list[_Candidate],
    patterns: list[tuple[frozenset[Item], list[Occurrence]]],
    base: BaseContexts,
    *,
    log: SessionLog,
    config: MinerConfig,
) -> list[_Candidate]:
    """Two routines under one context that often share a session, mined as one, split back in two.

    ``partials`` are the later greedy picks that do only part of ``routine`` in its context. For such a
    part and the rest of ``routine``, every session in ``routine``'s context that does it is counted
    (from the action ``patterns``). When each was done together with the other in less than
    ``merge_share`` of its sessions, also once the sessions in which every device of the other part
    already showed its target are left out (HA records no event for a command that changes nothing:
    the other part was not needed there, no evidence that it was left out), they are independent
    routines that merely share a session on the days both happen, and each is described on all of its
    own sessions. When only those sessions made them look apart, they are one routine, and those
    sessions are occurrences of it: it is described again with them.
    """
    joint = len(routine.occurrences)
    extra: dict[int, Occurrence] = {}
    for part in (p for p in partials if _is_partial(p, routine, config)):
        halves = [
            (items, _in_context(items, patterns, routine.routine.triggers))
            for items in (part.items, routine.items - part.items)
        ]
        if any(joint >= config.merge_share * len(occurrences) for _, occurrences in halves):
            continue
        already = [
            _already_set(occurrences, routine, routine.items - items, log, config)
            for items, occurrences in halves
        ]
        if any(
            joint >= config.merge_share * (len(occurrences) - len(done))
            for (_, occurrences), done in zip(halves, already, strict=True)
        ):
            extra |= {o.session: o for done in already for o in done}
            continue
        split = [_describe(items, occurrences, base, config) for items, occurrences in halves]
        if split[0] is not None and split[1] is not None:
            return [split[0], split[1]]
    sessions = {o.session for o in routine.occurrences}
    added = [o for k, o in sorted(extra.items()) if k not in sessions]
    if not added:
        return [routine]
    described = _describe(routine.items, routine.occurrences + added, base, config)
    return [routine if described is None else described]


def _already_set(
    occurrences: Sequence[Occurrence],
    routine: _Candidate,
    other: frozenset[Item],
    log: SessionLog,
    config: MinerConfig,
) -> list[Occurrence]:
    """Occurrences in which every device of the ``other`` part already showed its target (not needed)."""
    targets = {entity: routine.routine.actions[entity] for entity, _ in other}
    steps = config.scalar_split_steps
    return [o for o in occurrences if not needed(targets, o.session, log, steps)]


def _in_context(
    items: frozenset[Item],
    patterns: list[tuple[frozenset[Item], list[Occurrence]]],
    triggers: Mapping[str, str],
) -> list[Occurrence]:
    """Occurrences of exactly the action pattern ``items`` in the ``triggers`` context, one per session."""
    found: dict[int, Occurrence] = {}
    for pattern, occurrences in patterns:
        if pattern == items:
            for o in occurrences:
                if all(o.context.get(k) == v for k, v in triggers.items()):
                    found.setdefault(o.session, o)
    return [found[k] for k in sorted(found)]


def merge_parts(chosen: list[_Candidate], share: float) -> list[_Candidate]:
    """Join routines that are parts of one routine: same triggers, disjoint devices, done together.

    When the user sometimes skips a device, the greedy cover can take the routine's parts as separate
    routines. Two parts are one routine when each was done in the same session as the other in at least
    ``share`` of its sessions (independent routines under one context co-occur far less often).
    """
    out = list(chosen)
    merged = True
    while merged:
        merged = False
        for first, second in ((i, j) for i in range(len(out)) for j in range(i + 1, len(out))):
            if _are_parts(out[first], out[second], share):
                out[first] = _joined(out[first], out[second])
                del out[second]
                merged = True
                break
    return out


def _are_parts(a: _Candidate, b: _Candidate, share: float) -> bool:
    if a.routine.triggers != b.routine.triggers or set(a.routine.actions) & set(b.routine.actions):
        return False
    sessions_a = {o.session for o in a.occurrences}
    sessions_b = {o.session for o in b.occurrences}
    both = len(sessions_a & sessions_b)
    if both >= share * len(sessions_a) and both >= share * len(sessions_b):
        return True
    return _linked(both, len(sessions_a), b.routine.confidence) and _linked(
        both, len(sessions_b), a.routine.confidence
    )


def _linked(both: int, sessions: int, other_rate: float) -> bool:
    """Whether a part shares its sessions with another more than independence explains.

    Were the two routines independent, a share ``other_rate`` (the other's confidence: how often it
    happens when the context holds) of this part's sessions would hold the other too. Linked when the
    observed share beats that by a binomial likelihood ratio above the BIC penalty ``0.5 * log(n)``.
    """
    return sessions > 0 and binomial_gain(both, sessions, other_rate) > 0.5 * math.log(sessions)


def _joined(a: _Candidate, b: _Candidate) -> _Candidate:
    """One routine of two parts: actions of both, support and statistics of the sessions with both."""
    sessions = {o.session for o in a.occurrences} & {o.session for o in b.occurrences}
    actions = dict(sorted((a.routine.actions | b.routine.actions).items()))
    routine = Routine(
        triggers=a.routine.triggers,
        actions=actions,
        support=len(sessions),
        confidence=min(a.routine.confidence, b.routine.confidence),
    )
    routine.typical_time, routine.sun_offset_min = a.routine.typical_time, a.routine.sun_offset_min
    routine.extras = dict(a.routine.extras)
    occurrences = [o for o in a.occurrences if o.session in sessions]
    return _Candidate(a.items | b.items, occurrences, routine)


def _gain(candidate: _Candidate) -> int:
    """(session, device) actions a candidate explains."""
    return len(candidate.occurrences) * len(candidate.items)


def _is_partial(candidate: _Candidate, routine: _Candidate, config: MinerConfig) -> bool:
    """Sessions where the user did only part of a routine, in (a part of) its context, are that routine.

    Only when they set the shared devices to the routine's settings: a scalar setting more than
    ``scalar_split_steps`` user steps from the routine's is another use of the device (step 4's rule),
    so those sessions are a routine of their own (the dining light at 112 alone at 09:20 on weekend
    mornings, and at 89 with the blinds and the radio at 08:45).
    """
    triggers = candidate.routine.triggers
    return (
        candidate.items < routine.items
        and all(triggers.get(k) == v for k, v in routine.routine.triggers.items())
        and _same_targets(candidate.routine, routine.routine, config.scalar_split_steps)
    )


def _same_targets(a: Routine, b: Routine, steps: float) -> bool:
    """Whether every scalar setting ``a`` and ``b`` share lies within ``steps`` user steps."""
    for entity in set(a.actions) & set(b.actions):
        for name, value in a.actions[entity].items():
            other = b.actions[entity].get(name)
            if (
                name in SCALAR_TOLERANCE
                and isinstance(value, int | float)
                and isinstance(other, int | float)
                and not within_steps(name, float(value), float(other), steps)
            ):
                return False
    return True


def second_tier(
    patterns: list[tuple[frozenset[Item], list[Occurrence]]],
    chosen: Sequence[_Candidate],
    base: BaseContexts,
    config: MinerConfig,
) -> list[_Candidate]:
    """Routines under the confidence floor whose days are no chance, in the order they are taken (step 10).

    The action patterns are described again on their fresh occurrences (sessions none of whose devices
    a ``chosen`` routine explains) as step 3 does, without ``min_confidence``; the routines it alone
    rejects are the candidates. One is taken, most actions explained first, when it keeps
    ``min_support`` occurrences that match its triggers and no routine taken before explains, its
    actions are no chosen or taken routine's nor a fragment of one (:func:`.routines_rank.fragment`),
    and the days its context held on which it was done (:func:`_context_gain`) beat the rate at which
    its action pattern was done on all the other days by a binomial likelihood ratio above the log of
    the number of candidates (the best of that many tests).
    """
    explained = {(o.session, e) for c in chosen for o in c.occurrences for e in o.settings}
    unfloored = dataclasses.replace(config, min_confidence=0.0)
    pool: list[tuple[_Candidate, list[Occurrence]]] = []
    for items, occurrences in patterns:
        fresh = [o for o in occurrences if not _touches(o, explained)]
        if len(fresh) < config.min_support:
            continue
        for candidate in _peel_by_context(items, fresh, base, unfloored):
            if candidate.routine.confidence < config.min_confidence:
                pool.append((candidate, occurrences))
    taken: list[_Candidate] = []
    routines = [c.routine for c in chosen]
    used: set[tuple[int, str]] = set()
    for candidate, occurrences in sorted(pool, key=lambda p: -_gain(p[0])):
        routine = candidate.routine
        if sum(1 for o in candidate.occurrences if not _touches(o, used)) < config.min_support:
            continue
        if any(actions_equal(routine.actions, r.actions) for r in routines) or fragment(routine, routines):
            continue
        if _context_gain(candidate, occurrences, base) <= math.log(len(pool)):
            continue
        taken.append(candidate)
        routines.append(routine)
        used |= {(o.session, e) for o in candidate.occurrences for e in o.settings}
    return taken


def _context_gain(candidate: _Candidate, occurrences: Sequence[Occurrence], base: BaseContexts) -> float:
    """Binomial likelihood ratio of the routine's days in its context against its pattern's other days.

    The days its context held at its usual hours on which it was done, against the share of all the
    other days of the log on which its action pattern (``occurrences``, at any hour) was done.
    """
    hours = _usual_hours(candidate.occurrences)
    context: set[int] = set()
    every: set[int] = set()
    for key, key_days in base.days.items():
        every |= {day for day, _ in key_days}
        if matches_triggers(key, candidate.routine.triggers):
            context |= {day for day, hour in key_days if hours is None or hour in hours}
    other = every - context
    if not context or not other:
        return 0.0
    done = len({o.day for o in candidate.occurrences} & context)
    other_done = len({o.day for o in occurrences} & other)
    return binomial_gain(done, len(context), other_done / len(other))


def _touches(occurrence: Occurrence, explained: set[tuple[int, str]]) -> bool:
    return any((occurrence.session, e) in explained for e in occurrence.settings)


def mine_event_log(events: Sequence[Event], config: MinerConfig | None = None) -> list[Routine]:
    """Routines of an event log (:func:`.routines_events.parse_events`), context from its sun/weather."""
    config = config or MinerConfig()
    timeline = ContextTimeline(events)
    behaviours = behaviours_from_events(events, timeline)
    samples = timeline.sample(config.base_step_min)
    hours = activity_by_hour(behaviours)
    base = BaseContexts.from_samples(
        ((math.floor(when.timestamp() / 86400.0), c) for when, c in samples), hours
    )
    return RoutineMiner(config).fit(behaviours, base).predict()
