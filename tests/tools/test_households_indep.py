"""The independently designed household generator (``bench routines --variant indep``).

Checks the generator against the issue's DIR format and its own declared semantics, re-deriving every
context from the written event log alone (latest ``sun.sun`` / ``weather.*`` snapshot before an event),
as Home Assistant would show it.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from habitus_engine.context import ContextSignals, derive_context
from habitus_engine.routines import TRIGGER_VALUES, routines_from_json, settings_from_snapshot
from habitus_engine.routines_events import parse_events
from habitus_tools.cli import main
from habitus_tools.households_indep import Household, generate, generate_household, write_households

SEEDS = (11, 12, 13, 14)
HA_SETTINGS = {
    "state",
    "brightness",
    "color_temp_kelvin",
    "effect",
    "hvac_mode",
    "temperature",
    "fan_mode",
    "preset_mode",
    "volume_level",
    "source",
    "sound_mode",
    "current_position",
    "percentage",
}
TOLERANCE = {
    "brightness": 10.0,
    "color_temp_kelvin": 150.0,
    "temperature": 0.5,
    "volume_level": 0.05,
    "current_position": 5.0,
    "percentage": 5.0,
}


@pytest.fixture(scope="module")
def households() -> list[Household]:
    return [generate_household(seed) for seed in SEEDS]


class LogContext:
    """Context at any moment, read only from the log's own sun.sun and weather.* snapshots."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        sun = [e for e in events if e["entity_id"] == "sun.sun"]
        weather = [e for e in events if e["entity_id"].startswith("weather.")]
        self.sun = [(datetime.fromisoformat(e["time"]).timestamp(), e["state"]) for e in sun]
        self.weather = [
            (datetime.fromisoformat(e["time"]).timestamp(), e["state"], e["attributes"]["temperature"])
            for e in weather
        ]

    def at(self, stamp: str) -> dict[str, str | float]:
        local = datetime.fromisoformat(stamp)
        i = bisect.bisect_right([t for t, _ in self.sun], local.timestamp()) - 1
        j = bisect.bisect_right([t for t, _, _ in self.weather], local.timestamp()) - 1
        return derive_context(
            ContextSignals(
                local_time=local,
                sun_state=self.sun[i][1] if i >= 0 else None,
                weather_condition=self.weather[j][1] if j >= 0 else None,
                outdoor_temp_c=self.weather[j][2] if j >= 0 else None,
            )
        )


def test_deterministic_by_seed() -> None:
    first = generate(2, 40)
    assert json.dumps(first) == json.dumps(generate(2, 40))
    assert json.dumps(first[1]) == json.dumps(generate(1, 41)[0])  # household k is seed + k
    assert json.dumps(first[0]) != json.dumps(generate(1, 42)[0])


def test_routines_follow_the_schema(households: list[Household]) -> None:
    for household in households:
        parsed = routines_from_json(json.dumps(household.routines))  # raises on a schema error
        assert 3 <= len(parsed) <= 8
        for routine in parsed:
            assert routine.triggers, "every routine has at least one trigger"
            assert all(v in TRIGGER_VALUES[k] for k, v in routine.triggers.items())
            for entity_id, settings in routine.actions.items():
                assert entity_id.split(".")[0] in {
                    "light",
                    "climate",
                    "media_player",
                    "alarm_control_panel",
                    "switch",
                    "cover",
                    "fan",
                }
                assert set(settings) <= HA_SETTINGS
                if "brightness" in settings:
                    assert 0 <= float(settings["brightness"]) <= 255
                if "volume_level" in settings:
                    assert 0 <= float(settings["volume_level"]) <= 1


def test_event_log_is_a_valid_ha_log(households: list[Household]) -> None:
    for household in households:
        events = household.events
        parsed = parse_events(events)  # raises on a malformed event
        assert len(parsed) == len(events)
        assert [e.time for e in parsed] == sorted(datetime.fromisoformat(e["time"]) for e in events)
        assert all(datetime.fromisoformat(e["time"]).utcoffset() is not None for e in events)
        origins = Counter(e["origin"] for e in events)
        assert origins["user"] > 50 and origins["automation"] > 50 and origins["device"] > 500
        sun = [e for e in events if e["entity_id"] == "sun.sun"]
        assert {e["state"] for e in sun} == {"above_horizon", "below_horizon"}
        assert all("next_rising" in e["attributes"] and "next_setting" in e["attributes"] for e in sun)
        weather = [e for e in events if e["entity_id"].startswith("weather.")]
        assert len(weather) >= 24 * 7 * 8  # hourly for at least 8 weeks
        assert all(isinstance(e["attributes"]["temperature"], float) for e in weather)
        days = {e["time"][:10] for e in events}
        assert 8 * 7 <= len(days) <= 12 * 7 + 1


def test_every_occurrence_happens_when_its_triggers_hold(households: list[Household]) -> None:
    for household in households:
        log = LogContext(household.events)
        for routine_index, indices in household.occurrences:
            triggers = household.routines[routine_index]["triggers"]
            for i in indices:
                context = log.at(household.events[i]["time"])
                assert all(context[k] == v for k, v in triggers.items()), (triggers, context)


def test_undeclared_fields_vary_across_occurrences(households: list[Household]) -> None:
    """The truth is identifiable: a field the routine does not declare is not constant in its data."""
    for household in households:
        log = LogContext(household.events)
        for r, routine in enumerate(household.routines):
            starts = [household.events[idx[0]]["time"] for k, idx in household.occurrences if k == r and idx]
            assert len(starts) >= 5, routine
            for name in set(TRIGGER_VALUES) - set(routine["triggers"]):
                assert len({log.at(t)[name] for t in starts}) >= 2, (name, routine)


def test_occurrences_show_the_true_settings_up_to_noise(households: list[Household]) -> None:
    hits: Counter[str] = Counter()
    for household in households:
        for r, indices in household.occurrences:
            truth = household.routines[r]["actions"]
            final: dict[str, dict[str, Any]] = {}
            for i in indices:
                e = household.events[i]
                if e["origin"] == "user":
                    final[e["entity_id"]] = dict(
                        settings_from_snapshot(e["entity_id"], e["state"], e["attributes"])
                    )
            assert set(final) <= set(truth)
            for entity_id, seen in final.items():
                for name, value in truth[entity_id].items():
                    if name in TOLERANCE:
                        hits["scalar"] += 1
                        hits["scalar_ok"] += abs(float(seen[name]) - float(value)) <= TOLERANCE[name]
                    else:
                        hits["categorical"] += 1
                        hits["categorical_ok"] += seen.get(name) == value
    assert hits["scalar_ok"] >= 0.9 * hits["scalar"] > 0
    assert hits["categorical_ok"] >= 0.95 * hits["categorical"] > 0


def test_about_a_quarter_of_user_behaviour_is_not_a_routine(households: list[Household]) -> None:
    for household in households:
        in_routines = {i for _, idx in household.occurrences for i in idx}
        user = [i for i, e in enumerate(household.events) if e["origin"] == "user"]
        share = 1 - sum(i in in_routines for i in user) / len(user)
        assert 0.12 <= share <= 0.45, share


def test_automations_repeat_exactly_and_are_marked(households: list[Household]) -> None:
    for household in households:
        automated = [e for e in household.events if e["origin"] == "automation"]
        by_entity = Counter(e["entity_id"] for e in automated)
        # The porch light at sunset and the night setback are daily: a trap for a miner misreading origins.
        assert max(by_entity.values()) >= 7 * 8


def test_bench_cli_writes_line_aligned_households(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_households(tmp_path / "direct", range(21, 23))
    assert (
        main(
            [
                "bench",
                "routines",
                "--households",
                str(tmp_path / "cli"),
                "--generate",
                "2",
                "--variant",
                "indep",
                "--seed",
                "21",
                "--json",
                str(tmp_path / "scores.json"),
            ]
        )
        == 0
    )
    for name in ("routines.jsonl", "events.jsonl"):
        cli = (tmp_path / "cli" / name).read_text(encoding="utf-8").splitlines()
        assert len(cli) == 2
        assert cli == (tmp_path / "direct" / name).read_text(encoding="utf-8").splitlines()
    scores = json.loads((tmp_path / "scores.json").read_text(encoding="utf-8"))
    assert scores["households"] == 2
    capsys.readouterr()
