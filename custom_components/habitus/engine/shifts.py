"""Context shifts (SmartGen ST/TT/NT and free-text custom) and the household profile (BehaviorGen).

A ``ContextShift`` is the structured description of how the home's context changed; the prompt's
*scene information* (SmartGen Table 1) is rendered from it, and it names the devices the new context
brings in (``emphasis_devices``) so the code table offers them first.

* **ST** seasonal transition (winter -> spring: air conditioners and fans come into use),
* **TT** time-schedule transition (active by day -> active at night),
* **NT** occupancy transition (one person at home -> several),
* **custom**: any change the user describes in words.

The ST/TT/NT sentences are the ones SmartGen's reference implementation sends (research notes §1),
so the benchmark prompts match the paper's.

A ``HouseholdProfile`` (BehaviorGen §4.1.1) conditions generation on who lives in the home: number of
occupants, work pattern, known routines. ``infer_routines`` proposes routines from the home's data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from .behaviour import Sequence

type ShiftKind = Literal["ST", "TT", "NT", "custom"]

_SEASON_DEVICES: dict[str, tuple[str, ...]] = {
    "winter": ("Heater",),
    "spring": ("AirConditioner", "Fan"),
    "summer": ("AirConditioner", "Fan"),
    "autumn": ("Heater",),
}
_SEASON_WORDS = {"spring": "warm spring", "summer": "hot summer", "autumn": "cool autumn", "winter": "winter"}


@dataclass(frozen=True, slots=True)
class ContextShift:
    """One context change, as the prompt's scene information."""

    kind: ShiftKind
    original: str  # the original environment E_ori, one sentence
    new: str  # the new environment E_new, one sentence
    emphasis_devices: tuple[str, ...] = ()  # device types the new context brings in
    # Hours (0-23) the new context's behaviour happens in, if it constrains them (TT: night).
    active_hours: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.original.strip() or not self.new.strip():
            raise ValueError("a context shift needs both an original and a new environment")
        if any(not 0 <= h <= 23 for h in self.active_hours):
            raise ValueError("active_hours must be hours 0-23")

    def scene(self) -> str:
        """The scene sentences of the prompt."""
        original, new = self.original.rstrip("."), self.new.rstrip(".")
        return f"The original environment: {original}. The new environment: {new}."


def seasonal_shift(from_season: str = "winter", to_season: str = "spring") -> ContextShift:
    """ST: the season changed (SmartGen's winter -> spring)."""
    if from_season not in _SEASON_WORDS or to_season not in _SEASON_WORDS:
        raise ValueError(f"seasons are {sorted(_SEASON_WORDS)}")
    return ContextShift(
        kind="ST",
        original=f"it is {_SEASON_WORDS[from_season]}",
        new=f"it is {_SEASON_WORDS[to_season]}; cooling devices such as air conditioners and fans are used"
        if to_season in ("spring", "summer")
        else f"it is {_SEASON_WORDS[to_season]}; heating is used",
        emphasis_devices=_SEASON_DEVICES[to_season],
    )


def schedule_shift(to_night: bool = True) -> ContextShift:
    """TT: the household's active hours moved (SmartGen's daytime -> night)."""
    day = "the user is active during the daytime and rests at night"
    night = "the user is active at night and rests during the daytime"
    return ContextShift(
        kind="TT",
        original=day if to_night else night,
        new=night if to_night else day,
        active_hours=(18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5) if to_night else tuple(range(6, 18)),
    )


def occupancy_shift(before: int = 1, after: int = 3) -> ContextShift:
    """NT: the number of people at home changed (SmartGen's single -> multiple)."""
    if before < 1 or after < 1 or before == after:
        raise ValueError("occupancy before and after must be different positive numbers")

    def people(n: int) -> str:
        return "a single person is at home" if n == 1 else f"{n} people are at home"

    new = people(after) + ("; several devices are used in the same period" if after > before else "")
    return ContextShift(kind="NT", original=people(before), new=new)


def custom_shift(original: str, new: str, emphasis_devices: Iterable[str] = ()) -> ContextShift:
    """A change the user describes in their own words (e.g. "a baby was born")."""
    return ContextShift(kind="custom", original=original, new=new, emphasis_devices=tuple(emphasis_devices))


def paper_shift(environment: str) -> ContextShift:
    """The shift of a SmartGen benchmark setting, named by its new environment."""
    shifts: dict[str, Callable[[], ContextShift]] = {
        "spring": seasonal_shift,
        "night": schedule_shift,
        "multiple": occupancy_shift,
    }
    if environment not in shifts:
        raise ValueError(f"unknown SmartGen environment {environment!r}; expected one of {sorted(shifts)}")
    return shifts[environment]()


@dataclass(frozen=True, slots=True)
class HouseholdProfile:
    """Who lives in the home (BehaviorGen's profile conditioning)."""

    occupants: int = 1
    work_pattern: str = ""  # e.g. "works from home on weekdays", "night shifts"
    routines: tuple[str, ...] = ()  # short sentences, e.g. "lights on around 07 on weekdays"
    notes: str = ""

    def __post_init__(self) -> None:
        if self.occupants < 1:
            raise ValueError("a household has at least one occupant")

    def describe(self) -> str:
        """The profile as prompt sentences."""
        parts = [f"Household: {self.occupants} occupant{'s' if self.occupants > 1 else ''}."]
        if self.work_pattern:
            parts.append(f"Work pattern: {self.work_pattern.rstrip('.')}.")
        if self.routines:
            parts.append("Routines: " + "; ".join(r.rstrip(".") for r in self.routines) + ".")
        if self.notes:
            parts.append(self.notes.rstrip(".") + ".")
        return " ".join(parts)


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def infer_routines(sequences: Iterable[Sequence], top: int = 3, min_count: int = 3) -> tuple[str, ...]:
    """The home's most repeated (action, hour) habits as routine sentences for the profile.

    Counts each action per hour of day; returns at most ``top`` sentences such as
    ``"Light:switch on around 07h (12 times)"`` for pairs seen at least ``min_count`` times.
    """
    counts: Counter[tuple[str, int]] = Counter()
    for seq in sequences:
        for b in seq:
            counts[(b.action, int(b.time % 24))] += 1
    common = [(key, n) for key, n in counts.most_common() if n >= min_count][:top]
    return tuple(f"{action} around {hour:02d}h ({n} times)" for (action, hour), n in common)


def plan_weeks(weeks: int, n_chunks: int) -> list[tuple[int, int]]:
    """The (week, chunk) requests of segmented generation, week by week.

    Every week is generated from every data chunk, so each week sees all of the home's compressed
    history while each request stays small (BehaviorGen: segmentation keeps long generations coherent).
    """
    if weeks < 1 or n_chunks < 1:
        raise ValueError("need at least one week and one chunk")
    return [(week, chunk) for week in range(weeks) for chunk in range(n_chunks)]
