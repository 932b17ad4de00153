"""Store and entry lifecycle: restart persistence, bounds, crash-safe writes, unload, removal."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant import requirements
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.json import save_json
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.habitus.adaptation import worker_crashed_issue
from custom_components.habitus.codec import CodecError, SequenceCodec
from custom_components.habitus.const import DOMAIN
from custom_components.habitus.engine.behaviour import Behaviour
from custom_components.habitus.learner import epoch_hours
from custom_components.habitus.native import Fallback, NativeRequirement, async_check_native, unblock_import
from custom_components.habitus.store import STORAGE_VERSION, storage_key
from custom_components.habitus.worker import WorkerCrashedError

from .conftest import SetupHabitus

USER = Context(user_id="u1")


def _toggle(hass: HomeAssistant, entity_id: str, *states: str) -> None:
    for state in states:
        hass.states.async_set(entity_id, state, context=USER)


async def test_sequences_and_open_sequence_survive_a_restart(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    hass.states.async_set("light.a", "off")
    entry = await setup_habitus({"max_gap_hours": 1.0})
    _toggle(hass, "light.a", "on", "off")
    freezer.tick(timedelta(hours=3))
    _toggle(hass, "light.a", "on")  # closes the first sequence, opens a second
    await hass.async_block_till_done()
    before = entry.runtime_data.learner
    assert (before.store.stored_sequences, len(before.open_sequence)) == (1, 1)

    assert await hass.config_entries.async_unload(entry.entry_id)  # flushes the store
    stored = hass_storage[storage_key(entry.entry_id)]
    assert stored["version"] == STORAGE_VERSION
    assert stored["data"]["bootstrapped"] is True
    assert stored["data"]["counters"] == {"behaviours": 3, "sequences": 1}

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    after = entry.runtime_data.learner
    assert after is not before
    assert [[b.action for b in s] for s in after.store.sequences()] == [
        ["Light:switch on", "Light:switch off"]
    ]
    assert [b.action for b in after.open_sequence] == ["Light:switch on"]  # restored into TSS
    assert after.open_sequence[0].origin == "user"
    _toggle(hass, "light.a", "off")  # the restored "on" is completed in the same sequence
    await hass.async_block_till_done()
    assert [b.action for b in after.open_sequence] == ["Light:switch on", "Light:switch off"]
    assert after.behaviours_learned == 4


async def test_store_is_bounded_by_count_and_retention(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    hass.states.async_set("switch.s", "off")
    entry = await setup_habitus({"max_gap_hours": 0.1, "max_sequences": 10, "retention_days": 1})
    store = entry.runtime_data.learner.store
    for _ in range(15):
        _toggle(hass, "switch.s", "on", "off")
        freezer.tick(timedelta(hours=1))
    await hass.async_block_till_done()
    assert store.sequences_total == 14  # the 15th is still open
    assert store.stored_sequences == 10  # the oldest were dropped
    # sequence i (0..14) ended at t0 + i h; 20 h later the 15th closes at t0 + 35 h: keep ends >= t0 + 11 h
    freezer.tick(timedelta(hours=20))
    _toggle(hass, "switch.s", "on")
    await hass.async_block_till_done()
    now_hours = epoch_hours(dt_util.utcnow())
    kept = store.sequences()
    assert len(kept) == 4
    assert all(now_hours - 24 - 1e-5 <= seq[-1].time for seq in kept)  # stored times: 1e-6 h precision


def _idle_timers(hass: HomeAssistant) -> list[object]:
    """Live loop timers of ``async_track_time_interval`` whose action is a learner's idle check."""
    timers = []
    for handle in hass.loop._scheduled:  # type: ignore[attr-defined]
        tracker = getattr(handle._callback, "__self__", None)
        action = getattr(tracker, "action", None)
        if not handle.cancelled() and getattr(action, "__name__", "") == "close_if_idle":
            timers.append(handle)
    return timers


async def test_unload_removes_listeners_and_timers(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    hass.states.async_set("light.a", "off")
    watched = (EVENT_STATE_CHANGED, er.EVENT_ENTITY_REGISTRY_UPDATED, dr.EVENT_DEVICE_REGISTRY_UPDATED)
    before = {event: hass.bus.async_listeners().get(event, 0) for event in watched}
    entry = await setup_habitus()
    assert all(hass.bus.async_listeners()[event] > before[event] for event in watched)
    assert len(_idle_timers(hass)) == 1
    learner = entry.runtime_data.learner

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert {event: hass.bus.async_listeners().get(event, 0) for event in watched} == before
    assert _idle_timers(hass) == []
    _toggle(hass, "light.a", "on")
    await hass.async_block_till_done()
    assert learner.open_sequence == []  # nothing reaches the unloaded learner
    assert hass.states.get("sensor.habitus_learning_state").state == "unavailable"


async def test_remove_deletes_the_stored_data(
    hass: HomeAssistant, setup_habitus: SetupHabitus, hass_storage: dict[str, Any]
) -> None:
    hass.states.async_set("light.a", "off")
    entry = await setup_habitus()
    _toggle(hass, "light.a", "on")
    await hass.config_entries.async_unload(entry.entry_id)
    assert storage_key(entry.entry_id) in hass_storage
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert storage_key(entry.entry_id) not in hass_storage


async def test_removing_habitus_removes_its_repair_issues(
    hass: HomeAssistant, setup_habitus: SetupHabitus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A native module's and the training worker's issues stayed in Repairs after Habitus was removed."""
    entry = await setup_habitus()

    async def no_pip(hass: HomeAssistant, name: str, reqs: list[str]) -> None:
        return None

    monkeypatch.setattr(requirements, "async_process_requirements", no_pip)
    name = "habitus_probe_absent_on_removal"
    item = NativeRequirement(
        name, "habitus-probe-absent==1.0", Fallback.NUMPY_EXECUTOR, "onnxruntime_unavailable"
    )
    try:
        await async_check_native(hass, [item], extra_paths=(str(tmp_path),))
    finally:
        unblock_import(name)
    worker_crashed_issue(hass, WorkerCrashedError(-9, "train_models"))
    registry = ir.async_get(hass)
    assert {f"native_{name}", "worker_crashed"} <= {i for d, i in registry.issues if d == DOMAIN}
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert [i for d, i in registry.issues if d == DOMAIN] == []


async def test_store_newer_than_the_code_fails_setup_without_touching_it(
    hass: HomeAssistant, setup_habitus: SetupHabitus, hass_storage: dict[str, Any]
) -> None:
    entry = MockConfigEntry(domain="habitus", options={}, unique_id="habitus")
    newer = {
        "version": STORAGE_VERSION + 1,
        "minor_version": 1,
        "key": storage_key(entry.entry_id),
        "data": {},
    }
    hass_storage[storage_key(entry.entry_id)] = newer
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert hass_storage[storage_key(entry.entry_id)] == newer


async def test_writes_are_atomic(setup_habitus: SetupHabitus, hass: HomeAssistant) -> None:
    entry = await setup_habitus()
    assert entry.runtime_data.learner.store.atomic_writes


_WRITER = """
import sys, orjson
from homeassistant.util.file import write_utf8_file_atomic  # what Store(atomic_writes=True) writes with
path, payload, i = sys.argv[1], list(range(200_000)), 0
while True:
    i += 1
    write_utf8_file_atomic(path, orjson.dumps({"i": i, "payload": payload}), False, mode="wb")
    if i == 1:
        print("writing", flush=True)
"""


def test_a_kill_during_a_write_leaves_a_valid_file(tmp_path: Path) -> None:
    """SIGKILL a process that keeps rewriting a ~1.4 MB store atomically: the file is always whole.

    Both of HA's writers go through a temporary file renamed into place, so a killed process never
    tears the store; ``atomic_writes=True`` (asserted above) adds the fsync that also covers power loss.
    """
    path = tmp_path / "habitus.store"
    save_json(str(path), {"i": 0, "payload": []}, atomic_writes=True)
    for delay in (0.05, 0.13, 0.21):
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writing"  # at least one full rewrite done
        time.sleep(delay)  # now most likely in the middle of another one
        child.kill()
        child.wait()
        document = json.loads(path.read_text())
        assert document["i"] >= 1
        assert document["payload"] == list(range(200_000))


def test_codec_round_trip_and_errors() -> None:
    codec = SequenceCodec()
    seq = [
        Behaviour(
            1.5, "light.a", "Light:switch on", "user", {"time_of_day": "morning", "outdoor_temp_c": 3.5}
        ),
        Behaviour(
            2.0, "light.a", "Light:setLevel", "automation", {"time_of_day": "morning"}, {"brightness": 9.0}
        ),
        Behaviour(2.5, "climate.x", "Heater:switch off", "device"),
    ]
    encoded = codec.encode(seq)
    assert '"' not in encoded  # numbers only: compact, nothing to escape
    assert codec.decode(encoded) == seq
    assert SequenceCodec(codec.tables()).decode(encoded) == seq
    for bad in ("not json", "[[1.0,99,0,0,0,null,-1]]", "[[1.0,0,0,7,0,null,-1]]", "[[1.0]]"):
        with pytest.raises(CodecError):
            codec.decode(bad)


async def test_excluding_an_entity_later_deletes_what_was_stored_about_it(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    hass.states.async_set("light.a", "off")
    hass.states.async_set("light.diary", "off")
    entry = await setup_habitus({"max_gap_hours": 1.0})
    _toggle(hass, "light.diary", "on", "off")  # a sequence with only the soon-excluded light
    freezer.tick(timedelta(hours=2))
    _toggle(hass, "light.a", "on")
    _toggle(hass, "light.diary", "on")
    freezer.tick(timedelta(hours=2))
    _toggle(hass, "light.a", "off")  # linked to the "on": joins the open sequence
    _toggle(hass, "light.diary", "off")
    await hass.async_block_till_done()
    assert entry.runtime_data.learner.store.stored_sequences == 1

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"next_step_id": "general"})
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"exclude_entities": ["light.diary"]}
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    learner = entry.runtime_data.learner
    assert learner.store.stored_sequences == 0  # the diary-only sequence is gone entirely
    assert [(b.device, b.action) for b in learner.open_sequence] == [
        ("light.a", "Light:switch on"),
        ("light.a", "Light:switch off"),
    ]
    assert "light.diary" not in json.dumps(hass_storage[storage_key(entry.entry_id)])


async def test_pending_writes_are_flushed_when_home_assistant_stops(
    hass: HomeAssistant, setup_habitus: SetupHabitus, hass_storage: dict[str, Any]
) -> None:
    hass.states.async_set("light.a", "off")
    entry = await setup_habitus()
    await entry.runtime_data.learner.store.async_flush()
    _toggle(hass, "light.a", "on")  # a coalesced write is now pending (30 s)
    await hass.async_block_till_done()
    assert hass_storage[storage_key(entry.entry_id)]["data"]["counters"]["behaviours"] == 0

    await hass.async_stop()
    assert hass_storage[storage_key(entry.entry_id)]["data"]["counters"]["behaviours"] == 1


async def test_a_damaged_store_fails_setup_with_a_clear_error_and_is_kept(
    hass: HomeAssistant, hass_storage: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    entry = MockConfigEntry(domain="habitus", options={}, unique_id="habitus")
    damaged = {
        "version": STORAGE_VERSION,
        "minor_version": 1,
        "key": storage_key(entry.entry_id),
        "data": {"tables": {}, "sequences": "oops"},
    }
    hass_storage[storage_key(entry.entry_id)] = damaged
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "cannot be read" in caplog.text
    assert hass_storage[storage_key(entry.entry_id)] == damaged


async def test_lowering_the_cap_in_the_options_applies_at_once(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    hass.states.async_set("switch.s", "off")
    entry = await setup_habitus({"max_gap_hours": 0.1})
    for _ in range(15):
        _toggle(hass, "switch.s", "on", "off")
        freezer.tick(timedelta(hours=1))
    await hass.async_block_till_done()
    assert entry.runtime_data.learner.store.stored_sequences == 14
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"next_step_id": "general"})
    await hass.config_entries.options.async_configure(result["flow_id"], {"max_sequences": 10})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data.learner.store.stored_sequences == 10
