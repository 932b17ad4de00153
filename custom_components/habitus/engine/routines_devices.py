"""Devices of a routine that its occurrences show only in part: the device was already set.

In Home Assistant a command that changes nothing leaves no state change: a routine that closes the
blinds and dims the lounge light leaves no blinds event on an evening they were already closed. So
few sessions hold *every* device of a routine, and the frequent action patterns of the miner find
only the part it always has to change. This module infers the rest from partial occurrences.

For a mined routine's occurrences (sessions) and a device outside its actions, each occurrence is:

* *set*: the session set the device to the item (its categorical settings);
* *already set*: it did not, but the device already showed the target settings before the session
  (its last state of any origin; scalars within ``scalar_split_steps`` user steps): no evidence;
* *left*: it did not, and the device showed something else: the user could have set it and did not.

The device is part of the routine when it was set on at least half of the occasions it was needed
(set + left) and far more often than in the *background*: the other sessions in the routine's context,
at its usual hours, in which the routine was needed (one of its devices was not already set) and not
done: none of its actions was done in them. A session that did some of its actions (with their
categorical settings) and not all is the routine done in part (its other devices already set, or
skipped), so the device is as likely to be set there as in the routine's own sessions; counted as the
household acting without the routine, those sessions would hide every device the routine shares with
them (the alarm armed with the lamps off at night, in the sessions that found the TV already off).
Binomial likelihood ratio of the two rates with the BIC penalty ``0.5 * log(n)``, as for linked
parts. A device that the household sets as often without the routine is another routine of the same
context, not a part of this one (two same-context routines that often share a session stay apart).

Sessions that say nothing about the routine are left out of a device's background (``elsewhere``, chosen
by the miner): those of another routine that sets the device at another moment of the day (both
habitual by the clock, further apart than a session can span). That routine's sessions are made of the
device, so the device is set in all of them whether or not this routine sets it too, and it cannot be
what sets the device in this routine's sessions: the household that switches the driveway heater on at
08:15 on very cold mornings, and the heating with the heater at 09:00 (the heater then mostly already
on), has a background of 08:15 sessions that would hide the heater of the 09:00 routine.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .behaviour import Behaviour
from .routines import Settings, is_scalar
from .routines_base import MinerConfig
from .routines_metrics import SCALAR_TOLERANCE

type Item = tuple[str, tuple[tuple[str, str], ...]]  # (entity, its categorical settings)


def item_of(device: str, settings: Mapping[str, str | float]) -> Item:
    """The categorical part of a device's settings, as an action-pattern item."""
    return device, tuple(sorted((k, str(v)) for k, v in settings.items() if not is_scalar(k, v)))


@dataclass(slots=True)
class SessionLog:
    """Per user session: its items, each device's final settings, and every device's state before it."""

    items: list[frozenset[Item]]
    finals: list[dict[str, Settings]]
    before: list[dict[str, Settings]]  # device -> last settings (any origin) before the session began
    contexts: list[Mapping[str, str | float]]  # context of the session's first behaviour
    days: list[int]  # epoch day of the session's first behaviour

    @classmethod
    def build(cls, behaviours: Sequence[Behaviour], sessions: Sequence[Sequence[Behaviour]]) -> SessionLog:
        """From every behaviour with settings (user, automation, device) and the user's sessions."""
        history = sorted((b for b in behaviours if b.settings), key=lambda b: b.time)
        state: dict[str, Settings] = {}
        before: list[dict[str, Settings]] = []
        k = 0
        for session in sessions:
            while k < len(history) and history[k].time < session[0].time:
                state[history[k].device] = history[k].settings
                k += 1
            before.append(dict(state))
        finals = [{b.device: dict(b.settings) for b in session} for session in sessions]
        items = [frozenset(item_of(d, s) for d, s in final.items()) for final in finals]
        contexts: list[Mapping[str, str | float]] = [session[0].context for session in sessions]
        days = [math.floor(session[0].time / 24.0) for session in sessions]
        return cls(items, finals, before, contexts, days)

    def in_context(self, triggers: Mapping[str, str], hours: set[int] | None) -> list[int]:
        """Sessions that began in the ``triggers`` context, within ``hours`` (local) if given."""
        return [
            s
            for s, context in enumerate(self.contexts)
            if all(context.get(k) == v for k, v in triggers.items())
            and (hours is None or int(float(context.get("clock_min", 0.0)) // 60) in hours)
        ]


def within_steps(name: str, a: float, b: float, steps: float) -> bool:
    """Whether two values of the scalar setting ``name`` lie within ``steps`` user steps of each other
    (a step: :data:`.routines_metrics.SCALAR_TOLERANCE`; a setting without one must be equal)."""
    return abs(a - b) <= steps * SCALAR_TOLERANCE.get(name, 0.0) + 1e-9


def shows(current: Mapping[str, str | float], target: Mapping[str, str | float], steps: float) -> bool:
    """Whether a device's settings already are ``target`` (scalars within ``steps`` user steps)."""
    for name, value in target.items():
        if name not in current:
            return False
        if is_scalar(name, value) and is_scalar(name, current[name]):
            if not within_steps(name, float(current[name]), float(value), steps):
                return False
        elif str(current[name]) != str(value):
            return False
    return True


def binomial_gain(hits: int, n: int, expected: float) -> float:
    """Log-likelihood ratio of the observed share ``hits / n`` against the rate ``expected``."""
    if n == 0:
        return 0.0
    observed = hits / n
    expected = min(max(expected, 1e-3), 1.0 - 1e-3)
    if observed <= expected:
        return 0.0
    gain = hits * math.log(observed / expected)
    if hits < n:
        gain += (n - hits) * math.log((1.0 - observed) / (1.0 - expected))
    return gain


def needed(actions: Mapping[str, Settings], session: int, log: SessionLog, steps: float) -> bool:
    """Whether some device of ``actions`` did not already show its target before ``session`` began."""
    before = log.before[session]
    return any(e not in before or not shows(before[e], t, steps) for e, t in actions.items())


def partial_devices(
    actions: Mapping[str, Settings],
    sessions: Sequence[int],
    others: Sequence[int],
    log: SessionLog,
    config: MinerConfig,
    *,
    elsewhere: Mapping[str, set[int]] | None = None,
) -> dict[Item, list[int]]:
    """Devices outside ``actions`` that the routine done in ``sessions`` also sets (see module doc).

    ``others``: the other sessions in the routine's context at its usual hours. Those in which the
    routine's ``actions`` were needed (a device did not already show its target) and none of them was
    done are the background (a session that did some of them is the routine done in part, not the
    household without it): a device set as often there as in the routine's sessions is another
    routine of that context, not a part of this one. ``elsewhere``: per device, sessions left out of
    its background (other routines' sessions that say nothing about this one, see the module doc).
    Returns each added device's item with the sessions that set it.
    """
    steps = config.scalar_split_steps
    done = {item_of(entity, target) for entity, target in actions.items()}
    background = [s for s in others if needed(actions, s, log, steps) and not done & log.items[s]]
    counts = Counter(item for s in sessions for item in log.items[s] if item[0] not in actions)
    best: dict[str, tuple[int, Item]] = {}
    for item, n in sorted(counts.items()):
        if n > best.get(item[0], (0, item))[0]:
            best[item[0]] = (n, item)
    out: dict[Item, list[int]] = {}
    for device, (_, item) in sorted(best.items()):
        setting = [s for s in sessions if item in log.items[s]]
        target = _target(item, [log.finals[s][device] for s in setting])
        acted, could = _set_when_needed(item, target, sessions, log, steps)
        if acted < 2 or 2 * acted < could:
            continue
        skip = (elsewhere or {}).get(device, set())
        hazard = _set_when_needed(item, target, [s for s in background if s not in skip], log, steps)
        expected = (hazard[0] + 0.5) / (hazard[1] + 1.0)
        if binomial_gain(acted, could, expected) > 0.5 * math.log(could):
            out[item] = setting
    return out


def _set_when_needed(
    item: Item, target: Settings, sessions: Sequence[int], log: SessionLog, steps: float
) -> tuple[int, int]:
    """(sessions that set ``item``, sessions whose device did not already show ``target`` before)."""
    acted = could = 0
    for s in sessions:
        before = log.before[s].get(item[0])
        if before is not None and not shows(before, target, steps):
            could += 1
            acted += item in log.items[s]
    return acted, could


def _target(item: Item, finals: Sequence[Settings]) -> Settings:
    """The item's categorical settings plus the median of each scalar the sessions set."""
    target: Settings = dict(item[1])
    for name in sorted({n for f in finals for n, v in f.items() if is_scalar(n, v)}):
        target[name] = statistics.median(float(f[name]) for f in finals if name in f)
    return target
