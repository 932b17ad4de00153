"""Order of the mined routines: habitual routines first, the rest after.

The miner returns every routine its statistics support, and a user (like EdgeWisePersona's same-count
protocol, which keeps as many routines as the household has) reads the first ones. A routine is ranked
last when it is one of:

* *not habitual*: done at no habitual time, neither by the clock nor relative to sunrise/sunset (median
  absolute deviation of both above ``habit_spread_min``, the spread that already decides whether
  ``time_of_day`` is a trigger), and not a reaction to the weather or the outdoor temperature either
  (the miner tells which weather or temperature triggers are reactions: done more often under them
  than without them, see ``reactions``).
  Such a pattern is mostly the side effect of real routines (the alarm armed at any hour before the
  routine that disarms it, a lamp switched on at some point before the bedtime routine switches it
  off), and an automation for it would have no moment to run at;
* a *fragment*: its actions are some of the devices of another routine with the same settings, that
  routine being done at least as often, in a context that can hold together with its own (the user
  doing part of a bigger routine on its own; the blinds closed on weekend evenings are no fragment of
  the blinds and lamps on weekday evenings).

Otherwise the miner's order (the greedy cover's: most actions explained first) is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .routines import Routine
from .routines_base import MinerConfig
from .routines_metrics import actions_equal
from .routines_triggers import at_habitual_moment

REACTIVE_FIELDS: tuple[str, ...] = ("weather", "outdoor_temp")


def habitual(
    routine: Routine,
    contexts: Sequence[Mapping[str, str | float]],
    config: MinerConfig,
    reacts: bool | None = None,
) -> bool:
    """Whether the routine is done at a habitual clock time or sun offset, or reacts to the weather.

    ``reacts``: whether it is a reaction to the weather or the outdoor temperature; None counts any
    such trigger as one.
    """
    if any(name in routine.triggers for name in REACTIVE_FIELDS) if reacts is None else reacts:
        return True
    return at_habitual_moment(contexts, config)


def fragment(routine: Routine, routines: Sequence[Routine]) -> bool:
    """Whether the routine's actions are part of a routine done at least as often, with the same settings.

    Only a routine whose triggers can hold together with this one's (no field with another value) counts.
    """
    for other in routines:
        if other is routine or not set(routine.actions) < set(other.actions):
            continue
        if any(other.triggers.get(name, value) != value for name, value in routine.triggers.items()):
            continue
        shared = {entity: other.actions[entity] for entity in routine.actions}
        if other.support >= routine.support and actions_equal(routine.actions, shared):
            return True
    return False


def ranked(
    routines: Sequence[Routine],
    contexts: Sequence[Sequence[Mapping[str, str | float]]],
    config: MinerConfig,
    reactions: Sequence[bool] | None = None,
) -> list[int]:
    """Indices of ``routines`` (each with its occurrences' ``contexts``) in the order to present them.

    ``reactions`` (one per routine, optional): whether its weather or temperature trigger is a
    reaction (see :func:`habitual`).

    Habitual routines keep their order and come first; routines that are not habitual or are fragments
    of another routine follow, in their order (see the module docstring).
    """

    def late(k: int) -> bool:
        reacts = None if reactions is None else reactions[k]
        return not habitual(routines[k], contexts[k], config, reacts) or fragment(routines[k], routines)

    return sorted(range(len(routines)), key=late)
