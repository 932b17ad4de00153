"""What a user reads of the next-action sensor: its state in words, the raw action in its attributes, and
what the logbook lists of it (a real HA with the recorder, and the logbook where a test sets it up)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.habitus.action_names import CONTROL_WORDS, action_label, entity_name
from custom_components.habitus.engine import devices
from custom_components.habitus.runtime import HabitusConfigEntry

from .conftest import SetupHabitus
from .home_helpers import store_regular_home
from .live_helpers import CALIBRATION_DAYS, NORMAL, act, start

OPTIONS = {"max_gap_hours": 0.05}
NEXT = "sensor.habitus_next_action"
# The actions the calibrated base models may predict after NORMAL (home_helpers' routines, whose lock
# action FR does not know, and the air conditioner of NORMAL): the sensor's words, the entities doing it.
# Three names: a friendly name (the TV), a registry name (the coffee switch has no state), none (its id).
EXPECTED = {
    "Light:switch on": ("Light: switch on", {"light.kitchen", "light.living"}),
    "Light:switch off": ("Light: switch off", {"light.kitchen", "light.living", "light.hall"}),
    "Switch:switch on": ("Coffee machine: switch on", {"switch.coffee"}),
    "Television:switch on": ("Living room TV: switch on", {"media_player.tv"}),
    "Television:switch off": ("Living room TV: switch off", {"media_player.tv"}),
    "AirConditioner:switch on": ("climate.living: switch on", {"climate.living"}),
    "AirConditioner:switch off": ("climate.living: switch off", {"climate.living"}),
}


async def _regular_home(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> HabitusConfigEntry:
    """The regular home stored and the base models calibrated on it (a restart reads both), then the air
    conditioner switched on and off."""
    start(hass, freezer)
    hass.states.async_set("media_player.tv", "off", {"friendly_name": "Living room TV"})
    for light in ("light.kitchen", "light.living", "light.hall"):  # in the home (without a name)
        hass.states.async_set(light, "off")
    er.async_get(hass).async_get_or_create(
        "switch", "demo", "coffee", suggested_object_id="coffee", original_name="Coffee machine"
    )
    entry = await setup_habitus(OPTIONS)
    store_regular_home(entry, CALIBRATION_DAYS)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await act(hass, freezer, NORMAL)
    return entry


async def test_the_state_names_the_entity_doing_the_action_and_the_attributes_keep_the_raw_one(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    await _regular_home(hass, setup_habitus, freezer)
    state = hass.states.get(NEXT)
    assert state is not None
    top_k = state.attributes["top_k"]
    assert len(top_k) == 5
    described = {item["action"]: (item["name"], set(item["entities"])) for item in top_k}
    assert described == {action: EXPECTED[action] for action in described}
    assert any(len(entities) == 1 for _, entities in described.values())  # an entity is named
    assert state.state == top_k[0]["name"]
    assert state.attributes["action"] == top_k[0]["action"]  # for automations: the raw action
    assert state.attributes["entities"] == top_k[0]["entities"]


async def test_without_a_prediction_the_sensor_has_no_empty_attributes(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """Between sequences the demo's more-info dialog read "Unknown" with the attributes "Action: Unknown",
    "Entities" and "Most likely next actions" left blank."""
    await _regular_home(hass, setup_habitus, freezer)
    assert hass.states.get(NEXT).attributes["top_k"]  # type: ignore[union-attr]
    freezer.tick(timedelta(minutes=10))
    async_fire_time_changed(hass, dt_util.utcnow())  # the idle check closes the sequence
    await hass.async_block_till_done(wait_background_tasks=True)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=2))  # the throttled refresh
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(NEXT)
    assert state is not None and state.state == "unknown"
    assert not {"action", "entities", "top_k"} & set(state.attributes)


async def test_an_action_no_entity_of_this_home_did_is_named_by_its_device_type(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    entry = await _regular_home(hass, setup_habitus, freezer)
    live = entry.runtime_data.live
    assert live is not None
    # FR's actions an uncalibrated base model may predict: no entity here has done them.
    assert live.actions.describe("RobotCleaner:setRobotCleanerMovement charging") == {
        "name": "Robot cleaner: dock",
        "entities": [],
    }
    assert live.actions.describe("None:location") == {"name": "Location", "entities": []}
    hass.states.async_set("climate.living", "off", {"friendly_name": "A" * 300})
    named = live.actions.describe("AirConditioner:switch on")["name"]
    assert len(named) == 255 and named.endswith("…")  # HA's limit for a state


async def test_an_entity_no_longer_in_the_home_is_not_named(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """A removed (or renamed) entity stayed among those that did an action: the sensor named a device
    the home no longer has, or the device type where one light of two is left."""
    entry = await _regular_home(hass, setup_habitus, freezer)
    live = entry.runtime_data.live
    assert live is not None
    hass.states.async_remove("media_player.tv")
    hass.states.async_remove("light.living")
    assert live.actions.describe("Television:switch on") == {"name": "Television: switch on", "entities": []}
    assert live.actions.describe("Light:switch on") == {
        "name": "light.kitchen: switch on",
        "entities": ["light.kitchen"],
    }


@pytest.mark.parametrize(
    ("action", "name", "label"),
    [
        ("Light:switch on", "Kitchen light", "Kitchen light: switch on"),
        ("AirConditioner:setAcOptionalMode", None, "Air conditioner: set ac optional mode"),
        ("None:scene", None, "Scene"),
        # What the device does, not the SmartThings capability: the sensor read "Blind: window shade
        # open", "Robot cleaner: set robot cleaner movement cleaning" in the demo.
        ("Blind:windowShade open", "Living room blind", "Living room blind: open"),
        ("RobotCleaner:setRobotCleanerMovement cleaning", None, "Robot cleaner: start cleaning"),
        ("Light:setLevel", "Kitchen light", "Kitchen light: set brightness"),
        ("Television:mediaPlayback pause", None, "Television: pause"),
        ("AirConditioner:setAirConditionerMode", None, "Air conditioner: set mode"),
        ("Heater:setHeatingSetpoint", "Bedroom radiator", "Bedroom radiator: set target temperature"),
        # A fan's "setFanMode" is its preset (devices.SETTING_CONTROLS): it read "Fan: set fan mode".
        ("Fan:setFanMode", None, "Fan: set preset"),
        ("AirConditioner:setFanMode", None, "Air conditioner: set fan mode"),
        ("TV:switch on", None, "TV: switch on"),  # SmartThings' acronyms read "Tv", "Led"
    ],
    ids=[
        "named",
        "unmapped-control",
        "hub-action",
        "blind",
        "vacuum",
        "dimmer",
        "media",
        "mode",
        "setpoint",
        "fan-preset",
        "ac-fan-mode",
        "acronym",
    ],
)
def test_action_labels(action: str, name: str | None, label: str) -> None:
    assert action_label(action, name) == label


async def test_a_friendly_name_that_is_no_text_gives_way_to_the_registry_name(hass: HomeAssistant) -> None:
    """An integration's non-text friendly name (a number) hid the registry's name: the entity had none."""
    er.async_get(hass).async_get_or_create(
        "switch", "demo", "kettle", suggested_object_id="kettle", original_name="Kettle"
    )
    hass.states.async_set("switch.kettle", "on", {"friendly_name": 42})
    assert entity_name(hass, "switch.kettle") == "Kettle"


def test_every_control_habitus_records_has_words() -> None:
    """Every control Habitus records from Home Assistant as "<capability> <value>" (a blind's, a
    vacuum's, a media player's ...) has words of its own; "switch on" and "switch off" stay."""
    recorded = {c for controls in devices._STATE_CONTROLS.values() for c in controls.values()}
    recorded |= {control for pairs in devices.SETTING_CONTROLS.values() for _, control in pairs}
    assert {"windowShade open", "mediaPlayback play", "setRobotCleanerMovement homing"} <= set(CONTROL_WORDS)
    assert {c for c in recorded if " " in c and not c.startswith("switch ")} <= set(CONTROL_WORDS)


async def _logbook(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, freezer: FrozenDateTimeFactory, issued: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The logbook of the last hour as the Logbook page asks for it (everything), and as an entity's or
    device's page does (the next-action sensor's entries). ``issued``: when the test's access token was
    made (the clock goes back there, or the token is not valid)."""
    await async_wait_recording_done(hass)
    since = (dt_util.utcnow() - timedelta(hours=1)).isoformat()
    freezer.move_to(issued)
    client = await hass_ws_client(hass)
    results = []
    for only in ({}, {"entity_ids": [NEXT]}):
        await client.send_json_auto_id({"type": "logbook/get_events", "start_time": since, **only})
        response = await client.receive_json()
        assert response["success"], response
        results.append(list(response["result"]))
    return results[0], results[1]


@pytest.mark.parametrize(
    ("config", "listed"),
    [({}, True), ({"exclude": {"entities": [NEXT]}}, False)],
    ids=["default", "excluded-as-the-user-guide-says"],
)
async def test_what_the_logbook_lists(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    *,
    hass_ws_client: WebSocketGenerator,
    config: dict[str, Any],
    listed: bool,
) -> None:
    issued = dt_util.utcnow()  # before the test's clock is moved back to its Wednesday
    assert await async_setup_component(hass, "logbook", {"logbook": config})
    await _regular_home(hass, setup_habitus, freezer)
    entries, of_the_sensor = await _logbook(hass, hass_ws_client, freezer, issued)
    by_entity: dict[str, list[str]] = {}
    for entry in entries:
        if "entity_id" in entry and "state" in entry:
            by_entity.setdefault(entry["entity_id"], []).append(entry["state"])
    assert by_entity["climate.living"] == ["cool", "off"]  # the logbook works
    assert "sensor.habitus_anomaly_score" not in by_entity  # a measurement: HA leaves it out
    assert of_the_sensor  # the sensor's and its device's pages list it whatever the configuration
    if not listed:
        assert NEXT not in by_entity
        return
    predicted = set(by_entity[NEXT]) - {"unknown", "unavailable"}  # (the entry was reloaded)
    assert predicted and predicted <= {name for name, _ in EXPECTED.values()}  # never "Light:switch on"
