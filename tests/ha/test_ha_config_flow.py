"""Config and options flows, every error path included."""

from __future__ import annotations

from typing import Any

import pytest
import voluptuous_serialize
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import translation

from custom_components.habitus.const import DEFAULT_DOMAINS, DOMAIN, AdaptMode
from custom_components.habitus.engine.devices import SUPPORTED_DOMAINS

from .conftest import SetupHabitus


async def _options(hass: HomeAssistant, entry_id: str, choice: str = "general") -> dict[str, Any]:
    """Open the options flow and pick ``choice`` from its menu."""
    result = await hass.config_entries.options.async_init(entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "init"
    assert list(result["menu_options"]) == ["general", "synthesis_model", "adaptation"]
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"next_step_id": choice})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == choice
    return dict(result)


async def _start(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return dict(result)


async def test_user_step_creates_the_entry_with_defaults(hass: HomeAssistant) -> None:
    hass.states.async_set("light.kitchen", "off")
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"exclude_entities": ["light.kitchen"]}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Habitus"
    entry = result["result"]
    assert entry.unique_id == DOMAIN
    assert entry.options == {
        "include_domains": list(DEFAULT_DOMAINS),
        "include_areas": [],
        "include_entities": [],
        "exclude_entities": ["light.kitchen"],
    }
    assert entry.runtime_data.settings.exclude_entities == frozenset({"light.kitchen"})


async def test_user_step_accepts_exactly_the_demo_keys(hass: HomeAssistant) -> None:
    hass.states.async_set("switch.pump", "off")
    kitchen = ar.async_get(hass).async_create("Kitchen")
    result = await _start(hass)
    user_input = {
        "include_domains": ["light", "switch"],
        "include_areas": [kitchen.id],
        "include_entities": ["switch.pump"],
        "exclude_entities": [],
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].options == user_input


@pytest.mark.parametrize(
    ("user_input", "errors", "placeholder"),
    [
        ({"include_domains": [], "include_entities": []}, {"base": "nothing_selected"}, "-"),
        ({"include_entities": ["light.ghost"]}, {"include_entities": "unknown_entity"}, "light.ghost"),
        ({"exclude_entities": ["switch.nowhere"]}, {"exclude_entities": "unknown_entity"}, "switch.nowhere"),
        ({"include_areas": ["attic"]}, {"include_areas": "unknown_area"}, "-"),
    ],
    ids=["nothing-selected", "unknown-included", "unknown-excluded", "unknown-area"],
)
async def test_user_step_errors(
    hass: HomeAssistant, user_input: dict[str, Any], errors: dict[str, str], placeholder: str
) -> None:
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert result["description_placeholders"] == {"entities": placeholder}
    # the form keeps what was typed, and a corrected submission goes through
    corrected = {
        "include_domains": ["light"],
        "include_areas": [],
        "include_entities": [],
        "exclude_entities": [],
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], corrected)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    "user_input",
    [{"include_domains": ["sensor"]}, {"include_entities": ["sensor.power"]}],
    ids=["unsupported-domain", "unsupported-entity"],
)
async def test_what_the_device_dictionary_cannot_learn_from_is_rejected_by_the_schema(
    hass: HomeAssistant, user_input: dict[str, Any]
) -> None:
    hass.states.async_set("sensor.power", "3")
    result = await _start(hass)
    with pytest.raises(InvalidData):
        await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


async def test_only_one_instance(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    await setup_habitus()
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "single_instance_allowed"


async def test_options_flow_changes_settings_and_reloads(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    hass.states.async_set("weather.home", "sunny")
    entry = await setup_habitus()
    old_runtime = entry.runtime_data
    result = await _options(hass, entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "max_gap_hours": 0.0005,
            "max_span_hours": 0.01,
            "retention_days": 7,
            "weather_entity": "weather.home",
        },
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["include_domains"] == list(DEFAULT_DOMAINS)  # fields left out keep their value
    assert entry.runtime_data is not old_runtime  # reloaded
    settings = entry.runtime_data.settings
    assert (settings.max_gap_hours, settings.max_span_hours, settings.retention_days) == (0.0005, 0.01, 7)
    assert settings.weather_entity == "weather.home"
    assert settings.tss.max_gap_hours == 0.0005


async def test_options_flow_stores_day_and_sequence_counts_as_ints(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """Before: the number selector's 20000.0 was stored as it came; options stored so still load."""
    entry = await setup_habitus({"retention_days": 30.0, "max_sequences": 20000.0})
    settings = entry.runtime_data.settings
    assert (settings.retention_days, settings.max_sequences) == (30, 20000)
    result = await _options(hass, entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"retention_days": 7.0, "max_sequences": 500.0}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    for key, value in (("retention_days", 7), ("max_sequences", 500)):
        assert entry.options[key] == value
        assert type(entry.options[key]) is int
    result = await _options(hass, entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"max_gap_hours": 3.0})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert type(entry.options["retention_days"]) is int  # a value kept from before stays an int


@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        ({"max_gap_hours": 12, "max_span_hours": 6}, {"max_span_hours": "span_below_gap"}),
        ({"weather_entity": "weather.mars"}, {"weather_entity": "unknown_entity"}),
        ({"include_domains": [], "include_entities": []}, {"base": "nothing_selected"}),
        ({"exclude_entities": ["light.ghost"]}, {"exclude_entities": "unknown_entity"}),
        ({"include_areas": ["cellar"]}, {"include_areas": "unknown_area"}),
    ],
    ids=["span-below-gap", "unknown-weather", "nothing-selected", "unknown-excluded", "unknown-area"],
)
async def test_options_flow_errors(
    hass: HomeAssistant, setup_habitus: SetupHabitus, user_input: dict[str, Any], errors: dict[str, str]
) -> None:
    entry = await setup_habitus()
    result = await _options(hass, entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert entry.options == {}  # nothing changed


@pytest.mark.parametrize(
    "user_input",
    [{"max_gap_hours": 0.0001}, {"retention_days": 0}, {"max_sequences": 1}],
    ids=["gap-below-minimum", "no-retention", "too-few-sequences"],
)
async def test_options_flow_bounds(
    hass: HomeAssistant, setup_habitus: SetupHabitus, user_input: dict[str, Any]
) -> None:
    entry = await setup_habitus()
    result = await _options(hass, entry.entry_id)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(result["flow_id"], user_input)


async def test_options_flow_adaptation_step(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    entry = await setup_habitus({"max_gap_hours": 2.0})
    result = await _options(hass, entry.entry_id, "adaptation")
    defaults = {key.schema: key.default() for key in result["data_schema"].schema}
    assert defaults == {"adapt_mode": "augment", "adapt_on_shift": True, "quiet_hour": 3}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"adapt_mode": "replace", "adapt_on_shift": False, "quiet_hour": 23}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["max_gap_hours"] == 2.0  # other options kept
    settings = entry.runtime_data.settings
    assert (settings.adapt_mode, settings.adapt_on_shift, settings.quiet_hour) == (
        AdaptMode.REPLACE,
        False,
        23,
    )
    result = await _options(hass, entry.entry_id, "adaptation")
    with pytest.raises(InvalidData):  # an hour of the day
        await hass.config_entries.options.async_configure(result["flow_id"], {"quiet_hour": 24})
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(result["flow_id"], {"adapt_mode": "forget"})


async def test_device_domains_are_shown_by_name_not_by_domain_id(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """The set-up and options forms showed raw ids ("media_player", "alarm_control_panel") as the choices."""
    entry = await setup_habitus()
    forms = [await _options(hass, entry.entry_id)]
    await hass.config_entries.async_remove(entry.entry_id)
    forms.append(await _start(hass))
    labels = await translation.async_get_translations(hass, "en", "selector", [DOMAIN])
    for form in forms:
        fields = voluptuous_serialize.convert(form["data_schema"], custom_serializer=cv.custom_serializer)
        (domains,) = (field for field in fields if field["name"] == "include_domains")
        config = domains["selector"]["select"]
        key = config["translation_key"]
        shown = {
            option: labels.get(f"component.{DOMAIN}.selector.{key}.options.{option}")
            for option in config["options"]
        }
        assert set(shown) == set(SUPPORTED_DOMAINS)
        assert all(label and "_" not in label for label in shown.values()), shown
