"""Context shifts (ST/TT/NT/custom), the household profile and week-by-week planning."""

from __future__ import annotations

import pytest

from habitus_engine.behaviour import Behaviour
from habitus_engine.shifts import (
    ContextShift,
    HouseholdProfile,
    custom_shift,
    infer_routines,
    occupancy_shift,
    paper_shift,
    plan_weeks,
    schedule_shift,
    seasonal_shift,
)


def test_paper_shifts_match_the_smartgen_settings() -> None:
    spring, night, multiple = paper_shift("spring"), paper_shift("night"), paper_shift("multiple")
    assert (spring.kind, night.kind, multiple.kind) == ("ST", "TT", "NT")
    assert set(spring.emphasis_devices) == {"AirConditioner", "Fan"}
    assert "warm spring" in spring.scene() and "winter" in spring.scene()
    assert "active at night" in night.new and 2 in night.active_hours and 12 not in night.active_hours
    assert "single person" in multiple.original and "3 people" in multiple.new
    with pytest.raises(ValueError, match="unknown SmartGen environment"):
        paper_shift("autumn")


def test_scene_names_both_environments_once() -> None:
    scene = seasonal_shift("summer", "winter").scene()
    assert scene.startswith("The original environment: it is hot summer.")
    assert scene.count("The new environment:") == 1 and "heating" in scene


def test_schedule_shift_back_to_day_uses_day_hours() -> None:
    assert schedule_shift(to_night=False).active_hours == tuple(range(6, 18))


def test_custom_shift_carries_the_users_words() -> None:
    shift = custom_shift("two adults live here", "a baby was born.", emphasis_devices=["Humidifier"])
    assert shift.kind == "custom" and shift.emphasis_devices == ("Humidifier",)
    assert shift.scene().endswith("The new environment: a baby was born.")


@pytest.mark.parametrize(
    "make",
    [
        lambda: ContextShift(kind="custom", original=" ", new="x"),
        lambda: ContextShift(kind="TT", original="a", new="b", active_hours=(24,)),
        lambda: occupancy_shift(2, 2),
        lambda: seasonal_shift("winter", "monsoon"),
        lambda: HouseholdProfile(occupants=0),
    ],
)
def test_invalid_descriptions_are_rejected(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


def test_profile_describes_itself_in_sentences() -> None:
    profile = HouseholdProfile(
        occupants=2, work_pattern="night shifts.", routines=("tv at 21h", "lights at 7h")
    )
    assert (
        profile.describe()
        == "Household: 2 occupants. Work pattern: night shifts. Routines: tv at 21h; lights at 7h."
    )
    assert HouseholdProfile().describe() == "Household: 1 occupant."


def test_infer_routines_finds_repeated_action_hours() -> None:
    seqs = [[Behaviour(time=day * 24 + 7, device="Light", action="Light:switch on")] for day in range(5)] + [
        [Behaviour(time=30.0, device="Tv", action="Television:switch on")]
    ]
    assert infer_routines(seqs, top=3, min_count=3) == ("Light:switch on around 07h (5 times)",)


def test_plan_weeks_goes_week_by_week_over_every_chunk() -> None:
    assert plan_weeks(2, 3) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    with pytest.raises(ValueError):
        plan_weeks(0, 1)
