"""A suggested routine's automation asks each device only for values it accepts (engine/device_values.py).

Real HA entities (HA's demo thermostat, fan, water heater and humidifier, the manual alarm panel)
refuse a value outside what they declare with ``ServiceValidationError``, which stopped the accepted
automation before the light after them. Now such a value is neither set nor said, and the light is
still switched on. ``light.turn_on`` is mocked (no light integration here), as in
test_routine_suggestions.py, whose helpers these tests use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.climate import HVACMode
from homeassistant.components.demo.climate import DemoClimate
from homeassistant.components.demo.fan import FULL_SUPPORT, DemoPercentageFan
from homeassistant.components.demo.humidifier import DemoHumidifier
from homeassistant.components.demo.water_heater import DemoWaterHeater
from homeassistant.const import UnitOfTemperature
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
    setup_test_component_platform,
)

from custom_components.habitus import suggestions as suggestions_module
from custom_components.habitus.engine.automations import routine_automation_id
from custom_components.habitus.engine.routines import Routine, Settings

from .conftest import SetupHabitus
from .test_routine_suggestions import LIGHT, _fix_flow, _local, _setup, _suggestions, config_dir

__all__ = ["config_dir"]  # the fixture, used by name


def _thermostat(hass: HomeAssistant) -> Entity:
    """HA's demo "Hvac": fan modes on_low .. off, 7-35 °C, humidity 30-99 %."""
    return DemoClimate(
        unique_id="climate_2",
        device_name="Hvac",
        target_temperature=21,
        unit_of_measurement=UnitOfTemperature.CELSIUS,
        preset=None,
        current_temperature=22,
        fan_mode="on_high",
        target_humidity=67.4,
        current_humidity=54.2,
        swing_mode="off",
        swing_horizontal_mode="auto",
        hvac_mode=HVACMode.HEAT,
        hvac_action=None,
        target_temp_high=None,
        target_temp_low=None,
        hvac_modes=[mode for mode in HVACMode if mode != HVACMode.HEAT_COOL],
    )


def _fan(hass: HomeAssistant) -> Entity:
    return DemoPercentageFan(hass, "fan1", "Living Room Fan", FULL_SUPPORT, ["auto", "smart", "sleep", "on"])


def _water_heater(hass: HomeAssistant) -> Entity:
    return DemoWaterHeater("Tank", 45, UnitOfTemperature.CELSIUS, False, "eco", 1)


class _NarrowHumidifier(DemoHumidifier):
    """HA's demo humidifier with a range as many real ones declare (HA's default is 0-100 %)."""

    _attr_min_humidity = 30
    _attr_max_humidity = 60


def _humidifier(hass: HomeAssistant) -> Entity:
    return _NarrowHumidifier(name="Humidifier", mode=None, target_humidity=45, is_on=False)


class Case(NamedTuple):
    domain: str
    entity: Callable[[HomeAssistant], Entity]
    settings: Settings  # what the routine holds
    unsaid: tuple[str, ...]  # what its words must not say
    after: dict[str, Any]  # the device's state and attributes after the automation ran


CASES = [
    Case(
        "climate",
        _thermostat,
        {"hvac_mode": "cool", "temperature": 40.0, "fan_mode": "turbo", "humidity": 50.0},
        ("40", "turbo"),
        {"state": "cool", "temperature": 21, "fan_mode": "on_high", "humidity": 50},
    ),
    Case(
        "fan",
        _fan,
        {"state": "on", "percentage": 40.0, "preset_mode": "turbo"},
        ("turbo",),
        {"state": "on", "percentage": 40, "preset_mode": None},
    ),
    Case(
        "water_heater",
        _water_heater,
        {"state": "boost", "operation_mode": "boost", "temperature": 50.0},
        ("boost",),
        {"state": "eco", "temperature": 50},
    ),
    Case(
        "humidifier", _humidifier, {"state": "on", "humidity": 80.0}, ("80",), {"state": "on", "humidity": 45}
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.domain for case in CASES])
@pytest.mark.usefixtures("config_dir")
async def test_a_value_the_device_does_not_accept_does_not_stop_the_automation(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    case: Case,
) -> None:
    """Before, HA refused the value (``ServiceValidationError``: a fan mode or preset not in the
    device's list, a temperature or humidity outside its range, an operation mode it does not list)
    and the automation stopped there: the light after the device stayed off."""
    assert await async_setup_component(hass, "repairs", {})
    assert await async_setup_component(hass, "automation", {})
    domain = case.domain
    setup_test_component_platform(hass, domain, [case.entity(hass)])
    assert await async_setup_component(hass, domain, {domain: {"platform": "test"}})
    await hass.async_block_till_done()
    await _setup(hass, setup_habitus, freezer)
    [device] = hass.states.async_entity_ids(domain)
    suggestion = await _accepted(
        hass, monkeypatch, {device: case.settings, LIGHT: {"state": "on", "brightness": 180.0}}
    )
    calls = await _fire(hass, freezer)
    assert [call.data for call in calls] == [{"entity_id": [LIGHT], "brightness_pct": 71}]
    for words in case.unsaid:  # said as set
        assert words not in suggestion["description"]
    state = hass.states.get(device)
    assert state is not None
    assert {
        name: state.state if name == "state" else state.attributes.get(name) for name in case.after
    } == case.after
    await _turn_off(hass, suggestion)


@pytest.mark.parametrize(
    "states", [("armed_away", "disarmed"), ("disarmed", "armed_away")], ids=["arm", "disarm"]
)
@pytest.mark.usefixtures("config_dir")
async def test_an_alarm_that_needs_its_code_is_left_out_and_the_words_say_why(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    states: tuple[str, str],
) -> None:
    """A manual alarm panel with a code: arming it without the code (``code_arm_required``) or
    disarming it without the code raised ``ServiceValidationError`` and stopped the automation before
    the light, while the words said "Security armed away". Now the panel is left out of the
    automation, and the words say so and how to put it back."""
    routine_state, before = states  # the routine's, the panel's when the automation runs
    panel = await _alarm_panel(hass, setup_habitus, freezer)
    if before != "disarmed":
        service = f"alarm_{before.replace('armed', 'arm')}"
        await hass.services.async_call("alarm_control_panel", service, {"entity_id": panel, "code": "1234"})
        await hass.async_block_till_done()
    assert hass.states.get(panel).state == before  # type: ignore[union-attr]
    actions = {panel: {"state": routine_state}, LIGHT: {"state": "on", "brightness": 180.0}}
    suggestion = await _accepted(hass, monkeypatch, actions)
    calls = await _fire(hass, freezer)
    assert [call.data for call in calls] == [{"entity_id": [LIGHT], "brightness_pct": 71}]
    assert [action["action"] for action in suggestion["automation"]["actions"]] == ["light.turn_on"]
    assert f"Security {routine_state.replace('_', ' ')}" not in suggestion["description"]
    assert "Security is left out: it needs its code" in suggestion["description"]
    assert "Security" not in suggestion["automation"]["alias"]
    assert suggestion["id"] == routine_automation_id(Routine({"day_of_week": "weekday"}, actions))
    assert hass.states.get(panel).state == before  # type: ignore[union-attr]
    await _turn_off(hass, suggestion)


async def test_an_alarm_with_a_default_code_is_armed_by_the_automation(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a default code in its entity settings, HA arms the panel with it: it stays in."""
    panel = await _alarm_panel(hass, setup_habitus, freezer)
    er.async_get(hass).async_update_entity_options(panel, "alarm_control_panel", {"default_code": "1234"})
    await hass.async_block_till_done()
    actions = {panel: {"state": "armed_away"}, LIGHT: {"state": "on", "brightness": 180.0}}
    suggestion = await _accepted(hass, monkeypatch, actions)
    assert suggestion["description"].endswith("Security armed away, light.kitchen on 71 %")
    calls = await _fire(hass, freezer)
    assert [call.data for call in calls] == [{"entity_id": [LIGHT], "brightness_pct": 71}]
    assert hass.states.get(panel).state == "armed_away"  # type: ignore[union-attr]
    await _turn_off(hass, suggestion)


async def _alarm_panel(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> str:
    """HA's manual alarm panel "Security" with the code 1234 (needed to arm: ``code_arm_required``)."""
    assert await async_setup_component(hass, "repairs", {})
    assert await async_setup_component(hass, "automation", {})
    config = {
        "platform": "manual",
        "name": "Security",
        "unique_id": "security",
        "code": "1234",
        "arming_time": 0,
    }
    assert await async_setup_component(hass, "alarm_control_panel", {"alarm_control_panel": config})
    await hass.async_block_till_done()
    await _setup(hass, setup_habitus, freezer)
    return "alarm_control_panel.security"


async def _accepted(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, actions: dict[str, Settings]
) -> dict[str, Any]:
    """The routine of ``actions`` (weekdays, 07:02) suggested and accepted."""
    routine = Routine({"day_of_week": "weekday"}, actions, support=5, confidence=1.0, typical_time="07:02")
    monkeypatch.setattr(suggestions_module, "mine_routines", lambda *_args: [routine])
    [suggestion] = await _suggestions(hass)
    await _fix_flow(hass, suggestion["id"], "accept")
    return suggestion


async def _fire(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> list[Any]:
    """Next Monday 07:02: the accepted automation runs; the ``light.turn_on`` calls it made."""
    calls = async_mock_service(hass, "light", "turn_on")
    fire_at = _local(7, 7, 2)
    freezer.move_to(fire_at)
    async_fire_time_changed(hass, fire_at)
    await hass.async_block_till_done()
    return calls


async def _turn_off(hass: HomeAssistant, suggestion: dict[str, Any]) -> None:
    """Detach the automation's time trigger (a live timer otherwise outlives the test)."""
    automation = next(
        s for s in hass.states.async_all("automation") if s.attributes.get("id") == suggestion["id"]
    )
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": automation.entity_id}, blocking=True
    )
