"""Context capture for routines (issue 6, item 2) from real ``sun.sun`` and weather entity states.

Every behaviour carries time of day, weekday, sun phase, weather and outdoor temperature (converted from
the weather entity's own unit), its settings in the routine schema, and the miner's ``clock_min``; a
routine mined from such behaviours becomes an automation whose weather conditions HA validates.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers.sun import get_astral_event_date
from homeassistant.util import dt as dt_util

from custom_components.habitus.const import DOMAIN
from custom_components.habitus.decisions import decisions_key
from custom_components.habitus.routine_suggestion import async_automation_is_valid
from custom_components.habitus.suggestions import with_clock

from .conftest import SetupHabitus

LIGHT = "light.living"
WEATHER = "weather.home"


def _local(days: int, hour: int, minute: int) -> datetime:
    start = datetime(2026, 2, 2, hour, minute, tzinfo=dt_util.get_default_time_zone())  # a Monday
    return start + timedelta(days=days)


def _evening_context(hass: HomeAssistant) -> None:
    hass.states.async_set("sun.sun", "below_horizon", {"next_rising": "2026-02-03T15:00:00+00:00"})
    hass.states.async_set(WEATHER, "pouring", {"temperature": 41, "temperature_unit": "°F"})


async def test_behaviour_carries_sun_weather_temperature_clock_and_settings(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(_local(0, 18, 0))
    hass.states.async_set(LIGHT, "off", {})
    hass.states.async_set("weather.other", "sunny", {"temperature": 30})
    _evening_context(hass)
    entry = await setup_habitus({"include_domains": ["light"], "weather_entity": WEATHER})

    freezer.move_to(_local(0, 19, 42))
    hass.states.async_set(
        LIGHT, "on", {"brightness": 120, "color_temp_kelvin": 2700}, context=Context(user_id="u")
    )
    await hass.async_block_till_done()

    [behaviour] = entry.runtime_data.learner.open_sequence
    assert behaviour.origin == "user"
    assert {k: behaviour.context[k] for k in ("time_of_day", "day_of_week", "sun_phase", "weather")} == {
        "time_of_day": "evening",
        "day_of_week": "weekday",
        "sun_phase": "after_sunset",
        "weather": "rainy",
    }
    assert behaviour.context["outdoor_temp_c"] == pytest.approx(5.0)  # 41 °F
    assert behaviour.context["outdoor_temp"] == "cold"
    assert behaviour.settings == {"state": "on", "brightness": 120.0, "color_temp_kelvin": 2700.0}
    clocked = with_clock(behaviour, dt_util.get_default_time_zone())
    assert clocked.context["clock_min"] == 19 * 60 + 42


async def test_missing_weather_entity_is_unknown_context_not_an_error(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(_local(5, 10, 0))  # a Saturday morning, no sun.sun, the configured weather missing
    hass.states.async_set(LIGHT, "off", {})
    entry = await setup_habitus({"include_domains": ["light"], "weather_entity": "weather.gone"})
    hass.states.async_set(LIGHT, "on", {}, context=Context(user_id="u"))
    await hass.async_block_till_done()

    [behaviour] = entry.runtime_data.learner.open_sequence
    assert behaviour.context["day_of_week"] == "weekend"
    assert (behaviour.context["sun_phase"], behaviour.context["weather"]) == ("unknown", "unknown")
    assert "outdoor_temp_c" not in behaviour.context


async def test_weather_routine_becomes_a_valid_automation_with_weather_conditions(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(_local(-1, 12, 0))
    hass.states.async_set(LIGHT, "off", {})
    _evening_context(hass)
    entry = await setup_habitus({"include_domains": ["light"], "weather_entity": WEATHER})
    for day in range(5):
        freezer.move_to(_local(day, 19, 30))
        hass.states.async_set(LIGHT, "on", {"brightness": 100}, context=Context(user_id="u"))
        await hass.async_block_till_done()
        freezer.move_to(_local(day, 23, 0))
        hass.states.async_set(LIGHT, "off", {})  # by itself: not a user behaviour
        await hass.async_block_till_done()

    response = await hass.services.async_call(
        DOMAIN, "get_routine_suggestions", {"refresh": True}, blocking=True, return_response=True
    )
    assert response is not None
    [suggestion] = response["suggestions"]  # type: ignore[misc]
    automation = suggestion["automation"]
    conditions = {c["condition"]: c for c in automation["conditions"]}
    assert conditions["state"]["entity_id"] == WEATHER and "pouring" in conditions["state"]["state"]
    assert (conditions["numeric_state"]["above"], conditions["numeric_state"]["below"]) == (0.0, 10.0)
    assert conditions["sun"] == {"condition": "sun", "after": "sunset"}
    assert suggestion["support"] == 5, suggestion
    assert automation["triggers"] == [{"trigger": "time", "at": "19:30:00"}]
    validated = await async_validate_config_item(hass, automation["id"], automation)
    assert validated is not None and validated.validation_error is None

    await hass.services.async_call(DOMAIN, "dismiss_routine", {"routine_id": suggestion["id"]}, blocking=True)
    assert decisions_key(entry.entry_id) in hass_storage
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert decisions_key(entry.entry_id) not in hass_storage  # deleted with the entry


async def test_routine_that_follows_sunset_gets_a_sun_trigger(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """Five Mondays, 25 min after each day's sunset at HA's location (sunset moves ~25 min in February)."""
    freezer.move_to(_local(-1, 12, 0))
    hass.states.async_set(LIGHT, "off", {})
    entry = await setup_habitus({"include_domains": ["light"]})
    for week in range(5):
        sunset = get_astral_event_date(hass, "sunset", _local(7 * week, 12, 0))
        assert sunset is not None
        freezer.move_to(sunset + timedelta(minutes=25))
        hass.states.async_set(LIGHT, "on", {"brightness": 200}, context=Context(user_id="u"))
        await hass.async_block_till_done()
        freezer.move_to(sunset + timedelta(hours=5))
        hass.states.async_set(LIGHT, "off", {})
        await hass.async_block_till_done()

    [suggestion] = await entry.runtime_data.suggester.async_refresh()  # type: ignore[union-attr]
    assert suggestion.automation["triggers"] == [{"trigger": "sun", "event": "sunset", "offset": "+00:25:00"}]
    assert await async_automation_is_valid(hass, suggestion.automation)
