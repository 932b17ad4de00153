"""Deployed models survive restarts (``model_store.py``) on a real HA with the real model files.

A "restart" here unloads the entry, forgets every model Habitus holds in memory for this HA run (the
base bundle and the stored bundles reused across reloads) and sets the entry up again: setup must read
``<config>/habitus/<entry_id>/models`` from disk. One test trains a real challenger in the worker
(``habitus.retrain``'s path, 1 epoch); the others deploy the shipped FR files as a home model, which
exercises the same store in a fraction of the time.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.habitus.adaptation import async_retrain, rollback
from custom_components.habitus.const import DOMAIN
from custom_components.habitus.live import _BASE_BUNDLE, LiveRuntime
from custom_components.habitus.live_models import ASSETS_DIR
from custom_components.habitus.model_store import (
    _LOADED,
    ISSUE_MODEL_UNREADABLE,
    MODEL_NOT_SAVED,
    UNSAVED,
    ModelStore,
)
from custom_components.habitus.runtime import HabitusConfigEntry
from custom_components.habitus.write_issues import retry_delay

from .conftest import SetupHabitus
from .home_helpers import store_regular_home

STRINGS = json.loads((Path(__file__).parents[2] / "custom_components/habitus/strings.json").read_text())
FR_TRANSAE, FR_SASREC = ASSETS_DIR / "transae_fr.npz", ASSETS_DIR / "sasrec_fr.npz"


def _models(hass: HomeAssistant, entry: HabitusConfigEntry) -> Path:
    return Path(hass.config.path("habitus", entry.entry_id, "models"))


def _stored(hass: HomeAssistant, entry: HabitusConfigEntry, which: str) -> dict[str, Any]:
    return dict(json.loads((_models(hass, entry) / which / "model.json").read_text()))


def _live(entry: HabitusConfigEntry) -> LiveRuntime:
    live = entry.runtime_data.live
    assert live is not None
    return live


def _served(entry: HabitusConfigEntry) -> tuple[str, str]:
    bundle = _live(entry).scorer.bundle
    assert bundle is not None
    return bundle.info.version, bundle.info.source


async def _reload(hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED


async def _restart(hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
    """Unload, drop the in-memory model caches (as a new HA process would not have them), set up again."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.data.pop(_LOADED, None)
    hass.data.pop(_BASE_BUNDLE, None)
    hass.data.pop(UNSAVED, None)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED


def _issue(hass: HomeAssistant, key: str, entry: HabitusConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{key}_{entry.entry_id}")


async def test_a_retrained_model_serves_again_after_a_restart_and_rollback_persists(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    assert not _models(hass, entry).exists()  # nothing stored before the first deploy
    store_regular_home(entry, days=20)
    outcome = await async_retrain(hass, entry, epochs=2)  # one epoch at lr 5e-3 flags 1 of 12 held out
    assert outcome["deployed"] is True and outcome["stored"] is True, outcome
    version = outcome["version"]
    metrics = dict(_live(entry).scorer.bundle.info.metrics)  # type: ignore[union-attr]
    current = _stored(hass, entry, "current")
    assert (current["version"], current["source"]) == (version, "home")
    assert current["metrics"] == metrics and current["data"] == outcome["train_sequences"]
    assert _stored(hass, entry, "previous")["source"] == "base"  # the replaced one was the base model

    await _restart(hass, entry)
    assert _served(entry) == (version, "home")
    served = _live(entry).scorer.bundle
    assert served is not None and served.info.metrics == metrics and "light.kitchen" in served.vocab.devices
    previous = entry.runtime_data.adaptation.previous
    assert previous is not None and previous.info.source == "base"  # the rollback target came back too

    response = await hass.services.async_call(DOMAIN, "rollback", {}, blocking=True, return_response=True)
    await hass.async_block_till_done()
    assert response == {"version": "base-fr"}
    assert _stored(hass, entry, "current")["source"] == "base"
    assert _stored(hass, entry, "previous")["version"] == version

    await _restart(hass, entry)
    assert _served(entry) == ("base-fr", "base")
    assert rollback(entry) == version  # ...and back: the home model was kept as the rollback target
    await hass.async_block_till_done()
    await _restart(hass, entry)
    assert _served(entry) == (version, "home")


async def test_two_deploys_keep_current_and_previous_and_only_those_on_disk(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-1", metrics={"hr_at_10": 0.5})
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-2")
    assert _stored(hass, entry, "current")["version"] == "home-2"
    assert _stored(hass, entry, "previous")["version"] == "home-1"
    assert _stored(hass, entry, "previous")["metrics"] == {"hr_at_10": 0.5}
    assert len(os.listdir(_models(hass, entry) / "bundles")) == 2  # the base marker was collected
    served = _live(entry).scorer.bundle
    await _reload(hass, entry)
    assert _served(entry) == ("home-2", "home")
    assert _live(entry).scorer.bundle is served  # unchanged files: a reload reuses the loaded bundle
    previous = entry.runtime_data.adaptation.previous
    assert previous is not None and previous.info.version == "home-1"
    assert previous.info.metrics == {"hr_at_10": 0.5}


@pytest.mark.parametrize("defect", ["garbage", "swapped"])
async def test_a_corrupt_or_mismatched_stored_model_falls_back_to_the_base_models_with_a_repair_issue(
    hass: HomeAssistant, setup_habitus: SetupHabitus, defect: str
) -> None:
    entry = await setup_habitus()
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-1")
    target = _models(hass, entry) / "current" / "transae.npz"
    if defect == "garbage":
        target.write_bytes(b"not a model file")
    else:  # a valid model file, but not the one model.json records
        target.write_bytes(FR_SASREC.read_bytes())
    await _restart(hass, entry)  # setup does not fail...
    assert _served(entry) == ("base-fr", "base")  # ...the base models serve
    issue = _issue(hass, ISSUE_MODEL_UNREADABLE, entry)
    assert issue is not None and not issue.is_fixable
    assert issue.translation_key in STRINGS["issues"]
    assert "transae.npz" in (issue.translation_placeholders or {})["error"]
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-2")  # a good deploy clears it
    assert _issue(hass, ISSUE_MODEL_UNREADABLE, entry) is None
    await _reload(hass, entry)
    assert _served(entry) == ("home-2", "home")


async def test_removing_the_entry_deletes_its_model_folder(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-1")
    folder = _models(hass, entry).parent
    assert (folder / "models" / "current" / "sasrec.npz").is_file()
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not folder.exists()


async def test_a_full_disk_keeps_the_new_model_serving_and_the_stored_one_intact(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """The full disk is simulated by making ``os.replace`` (the store's atomic step) raise ENOSPC."""
    entry = await setup_habitus()
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-1")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with patch("custom_components.habitus.model_store.os.replace", side_effect=full):
        await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-2")
    assert _served(entry) == ("home-2", "home")  # serving from memory
    issue = _issue(hass, MODEL_NOT_SAVED, entry)
    assert issue is not None and issue.translation_key == "store_not_saved_no_space"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert (issue.translation_placeholders or {})["what"] == "model home-2"
    title = STRINGS["issues"][issue.translation_key]["title"].format(**issue.translation_placeholders)
    assert title == "Habitus cannot save model home-2: the disk is full"
    assert _stored(hass, entry, "current")["version"] == "home-1"  # nothing stored was lost
    assert [p.name for p in (_models(hass, entry) / "bundles").iterdir() if p.name.startswith(".")] == []
    await _restart(hass, entry)
    assert _served(entry) == ("home-1", "home")
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-3")  # space again: stored, cleared
    assert _issue(hass, MODEL_NOT_SAVED, entry) is None
    assert _stored(hass, entry, "current")["version"] == "home-3"


async def test_a_model_that_could_not_be_stored_is_stored_by_the_retry_once_there_is_space(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """Before: a model deployed on a full disk was stored only by the next deploy or rollback, so a
    restart after the user freed space went back to the older models. ENOSPC is simulated at
    ``os.replace`` (a real full disk cannot be made here)."""
    entry = await setup_habitus()
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-1")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with patch("custom_components.habitus.model_store.os.replace", side_effect=full):
        await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-2")
        issue = _issue(hass, MODEL_NOT_SAVED, entry)
        assert issue is not None
        await _later(hass, retry_delay(1))  # the first retry meets the full disk too: the same issue
        assert _issue(hass, MODEL_NOT_SAVED, entry) == issue
    assert _stored(hass, entry, "current")["version"] == "home-1"
    await _later(hass, retry_delay(2))  # space again
    assert _issue(hass, MODEL_NOT_SAVED, entry) is None
    assert _stored(hass, entry, "current")["version"] == "home-2"
    assert _stored(hass, entry, "previous")["version"] == "home-1"
    await _restart(hass, entry)
    assert _served(entry) == ("home-2", "home")


async def _later(hass: HomeAssistant, seconds: float) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds + 1))
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_a_deploy_cancelled_while_storing_leaves_a_complete_store(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """A slow disk (the store's ``persist`` delayed in its executor thread) and an unload-like cancel."""
    entry = await setup_habitus()
    persist = ModelStore.persist
    started = threading.Event()

    def slow_persist(store: ModelStore, current: Any, previous: Any) -> None:
        started.set()
        time.sleep(0.5)
        persist(store, current, previous)

    with patch.object(ModelStore, "persist", slow_persist):
        task = hass.async_create_task(_live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-1"))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert _stored(hass, entry, "current")["version"] == "home-1"  # the write finished before the cancel
    await _restart(hass, entry)
    assert _served(entry) == ("home-1", "home")


async def test_a_model_write_that_fails_while_habitus_is_removed_is_not_tried_again(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """Before: a retry's write still in its thread when the user removed Habitus failed after the unload
    had dropped the pending retry, and set a new one: 1 ... 15 minutes later the removed entry's models
    folder was written again (or, the disk still full, its 'cannot save model' issue came back, every 15
    minutes). ENOSPC is simulated at ``os.replace``."""
    entry = await setup_habitus()
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-1")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    started, release = threading.Event(), threading.Event()

    def full_then_slow(*_args: Any) -> None:
        started.set()
        release.wait(5)
        raise full

    with patch("custom_components.habitus.model_store.os.replace", side_effect=full):
        await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-2")
    assert _issue(hass, MODEL_NOT_SAVED, entry) is not None
    with patch("custom_components.habitus.model_store.os.replace", side_effect=full_then_slow):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=retry_delay(1) + 1))
        while not started.is_set():  # the retry is writing, in its thread
            await asyncio.sleep(0.01)
        removing = hass.async_create_task(hass.config_entries.async_remove(entry.entry_id))
        await asyncio.sleep(0.1)  # the unload has begun: it waits for the write
        release.set()
        await removing
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not _models(hass, entry).parent.exists()
    await _later(hass, retry_delay(2))
    assert not _models(hass, entry).parent.exists()  # the removed entry's folder stays deleted
    assert _issue(hass, MODEL_NOT_SAVED, entry) is None


async def test_a_model_not_stored_before_a_reload_still_serves_and_is_stored(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """Before: a model deployed on a full disk, then an options save (a reload) after space was freed:
    the reloaded entry served the older models from disk, the unload had dropped the retry, and the
    'cannot save model' issue (which says Habitus tries again) stayed until the next deploy. ENOSPC is
    simulated at ``os.replace``."""
    entry = await setup_habitus()
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-1")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with patch("custom_components.habitus.model_store.os.replace", side_effect=full):
        await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-2")
    assert _issue(hass, MODEL_NOT_SAVED, entry) is not None
    await _reload(hass, entry)  # space again
    assert _served(entry) == ("home-2", "home")
    previous = entry.runtime_data.adaptation.previous
    assert previous is not None and previous.info.version == "home-1"
    assert _stored(hass, entry, "current")["version"] == "home-2"
    assert _stored(hass, entry, "previous")["version"] == "home-1"
    assert _issue(hass, MODEL_NOT_SAVED, entry) is None
    await _restart(hass, entry)
    assert _served(entry) == ("home-2", "home")


async def test_a_deploy_cancelled_by_a_reload_is_not_undone_by_models_not_stored_before(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """Models not stored (a full disk), then a deploy (the adaptation job, a background task) cancelled
    by a reload while it stored the newer models: the reload serves the newer ones, not those the
    earlier failure left, and they stay on disk."""
    entry = await setup_habitus()
    await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-1")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with patch("custom_components.habitus.model_store.os.replace", side_effect=full):
        await _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-2")
    persist = ModelStore.persist
    started, release = threading.Event(), threading.Event()

    def slow_persist(store: ModelStore, current: Any, previous: Any) -> None:
        started.set()
        release.wait(5)
        persist(store, current, previous)

    with patch.object(ModelStore, "persist", slow_persist):
        entry.async_create_background_task(
            hass, _live(entry).async_deploy(hass, FR_TRANSAE, FR_SASREC, "home-3"), "deploy"
        )
        while not started.is_set():
            await asyncio.sleep(0.01)
        reloading = hass.async_create_task(hass.config_entries.async_reload(entry.entry_id))
        await asyncio.sleep(0.1)
        release.set()
        assert await reloading
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _served(entry) == ("home-3", "home")
    assert _stored(hass, entry, "current")["version"] == "home-3"
