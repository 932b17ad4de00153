"""Routine miner, steps 8-9: one routine per routine (parts completed alike), habitual routines first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from habitus_engine.routines import Routine
from habitus_engine.routines_base import MinerConfig
from habitus_engine.routines_events import parse_events
from habitus_engine.routines_miner import mine_event_log
from habitus_engine.routines_rank import fragment, habitual, ranked

TZ = timezone(timedelta(hours=1))
START = datetime(2025, 3, 3, tzinfo=TZ)  # Monday


def _event(day: int, minute: int, entity: str, state: str, origin: str = "user") -> dict[str, Any]:
    when = START + timedelta(days=day, minutes=minute)
    return {"time": when.isoformat(), "entity_id": entity, "state": state, "attributes": {}, "origin": origin}


def _clock(minutes: list[float]) -> list[dict[str, str | float]]:
    return [{"clock_min": m} for m in minutes]


def test_a_routine_at_a_habitual_clock_time_or_sun_offset_is_habitual() -> None:
    config = MinerConfig()
    lamp = Routine({"day_of_week": "weekday"}, {"light.hall": {"state": "on"}})
    assert habitual(lamp, _clock([1140.0, 1150.0, 1135.0, 1160.0]), config)
    assert habitual(lamp, _clock([1430.0, 5.0, 1420.0, 20.0]), config)  # around midnight
    anywhere = _clock([480.0, 700.0, 900.0, 1100.0, 1300.0])
    assert not habitual(lamp, anywhere, config)
    dusk = [c | {"sun_event": "sunset", "sun_offset_min": 20.0 + k} for k, c in enumerate(anywhere)]
    assert habitual(lamp, dusk, config)  # the clock moves with the season, the sun offset does not
    rain = Routine({"weather": "rainy"}, {"light.hall": {"state": "on"}})
    assert habitual(rain, anywhere, config)  # a reaction to the weather happens whenever it rains


def test_part_of_a_routine_done_as_often_with_the_same_settings_is_a_fragment() -> None:
    whole = Routine({}, {"light.a": {"state": "on"}, "switch.b": {"state": "on"}}, support=30)
    part = Routine({"day_of_week": "weekend"}, {"switch.b": {"state": "on"}}, support=8)
    other = Routine({}, {"switch.b": {"state": "off"}}, support=8)
    assert fragment(part, [whole, part, other])
    assert not fragment(other, [whole, part, other])  # other settings: its own routine
    assert not fragment(whole, [whole, part, other])
    assert ranked([part, other, whole], [_clock([600.0])] * 3, MinerConfig()) == [1, 2, 0]


def _armed_at_any_hour(days: int = 42) -> list[dict[str, Any]]:
    """Weekday evenings at 18:30 the alarm is disarmed and the hall light switched on (the routine).

    Disarming needs an armed alarm: on those days the household arms it when leaving, at any hour
    between 08:00 and 17:00, switching off the heater (switched on by an automation at 06:00) and the
    hall light. That is no routine (no habitual moment), but explains more actions than the routine.
    """
    events = [_event(0, 0, "alarm_control_panel.home", "disarmed", "device")]
    for day in range(days):
        if day % 7 >= 5:
            continue
        events.append(_event(day, 6 * 60, "switch.heater", "on", "automation"))
        leave = 8 * 60 + (day * 131) % 540
        events.append(_event(day, leave, "alarm_control_panel.home", "armed_away"))
        events.append(_event(day, leave + 1, "switch.heater", "off"))
        events.append(_event(day, leave + 2, "light.hall", "off"))
        events.append(_event(day, 18 * 60 + 30 + day % 5, "alarm_control_panel.home", "disarmed"))
        events.append(_event(day, 18 * 60 + 33 + day % 5, "light.hall", "on"))
    return events


def test_the_habitual_routine_comes_before_the_side_effect_of_it() -> None:
    routines = mine_event_log(parse_events(_armed_at_any_hour()))
    assert [r.actions for r in routines] == [
        {"alarm_control_panel.home": {"state": "disarmed"}, "light.hall": {"state": "on"}},
        {
            "alarm_control_panel.home": {"state": "armed_away"},
            "light.hall": {"state": "off"},
            "switch.heater": {"state": "off"},
        },
    ]
    assert routines[0].triggers == {"time_of_day": "evening", "day_of_week": "weekday"}


_BEDTIME = {
    "alarm_control_panel.home": ("disarmed", "armed_away"),
    "light.bedroom": ("off", "on"),
    "light.lamp": ("on", "off"),
    "media_player.tv": ("on", "off"),
}


def _bedtime(days: int = 42) -> list[dict[str, Any]]:
    """At 23:00 the alarm is armed, the bedroom light on, the lamp and the TV off; parts already set.

    One night in three a 22:00 automation has already armed the alarm and lit the bedroom; another
    night in three the lamp and the TV were never on. As in HA, setting a device to the state it
    already shows leaves no event, so sessions show all four devices, or only one pair of them.
    """
    events = [_event(0, 0, entity, states[0], "device") for entity, states in _BEDTIME.items()]
    for day in range(days):
        minute = 23 * 60 + day % 7
        pairs = (("alarm_control_panel.home", "light.bedroom"), ("light.lamp", "media_player.tv"))
        if day % 3 == 1:
            events += [_event(day, 22 * 60, e, _BEDTIME[e][1], "automation") for e in pairs[0]]
        else:
            events += [_event(day, minute + k, e, _BEDTIME[e][1]) for k, e in enumerate(pairs[0])]
        if day % 3 != 2:
            events += [_event(day, 20 * 60, e, _BEDTIME[e][0], "automation") for e in pairs[1]]
            events += [_event(day, minute + 2 + k, e, _BEDTIME[e][1]) for k, e in enumerate(pairs[1])]
        events += [_event(day + 1, 7 * 60, e, _BEDTIME[e][0], "automation") for e in pairs[0]]
    return events


def test_a_routine_seen_in_parts_is_returned_once() -> None:
    """The two pairs are each completed with the other (step 7): one routine, done every night."""
    routines = mine_event_log(parse_events(_bedtime()))
    assert [r.actions for r in routines] == [{e: {"state": states[1]} for e, states in _BEDTIME.items()}]
    assert routines[0].triggers == {"time_of_day": "night"}
    assert routines[0].support == 42


def test_a_routine_under_other_triggers_is_no_fragment() -> None:
    """The blinds closed on weekend evenings are not part of the blinds and lamps on weekday evenings."""
    blinds, lamps = {"cover.blinds": {"state": "closed"}}, {"light.lamps": {"state": "on"}}
    weekdays = Routine({"day_of_week": "weekday", "sun_phase": "after_sunset"}, blinds | lamps, support=33)
    weekends = Routine({"day_of_week": "weekend", "sun_phase": "after_sunset"}, blinds, support=16)
    assert not fragment(weekends, [weekdays, weekends])
    part = Routine({"day_of_week": "weekday", "sun_phase": "after_sunset"}, blinds, support=16)
    assert fragment(part, [weekdays, part])  # the same evenings: the user doing part of it
    wider = Routine({"sun_phase": "after_sunset"}, blinds, support=16)
    assert fragment(wider, [weekdays, wider])  # no trigger says otherwise
