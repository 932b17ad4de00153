"""The Habitus worker process with a real HA: jobs, progress, cancellation, crashes, stop.

Every test starts a real spawned child (no mocks); each must leave no process behind.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator
from multiprocessing import resource_tracker
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant

from custom_components.habitus.worker import (
    HabitusWorker,
    WorkerCrashedError,
    WorkerJobError,
    WorkerSettings,
    WorkerStoppedError,
)

FAST_CANCEL = WorkerSettings(cancel_grace_seconds=1.0)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (reaped children do not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
async def worker(hass: HomeAssistant) -> AsyncIterator[HabitusWorker]:
    """A worker that is always stopped at the end of the test."""
    habitus_worker = HabitusWorker(hass, FAST_CANCEL)
    yield habitus_worker
    await habitus_worker.async_stop()


async def _first_progress(progress: list[tuple[float, str]]) -> None:
    async with asyncio.timeout(60):
        while not progress:
            await asyncio.sleep(0.01)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_job_runs_in_a_child_and_progress_arrives_in_order(worker: HabitusWorker) -> None:
    resource_tracker.ensure_running()  # multiprocessing's one helper process per HA: not ours to count
    fds_before = _open_fds()
    progress: list[tuple[float, str]] = []
    result = await worker.run(
        "sleep_steps", {"steps": 4, "seconds": 0.01}, lambda f, m: progress.append((f, m))
    )
    assert result == {"steps": 4}
    assert progress == [(0.25, "step 1/4"), (0.5, "step 2/4"), (0.75, "step 3/4"), (1.0, "step 4/4")]
    pid = worker.pid
    assert pid is not None and pid != os.getpid() and _alive(pid)
    described = await worker.run("describe", {})
    assert described["pid"] == pid
    assert described["niceness"] == os.nice(0) + 10  # HA keeps the CPU
    assert described["memory_limit_mb"] == WorkerSettings().memory_limit_mb
    assert described["homeassistant_imported"] is False  # the child loads the engine only
    with pytest.raises(WorkerJobError, match="ValueError: bad input") as err:
        await worker.run("fail", {"message": "bad input"})
    assert err.value.error_type == "ValueError"
    assert await worker.run("sleep_steps", {"steps": 1, "seconds": 0}) == {"steps": 1}
    assert worker.pid == pid  # one long-lived child: a job error does not end it
    await worker.async_stop()
    assert worker.pid is None and not _alive(pid)
    assert _open_fds() == fds_before  # both pipes closed
    with pytest.raises(WorkerStoppedError):
        await worker.run("sleep_steps", {})


async def test_train_models_runs_in_the_worker(worker: HabitusWorker, tmp_path: Path) -> None:
    sequences = [
        [[i % 7, 1 + i % 3, i % 3, 2 * (i % 3)], [i % 7, 1 + i % 3, i % 3, 2 * (i % 3) + 1]]
        for i in range(24)
    ]
    params = {
        "sequences": sequences,
        "n_devices": 3,
        "n_actions": 6,
        "epochs": 2,
        "transae": {"d_model": 8, "d_ff": 16},
        "sasrec": {"d_model": 8, "n_blocks": 1},
        "output_dir": str(tmp_path),
    }
    progress: list[tuple[float, str]] = []
    result = await worker.run("train_models", params, lambda f, m: progress.append((f, m)))
    assert result["transae"]["epochs_run"] == 2 and result["sasrec"]["epochs_run"] == 2
    assert [f for f, _ in progress] == [0.25, 0.5, 0.75, 1.0]
    assert (tmp_path / "transae.npz").is_file() and (tmp_path / "sasrec.npz").is_file()


async def test_cancelling_the_caller_cancels_the_job(hass: HomeAssistant, worker: HabitusWorker) -> None:
    progress: list[tuple[float, str]] = []
    task = hass.async_create_task(
        worker.run("sleep_steps", {"steps": 500, "seconds": 0.02}, lambda f, m: progress.append((f, m)))
    )
    await _first_progress(progress)
    pid = worker.pid
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not worker.busy
    seen = len(progress)
    await asyncio.sleep(0.1)
    assert len(progress) == seen  # the job stopped
    assert worker.pid == pid  # a job that honours cancel leaves the child idle and reusable
    assert await worker.run("sleep_steps", {"steps": 1, "seconds": 0}) == {"steps": 1}


async def test_a_job_ignoring_cancel_is_ended_with_its_child(
    hass: HomeAssistant, worker: HabitusWorker
) -> None:
    progress: list[tuple[float, str]] = []
    params = {"steps": 500, "seconds": 0.02, "honour_cancel": False}
    task = hass.async_create_task(worker.run("sleep_steps", params, lambda f, m: progress.append((f, m))))
    await _first_progress(progress)
    pid = worker.pid
    assert pid is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert worker.pid is None and not _alive(pid)  # terminated after the 1 s grace, reaped


async def test_kill_9_mid_job_raises_crashed_and_ha_keeps_running(
    hass: HomeAssistant, worker: HabitusWorker
) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = hass.async_create_task(tick())
    progress: list[tuple[float, str]] = []
    job = hass.async_create_task(
        worker.run("sleep_steps", {"steps": 500, "seconds": 0.02}, lambda f, m: progress.append((f, m)))
    )
    await _first_progress(progress)
    pid = worker.pid
    assert pid is not None
    ticks_before = ticks
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(WorkerCrashedError) as err:
        await job
    assert err.value.signal == signal.SIGKILL and err.value.exitcode == -signal.SIGKILL
    assert "SIGKILL" in str(err.value)
    await asyncio.sleep(0.05)
    assert ticks > ticks_before  # the loop kept serving other tasks
    assert not _alive(pid)
    assert await worker.run("sleep_steps", {"steps": 2, "seconds": 0}) == {"steps": 2}
    assert worker.pid not in (None, pid)  # a fresh child
    ticker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ticker


async def test_native_abort_in_a_job_raises_crashed(worker: HabitusWorker) -> None:
    with pytest.raises(WorkerCrashedError) as err:
        await worker.run("crash_native", {})
    assert err.value.signal == signal.SIGABRT
    assert worker.pid is None


async def test_memory_limit_turns_an_overrun_into_a_job_error(hass: HomeAssistant) -> None:
    worker = HabitusWorker(hass, WorkerSettings(memory_limit_mb=768))
    try:
        assert await worker.run("allocate", {"mb": 64}) == {"allocated_mb": 64}
        with pytest.raises(WorkerJobError) as err:
            await worker.run("allocate", {"mb": 2048})
        assert err.value.error_type == "MemoryError"
        assert await worker.run("allocate", {"mb": 8}) == {"allocated_mb": 8}  # the child survived it
    finally:
        await worker.async_stop()


async def test_stop_during_a_job_ends_it_and_the_child(hass: HomeAssistant, worker: HabitusWorker) -> None:
    progress: list[tuple[float, str]] = []
    job = hass.async_create_task(
        worker.run("sleep_steps", {"steps": 500, "seconds": 0.02}, lambda f, m: progress.append((f, m)))
    )
    await _first_progress(progress)
    pid = worker.pid
    assert pid is not None
    await worker.async_stop()
    with pytest.raises(WorkerStoppedError):
        await job
    assert worker.pid is None and not _alive(pid)


async def test_stop_while_the_child_starts_leaves_no_child(
    hass: HomeAssistant, worker: HabitusWorker
) -> None:
    job = hass.async_create_task(worker.run("sleep_steps", {"steps": 1, "seconds": 0}))
    await asyncio.sleep(0)  # the job is starting its child
    await worker.async_stop()
    with pytest.raises(WorkerStoppedError):
        await job
    assert worker.pid is None
    assert not [p for p in multiprocessing.active_children() if p.name == "habitus-worker"]


async def _writing(worker: HabitusWorker, hass: HomeAssistant) -> tuple[int, asyncio.Task[dict[str, object]]]:
    """A job whose 8 MB command the (stopped) child does not read: the write waits in the executor."""
    await worker.run("sleep_steps", {"steps": 1, "seconds": 0})
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    task = hass.async_create_task(worker.run("sleep_steps", {"steps": 1, "padding": "x" * 8_000_000}))
    for _ in range(20):  # the loop keeps running while the command cannot be written
        await asyncio.sleep(0.01)
    assert not task.done() and worker.busy
    return pid, task


async def test_a_child_not_reading_a_large_command_leaves_the_loop_free_and_cancel_ends_it(
    hass: HomeAssistant, worker: HabitusWorker
) -> None:
    pid, task = await _writing(worker, hass)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert worker.pid is None and not _alive(pid) and not worker.busy  # ended, reaped
    assert await worker.run("sleep_steps", {"steps": 1, "seconds": 0}) == {"steps": 1}  # a fresh child


async def test_stop_while_a_large_command_is_written_raises_stopped_and_ends_the_child(
    hass: HomeAssistant, worker: HabitusWorker
) -> None:
    pid, task = await _writing(worker, hass)
    await worker.async_stop()
    with pytest.raises(WorkerStoppedError):
        await task
    assert worker.pid is None and not _alive(pid)
