"""Every automation Habitus suggests from mined routines passes HA's own automation config validation.

Self-contained (requests ``hass`` directly); uses the real ``automation.config.async_validate_config_item``.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.core import HomeAssistant

from habitus_engine.automations import routine_to_automation
from habitus_engine.context import DAYS_OF_WEEK, OUTDOOR_TEMPS, SUN_PHASES, TIMES_OF_DAY, WEATHERS
from habitus_engine.households import HouseholdConfig, generate_household
from habitus_engine.routines import Routine
from habitus_engine.routines_events import ContextTimeline, parse_events
from habitus_engine.routines_miner import mine_event_log


async def _validate(hass: HomeAssistant, config: dict[str, Any]) -> None:
    validated = await async_validate_config_item(hass, config["id"], config)
    assert validated is not None
    assert validated.validation_error is None, validated.validation_error
    assert validated.validation_status == "ok"


def _mined(variant: str, seed: int) -> tuple[list[Routine], str | None]:
    household = generate_household(seed, HouseholdConfig.for_variant(variant))  # type: ignore[arg-type]
    events = parse_events(household.events)
    return mine_event_log(events), ContextTimeline(events).weather_entity


@pytest.mark.parametrize(("variant", "seed"), [("a", 0), ("a", 1), ("b", 0), ("b", 1)])
async def test_every_mined_routine_becomes_a_valid_automation(
    hass: HomeAssistant, variant: str, seed: int
) -> None:
    routines, weather_entity = await hass.async_add_executor_job(_mined, variant, seed)
    assert routines
    for routine in routines:
        await _validate(hass, routine_to_automation(routine, weather_entity))


@pytest.mark.parametrize("field", ["time_of_day", "day_of_week", "sun_phase", "weather", "outdoor_temp"])
async def test_every_trigger_value_gives_a_valid_condition(hass: HomeAssistant, field: str) -> None:
    values = {
        "time_of_day": TIMES_OF_DAY,
        "day_of_week": DAYS_OF_WEEK,
        "sun_phase": SUN_PHASES,
        "weather": WEATHERS,
        "outdoor_temp": OUTDOOR_TEMPS,
    }[field]
    for value in values:
        routine = Routine(
            {field: value}, {"light.hall": {"state": "on", "brightness": 120.0}}, typical_time="07:05"
        )
        await _validate(hass, routine_to_automation(routine, "weather.home"))


@pytest.mark.parametrize(
    "routine",
    [
        Routine(
            {"sun_phase": "after_sunset"},
            {"light.porch": {"state": "on"}},
            sun_offset_min=35.0,
            extras={"sun_event": "sunset"},
        ),
        Routine({"weather": "rainy"}, {"cover.garage": {"state": "closed"}}),
        Routine(
            {},
            {
                "climate.a": {"hvac_mode": "off"},
                "lock.door": {"state": "locked"},
                "switch.s": {"state": "off"},
            },
        ),
        Routine(
            {"time_of_day": "night"},
            {
                "media_player.tv": {
                    "state": "on",
                    "volume_level": 0.25,
                    "source": "HDMI1",
                    "sound_mode": "movie",
                },
                "fan.f": {"state": "on", "percentage": 40.0, "preset_mode": "sleep"},
                "alarm_control_panel.home": {"state": "armed_night"},
                "climate.b": {
                    "hvac_mode": "auto",
                    "temperature": 19.5,
                    "fan_mode": "low",
                    "preset_mode": "eco",
                },
            },
        ),
    ],
    ids=["sun-trigger", "state-trigger", "off-devices", "every-service"],
)
async def test_trigger_kinds_and_services_validate(hass: HomeAssistant, routine: Routine) -> None:
    await _validate(hass, routine_to_automation(routine, "weather.home"))


async def test_invalid_config_is_reported_by_ha(hass: HomeAssistant) -> None:
    """The check above can fail: HA rejects a config with a broken condition."""
    config = routine_to_automation(Routine({"day_of_week": "weekday"}, {"light.a": {"state": "on"}}), None)
    config["conditions"] = [{"condition": "time", "after": "25:99"}]
    with pytest.raises(Exception, match="Invalid time"):
        await async_validate_config_item(hass, config["id"], config)
