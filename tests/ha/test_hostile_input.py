"""Hostile input on a real HA bus: non-finite numbers, huge strings, control characters, values JSON
cannot hold, entity ids no state machine would accept. HA keeps running, what is learned is what the
store keeps, and nothing already learned is lost."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any, cast

import pytest
import voluptuous as vol
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Context, HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.habitus.codec import SequenceCodec
from custom_components.habitus.const import DOMAIN
from custom_components.habitus.engine.behaviour import Behaviour
from custom_components.habitus.runtime import HabitusConfigEntry
from custom_components.habitus.store import STORAGE_MINOR_VERSION, STORAGE_VERSION, storage_key

from .conftest import SetupHabitus

USER = Context(user_id="0123456789abcdef0123456789abcdef")
CONTROL = "dim\x00\x07\x1b[31m\u202e\r\n\ud7ff"  # NUL, BEL, an ANSI escape, RTL override, CR LF


class NotJson:
    """An attribute value JSON cannot hold (an integration's own object)."""

    def __str__(self) -> str:
        return "not-json"


def everything(entry: HabitusConfigEntry) -> list[Behaviour]:
    """Every behaviour kept, closed sequences first, then the open one."""
    learner = entry.runtime_data.learner
    return [b for seq in learner.store.sequences() for b in seq] + learner.open_sequence


def shape(behaviours: list[Behaviour]) -> list[tuple[Any, ...]]:
    """Every field of each behaviour, time as the store keeps it (to the microhour)."""
    return [(b.device, b.action, round(b.time, 6), b.origin, b.context, b.settings) for b in behaviours]


def _finite(value: object) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


async def _set_gap(hass: HomeAssistant, entry: HabitusConfigEntry, max_gap_hours: float) -> None:
    """The real options flow's general step (it saves the options and reloads the entry)."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"next_step_id": "general"})
    await hass.config_entries.options.async_configure(result["flow_id"], {"max_gap_hours": max_gap_hours})
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
async def test_non_finite_numbers_are_no_setting_nor_temperature_and_survive_the_store(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    bad: float,
) -> None:
    """A light reporting NaN/inf brightness and a weather entity reporting a NaN/inf temperature.

    Before: the routine settings kept the number (``brightness: nan``), which HA's JSON writer stores
    as ``null``, so the behaviour read back after a restart was not the one learned; the temperature
    was kept as the context's ``outdoor_temp_c`` (banded "hot"), and re-segmenting after an options
    change dropped every closed sequence holding one as malformed.
    """
    hass.states.async_set("light.desk", "off")
    hass.states.async_set("weather.home", "sunny", {"temperature": bad})
    entry = await setup_habitus({"max_gap_hours": 1.0})
    for state in ("on", "off"):
        hass.states.async_set(
            "light.desk", state, {"brightness": bad, "color_temp_kelvin": bad}, context=USER
        )
    freezer.tick(timedelta(hours=2))
    hass.states.async_set("light.desk", "on", {"brightness": 80}, context=USER)  # closes the first
    await hass.async_block_till_done()

    learned = everything(entry)
    assert [b.action for b in learned] == ["Light:switch on", "Light:switch off", "Light:switch on"]
    assert entry.runtime_data.learner.store.stored_sequences == 1
    for behaviour in learned:
        assert all(_finite(v) for v in [*behaviour.settings.values(), *behaviour.context.values()])
        assert "outdoor_temp_c" not in behaviour.context
        assert behaviour.context["outdoor_temp"] == "unknown"
    assert learned[0].settings == {"state": "on"}

    await entry.runtime_data.learner.store.async_flush()
    json.dumps(hass_storage[storage_key(entry.entry_id)], allow_nan=False)  # standard JSON only
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert shape(everything(entry)) == shape(learned)  # what the store gives back is what was learned

    await _set_gap(hass, entry, 3.0)  # TSS again over what is kept: one sequence now, none lost
    assert [(b.device, b.action, b.settings) for b in everything(entry)] == [
        (b.device, b.action, b.settings) for b in learned
    ]


async def test_control_characters_and_values_json_cannot_hold_are_kept_as_text_through_a_restart(
    hass: HomeAssistant, setup_habitus: SetupHabitus, hass_storage: dict[str, Any]
) -> None:
    hass.states.async_set("light.desk", "off")
    hass.states.async_set("media_player.tv", "off")
    entry = await setup_habitus()
    hass.states.async_set("light.desk", "on", {"effect": CONTROL, "junk": NotJson()}, context=USER)
    hass.states.async_set("media_player.tv", "on", {"source": NotJson(), "volume_level": 0.5}, context=USER)
    await hass.async_block_till_done()
    learned = everything(entry)
    assert [b.settings for b in learned] == [
        {"state": "on", "effect": CONTROL},
        {"state": "on", "volume_level": 0.5, "source": "not-json"},
    ]
    await entry.runtime_data.learner.store.async_flush()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert shape(everything(entry)) == shape(learned)


async def test_a_huge_attribute_is_no_setting_and_never_bloats_the_store(
    hass: HomeAssistant, setup_habitus: SetupHabitus, hass_storage: dict[str, Any]
) -> None:
    """A light whose ``effect`` is 1 MB (a broken integration), changed a few times.

    Before: every value was kept in the store's settings table and rewritten with each save (5 MB)."""
    hass.states.async_set("light.desk", "off")
    entry = await setup_habitus()
    for i in range(5):
        huge = f"{i}" + "x" * 1_000_000
        hass.states.async_set("light.desk", "on", {"effect": huge, "brightness": 10 + i}, context=USER)
        hass.states.async_set("light.desk", "off", context=USER)
    await hass.async_block_till_done()
    learned = everything(entry)
    assert len(learned) == 10  # every change is still learned...
    assert [b.settings for b in learned[:2]] == [{"state": "on", "brightness": 10.0}, {"state": "off"}]
    await entry.runtime_data.learner.store.async_flush()
    assert len(json.dumps(hass_storage[storage_key(entry.entry_id)])) < 10_000  # ...without the text


@pytest.mark.parametrize(
    ("service", "data"),
    [
        ("snooze_routine", {"routine_id": "r", "days": math.nan}),
        ("snooze_routine", {"routine_id": "r", "days": math.inf}),
        ("snooze_routine", {"routine_id": "r", "days": "soon"}),
        ("snooze_routine", {"routine_id": "r", "days": -1}),
        ("dismiss_routine", {"routine_id": ["r"]}),
        ("dismiss_routine", {"routine_id": "r", "extra": 1}),
        ("snooze_alerts", {"minutes": math.nan}),
        ("snooze_alerts", {"minutes": math.inf}),
        ("export_dataset", {"path": None}),
        ("retrain", {"epochs": math.nan}),
        ("retrain", {"epochs": math.inf}),
        ("retrain", {"epochs": 10**9}),
        ("adapt", {"context": "x" * 501}),
        ("adapt", {"mode": "everything"}),
        ("adapt", {"max_prompts": 0}),
        ("adapt", {"max_prompts": math.inf}),
        ("adapt", {"epochs": -math.inf}),
    ],
)
async def test_service_input_out_of_range_or_of_the_wrong_type_is_refused_before_anything_runs(
    hass: HomeAssistant, setup_habitus: SetupHabitus, service: str, data: dict[str, Any]
) -> None:
    entry = await setup_habitus()
    with pytest.raises(vol.Invalid):
        await hass.services.async_call(DOMAIN, service, data, blocking=True)
    manager = entry.runtime_data.adaptation_jobs
    assert manager is not None and not manager.running
    assert entry.runtime_data.suggester is not None and not entry.runtime_data.suggester.decisions.snoozed


async def test_a_hostile_routine_id_is_a_translated_error(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    await setup_habitus()
    hostile = CONTROL * 100_000
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(DOMAIN, "dismiss_routine", {"routine_id": hostile}, blocking=True)
    assert caught.value.translation_key == "unknown_routine"


async def test_an_unknown_routine_id_is_repeated_in_the_error_only_in_its_first_characters(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """Before: a 1.2 MB id gave a 1.2 MB error message."""
    await setup_habitus()
    huge = "r" * 1_200_000
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(DOMAIN, "accept_routine", {"routine_id": huge}, blocking=True)
    assert caught.value.translation_placeholders == {"routine_id": "r" * 60 + "…"}
    assert "r" * 60 + "…" in str(caught.value)
    assert len(str(caught.value)) < 300
    short = "not_a_routine"
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(DOMAIN, "dismiss_routine", {"routine_id": short}, blocking=True)
    assert caught.value.translation_placeholders == {"routine_id": short}


async def test_nan_temperatures_an_earlier_version_stored_are_dropped_not_the_sequences_holding_them(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """A store written before ingest refused NaN temperatures (its rows hold ``NaN``), cut with other
    TSS thresholds than the options now give: re-segmenting at setup keeps every behaviour.

    Before: each closed sequence holding a NaN was skipped as malformed, so all of them were lost."""
    entry = MockConfigEntry(
        domain=DOMAIN, options={"max_gap_hours": 3.0, "max_span_hours": 6.0}, unique_id=DOMAIN
    )
    now = dt_util.utcnow().timestamp() / 3600.0
    codec = SequenceCodec()
    pieces = [
        [
            Behaviour(
                start + 0.5 * i, "switch.a", action, "user", {"outdoor_temp": "hot", "outdoor_temp_c": temp}
            )
            for i, (action, temp) in enumerate([("Switch:switch on", math.nan), ("Switch:switch off", 4.0)])
        ]
        for start in (now - 30.0, now - 20.0)
    ]
    hass_storage[storage_key(entry.entry_id)] = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_MINOR_VERSION,
        "key": storage_key(entry.entry_id),
        "data": {
            "sequences": [[seq[-1].time, len(seq), codec.encode(seq)] for seq in pieces],
            "tables": codec.tables(),
            "open": "[]",
            "counters": {"behaviours": 4, "sequences": 2},
            "bootstrapped": True,
            "tss": {"max_gap_hours": 9.0, "max_span_hours": 24.0, "link_hours": None},
        },
    }
    assert "NaN" in hass_storage[storage_key(entry.entry_id)]["data"]["sequences"][0][2]
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    kept = everything(cast(HabitusConfigEntry, entry))
    assert [(b.action, round(b.time, 6)) for b in kept] == [
        (b.action, round(b.time, 6)) for seq in pieces for b in seq
    ]
    assert [b.context.get("outdoor_temp_c") for b in kept] == [None, 4.0, None, 4.0]


@pytest.mark.parametrize(
    "entity_id",
    [
        "light." + "x" * 1_000_000,
        "light.desk\x00\x1b[2J",
        "light.Desk Lamp",
        "light.",
        "light.desk.2",
        "x" * 300,
    ],
    ids=["huge", "control", "spaces", "empty_object", "two_dots", "no_domain"],
)
async def test_a_raw_event_naming_an_entity_id_no_state_can_have_is_dropped(
    hass: HomeAssistant, setup_habitus: SetupHabitus, hass_storage: dict[str, Any], entity_id: str
) -> None:
    """Any code can fire ``state_changed`` itself, with states copied from a real entity but an entity id
    HA's state machine would refuse (it checks the format and 255 characters).

    Before: the change was learned as a behaviour of that id, which the store then kept for good (a
    1 MB device name with the control characters in it)."""
    hass.states.async_set("light.desk", "off")
    entry = await setup_habitus()
    old, new = State("light.desk", "off"), State("light.desk", "on", context=USER)
    hass.bus.async_fire(EVENT_STATE_CHANGED, {"entity_id": entity_id, "old_state": old, "new_state": new})
    await hass.async_block_till_done()
    assert everything(entry) == []
    await entry.runtime_data.learner.store.async_flush()
    assert hass_storage[storage_key(entry.entry_id)]["data"]["tables"]["devices"] == []
    hass.states.async_set("light.desk", "on", context=USER)  # learning goes on
    await hass.async_block_till_done()
    assert [(b.device, b.action) for b in everything(entry)] == [("light.desk", "Light:switch on")]


@pytest.mark.parametrize("state", ["banana", "ON", "\x00\x1b[2J", "x" * 255, "on ", ""])
async def test_a_state_the_device_dictionary_does_not_know_is_no_behaviour(
    hass: HomeAssistant, setup_habitus: SetupHabitus, state: str
) -> None:
    # (not media_player: leaving off is a switch on whatever the new state, as the dictionary says)
    entities = ("light.desk", "switch.fan", "cover.blind", "lock.door", "fan.ceiling")
    for entity_id in entities:
        hass.states.async_set(entity_id, "off" if not entity_id.startswith(("cover", "lock")) else "closed")
    entry = await setup_habitus()
    for entity_id in entities:
        hass.states.async_set(entity_id, state, context=USER)
    await hass.async_block_till_done()
    assert everything(entry) == []
    hass.states.async_set("light.desk", "on", context=USER)  # from an unknown state: a switch on
    await hass.async_block_till_done()
    assert [(b.device, b.action) for b in everything(entry)] == [("light.desk", "Light:switch on")]
