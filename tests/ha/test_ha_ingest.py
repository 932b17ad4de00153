"""Ingest: real state changes on a real HA bus become behaviours, attributed and segmented (TSS)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.habitus.runtime import HabitusConfigEntry
from custom_components.habitus.store import storage_key

from .conftest import SetupHabitus

USER = Context(user_id="a1b2c3")
AUTOMATION = Context(parent_id="01JAUTOMATIONCONTEXT")
DEVICE = Context()


def learned(entry: HabitusConfigEntry) -> list[tuple[str, str, str]]:
    """(device, action, origin) of every behaviour stored or open, in order."""
    learner = entry.runtime_data.learner
    behaviours = [b for seq in learner.store.sequences() for b in seq] + learner.open_sequence
    return [(b.device, b.action, b.origin) for b in behaviours]


async def test_user_automation_and_device_changes_are_attributed(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    hass.states.async_set("light.kitchen", "off")
    hass.states.async_set("switch.kettle", "off")
    hass.states.async_set("cover.living", "closed", {"device_class": "blind"})
    entry = await setup_habitus()

    hass.states.async_set("light.kitchen", "on", {"brightness": 180}, context=USER)
    hass.states.async_set("switch.kettle", "on", context=AUTOMATION)
    hass.states.async_set("cover.living", "open", {"device_class": "blind"}, context=DEVICE)
    await hass.async_block_till_done()

    assert learned(entry) == [
        ("light.kitchen", "Light:switch on", "user"),
        ("switch.kettle", "Switch:switch on", "automation"),
        ("cover.living", "Blind:windowShade open", "device"),
    ]
    first = entry.runtime_data.learner.open_sequence[0]
    assert first.settings == {"state": "on", "brightness": 180.0}
    assert {"time_of_day", "day_of_week", "sun_phase", "weather", "outdoor_temp"} == set(first.context)
    assert (first.context["weather"], first.context["outdoor_temp"], first.context["sun_phase"]) == (
        "unknown",
        "unknown",
        "unknown",
    )  # no weather entity and no sun: unknown, never an error


async def test_gap_longer_than_max_gap_closes_the_sequence(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    hass.states.async_set("switch.a", "off")
    hass.states.async_set("switch.b", "off")
    entry = await setup_habitus({"max_gap_hours": 1.0, "max_span_hours": 24.0})
    store = entry.runtime_data.learner.store

    hass.states.async_set("switch.a", "on", context=USER)
    hass.states.async_set("switch.a", "off", context=USER)
    freezer.tick(timedelta(minutes=30))
    hass.states.async_set("switch.b", "on", context=USER)
    hass.states.async_set("switch.b", "off", context=USER)
    await hass.async_block_till_done()
    assert store.stored_sequences == 0  # 30 min < Δt_max: still one open sequence

    freezer.tick(timedelta(hours=2))
    hass.states.async_set("switch.a", "on", context=USER)
    await hass.async_block_till_done()

    sequences = store.sequences()
    assert [[b.action for b in seq] for seq in sequences] == [
        ["Switch:switch on", "Switch:switch off", "Switch:switch on", "Switch:switch off"]
    ]
    assert sequences[0][2].time - sequences[0][0].time == pytest.approx(0.5)
    assert [b.device for b in entry.runtime_data.learner.open_sequence] == ["switch.a"]
    assert entry.runtime_data.learner.sequences_learned == 1
    assert entry.runtime_data.learner.behaviours_learned == 5


async def test_idle_sequence_is_closed_by_the_timer(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    hass.states.async_set("light.hall", "off")
    entry = await setup_habitus({"max_gap_hours": 0.01, "max_span_hours": 0.02})
    hass.states.async_set("light.hall", "on", context=USER)
    hass.states.async_set("light.hall", "off", context=USER)
    await hass.async_block_till_done()
    assert entry.runtime_data.learner.store.stored_sequences == 0

    freezer.tick(timedelta(minutes=2))  # 0.033 h > Δt_max, and the light was switched off again
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert entry.runtime_data.learner.store.stored_sequences == 1
    assert entry.runtime_data.learner.open_sequence == []


async def test_excluded_entity_never_reaches_segmenter_or_store(
    hass: HomeAssistant, setup_habitus: SetupHabitus, hass_storage: dict[str, Any]
) -> None:
    hass.states.async_set("light.secret", "off")
    hass.states.async_set("light.public", "off")
    entry = await setup_habitus({"exclude_entities": ["light.secret"], "max_gap_hours": 0.001})
    learner = entry.runtime_data.learner
    seen: list[str] = []
    original_push = learner._segmenter.push

    def spy(behaviour):  # type: ignore[no-untyped-def]
        seen.append(behaviour.device)
        return original_push(behaviour)

    learner._segmenter.push = spy  # type: ignore[method-assign]
    for state in ("on", "off", "on"):
        hass.states.async_set("light.secret", state, context=USER)
        hass.states.async_set("light.public", state, context=USER)
    await hass.async_block_till_done()
    await learner.store.async_flush()

    assert seen == ["light.public"] * 3
    assert all(device == "light.public" for device, _, _ in learned(entry))
    stored = json.dumps(hass_storage[storage_key(entry.entry_id)])
    assert "light.secret" not in stored
    assert "light.public" in stored


async def test_attribute_churn_unavailable_and_unchanged_are_ignored(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    hass.states.async_set("climate.living", "heat", {"temperature": 20, "current_temperature": 18})
    hass.states.async_set("light.desk", "on", {"brightness": 100, "friendly_name": "Desk"})
    entry = await setup_habitus()

    hass.states.async_set("climate.living", "heat", {"temperature": 20, "current_temperature": 18.5})
    hass.states.async_set("climate.living", "heat", {"temperature": 20, "hvac_action": "heating"})
    hass.states.async_set("light.desk", "on", {"brightness": 100, "friendly_name": "Desk lamp"})
    hass.states.async_set(
        "light.desk", "on", {"brightness": 100, "friendly_name": "Desk lamp"}, force_update=True
    )
    hass.states.async_set("light.desk", "unavailable")
    hass.states.async_set("light.desk", "on", {"brightness": 100})
    hass.states.async_set("light.desk", "unknown")
    await hass.async_block_till_done()
    assert learned(entry) == []

    # a setting a person chose is a behaviour even without a state change
    hass.states.async_set(
        "climate.living", "heat", {"temperature": 22, "current_temperature": 18.5}, context=USER
    )
    await hass.async_block_till_done()
    assert learned(entry) == [("climate.living", "Heater:setHeatingSetpoint", "user")]
    assert entry.runtime_data.learner.open_sequence[0].settings == {"hvac_mode": "heat", "temperature": 22.0}


async def test_domains_areas_and_extra_entities_select_what_is_learned(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    kitchen = ar.async_get(hass).async_create("Kitchen")
    config_entry = MockConfigEntry(domain="test")
    config_entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=config_entry.entry_id, identifiers={("test", "lamp")}
    )
    dr.async_get(hass).async_update_device(device.id, area_id=kitchen.id)
    registry = er.async_get(hass)
    registry.async_get_or_create("light", "test", "lamp", device_id=device.id, suggested_object_id="lamp")
    registry.async_get_or_create(
        "switch", "test", "plug", suggested_object_id="plug", original_device_class="outlet"
    )
    for entity_id in ("light.lamp", "light.other", "switch.plug", "sensor.power"):
        hass.states.async_set(entity_id, "off")
    entry = await setup_habitus(
        {"include_domains": ["light"], "include_areas": [kitchen.id], "include_entities": ["switch.plug"]}
    )
    for entity_id in ("light.lamp", "light.other", "switch.plug", "sensor.power"):
        hass.states.async_set(entity_id, "on", context=USER)
    await hass.async_block_till_done()
    # light.lamp: in the kitchen through its device; switch.plug: listed (an outlet, so a SmartPlug)
    assert learned(entry) == [
        ("light.lamp", "Light:switch on", "user"),
        ("switch.plug", "SmartPlug:switch on", "user"),
    ]


async def test_malformed_events_never_raise(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    hass.states.async_set("light.a", "off")
    entry = await setup_habitus()
    hass.bus.async_fire(EVENT_STATE_CHANGED, {"entity_id": "light.a"})
    hass.bus.async_fire(EVENT_STATE_CHANGED, {"entity_id": "light.a", "new_state": "on", "old_state": 3})
    hass.bus.async_fire(EVENT_STATE_CHANGED, {"entity_id": 42})
    hass.bus.async_fire(EVENT_STATE_CHANGED, {})
    await hass.async_block_till_done()
    hass.states.async_set("light.a", "on", context=USER)
    await hass.async_block_till_done()
    assert learned(entry) == [("light.a", "Light:switch on", "user")]


async def test_context_reads_sun_and_weather(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    hass.states.async_set("sun.sun", "above_horizon")
    hass.states.async_set("weather.home", "rainy", {"temperature": 50, "temperature_unit": "°F"})
    hass.states.async_set("fan.ceiling", "off")
    entry = await setup_habitus()
    hass.states.async_set("fan.ceiling", "on", {"percentage": 50}, context=USER)
    await hass.async_block_till_done()
    context = entry.runtime_data.learner.open_sequence[0].context
    assert context["sun_phase"] == "daylight"
    assert context["weather"] == "rainy"
    assert context["outdoor_temp_c"] == pytest.approx(10.0)
    assert context["outdoor_temp"] == "mild"


async def test_the_configured_weather_entity_wins(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    hass.states.async_set("weather.a_first", "sunny", {"temperature": 30, "temperature_unit": "°C"})
    hass.states.async_set("weather.garden", "snowy", {"temperature": -5, "temperature_unit": "°C"})
    hass.states.async_set("light.a", "off")
    entry = await setup_habitus({"weather_entity": "weather.garden"})
    hass.states.async_set("light.a", "on", context=USER)
    await hass.async_block_till_done()
    context = entry.runtime_data.learner.open_sequence[0].context
    assert (context["weather"], context["outdoor_temp_c"]) == ("snowy", -5.0)


async def test_a_delayed_save_builds_its_document_on_the_event_loop(
    hass: HomeAssistant, setup_habitus: SetupHabitus, hass_storage: dict[str, Any]
) -> None:
    """HA's Store calls a delayed save's data function in an executor thread when it writes (the test
    harness's mock storage calls it on the loop, so the test calls it from a thread itself); the codec
    and the open sequence belong to the loop, so the store builds the document there."""
    hass.states.async_set("light.kitchen", "off")
    entry = await setup_habitus({"max_gap_hours": 24})
    store = entry.runtime_data.learner.store
    handed_to_ha: list[Any] = []
    built_on: list[int] = []
    tables = store._codec.tables

    def spy_tables():  # type: ignore[no-untyped-def]
        built_on.append(threading.get_ident())
        return tables()

    store._save_scheduled = False
    store._codec.tables = spy_tables  # type: ignore[method-assign]
    with patch.object(store._store, "async_delay_save", lambda func, _delay: handed_to_ha.append(func)):
        for state in ("on", "off", "on"):
            hass.states.async_set("light.kitchen", state, context=USER)
        await hass.async_block_till_done()
    assert len(handed_to_ha) == 1

    document = await hass.async_add_executor_job(handed_to_ha[0])

    assert built_on == [hass.loop_thread_id]
    assert "light.kitchen" in json.dumps(document["tables"]) and len(json.loads(document["open"])) == 3
