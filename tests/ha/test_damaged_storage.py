"""Damaged and full storage with the entry's stores on a real disk (``<config>/.storage``), not the test
plugin's in-memory mock: a store file truncated before startup, a write that meets a full disk, a
suggestions file whose JSON is valid but not Habitus's layout. HA keeps running, the entry loads, and
what was stored survives (on disk, or learned again from the recorder)."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any, cast
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done

from custom_components.habitus.const import DOMAIN, SAVE_DELAY_SECONDS
from custom_components.habitus.decisions import decisions_key
from custom_components.habitus.engine.behaviour import Behaviour
from custom_components.habitus.live_store import live_storage_key
from custom_components.habitus.native import STORAGE_KEY as NATIVE_STORAGE_KEY
from custom_components.habitus.runtime import HabitusConfigEntry
from custom_components.habitus.store import storage_key
from custom_components.habitus.write_issues import retry_delay, write_issue_id

from .disk_helpers import failing_writes, full_disk

ENTRY_ID = "01JROBUSTNESSDISKTESTENTRY"
STRINGS = json.loads((Path(__file__).parents[2] / "custom_components/habitus/strings.json").read_text())
USER = Context(user_id="0123456789abcdef0123456789abcdef")
# The Store methods as HA ships them, taken before the test plugin's storage mock replaces them.
_REAL = {name: getattr(Store, name) for name in ("_async_load", "_async_write_data", "async_remove")}


@pytest.fixture
def on_disk(hass: HomeAssistant) -> Iterator[Path]:
    """This entry's stores read and write ``<config>/.storage`` for real (every other store stays in
    the plugin's memory mock); the files are removed afterwards (the test config folder is shared)."""
    folder = Path(hass.config.path(".storage"))
    mocked = {name: getattr(Store, name) for name in _REAL}

    def route(name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        async def method(store: Store[Any], *args: Any) -> Any:
            implementation = _REAL[name] if store.key.startswith(storage_key(ENTRY_ID)) else mocked[name]
            return await implementation(store, *args)

        return method

    with ExitStack() as stack:
        for name in _REAL:
            stack.enter_context(patch.object(Store, name, route(name)))
        yield folder
    for leftover in folder.glob(f"{storage_key(ENTRY_ID)}*"):
        leftover.unlink()


async def _setup(hass: HomeAssistant) -> HabitusConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN, entry_id=ENTRY_ID, data={}, options={"max_gap_hours": 1.0}, unique_id=DOMAIN
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return cast(HabitusConfigEntry, entry)


async def _restart(hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
    """Unload (which flushes the stores to disk) and set up again."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


def _learned(entry: HabitusConfigEntry) -> list[tuple[str, str]]:
    learner = entry.runtime_data.learner
    behaviours = [b for seq in learner.store.sequences() for b in seq] + learner.open_sequence
    return [(b.device, b.action) for b in behaviours]


def _play(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    for entity_id in ("light.desk", "switch.fan"):
        for state in ("on", "off"):
            hass.states.async_set(entity_id, state, context=USER)
            freezer.tick(timedelta(minutes=5))
    freezer.tick(timedelta(hours=2))


async def _one_behaviour_not_written(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, on_disk: Path
) -> tuple[HabitusConfigEntry, Path, bytes]:
    """Four behaviours learned and written, a fifth learned but not written yet: the entry, its store
    file and what that file holds."""
    hass.states.async_set("light.desk", "off")
    hass.states.async_set("switch.fan", "off")
    entry = await _setup(hass)
    _play(hass, freezer)
    await hass.async_block_till_done()
    await entry.runtime_data.learner.store.async_flush()
    path = on_disk / storage_key(ENTRY_ID)
    previous = path.read_bytes()
    hass.states.async_set("light.desk", "on", context=USER)
    await hass.async_block_till_done()
    return entry, path, previous


async def test_a_store_truncated_on_disk_is_kept_aside_and_the_history_learned_again(
    hass: HomeAssistant, on_disk: Path, freezer: FrozenDateTimeFactory
) -> None:
    """A power cut on a card without atomic renames, or a hand edit: the store file ends mid-JSON."""
    hass.states.async_set("light.desk", "off")
    hass.states.async_set("switch.fan", "off")
    entry = await _setup(hass)
    _play(hass, freezer)
    _play(hass, freezer)
    await hass.async_block_till_done()
    before = _learned(entry)
    assert len(before) == 8
    await async_wait_recording_done(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    path = on_disk / storage_key(ENTRY_ID)
    damaged = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(damaged)

    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED  # HA and the entry run on
    [kept] = on_disk.glob(f"{storage_key(ENTRY_ID)}.corrupt.*")
    assert kept.read_bytes() == damaged  # the damaged file is kept as it was, for the user
    issues = ir.async_get(hass).issues.values()
    assert any(
        i.translation_key == "storage_corruption" and storage_key(ENTRY_ID) in i.issue_id for i in issues
    )
    assert _learned(entry) == before  # learned again from the recorder: nothing lost
    hass.states.async_set("light.desk", "on", context=USER)
    await hass.async_block_till_done()
    assert _learned(entry) == [*before, ("light.desk", "Light:switch on")]


async def test_a_full_disk_at_a_store_write_keeps_the_previous_file_and_loses_nothing_learned(
    hass: HomeAssistant, on_disk: Path, freezer: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """ENOSPC is simulated at the temporary file's write call (``disk_helpers.full_disk``); the rest
    is real: HA's atomic writer, its clean-up of the half-written temporary file, the file on disk."""
    entry, path, previous = await _one_behaviour_not_written(hass, freezer, on_disk)
    store = entry.runtime_data.learner.store
    learned = _learned(entry)
    assert len(learned) == 5
    with full_disk(path):
        await store.async_flush()
    assert path.read_bytes() == previous  # the previous file is intact
    assert sorted(p.name for p in on_disk.iterdir() if p.name.startswith("tmp")) == []  # no half file
    assert f"Error writing config for {storage_key(ENTRY_ID)}" in caplog.text
    assert "No space left on device" in caplog.text
    assert entry.state is ConfigEntryState.LOADED
    assert _learned(entry) == learned  # nothing learned is lost in memory

    await _restart(hass, entry)  # space again: the unload's write keeps everything
    assert _learned(entry) == learned


@pytest.mark.parametrize(
    "data",
    [
        {"accepted": 5, "dismissed": ["r1"], "snoozed": ["r2"]},
        {"accepted": ["r1"], "dismissed": None, "snoozed": {"r2": 7}},
        ["r1"],
    ],
)
async def test_a_suggestions_file_in_another_layout_never_stops_the_entry(
    hass: HomeAssistant, on_disk: Path, caplog: pytest.LogCaptureFixture, data: Any
) -> None:
    """Valid JSON, but not the decisions' layout (a hand edit, another tool): the entry loads, what
    can be read is kept (``r1`` stays hidden), the rest is skipped with a warning, the file untouched."""
    path = on_disk / decisions_key(ENTRY_ID)
    path.write_text(
        json.dumps({"version": 1, "minor_version": 1, "key": decisions_key(ENTRY_ID), "data": data})
    )
    before = path.read_bytes()
    entry = await _setup(hass)
    assert entry.state is ConfigEntryState.LOADED
    suggester = entry.runtime_data.suggester
    assert suggester is not None
    assert suggester.decisions.is_hidden("r1", dt_util.utcnow()) is isinstance(data, dict)
    assert "Skipping unreadable routine decisions" in caplog.text
    assert path.read_bytes() == before


@pytest.mark.parametrize("monitor", [["not", "a", "monitor"], {"baseline": 5, "days": []}])
async def test_a_live_file_in_another_layout_never_stops_the_entry(
    hass: HomeAssistant, on_disk: Path, caplog: pytest.LogCaptureFixture, monitor: Any
) -> None:
    """The live store (feedback, adaptation record, context monitor) with a monitor that is not one:
    the entry loads with a warning, the feedback and the adaptation record are kept."""
    path = on_disk / live_storage_key(ENTRY_ID)
    data = {
        "feedback_normal": [[[1.0, "light.desk", "Light:switch on"]]],
        "adaptation": {"completed_jobs": 3},
        "monitor": monitor,
    }
    path.write_text(json.dumps({"version": 1, "minor_version": 1, "key": path.name, "data": data}))
    entry = await _setup(hass)
    assert entry.state is ConfigEntryState.LOADED
    live = entry.runtime_data.live
    assert live is not None
    assert [[(b.device, b.action) for b in s] for s in live.store.feedback_sequences()] == [
        [("light.desk", "Light:switch on")]
    ]
    assert entry.runtime_data.adaptation_jobs is not None
    assert entry.runtime_data.adaptation_jobs.completed_jobs == 3
    assert "Ignoring unreadable Habitus live data" in caplog.text


@pytest.mark.parametrize("data", [{"statuses": ["onnxruntime"]}, ["onnxruntime"]])
async def test_a_native_verdicts_file_in_another_layout_never_stops_the_entry(
    hass: HomeAssistant, hass_storage: dict[str, Any], caplog: pytest.LogCaptureFixture, data: Any
) -> None:
    """``.storage/habitus.native`` (which native modules crashed on import) unreadable: the entry loads
    and the modules are probed again in a child process, as at a first start."""
    hass_storage[NATIVE_STORAGE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": NATIVE_STORAGE_KEY,
        "data": data,
    }
    entry = await _setup(hass)
    assert entry.state is ConfigEntryState.LOADED
    assert "Ignoring unreadable Habitus native module verdicts" in caplog.text


def _not_saved(hass: HomeAssistant, key: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, write_issue_id(key))


def _words(issue: ir.IssueEntry) -> str:
    """The issue as the user reads it (English title and description, placeholders filled in)."""
    text = STRINGS["issues"][issue.translation_key]
    return (text["title"] + "\n" + text["description"]).format(**(issue.translation_placeholders or {}))


async def _retry_time(hass: HomeAssistant, failures: int = 1) -> None:
    """Let the retry of the ``failures``-th failed write come (1, 2, 4 ... minutes later); 0: let a
    change's usual delay (``SAVE_DELAY_SECONDS``) pass."""
    seconds = (retry_delay(failures) if failures else SAVE_DELAY_SECONDS) + 1
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    await hass.async_block_till_done()


async def test_a_full_disk_at_the_behaviour_store_is_a_repair_issue_until_the_retry_writes_it(
    hass: HomeAssistant, on_disk: Path, freezer: FrozenDateTimeFactory
) -> None:
    """Before: the failed write was only logged; the user saw nothing, and what was learned was not
    written again until the next change. ENOSPC is simulated (``disk_helpers.full_disk``: a real full
    disk cannot be made here); HA's writer and the file on disk are real."""
    entry, path, previous = await _one_behaviour_not_written(hass, freezer, on_disk)
    store = entry.runtime_data.learner.store
    learned = _learned(entry)
    assert _not_saved(hass, storage_key(ENTRY_ID)) is None

    with full_disk(path):
        await store.async_flush()
        issue = _not_saved(hass, storage_key(ENTRY_ID))
        assert issue is not None
        assert issue.severity is ir.IssueSeverity.ERROR and not issue.is_fixable
        assert issue.translation_key == "store_not_saved_no_space"
        words = _words(issue)
        assert "Habitus cannot save the behaviours it learned: the disk is full" in words
        assert str(path) in words and "No space left on device" in words
        assert "Free some space" in words
        created = issue.created
        await _retry_time(hass)  # the retry meets the full disk too: the same issue, not a new one
        assert _not_saved(hass, storage_key(ENTRY_ID)) == issue
        assert issue.created == created
        assert [i.issue_id for i in ir.async_get(hass).issues.values() if i.domain == DOMAIN] == [
            issue.issue_id
        ]
    assert path.read_bytes() == previous  # nothing stored is lost
    assert entry.state is ConfigEntryState.LOADED

    await _retry_time(hass, failures=2)  # space again: the next retry writes what is in memory
    assert _not_saved(hass, storage_key(ENTRY_ID)) is None
    assert json.loads(path.read_text())["data"]["counters"]["behaviours"] == len(learned) == 5
    await _restart(hass, entry)
    assert _learned(entry) == learned


@pytest.mark.parametrize(
    ("code", "key", "words"),
    [
        (errno.ENOSPC, "store_not_saved_no_space", "the disk is full"),
        (errno.EACCES, "store_not_saved_permission", "permission denied"),
        (errno.EROFS, "store_not_saved_read_only", "the disk is read-only"),
        (errno.EIO, "store_not_saved_other", "Input/output error"),
    ],
)
async def test_a_routine_decision_that_cannot_be_saved_says_why_and_is_saved_at_the_next_chance(
    hass: HomeAssistant, on_disk: Path, code: int, key: str, words: str
) -> None:
    """Before: a dismissal on a full, read-only or forbidden disk was only logged and never written
    again, so the routine came back after a restart. The errno is simulated at the write call (the
    tests run as root, whom permissions do not stop, and cannot mount a read-only file system)."""
    entry = await _setup(hass)
    suggester = entry.runtime_data.suggester
    assert suggester is not None
    path = on_disk / decisions_key(ENTRY_ID)
    with failing_writes(path, code):
        suggester.decisions.dismiss("r1")
        await suggester.decisions.async_save()
    assert not path.exists()
    issue = _not_saved(hass, decisions_key(ENTRY_ID))
    assert issue is not None and issue.translation_key == key
    assert "your answers to its routine suggestions" in _words(issue)
    assert words in _words(issue) and os.strerror(code) in _words(issue)
    assert suggester.decisions.is_hidden("r1", dt_util.utcnow())  # kept in memory

    await _retry_time(hass)
    assert json.loads(path.read_text())["data"]["dismissed"] == ["r1"]
    assert _not_saved(hass, decisions_key(ENTRY_ID)) is None


async def test_a_retry_left_by_a_reloaded_entry_never_writes_over_the_new_one(
    hass: HomeAssistant, on_disk: Path
) -> None:
    """The unload's write fails (full disk), the entry is set up again (it reads the file as it was):
    the old store's pending retry is dropped, the new store's writes clear the issue."""
    entry = await _setup(hass)
    live = entry.runtime_data.live
    assert live is not None
    path = on_disk / live_storage_key(ENTRY_ID)
    await live.store.async_flush()
    live.store.adaptation["completed_jobs"] = 7  # in the unloaded store only
    with full_disk(path):
        await _restart(hass, entry)
    assert _not_saved(hass, live_storage_key(ENTRY_ID)) is not None
    new = entry.runtime_data.live
    assert new is not None and new.store is not live.store
    new.store.adaptation["completed_jobs"] = 3
    await new.store.async_flush()
    assert _not_saved(hass, live_storage_key(ENTRY_ID)) is None
    await _retry_time(hass)  # the old store's retry is due: dropped
    assert json.loads(path.read_text())["data"]["adaptation"]["completed_jobs"] == 3


async def test_while_a_store_cannot_be_written_a_change_waits_for_the_retry(
    hass: HomeAssistant, on_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: on a full disk every change was tried again within 30 s, each failure a traceback in
    HA's log. Now a change waits for the retry (1, 2, 4 ... 15 minutes); it is written then."""
    entry = await _setup(hass)
    live = entry.runtime_data.live
    assert live is not None
    key = live_storage_key(ENTRY_ID)
    path = on_disk / key

    def failed_writes() -> int:
        return caplog.text.count(f"Error writing config for {key}:")

    with full_disk(path):
        await live.store.async_flush()
        assert failed_writes() == 1
        live.store.add_feedback([Behaviour(time=1.0, device="light.desk", action="Light:switch on")])
        await _retry_time(hass, failures=0)  # 31 s: the usual delay of a change has passed
        assert failed_writes() == 1
    await _retry_time(hass)  # the retry, with space again: the feedback is written
    assert json.loads(path.read_text())["data"]["feedback_normal"] == [
        [[1.0, "light.desk", "Light:switch on"]]
    ]
    assert _not_saved(hass, key) is None


async def test_removing_the_entry_takes_its_issue_and_its_pending_retry_with_it(
    hass: HomeAssistant, on_disk: Path
) -> None:
    """The integration is deleted while its live store cannot be written (the unload's write fails):
    the repair issue goes, and the pending retry does not bring the deleted file back."""
    entry = await _setup(hass)
    key = live_storage_key(ENTRY_ID)
    with full_disk(on_disk / key):
        assert await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
    await _retry_time(hass)
    assert not (on_disk / key).exists()
    assert _not_saved(hass, key) is None


async def test_a_decision_not_saved_before_a_reload_is_kept_and_saved_by_the_new_entry(
    hass: HomeAssistant, on_disk: Path
) -> None:
    """Before: a dismissal that met a full disk, then a reload (an options save) before its retry: the
    new entry read the file without it (the routine was suggested again), the old store's retry was
    dropped, and nothing wrote the decisions again, so 'Habitus cannot save your answers' stayed in
    Repairs after space was freed, until the next decision."""
    entry = await _setup(hass)
    suggester = entry.runtime_data.suggester
    assert suggester is not None
    path = on_disk / decisions_key(ENTRY_ID)
    with full_disk(path):
        suggester.decisions.dismiss("r1")
        await suggester.decisions.async_save()
    assert _not_saved(hass, decisions_key(ENTRY_ID)) is not None
    await _restart(hass, entry)  # space again
    suggester = entry.runtime_data.suggester
    assert suggester is not None
    assert suggester.decisions.is_hidden("r1", dt_util.utcnow())  # the new entry has the dismissal
    await _retry_time(hass)
    assert json.loads(path.read_text())["data"]["dismissed"] == ["r1"]
    assert _not_saved(hass, decisions_key(ENTRY_ID)) is None


async def test_a_store_that_failed_for_days_still_takes_changes_and_retries(
    hass: HomeAssistant, on_disk: Path
) -> None:
    """Before: after 1025 failed writes in a row (10 days of a full or read-only disk at one retry per
    15 minutes) the retry delay overflowed (2 ** 1024 as a float): every change raised OverflowError in
    the code that recorded it, and no retry was set any more. Those failures are counted in, not made."""
    entry = await _setup(hass)
    live = entry.runtime_data.live
    assert live is not None
    key = live_storage_key(ENTRY_ID)
    with full_disk(on_disk / key):
        await live.store.async_flush()
        live.store._store.failures = 1025
        live.store.add_feedback([Behaviour(time=1.0, device="light.desk", action="Light:switch on")])
    await _retry_time(hass, failures=1025)  # 15 minutes, with space again
    assert json.loads((on_disk / key).read_text())["data"]["feedback_normal"] == [
        [[1.0, "light.desk", "Light:switch on"]]
    ]
    assert _not_saved(hass, key) is None
