"""Live entities with the real base models: anomaly, score, next action, context, model status, event."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.habitus.engine.models import ModelFileError, TransAE
from custom_components.habitus.live_models import ASSETS_DIR

from .conftest import SetupHabitus
from .live_helpers import NORMAL, UNUSUAL, USER, act, anomaly_notifications, calibrate_on_regular_home, start

OPTIONS = {"max_gap_hours": 0.05}  # a 3-minute TSS gap: sequences close within a test
LIVE = {
    "binary_sensor.habitus_anomaly": None,
    "event.habitus_anomaly": None,
    "sensor.habitus_anomaly_score": None,
    "sensor.habitus_next_action": None,
    "sensor.habitus_context": None,
    "sensor.habitus_model_version": EntityCategory.DIAGNOSTIC,
    "sensor.habitus_model_trained_on": EntityCategory.DIAGNOSTIC,
    "sensor.habitus_model_training_data": EntityCategory.DIAGNOSTIC,
    "sensor.habitus_model_last_evaluation": EntityCategory.DIAGNOSTIC,
    "sensor.habitus_learning_progress": EntityCategory.DIAGNOSTIC,
}


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _attrs(hass: HomeAssistant, entity_id: str) -> dict[str, object]:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return dict(state.attributes)


async def test_cold_start_serves_the_base_models_and_says_so(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    registry = er.async_get(hass)
    for entity_id, category in LIVE.items():
        registered = registry.async_get(entity_id)
        assert registered is not None, entity_id
        assert registered.unique_id.startswith(entry.entry_id)
        assert registered.entity_category == category, entity_id
    assert _state(hass, "sensor.habitus_model_version") == "base-fr"
    assert _attrs(hass, "sensor.habitus_model_version")["source"] == "base"
    assert _attrs(hass, "sensor.habitus_model_version")["backend"] == "onnxruntime"
    assert _state(hass, "sensor.habitus_model_training_data") == "1125"
    built = TransAE.load(ASSETS_DIR / "transae_fr.npz").metadata["built"]  # "YYYY-MM-DD HH:MM UTC"
    assert _state(hass, "sensor.habitus_model_trained_on").startswith(f"{built[:10]}T{built[11:16]}")
    assert _state(hass, "sensor.habitus_learning_progress") == "0.0"
    assert _state(hass, "binary_sensor.habitus_anomaly") == "off"
    assert _state(hass, "sensor.habitus_anomaly_score") == "unknown"
    assert _state(hass, "sensor.habitus_next_action") == "unknown"
    assert _state(hass, "event.habitus_anomaly") == "unknown"


async def test_a_normal_sequence_is_scored_below_the_threshold_with_top_k_next_actions(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    await act(hass, freezer, NORMAL)
    score = float(_state(hass, "sensor.habitus_anomaly_score"))
    attrs = _attrs(hass, "sensor.habitus_anomaly_score")
    assert 0 < score < float(attrs["threshold"])  # type: ignore[arg-type]
    assert attrs["sequence_length"] == 2
    assert _state(hass, "binary_sensor.habitus_anomaly") == "off"
    top_k = _attrs(hass, "sensor.habitus_next_action")["top_k"]
    assert isinstance(top_k, list) and len(top_k) == 5
    assert _state(hass, "sensor.habitus_next_action") == top_k[0]["name"]  # in words (test_next_action)
    assert _attrs(hass, "sensor.habitus_next_action")["action"] == top_k[0]["action"]  # the raw one
    probabilities = [item["probability"] for item in top_k]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0 < p < 1 and ":" in item["action"] for p, item in zip(probabilities, top_k, strict=True))
    assert anomaly_notifications(hass) == {}
    assert _attrs(hass, "sensor.habitus_model_version")["vocabulary_coverage"] == 100.0


async def test_an_unusual_sequence_raises_the_sensor_fires_the_event_and_notifies_once(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    await act(hass, freezer, UNUSUAL)
    assert _state(hass, "binary_sensor.habitus_anomaly") == "on"
    score = float(_state(hass, "sensor.habitus_anomaly_score"))
    assert score > float(_attrs(hass, "sensor.habitus_anomaly_score")["threshold"])  # type: ignore[arg-type]
    event = _attrs(hass, "event.habitus_anomaly")
    assert event["event_type"] == "anomaly_detected"
    assert event["notified"] is True
    devices = event["devices"]
    assert isinstance(devices, list) and set(devices) <= {"valve.main", "siren.hall"}
    assert float(event["score"]) > float(event["threshold"])  # type: ignore[arg-type]
    notifications = anomaly_notifications(hass)
    assert len(notifications) == 1
    message = next(iter(notifications.values()))["message"]
    assert "valve.main: open" in message  # no name given: its id (test_live_services names it)
    assert f"above the threshold {float(event['threshold']):.2f}" in message  # type: ignore[arg-type]
    assert "most surprising behaviour" in message
    assert "habitus.feedback" in message


async def test_the_sensor_ends_when_the_sequence_closes(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    await act(hass, freezer, UNUSUAL)
    assert _state(hass, "binary_sensor.habitus_anomaly") == "on"
    freezer.tick(timedelta(minutes=10))
    async_fire_time_changed(hass, dt_util.utcnow())  # the idle check closes the sequence
    await hass.async_block_till_done(wait_background_tasks=True)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=2))  # the throttled refresh
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, "binary_sensor.habitus_anomaly") == "off"
    assert _state(hass, "sensor.habitus_anomaly_score") == "unknown"


async def test_the_anomaly_event_and_sensor_have_names_of_their_own(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """Both were "Habitus Anomaly" in the entity list, the logbook and an automation's entity picker."""
    start(hass, freezer)
    await setup_habitus(OPTIONS)
    names = {
        e: _attrs(hass, e)["friendly_name"]
        for e in ("binary_sensor.habitus_anomaly", "event.habitus_anomaly")
    }
    assert names == {
        "binary_sensor.habitus_anomaly": "Habitus Anomaly",
        "event.habitus_anomaly": "Habitus Anomalies",
    }


async def test_the_anomaly_sensor_says_its_details_in_words_and_only_while_on(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """Its attributes panel read "Score: Unknown", "Most surprising behaviour: Unknown" while there
    was no anomaly, and "WaterValve:valve open (valve.main)" during one, where the notification says
    "valve.main: open" (the device's name, here its id, and what it did)."""
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    await act(hass, freezer, NORMAL)
    assert _state(hass, "binary_sensor.habitus_anomaly") == "off"
    assert not {"score", "most_surprising"} & set(_attrs(hass, "binary_sensor.habitus_anomaly"))
    freezer.tick(timedelta(minutes=10))
    await act(hass, freezer, UNUSUAL)
    assert _state(hass, "binary_sensor.habitus_anomaly") == "on"
    attributes = _attrs(hass, "binary_sensor.habitus_anomaly")
    worst = attributes["most_surprising"]
    assert isinstance(worst, str) and "(" not in worst and ":" in worst
    message = next(iter(anomaly_notifications(hass).values()))["message"]
    assert f"The most surprising behaviour: {worst}." in message
    assert float(attributes["score"]) > float(_attrs(hass, "sensor.habitus_anomaly_score")["threshold"])  # type: ignore[arg-type]


async def test_behaviours_outside_the_vocabulary_are_unknown_not_errors(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    await setup_habitus(OPTIONS)
    await act(hass, freezer, (("humidifier.bath", "on"),))  # FR has no humidifier
    assert _state(hass, "sensor.habitus_anomaly_score") == "unknown"
    assert _attrs(hass, "sensor.habitus_anomaly_score")["unknown_behaviours"] == ["Humidifier:switch on"]
    await act(hass, freezer, NORMAL)
    assert float(_state(hass, "sensor.habitus_anomaly_score")) > 0
    assert _attrs(hass, "sensor.habitus_model_version")["vocabulary_coverage"] == round(200 / 3, 1)


async def test_context_follows_persons_at_home_and_the_latitude(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    await setup_habitus(OPTIONS)
    assert _state(hass, "sensor.habitus_context") == "autumn"  # November, northern hemisphere
    assert _attrs(hass, "sensor.habitus_context")["people_home"] == 0
    hass.states.async_set("person.ann", "home")
    hass.states.async_set("person.bob", "home")
    await hass.async_block_till_done()
    assert _attrs(hass, "sensor.habitus_context")["people_home"] == 2
    for _ in range(6):  # 12 samples with two or three people home: the occupancy can be judged
        hass.states.async_set("person.cat", "home")
        hass.states.async_set("person.cat", "not_home")
    await hass.async_block_till_done()
    attrs = _attrs(hass, "sensor.habitus_context")
    assert attrs["occupancy"] == "multiple"
    assert attrs["people_home"] == 2
    hass.states.async_set("person.bob", "not_home")
    await hass.async_block_till_done()
    assert _attrs(hass, "sensor.habitus_context")["people_home"] == 1
    await hass.config.async_update(latitude=-33.9)
    hass.states.async_set("person.bob", "home")
    await hass.async_block_till_done()
    assert _state(hass, "sensor.habitus_context") == "spring"  # the southern hemisphere's November


async def test_context_samples_the_weather_entitys_outdoor_temperature_for_the_season(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """ST is confirmed by outdoor temperatures: the weather entity's, in °C, sampled with the head count."""
    start(hass, freezer)
    hass.states.async_set("weather.home", "sunny", {"temperature": 50, "temperature_unit": "°F"})
    entry = await setup_habitus(OPTIONS)
    live = entry.runtime_data.live
    assert live is not None
    freezer.tick(timedelta(minutes=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    hass.states.async_set("weather.home", "rainy", {"temperature": "n/a"})  # unreadable: not sampled
    freezer.tick(timedelta(minutes=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()

    days = live.store.monitor.to_dict()["days"]
    assert [t for day in days.values() for t in day["temperatures"]] == [10.0]
    assert _state(hass, "sensor.habitus_context") == "autumn"


async def test_swap_models_serves_the_new_models_at_once(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await act(hass, freezer, NORMAL)
    live = entry.runtime_data.live
    assert live is not None
    await live.async_deploy(hass, ASSETS_DIR / "transae_fr.npz", ASSETS_DIR / "sasrec_fr.npz", "home-1")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, "sensor.habitus_model_version") == "home-1"
    assert _attrs(hass, "sensor.habitus_model_version")["source"] == "home"
    assert float(_state(hass, "sensor.habitus_anomaly_score")) > 0  # the open sequence was rescored
    bad = Path(str(hass.config.path("missing.npz")))
    with pytest.raises(ModelFileError):
        await live.async_deploy(hass, bad, bad, "home-2")
    assert _state(hass, "sensor.habitus_model_version") == "home-1"  # a bad pair changes nothing


async def test_unload_during_scoring_and_reloads_leave_nothing_behind(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    listeners = []
    for _ in range(3):
        learner = entry.runtime_data.learner
        assert len(learner.observers) == 3  # the scorer, the context tracker, the action names
        hass.states.async_set("valve.main", "open", context=USER)  # a scoring job starts...
        assert await hass.config_entries.async_reload(entry.entry_id)  # ...and the entry reloads
        await hass.async_block_till_done(wait_background_tasks=True)
        assert learner.observers == []
        hass.states.async_set("valve.main", "closed", context=USER)
        await hass.async_block_till_done(wait_background_tasks=True)
        listeners.append(hass.bus.async_listeners())
    assert listeners[0] == listeners[1] == listeners[2]  # nothing accumulates across reloads
    assert _state(hass, "binary_sensor.habitus_anomaly") in ("on", "off")
