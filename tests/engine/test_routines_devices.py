"""Routine miner on partial occurrences (devices already set) and concentrated trigger fields."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from habitus_engine.behaviour import Behaviour
from habitus_engine.routines_base import BaseContexts, MinerConfig
from habitus_engine.routines_devices import SessionLog, partial_devices
from habitus_engine.routines_events import parse_events
from habitus_engine.routines_miner import RoutineMiner, mine_event_log
from habitus_engine.routines_triggers import infer_triggers

TZ = timezone(timedelta(hours=1))
START = datetime(2025, 3, 3, tzinfo=TZ)  # Monday


def _event(
    day: int, minute: int, entity: str, state: str, origin: str = "user", **attrs: Any
) -> dict[str, Any]:
    when = START + timedelta(days=day, minutes=minute)
    return {"time": when.isoformat(), "entity_id": entity, "state": state, "attributes": attrs} | {
        "origin": origin
    }


def _evenings(days: int = 42) -> list[dict[str, Any]]:
    """Every evening the lounge light goes on (an automation turns it off at night) and the blinds close.

    The blinds are opened only one morning in three, so on the other evenings they are already closed
    and, as in Home Assistant, closing them again leaves no event. The kettle is switched on one
    evening in three, though it is off (and could be switched on) every evening: not part of it.
    """
    events = [_event(0, 0, "cover.lounge_blinds", "closed", "device")]
    for day in range(days):
        minute = 19 * 60 + (day * 7) % 20
        if day % 3 == 0:
            events.append(_event(day, 8 * 60, "cover.lounge_blinds", "open", current_position=100))
            events.append(_event(day, minute + 3, "cover.lounge_blinds", "closed"))
        events.append(_event(day, minute, "light.lounge", "on", brightness=100))
        events.append(_event(day, 23 * 60 + 30, "light.lounge", "off", "automation"))
        if day % 3 == 1:
            events.append(_event(day, minute + 5, "switch.kettle", "on"))
        events.append(_event(day, 23 * 60 + 40, "switch.kettle", "off", "automation"))
    return events


def test_partial_occurrences_give_the_full_action_set() -> None:
    routines = mine_event_log(parse_events(_evenings()))
    evening = next(r for r in routines if "light.lounge" in r.actions)
    assert evening.actions == {
        "cover.lounge_blinds": {"state": "closed"},
        "light.lounge": {"brightness": 100.0, "state": "on"},
    }
    assert evening.triggers.get("time_of_day") == "evening"
    assert evening.support == 42


def test_without_the_already_set_evenings_the_device_is_left_out() -> None:
    """The blinds opened every morning but closed on only a third of the evenings: not the routine's."""
    events = _evenings()
    mornings = [d for d in range(42) if d % 3]
    events += [_event(d, 8 * 60, "cover.lounge_blinds", "open", current_position=100) for d in mornings]
    routines = mine_event_log(parse_events(events))
    evening = next(r for r in routines if "light.lounge" in r.actions)
    assert "cover.lounge_blinds" not in evening.actions


def _log(sessions: list[list[tuple[str, str]]], before: list[dict[str, str]]) -> SessionLog:
    context: dict[str, str | float] = {"time_of_day": "evening", "clock_min": 1140.0}
    built = [
        [Behaviour(float(i), device, "x", "user", context, {"state": state}) for device, state in session]
        for i, session in enumerate(sessions)
    ]
    log = SessionLog.build([], built)
    log.before[:] = [{d: {"state": s} for d, s in b.items()} for b in before]
    return log


def test_a_device_set_as_often_without_the_routine_is_another_routine() -> None:
    """Kettle on in two thirds of the lamp's sessions, and as often on evenings without the lamp."""
    lamp, kettle = ("light.lamp", "on"), ("switch.kettle", "on")
    sessions = [[lamp, kettle] if i % 3 else [lamp] for i in range(30)]  # 20 of 30 with the kettle
    sessions += [[kettle] if i % 3 else [("light.hall", "on")] for i in range(15)]  # lamp needed, not done
    log = _log(sessions, [{"light.lamp": "off", "switch.kettle": "off"}] * len(sessions))
    routine = {"light.lamp": {"state": "on"}}
    config = MinerConfig()
    assert partial_devices(routine, range(30), range(30, 45), log, config) == {}
    # the same sessions, but the kettle is never set when the lamp is not: part of the lamp's routine
    alone = [[("light.hall", "on")] for _ in range(15)]
    log = _log(sessions[:30] + alone, [{"light.lamp": "off", "switch.kettle": "off"}] * 45)
    added = partial_devices(routine, range(30), range(30, 45), log, config)
    assert list(added) == [("switch.kettle", (("state", "on"),))]
    assert len(added[("switch.kettle", (("state", "on"),))]) == 20


def _contexts(weekday: int, sunny: int, n: int = 40) -> list[dict[str, str | float]]:
    """The first ``weekday`` occurrences on weekdays; the *last* ``sunny`` ones sunny (misses apart)."""
    return [
        {
            "time_of_day": "evening",
            "day_of_week": "weekday" if i < weekday else "weekend",
            "weather": "sunny" if i >= n - sunny else "cloudy",
            "clock_min": 1140.0,
        }
        for i in range(n)
    ]


def test_a_concentrated_but_not_constant_trigger_is_kept_against_the_base_rate() -> None:
    """Weekday on 95 % of the occurrences (base 5/7): kept; sunny on 85 % (base 80 %): chance, dropped."""
    base = BaseContexts.from_samples(
        (
            day,
            {
                "time_of_day": "evening",
                "day_of_week": "weekday" if day % 7 < 5 else "weekend",
                "weather": "sunny" if day % 5 else "cloudy",
                "clock_min": 1140.0,
            },
        )
        for day in range(70)
    )
    triggers = infer_triggers(_contexts(weekday=38, sunny=34), base, MinerConfig())
    assert triggers == {"time_of_day": "evening", "day_of_week": "weekday"}
    # constant on the weekday, sunny as often as the household's evenings are: still not a trigger
    assert "weather" not in infer_triggers(_contexts(weekday=40, sunny=32), base, MinerConfig())


def test_look_alikes_that_break_another_trigger_do_not_count_against_a_field() -> None:
    """A weekend-afternoon routine (in daylight, 90 % of the household's weekend afternoons) done 22
    times, and 2 look-alike sessions on weekend evenings after sunset. Those break ``time_of_day``
    already; judged on the occurrences where the other fields hold, daylight is constant: kept."""
    samples = []
    for day in range(70):
        kind = "weekend" if day % 7 >= 5 else "weekday"
        for tod, minute, sun in (
            ("morning", 540.0, "daylight"),
            ("afternoon", 840.0, "after_sunset" if day % 10 == 0 else "daylight"),
            ("evening", 1140.0, "after_sunset"),
        ):
            samples.append(
                (day, {"time_of_day": tod, "day_of_week": kind, "sun_phase": sun, "clock_min": minute})
            )
    base = BaseContexts.from_samples(samples)
    routine: dict[str, str | float] = {
        "time_of_day": "afternoon",
        "day_of_week": "weekend",
        "sun_phase": "daylight",
        "clock_min": 840.0,
    }
    look_alike: dict[str, str | float] = routine | {
        "time_of_day": "evening",
        "sun_phase": "after_sunset",
        "clock_min": 1140.0,
    }
    triggers = infer_triggers([routine] * 22 + [look_alike] * 2, base, MinerConfig())
    assert triggers == {"time_of_day": "afternoon", "day_of_week": "weekend", "sun_phase": "daylight"}


def _dusk_and_tv_evenings() -> tuple[list[Behaviour], BaseContexts]:
    """Lamp and blinds at 19:30 after sunset (the 30 darker days); with the TV at 18:00 on weekdays in
    daylight (the 30 lighter days). The lamp-and-blinds pattern alone mixes both routines."""
    behaviours: list[Behaviour] = []
    samples = []
    for day in range(60):
        when = START + timedelta(days=day)
        sun = "daylight" if day < 30 else "after_sunset"
        kind = "weekday" if when.weekday() < 5 else "weekend"
        for minute in (1080, 1170):
            context: dict[str, str | float] = {
                "time_of_day": "evening",
                "day_of_week": kind,
                "sun_phase": sun,
                "clock_min": float(minute),
            }
            samples.append((day, context))
            at = (when + timedelta(minutes=minute)).timestamp() / 3600.0
            devices = [
                ("light.lamp", {"state": "on", "brightness": 100.0}),
                ("cover.blinds", {"state": "closed"}),
            ]
            if minute == 1080 and sun == "daylight" and kind == "weekday":
                devices.append(("media_player.tv", {"state": "on"}))
            elif minute == 1080 or sun == "daylight":
                continue
            for i, (device, settings) in enumerate(devices):
                behaviours.append(Behaviour(at + i / 60.0, device, "x", "user", context, dict(settings)))
    return behaviours, BaseContexts.from_samples(samples)


def test_a_routine_of_more_devices_in_a_narrower_context_is_taken_out_of_the_mixture_first() -> None:
    behaviours, base = _dusk_and_tv_evenings()
    routines = {len(r.actions): r for r in RoutineMiner().fit(behaviours, base).predict()}
    assert routines[3].triggers == {
        "time_of_day": "evening",
        "day_of_week": "weekday",
        "sun_phase": "daylight",
    }
    assert routines[2].triggers == {"time_of_day": "evening", "sun_phase": "after_sunset"}
    assert routines[2].support == 30


def test_sessions_of_the_device_at_another_moment_are_no_background() -> None:
    """The kettle's own sessions (``elsewhere``) do not count against the kettle in the lamp's sessions.

    Kettle in 22 of the lamp's 30 sessions; the background is 15 sessions of the kettle's own routine
    and 10 of the hall light, none with the kettle. Left out, the kettle is set in none of the rest.
    """
    lamp, kettle = ("light.lamp", "on"), ("switch.kettle", "on")
    sessions = [[lamp, kettle] if i % 4 else [lamp] for i in range(30)]
    sessions += [[kettle] for _ in range(15)] + [[("light.hall", "on")] for _ in range(10)]
    log = _log(sessions, [{"light.lamp": "off", "switch.kettle": "off"}] * len(sessions))
    routine = {"light.lamp": {"state": "on"}}
    config = MinerConfig()
    assert partial_devices(routine, range(30), range(30, 55), log, config) == {}
    elsewhere = {"switch.kettle": set(range(30, 45))}
    added = partial_devices(routine, range(30), range(30, 55), log, config, elsewhere=elsewhere)
    assert list(added) == [("switch.kettle", (("state", "on"),))]
    assert len(added[("switch.kettle", (("state", "on"),))]) == 22


def _heater_mornings(days: int = 44) -> list[dict[str, Any]]:
    """Three mornings in four the driveway heater goes on at 08:00; every morning at 09:00 the heating
    goes to 21 °C and the heater on (an automation turns both back at noon and at night).

    On the heater's mornings it is already on at 09:00, so the 09:00 routine switches it on only on the
    other mornings (11 of 44), every time. Sessions are cut at 30 idle minutes: the 08:00 sessions are
    the heater's own routine, at another moment of the day.
    """
    events = [
        _event(0, 0, "switch.heater", "off", "device"),
        _event(0, 0, "climate.thermostat", "heat", "device", temperature=17.0),
    ]
    for day in range(days):
        if day % 4:
            events.append(_event(day, 8 * 60 + (day * 7) % 10, "switch.heater", "on"))
        at = 9 * 60 + (day * 5) % 10
        events.append(_event(day, at, "climate.thermostat", "heat", temperature=21.0))
        if day % 4 == 0:
            events.append(_event(day, at + 2, "switch.heater", "on"))
        events.append(_event(day, 12 * 60, "switch.heater", "off", "automation"))
        events.append(_event(day, 22 * 60, "climate.thermostat", "heat", "automation", temperature=17.0))
    return events


def test_a_device_with_its_own_routine_at_another_moment_is_still_part_of_this_one() -> None:
    """The 08:00 heater sessions set the heater in all of them: no evidence against the 09:00 heater.

    Before they left its background (set there 33 of 33 times), the 09:00 routine was the heating alone.
    """
    routines = mine_event_log(parse_events(_heater_mornings()))
    nine = next(r for r in routines if "climate.thermostat" in r.actions)
    assert nine.actions == {
        "climate.thermostat": {"hvac_mode": "heat", "temperature": 21.0},
        "switch.heater": {"state": "on"},
    }
    assert nine.typical_time is not None and nine.typical_time.startswith("09:")
    eight = next(r for r in routines if set(r.actions) == {"switch.heater"})
    assert eight.typical_time is not None and eight.typical_time.startswith("08:")


def test_partial_occurrences_of_the_routine_are_no_background() -> None:
    """Sessions that did part of the routine (the TV already off) are the routine, not its background.

    The alarm is armed in 24 of the routine's 30 sessions (lamp and TV off). In 15 more sessions only
    the lamp was switched off, the TV being off already, and the alarm armed in 14: the same routine
    done in part. Counted as sessions without the routine, they set the alarm as often as the
    routine's own and hid it; the background is the 5 sessions that did none of the routine.
    """
    lamp, tv, alarm = ("light.lamp", "off"), ("media_player.tv", "off"), ("alarm.house", "armed_night")
    sessions = [[lamp, tv, alarm] if i % 5 else [lamp, tv] for i in range(30)]
    sessions += [[lamp, alarm] if i else [lamp] for i in range(15)]
    sessions += [[("light.hall", "on")] for _ in range(5)]
    before = [{"light.lamp": "on", "media_player.tv": "on", "alarm.house": "disarmed"}] * 30
    before += [{"light.lamp": "on", "media_player.tv": "off", "alarm.house": "disarmed"}] * 20
    log = _log(sessions, before)
    routine = {"light.lamp": {"state": "off"}, "media_player.tv": {"state": "off"}}
    added = partial_devices(routine, range(30), range(30, 50), log, MinerConfig())
    assert list(added) == [("alarm.house", (("state", "armed_night"),))]
    assert len(added[("alarm.house", (("state", "armed_night"),))]) == 24
