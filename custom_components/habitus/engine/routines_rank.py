"""Order of the mined routines: habitual routines first, their parts next, the rest after.

The miner returns every routine its statistics support, and a user (like EdgeWisePersona's same-count
protocol, which keeps as many routines as the household has) reads the first ones. Routines come in
three groups, each in the miner's order (the greedy cover's: most actions explained first):

1. *habitual* routines that are no fragment of another habitual routine;
2. *fragments*: habitual routines whose actions are some of the devices of another habitual routine
   with the same settings, that routine being done at least as often, in a context that can hold
   together with its own (the user doing part of a bigger routine on its own; the blinds closed on
   weekend evenings are no fragment of the blinds and lamps on weekday evenings). The same actions
   under a narrower context, done less often, are a fragment too: the routine found again on the
   days some more fields held (4 sunny mornings of a 34-morning routine). Only a habitual routine
   makes another its fragment: being part of a pattern that is no routine itself says nothing
   against a routine;
3. routines that are *not habitual*: done at no habitual time, neither by the clock nor relative to
   sunrise/sunset (median absolute deviation of both above ``habit_spread_min``, the spread that
   already decides whether ``time_of_day`` is a trigger), and not a reaction to the weather or the
   outdoor temperature either (the miner tells which weather or temperature triggers are reactions:
   done more often under them than without them, see ``reactions``). Such a pattern is mostly the
   side effect of real routines (the alarm armed at any hour before the routine that disarms it, a
   lamp switched on at some point before the bedtime routine switches it off), and an automation
   for it would have no moment to run at; a fragment at least has one, so it goes first.

A weather or temperature trigger of a routine at no habitual moment is no reaction of its own when
every device of the routine is set by a habitual routine under the same value (:func:`borrowed`): the
alarm armed at any hour of the very cold weekdays on which a habitual very-cold evening routine
disarms it shows the cold because the other routine does.
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


def borrowed(
    routines: Sequence[Routine],
    contexts: Sequence[Sequence[Mapping[str, str | float]]],
    config: MinerConfig,
    reactions: Sequence[bool],
) -> list[bool]:
    """``reactions`` without the weather or temperature reactions a routine takes from another.

    A routine at no habitual moment whose every device is set by a routine at a habitual moment, with
    the same value of each of its weather and temperature triggers, shows that value on the days the
    other routine happens: no reaction of its own (the module docstring).
    """
    habit = [at_habitual_moment(c, config) for c in contexts]
    out = list(reactions)
    for k, routine in enumerate(routines):
        fields = [name for name in REACTIVE_FIELDS if name in routine.triggers]
        if not out[k] or habit[k] or not fields:
            continue
        out[k] = not any(
            j != k
            and habit[j]
            and set(routine.actions) <= set(other.actions)
            and all(other.triggers.get(name) == routine.triggers[name] for name in fields)
            for j, other in enumerate(routines)
        )
    return out


def fragment(routine: Routine, routines: Sequence[Routine]) -> bool:
    """Whether the routine's actions are part of a routine done at least as often, with the same settings.

    Only a routine whose triggers can hold together with this one's (no field with another value) counts;
    one with the same devices counts when its triggers are some of this one's (a narrower context).
    """
    for other in routines:
        if other is routine or not set(routine.actions) <= set(other.actions):
            continue
        if any(other.triggers.get(name, value) != value for name, value in routine.triggers.items()):
            continue
        if set(routine.actions) == set(other.actions) and not set(other.triggers.items()) < set(
            routine.triggers.items()
        ):
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
    reaction (see :func:`habitual`; a reaction taken from another routine is none, :func:`borrowed`).

    Habitual routines come first, fragments of habitual routines next, routines that are not habitual
    last, each group in its order (see the module docstring).
    """
    if reactions is not None:
        reactions = borrowed(routines, contexts, config, reactions)
    habits = [
        habitual(routine, context, config, None if reactions is None else reactions[k])
        for k, (routine, context) in enumerate(zip(routines, contexts, strict=True))
    ]
    wholes = [routine for routine, habit in zip(routines, habits, strict=True) if habit]

    def group(k: int) -> int:
        if not habits[k]:
            return 2
        return 1 if fragment(routines[k], wholes) else 0

    return sorted(range(len(routines)), key=group)
