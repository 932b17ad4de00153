"""100 reloads of a live entry: nothing accumulates, nothing learned is lost (issue 5's reload test).

Each cycle feeds real behaviours through the bus (scored live by the served model), every
``WORKER_EVERY``-th cycle also runs a job in the real worker process, then reloads the entry. After each
reload the old learner has no observers left and no worker process or scoring thread survives; after a
warm-up, HA's bus listeners, asyncio tasks, open file descriptors, threads and child processes must not
grow. After the last unload no scoring thread is left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import Counter
from multiprocessing import resource_tracker

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from custom_components.habitus.live_models import ASSETS_DIR

from .conftest import SetupHabitus
from .live_helpers import NORMAL, UNUSUAL, act, new_sequence, scoring_threads, start

CYCLES = 100
WARM_UP = 5  # executor threads and caches settle in the first reloads
WORKER_EVERY = 10  # a worker process per 10 cycles (each spawn is a fresh interpreter: about a second)
OPTIONS = {"max_gap_hours": 0.05}


def _children() -> list[int]:
    """Live child processes of this process (read from /proc; zombies count: they were not reaped)."""
    me, found = str(os.getpid()), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.append(int(pid))
    return found


def _resources(hass: HomeAssistant) -> dict[str, int]:
    return {
        "listeners": sum(hass.bus.async_listeners().values()),
        "tasks": len(asyncio.all_tasks()),
        "fds": len(os.listdir("/proc/self/fd")),
        # HA's executor starts its threads on demand up to a fixed maximum: not a leak, not counted
        "threads": sum(not t.name.startswith("SyncWorker") for t in threading.enumerate()),
        "children": len(_children()),
    }


async def test_100_reloads_leak_nothing_and_keep_what_was_learned(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The test plugin logs every SQL statement of the recorder at INFO: thousands per 100 reloads, kept
    # in memory by the log capture. Nothing here reads them; WARNING and above are still captured.
    caplog.set_level(logging.WARNING, logger="sqlalchemy.engine")
    resource_tracker.ensure_running()  # multiprocessing's one helper process per interpreter: not ours
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    live = entry.runtime_data.live
    assert live is not None
    await live.async_deploy(hass, ASSETS_DIR / "transae_fr.npz", ASSETS_DIR / "sasrec_fr.npz", "home-1")
    listeners: Counter[str] = Counter()
    baseline: dict[str, int] = {}
    began = os.times()  # wall clock and CPU (freezegun fakes time.monotonic)
    for cycle in range(CYCLES):
        await act(hass, freezer, UNUSUAL if cycle % 7 == 0 else NORMAL)
        await new_sequence(hass, freezer, minutes=5)  # the sequence closes and is stored
        pid = None
        if cycle % WORKER_EVERY == 0:
            worker = entry.runtime_data.worker
            assert worker is not None
            assert await worker.run("sleep_steps", {"steps": 1, "seconds": 0.0}) == {"steps": 1}
            pid = worker.pid
            assert pid in _children()
        learner = entry.runtime_data.learner
        assert len(learner.observers) == 3  # the scorer, the context tracker, the action names; never more
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        assert entry.state is ConfigEntryState.LOADED
        assert learner.observers == []  # the old learner is let go
        assert pid is None or pid not in _children()  # the worker was stopped and reaped
        assert len(scoring_threads()) == 1  # the old entry's scoring thread ended with it
        if cycle == WARM_UP - 1:
            baseline = _resources(hass)
            listeners = Counter(hass.bus.async_listeners())
    ended = os.times()
    after = _resources(hass)
    assert Counter(hass.bus.async_listeners()) == listeners
    for name, value in after.items():
        assert value <= baseline[name], (name, baseline, after)
    learner = entry.runtime_data.learner
    assert learner.behaviours_learned >= 2 * CYCLES  # nothing learned was lost on the way
    assert learner.sequences_learned >= CYCLES - 1  # the last one is still open...
    assert learner.open_sequence  # ...and was restored
    live = entry.runtime_data.live
    assert live is not None and live.scorer.bundle is not None
    assert live.scorer.bundle.info.version == "home-1"  # the deployed model served throughout
    assert live.scorer.scored > 0
    cpu = ended.user + ended.system - began.user - began.system
    print(f"{CYCLES} reload cycles in {ended.elapsed - began.elapsed:.1f} s ({cpu:.1f} s CPU); {after}")
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert scoring_threads() == []  # and none survives the unload
