"""Synthetic households: seeded, line-aligned files, routines in schema, the noise the generator claims."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from habitus_engine.households import HouseholdConfig, generate_household, noisy_settings, write_households
from habitus_engine.routines import TRIGGER_FIELDS, routines_from_json
from habitus_engine.routines_events import ContextTimeline, behaviours_from_events, parse_events

VARIANTS = ("a", "b", "c")


@pytest.mark.parametrize("variant", VARIANTS)
def test_same_seed_same_household(variant: str) -> None:
    config = HouseholdConfig.for_variant(variant)  # type: ignore[arg-type]
    one, two = generate_household(4, config), generate_household(4, config)
    assert one.events == two.events
    assert [r.to_json() for r in one.routines] == [r.to_json() for r in two.routines]
    assert generate_household(5, config).events != one.events


@pytest.mark.parametrize("variant", VARIANTS)
def test_household_log_has_context_automations_and_a_quarter_spontaneous(variant: str) -> None:
    config = HouseholdConfig.for_variant(variant)  # type: ignore[arg-type]
    household = generate_household(1, config)
    lo, hi = config.routines
    assert lo <= len(household.routines) <= hi
    for routine in household.routines:
        routine.validate()
        assert set(routine.triggers) <= set(TRIGGER_FIELDS)
    entities = Counter(e["entity_id"].split(".")[0] for e in household.events)
    assert entities["sun"] >= 2 * config.days
    assert entities["weather"] == 24 * config.days
    origins = Counter(e["origin"] for e in household.events)
    assert origins["automation"] == config.automations * config.days
    share = household.spontaneous_sessions / (household.spontaneous_sessions + household.routine_sessions)
    assert share == pytest.approx(config.spontaneous_share, abs=0.02)
    events = parse_events(household.events)  # valid events.jsonl element
    assert all(e.time.utcoffset() is not None for e in events)


@pytest.mark.parametrize("variant", VARIANTS)
def test_routines_fire_under_their_contexts(variant: str) -> None:
    household = generate_household(2, HouseholdConfig.for_variant(variant))  # type: ignore[arg-type]
    events = parse_events(household.events)
    behaviours = [b for b in behaviours_from_events(events, ContextTimeline(events)) if b.origin == "user"]
    for routine in household.routines:
        entity, settings = next(iter(routine.actions.items()))
        categorical = {k: v for k, v in settings.items() if isinstance(v, str)}
        hits = [b for b in behaviours if b.device == entity and categorical.items() <= b.settings.items()]
        assert hits
        in_context = [b for b in hits if all(b.context[k] == v for k, v in routine.triggers.items())]
        assert len(in_context) >= 8  # it happens, and under its triggers


def test_variants_differ_in_design() -> None:
    a = generate_household(0, HouseholdConfig.for_variant("a"))
    b = generate_household(0, HouseholdConfig.for_variant("b"))
    devices_a = {e["entity_id"] for e in a.events if e["origin"] == "user"}
    devices_b = {e["entity_id"] for e in b.events if e["origin"] == "user"}
    assert not devices_a & devices_b
    assert a.events[0]["time"].endswith("+01:00") and b.events[0]["time"].endswith("-05:00")


def test_setting_noise_models() -> None:
    target: dict[str, str | float] = {"state": "on", "brightness": 128.0, "temperature": 21.0}
    rng = np.random.default_rng(0)
    a = [noisy_settings(target, "a", rng) for _ in range(400)]
    b = [noisy_settings(target, "b", rng) for _ in range(400)]
    assert all(s["state"] == "on" for s in a + b)
    exact_a = sum(s["brightness"] == 128.0 for s in a) / len(a)
    exact_b = sum(s["brightness"] == 128.0 for s in b) / len(b)
    assert exact_a < 0.2  # Gaussian on every occurrence
    assert exact_b > 0.55  # mostly exact, else Laplace
    assert abs(float(np.median([float(s["brightness"]) for s in a])) - 128.0) <= 2.0
    assert all(float(s["temperature"]) * 2 == round(float(s["temperature"]) * 2) for s in a)  # 0.5 °C steps


def test_write_households_is_line_aligned(tmp_path: Path) -> None:
    assert write_households(tmp_path, range(3), HouseholdConfig.for_variant("b")) == 3
    routines = (tmp_path / "routines.jsonl").read_text(encoding="utf-8").splitlines()
    events = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(routines) == len(events) == 3
    for truth_line, events_line, seed in zip(routines, events, range(3), strict=True):
        household = generate_household(seed, HouseholdConfig.for_variant("b"))
        assert [r.actions for r in routines_from_json(truth_line)] == [r.actions for r in household.routines]
        assert json.loads(events_line) == household.events
