"""Changing the TSS thresholds re-segments what was already learned (and an interrupted bootstrap
starts again cleanly under the new ones). Real HA, real recorder, real store; nothing mocked except a
pause inserted into the bootstrap (to change the options while it runs)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Context, HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done

from custom_components.habitus.codec import SequenceCodec
from custom_components.habitus.const import DOMAIN
from custom_components.habitus.engine.behaviour import Behaviour, Sequence
from custom_components.habitus.engine.segment import TSSConfig, split_sequences
from custom_components.habitus.runtime import HabitusConfigEntry
from custom_components.habitus.store import STORAGE_MINOR_VERSION, STORAGE_VERSION, storage_key

from .conftest import SetupHabitus

USER = Context(user_id="0123456789abcdef0123456789abcdef")
# minutes before each change: gaps of 40 min, 2 h, 5 h and 12 h, so 1 h / 3 h / 9 h cut differently
PATTERN = [
    (0, "switch.a", "on"),
    (40, "switch.b", "on"),
    (120, "switch.a", "off"),
    (40, "switch.b", "off"),
    (300, "switch.c", "on"),
    (40, "switch.c", "off"),
    (720, "switch.a", "on"),
    (120, "switch.b", "on"),
    (40, "switch.b", "off"),
    (300, "switch.a", "off"),
]
A = {"max_gap_hours": 1.0, "max_span_hours": 24.0}
B = {"max_gap_hours": 3.0, "max_span_hours": 6.0}


def _tss(options: dict[str, float]) -> TSSConfig:
    return TSSConfig(max_gap_hours=options["max_gap_hours"], max_span_hours=options["max_span_hours"])


def kept(entry: HabitusConfigEntry) -> list[Sequence]:
    """The closed sequences kept, then the open one (if any)."""
    learner = entry.runtime_data.learner
    return [*learner.store.sequences(), *([learner.open_sequence] if learner.open_sequence else [])]


def shape(sequences: list[Sequence]) -> list[list[tuple[Any, ...]]]:
    """Every behaviour's fields (time as stored: to the µh), per sequence."""
    return [
        [(b.device, b.action, round(b.time, 6), b.origin, b.context, b.settings) for b in seq]
        for seq in sequences
    ]


def _play(hass: HomeAssistant, freezer: FrozenDateTimeFactory, rounds: int = 2) -> None:
    for _ in range(rounds):
        for minutes, entity_id, state in PATTERN:
            freezer.tick(timedelta(minutes=minutes))
            hass.states.async_set(entity_id, state, context=USER)
        freezer.tick(timedelta(hours=1))


async def _set_options(hass: HomeAssistant, entry: HabitusConfigEntry, options: dict[str, float]) -> None:
    """The real options flow, general step (it saves and reloads the entry)."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"next_step_id": "general"})
    await hass.config_entries.options.async_configure(result["flow_id"], options)


async def test_new_thresholds_resegment_everything_learned(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    for entity_id in ("switch.a", "switch.b", "switch.c"):
        hass.states.async_set(entity_id, "off")
    entry = await setup_habitus(A)
    _play(hass, freezer)
    await hass.async_block_till_done()
    learned_a = kept(entry)
    behaviours = [b for seq in learned_a for b in seq]
    assert len(behaviours) == 2 * len(PATTERN)
    assert shape(learned_a) == shape(split_sequences(behaviours, _tss(A)))
    expected = split_sequences(behaviours, _tss(B))
    assert len(expected) != len(learned_a)  # the two thresholds really cut this stream differently

    await _set_options(hass, entry, B)
    await hass.async_block_till_done(wait_background_tasks=True)
    learner = entry.runtime_data.learner
    assert shape(kept(entry)) == shape(expected)
    assert learner.behaviours_learned == len(behaviours)
    assert learner.sequences_learned == learner.store.stored_sequences  # the total follows the new cut
    assert int(hass.states.get("sensor.habitus_sequences_learned").state) == learner.sequences_learned
    stored = hass_storage[storage_key(entry.entry_id)]
    assert (stored["version"], stored["minor_version"]) == (STORAGE_VERSION, STORAGE_MINOR_VERSION)
    assert stored["data"]["tss"] == {**B, "link_hours": None}

    # live learning goes on under B: 2.5 h after the last behaviour, it joins the open piece
    freezer.tick(timedelta(hours=1.5))
    hass.states.async_set("switch.c", "on", context=USER)
    await hass.async_block_till_done()
    assert shape(kept(entry)) == shape(split_sequences([*behaviours, kept(entry)[-1][-1]], _tss(B)))
    assert shape([kept(entry)[-1][-2:]]) == shape([[behaviours[-1], kept(entry)[-1][-1]]])

    await hass.config_entries.async_reload(entry.entry_id)  # same thresholds: nothing cut again
    await hass.async_block_till_done(wait_background_tasks=True)
    assert shape(kept(entry)) == shape(split_sequences([*behaviours, kept(entry)[-1][-1]], _tss(B)))


def _layout_1_1(entry_id: str, sequences: list[Sequence], open_sequence: Sequence) -> dict[str, Any]:
    """A store as Habitus wrote it before it recorded its TSS thresholds (layout 1.1)."""
    codec = SequenceCodec()
    rows = [[seq[-1].time, len(seq), codec.encode(seq)] for seq in sequences]
    open_rows = codec.encode(open_sequence)
    return {
        "version": 1,
        "minor_version": 1,
        "key": storage_key(entry_id),
        "data": {
            "tables": codec.tables(),
            "sequences": rows,
            "open": open_rows,
            "counters": {"behaviours": 7 + sum(map(len, sequences)) + len(open_sequence), "sequences": 40},
            "bootstrapped": True,
            "history_until": None,
        },
    }


def _history(now_hours: float) -> list[Behaviour]:
    """Five days of an evening routine, within the retention window."""
    behaviours = []
    for day in range(5):
        start = now_hours - 24.0 * (5 - day)
        for i, (device, action) in enumerate(
            [
                ("light.a", "Light:switch on"),
                ("tv.b", "Television:switch on"),
                ("light.a", "Light:switch off"),
            ]
        ):
            behaviours.append(Behaviour(device=device, action=action, time=start + 2.0 * i, origin="user"))
    return behaviours


async def _setup_with_store(
    hass: HomeAssistant, hass_storage: dict[str, Any], options: dict[str, float]
) -> tuple[HabitusConfigEntry, list[Behaviour]]:
    entry = MockConfigEntry(domain=DOMAIN, title="Habitus", options=options, unique_id=DOMAIN)
    now_hours = dt_util.utcnow().timestamp() / 3600.0
    history = _history(now_hours)
    pieces = split_sequences(history, TSSConfig())  # as cut with the defaults of the time
    hass_storage[storage_key(entry.entry_id)] = _layout_1_1(entry.entry_id, pieces[:-1], pieces[-1])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry, history  # type: ignore[return-value]


async def test_a_layout_1_1_store_is_migrated_and_keeps_every_behaviour(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    entry, history = await _setup_with_store(hass, hass_storage, {})
    learner = entry.runtime_data.learner
    assert shape(kept(entry)) == shape(split_sequences(history, TSSConfig()))  # defaults: nothing to redo
    assert learner.behaviours_learned == 7 + len(history) and learner.sequences_learned == 40
    await learner.store.async_flush()
    stored = hass_storage[storage_key(entry.entry_id)]
    assert (stored["version"], stored["minor_version"]) == (STORAGE_VERSION, STORAGE_MINOR_VERSION)
    assert stored["data"]["tss"] == {"max_gap_hours": 9.0, "max_span_hours": 24.0, "link_hours": None}


async def test_a_layout_1_1_store_with_other_thresholds_is_resegmented_without_loss(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    options = {"max_gap_hours": 1.0, "max_span_hours": 3.0}
    entry, history = await _setup_with_store(hass, hass_storage, options)
    expected = split_sequences(history, _tss(options))
    assert len(expected) != len(split_sequences(history, TSSConfig()))
    assert shape(kept(entry)) == shape(expected)
    assert entry.runtime_data.learner.behaviours_learned == 7 + len(history)


async def _record(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    for entity_id in ("switch.a", "switch.b", "switch.c"):
        hass.states.async_set(entity_id, "off")
    _play(hass, freezer, rounds=3)
    await async_wait_recording_done(hass)
    freezer.tick(timedelta(minutes=1))


async def test_options_change_during_the_bootstrap_ends_as_a_clean_bootstrap(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    await _record(hass, freezer)
    paused, resume = asyncio.Event(), asyncio.Event()
    pauses = 0

    async def pause_once() -> None:
        nonlocal pauses
        pauses += 1
        if pauses == 1:  # the first bootstrap stops here, part of the history learned
            paused.set()
            await resume.wait()  # never set: it is cancelled by the reload

    with (
        patch("custom_components.habitus.learner.BOOTSTRAP_CHUNK", 4),
        patch("custom_components.habitus.learner.yield_to_loop", pause_once),
    ):
        entry = await setup_habitus(A, wait=False)
        await asyncio.wait_for(paused.wait(), 30)
        learner = entry.runtime_data.learner
        assert learner.behaviours_learned == 4  # midway: one chunk learned, cut with A
        freezer.tick(timedelta(minutes=5))
        hass.states.async_set("switch.c", "on", context=USER)  # live, held back by the bootstrap
        await async_wait_recording_done(hass)
        freezer.tick(timedelta(minutes=1))
        await _set_options(hass, entry, B)  # reloads the entry: the bootstrap is cancelled
        await hass.async_block_till_done(wait_background_tasks=True)
    raced = shape(kept(entry))
    raced_learned = entry.runtime_data.learner.behaviours_learned
    assert raced_learned == 3 * len(PATTERN) + 1  # the history and the live change, each once
    await entry.runtime_data.learner.store.async_flush()
    assert hass_storage[storage_key(entry.entry_id)]["data"]["tss"] == {**B, "link_hours": None}

    await hass.config_entries.async_remove(entry.entry_id)  # now a clean first setup under B
    await hass.async_block_till_done()
    clean = await setup_habitus(B)
    assert shape(kept(clean)) == raced
    assert clean.runtime_data.learner.behaviours_learned == raced_learned


async def _unload(hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
    assert await hass.config_entries.async_unload(entry.entry_id)


async def _stop_ha(hass: HomeAssistant, _entry: HabitusConfigEntry) -> None:
    await hass.async_stop()  # cancels the bootstrap, then HA's final write


@pytest.mark.parametrize("end", [_unload, _stop_ha], ids=["unload", "ha_stop"])
async def test_ending_during_the_bootstrap_writes_no_half_learned_history(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    end: Callable[[HomeAssistant, HabitusConfigEntry], Awaitable[None]],
) -> None:
    await _record(hass, freezer)
    paused = asyncio.Event()

    async def pause() -> None:
        paused.set()
        await asyncio.Event().wait()

    with (
        patch("custom_components.habitus.learner.BOOTSTRAP_CHUNK", 4),
        patch("custom_components.habitus.learner.yield_to_loop", pause),
    ):
        entry = await setup_habitus(A, wait=False)
        await asyncio.wait_for(paused.wait(), 30)
        assert entry.runtime_data.learner.behaviours_learned == 4
        await end(hass, entry)
    data = hass_storage[storage_key(entry.entry_id)]["data"]
    assert data["counters"] == {"behaviours": 0, "sequences": 0}
    assert data["sequences"] == [] and data["bootstrapped"] is False and data["history_until"] is None


async def test_a_malformed_stored_sequence_is_skipped_and_the_rest_resegmented(
    hass: HomeAssistant, hass_storage: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="Habitus", options=B, unique_id=DOMAIN)
    history = _history(dt_util.utcnow().timestamp() / 3600.0)
    pieces = split_sequences(history, TSSConfig())
    document = _layout_1_1(entry.entry_id, pieces[:-1], pieces[-1])
    end, _, rows = document["data"]["sequences"][1]
    document["data"]["sequences"][1] = [end, 3, rows.replace("[", "[", 1)[:-2] + "99]]"]  # bad settings
    hass_storage[storage_key(entry.entry_id)] = document
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    survivors = [b for i, seq in enumerate(pieces) if i != 1 for b in seq]
    assert shape(kept(entry)) == shape(split_sequences(survivors, _tss(B)))
    assert "Skipping a malformed stored sequence" in caplog.text
