"""Context monitor: SmartGen's ST/TT/NT shifts detected from date, activity hours and occupancy."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest

from habitus_engine.context_monitor import (
    ContextMonitor,
    MonitorConfig,
    ShiftDetection,
    jensen_shannon,
    night_share,
    season_of,
)

START = date(2026, 1, 1)


def feed_activity(monitor: ContextMonitor, first: date, days: int, hours: list[int]) -> None:
    for offset in range(days):
        day = first + timedelta(days=offset)
        for hour in hours:
            monitor.observe_behaviour(datetime(day.year, day.month, day.day, hour, 15))


def feed_occupancy(monitor: ContextMonitor, first: date, days: int, people: int) -> None:
    for offset in range(days):
        day = first + timedelta(days=offset)
        for hour in range(0, 24, 4):
            monitor.observe_occupancy(datetime(day.year, day.month, day.day, hour), people)


@pytest.mark.parametrize(
    ("day", "latitude", "season"),
    [
        (date(2026, 1, 10), 48.8, "winter"),
        (date(2026, 3, 1), 48.8, "spring"),
        (date(2026, 7, 4), None, "summer"),
        (date(2026, 10, 31), 40.4, "autumn"),
        (date(2026, 1, 10), -33.9, "summer"),
        (date(2026, 4, 10), -33.9, "autumn"),
    ],
)
def test_season_of(day: date, latitude: float | None, season: str) -> None:
    assert season_of(day, latitude) == season


def test_seasonal_shift_is_reported_once_until_acknowledged() -> None:
    monitor = ContextMonitor()
    assert monitor.detect(date(2026, 2, 20), 48.8) == []  # first judgement becomes the baseline
    found = monitor.detect(date(2026, 3, 2), 48.8)
    assert [(d.name, d.before, d.after) for d in found] == [("seasonal", "winter", "spring")]
    assert found[0].since == date(2026, 2, 24)  # the recent window's first day (7 days up to today)
    again = monitor.detect(date(2026, 3, 3), 48.8)  # still reported: not adapted yet
    assert [(d.name, d.after) for d in again] == [("seasonal", "spring")]
    monitor.acknowledge("seasonal", "spring")
    assert monitor.detect(date(2026, 3, 4), 48.8) == []
    assert found[0].as_context_shift().kind == "ST"


def test_schedule_shift_daytime_to_night() -> None:
    monitor = ContextMonitor()
    feed_activity(monitor, START, 28, [8, 10, 12, 13, 16])  # daytime household
    assert [d.name for d in monitor.detect(START + timedelta(days=27))] == []
    feed_activity(monitor, START + timedelta(days=28), 7, [20, 22, 23, 1, 3])  # now active at night
    found = [d for d in monitor.detect(START + timedelta(days=34)) if d.name == "schedule"]
    assert len(found) == 1
    assert (found[0].before, found[0].after) == ("daytime", "night")
    assert found[0].since == START + timedelta(days=28)  # the first night-active day
    assert "100% of user actions" in found[0].evidence
    shift = found[0].as_context_shift()
    assert shift.kind == "TT" and 1 in shift.active_hours


def test_schedule_needs_enough_behaviours() -> None:
    monitor = ContextMonitor(MonitorConfig(min_behaviours=30))
    feed_activity(monitor, START, 28, [9])
    feed_activity(monitor, START + timedelta(days=28), 7, [22, 2])  # only 14 behaviours recently
    assert [d for d in monitor.detect(START + timedelta(days=34)) if d.name == "schedule"] == []


def test_occupancy_shift_single_to_multiple() -> None:
    monitor = ContextMonitor()
    feed_occupancy(monitor, START, 28, 1)
    assert monitor.detect(START + timedelta(days=27)) == []
    feed_occupancy(monitor, START + timedelta(days=28), 7, 3)
    found = [d for d in monitor.detect(START + timedelta(days=34)) if d.name == "occupancy"]
    assert [(d.before, d.after) for d in found] == [("single", "multiple")]
    assert found[0].as_context_shift(1, 3).kind == "NT"


def test_nobody_home_is_not_a_sample() -> None:
    monitor = ContextMonitor()
    feed_occupancy(monitor, START, 7, 0)
    assert monitor.current(START + timedelta(days=6))["occupancy"] == "unknown"


def test_current_context() -> None:
    monitor = ContextMonitor()
    feed_activity(monitor, START, 7, [20, 21, 22, 23, 0])
    feed_occupancy(monitor, START, 7, 2)
    assert monitor.current(START + timedelta(days=6), 52.0) == {
        "season": "winter",
        "schedule": "night",
        "occupancy": "multiple",
    }


def test_history_is_bounded_and_round_trips() -> None:
    config = MonitorConfig(history_days=40)
    monitor = ContextMonitor(config)
    feed_activity(monitor, START, 100, [9])
    monitor.detect(START + timedelta(days=99))
    state = monitor.to_dict()
    assert len(state["days"]) == 41
    restored = ContextMonitor.from_dict(state, config)
    assert restored.to_dict() == state


def test_from_dict_skips_garbage() -> None:
    restored = ContextMonitor.from_dict(
        {
            "baseline": {"schedule": "night", "bogus": "x", "occupancy": 3},
            "days": {
                "2026-01-01": {"activity": [1] * 24, "occupancy": [2]},
                "nope": {},
                "2026-01-02": {"activity": [1]},
            },
        }
    )
    assert restored.baseline == {"schedule": "night"}
    assert list(restored.to_dict()["days"]) == ["2026-01-01"]


def test_jsd_and_night_share() -> None:
    day = np.zeros(24, dtype=np.int64)
    day[9] = 10
    night = np.zeros(24, dtype=np.int64)
    night[22] = 10
    assert jensen_shannon(day, day) == pytest.approx(0.0)
    assert jensen_shannon(day, night) == pytest.approx(1.0)
    assert night_share(night) == 1.0 and night_share(day) == 0.0


@pytest.mark.parametrize("bad", [{"recent_days": 0}, {"history_days": 10}, {"night_share_day": 0.7}])
def test_config_validation(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MonitorConfig(**bad)  # type: ignore[arg-type]


def test_detection_is_a_value() -> None:
    assert ShiftDetection("occupancy", "single", "multiple", "e") == ShiftDetection(
        "occupancy", "single", "multiple", "e"
    )


def feed_temperatures(monitor: ContextMonitor, first: date, days: int, celsius: float) -> None:
    for offset in range(days):
        day = first + timedelta(days=offset)
        for hour in range(0, 24, 6):
            monitor.observe_temperature(datetime(day.year, day.month, day.day, hour), celsius)


def test_outdoor_temperatures_must_confirm_a_new_season() -> None:
    monitor = ContextMonitor()
    feed_temperatures(monitor, date(2026, 1, 20), 35, 2.0)  # a cold winter baseline
    assert monitor.detect(date(2026, 2, 20), 48.8) == []  # winter becomes the baseline
    feed_temperatures(monitor, date(2026, 2, 24), 7, 3.0)  # March starts as cold as February
    assert monitor.detect(date(2026, 3, 2), 48.8) == []  # the calendar says spring, the weather not yet
    feed_temperatures(monitor, date(2026, 3, 3), 7, 9.0)
    found = monitor.detect(date(2026, 3, 9), 48.8)
    assert [(d.name, d.before, d.after) for d in found] == [("seasonal", "winter", "spring")]
    assert "outdoor temperature" in found[0].evidence and "°C" in found[0].evidence


def test_a_season_the_weather_never_confirms_is_reported_after_the_grace_days() -> None:
    monitor = ContextMonitor(MonitorConfig(season_grace_days=21))
    feed_temperatures(monitor, date(2026, 1, 1), 90, 2.0)  # an unchanging climate
    assert monitor.detect(date(2026, 2, 25), 48.8) == []
    assert monitor.detect(date(2026, 3, 21), 48.8) == []  # 20 days into spring, still 2 °C
    found = monitor.detect(date(2026, 3, 22), 48.8)
    assert [(d.before, d.after) for d in found] == [("winter", "spring")]


def test_colder_weather_confirms_autumn_in_the_southern_hemisphere() -> None:
    monitor = ContextMonitor()
    feed_temperatures(monitor, date(2026, 1, 25), 35, 24.0)  # southern summer
    assert monitor.detect(date(2026, 2, 27), -33.9) == []
    feed_temperatures(monitor, date(2026, 3, 1), 7, 25.0)  # warmer: does not confirm autumn
    assert monitor.detect(date(2026, 3, 7), -33.9) == []
    feed_temperatures(monitor, date(2026, 3, 8), 7, 15.0)
    assert [(d.before, d.after) for d in monitor.detect(date(2026, 3, 14), -33.9)] == [("summer", "autumn")]


def test_temperatures_round_trip_and_garbage_ones_are_skipped() -> None:
    monitor = ContextMonitor()
    monitor.observe_temperature(datetime(2026, 1, 1, 8), float("nan"))
    monitor.observe_temperature(datetime(2026, 1, 1, 9), 4.26)
    state = monitor.to_dict()
    assert state["days"]["2026-01-01"]["temperatures"] == [4.3]
    assert ContextMonitor.from_dict(state).to_dict() == state
    restored = ContextMonitor.from_dict(
        {"days": {"2026-01-02": {"activity": [0] * 24, "occupancy": [], "temperatures": ["x"]}}}
    )
    assert restored.to_dict()["days"] == {}
