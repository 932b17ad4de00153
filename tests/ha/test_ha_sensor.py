"""Sensors (one Habitus service device, entity ids from translation keys, event-driven) and diagnostics."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import translation
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_capture_events, async_fire_time_changed

from custom_components.habitus.const import DOMAIN, READY_MIN_SEQUENCES
from custom_components.habitus.diagnostics import async_get_config_entry_diagnostics

from .conftest import SetupHabitus

SENSORS = (
    "sensor.habitus_behaviours_learned",
    "sensor.habitus_sequences_learned",
    "sensor.habitus_learning_state",
)


async def test_sensors_belong_to_one_service_device(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    entry = await setup_habitus()
    entities = er.async_get(hass)
    device_ids = {entities.async_get(entity_id).device_id for entity_id in SENSORS}  # type: ignore[union-attr]
    assert len(device_ids) == 1
    device = dr.async_get(hass).async_get(device_ids.pop())  # type: ignore[arg-type]
    assert device is not None
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert device.identifiers == {(DOMAIN, entry.entry_id)}
    assert hass.states.get("sensor.habitus_learning_state").attributes["options"] == [  # type: ignore[union-attr]
        "bootstrapping",
        "learning",
        "ready",
    ]
    assert hass.states.get("sensor.habitus_behaviours_learned").attributes["friendly_name"] == (  # type: ignore[union-attr]
        "Habitus Behaviours learned"
    )


async def test_percentages_in_attributes_say_so(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    """An attribute has no unit: the attributes panel read "Vocabulary coverage 96.6" and "Progress 0"
    (percentages, 0-100), so their names say it."""
    await setup_habitus()
    names = await translation.async_get_translations(hass, "en", "entity", [DOMAIN])
    for sensor, attribute in (("model_version", "vocabulary_coverage"), ("adaptation", "progress")):
        name = names[f"component.{DOMAIN}.entity.sensor.{sensor}.state_attributes.{attribute}.name"]
        assert name.endswith(" (%)"), name


async def test_sensors_follow_learning_without_polling(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    hass.states.async_set("light.a", "off")
    await setup_habitus({"max_gap_hours": 0.5})
    assert [hass.states.get(e).state for e in SENSORS] == ["0", "0", "learning"]  # type: ignore[union-attr]

    for _ in range(READY_MIN_SEQUENCES + 1):
        hass.states.async_set("light.a", "on", context=Context(user_id="u"))
        hass.states.async_set("light.a", "off", context=Context(user_id="u"))
        freezer.tick(timedelta(hours=1))
        await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=2))  # the throttled last refresh
    await hass.async_block_till_done()
    behaviours = 2 * (READY_MIN_SEQUENCES + 1)
    assert hass.states.get(SENSORS[0]).state == str(behaviours)  # type: ignore[union-attr]
    assert hass.states.get(SENSORS[0]).attributes["open_sequence"] == 2  # type: ignore[union-attr]
    assert hass.states.get(SENSORS[1]).state == str(READY_MIN_SEQUENCES)  # type: ignore[union-attr]
    assert hass.states.get(SENSORS[1]).attributes["stored"] == READY_MIN_SEQUENCES  # type: ignore[union-attr]
    assert hass.states.get(SENSORS[2]).state == "ready"  # type: ignore[union-attr]


async def test_a_burst_of_behaviours_refreshes_the_sensors_at_most_twice(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """A scene switching ten lights: at most one refresh at once and one trailing one with the final count."""
    lights = [f"light.l{i}" for i in range(10)]
    for light in lights:
        hass.states.async_set(light, "off")
    await setup_habitus()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=2))
    await hass.async_block_till_done()
    counts = async_capture_events(hass, "state_changed")
    for light in lights:
        hass.states.async_set(light, "on", context=Context(parent_id="01JSCENE000000000000000000"))
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=2))
    await hass.async_block_till_done()
    refreshes = [e.data["new_state"].state for e in counts if e.data["entity_id"] == SENSORS[0]]
    assert 1 <= len(refreshes) <= 2
    assert refreshes[-1] == "10"


async def test_diagnostics_report_settings_and_sizes_not_behaviours(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    hass.states.async_set("light.bedroom", "off")
    entry = await setup_habitus({"include_domains": ["light"], "max_gap_hours": 2})
    hass.states.async_set("light.bedroom", "on", context=Context(user_id="u"))
    await hass.async_block_till_done()
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["settings"]["include_domains"] == ["light"]
    assert diagnostics["settings"]["max_gap_hours"] == 2.0
    assert diagnostics["behaviours_learned"] == 1
    assert diagnostics["open_sequence_length"] == 1
    assert diagnostics["learning_state"] == "learning"
    assert "light.bedroom" not in str(diagnostics)
