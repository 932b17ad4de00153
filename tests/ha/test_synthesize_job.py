"""The ``synthesize`` job in the REAL Habitus worker process (spawned child, real Gemma 3 270M in it).

One prompt and a few dozen tokens per job (the CPU is shared); the cancellation test asks for a long
answer and cancels while it is being written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from homeassistant.core import HomeAssistant

from custom_components.habitus.worker import HabitusWorker, WorkerJobError, WorkerSettings
from tests.synthesis_home import ACTIONS, DEVICES, home, job_params, pairs_of


def params(**overrides: Any) -> dict[str, Any]:
    """Contract A params: the test home, a free-text shift, the packaged Gemma in the worker."""
    return job_params(**{"sequences_per_response": 3, "seed": 11, **overrides})


@pytest.fixture
async def worker(hass: HomeAssistant) -> AsyncIterator[HabitusWorker]:
    """A worker with the default limits (the model must fit its memory cap); always stopped."""
    habitus_worker = HabitusWorker(hass, WorkerSettings())
    yield habitus_worker
    await habitus_worker.async_stop()


async def test_synthesize_in_the_worker_returns_home_sequences(worker: HabitusWorker) -> None:
    progress: list[tuple[float, str]] = []
    result = await worker.run("synthesize", params(ablate=["tof"]), lambda f, m: progress.append((f, m)))
    report = result["report"]
    assert report["prompts_sent"] == 1 and report["completion_tokens"] > 0
    assert report["ablate"] == ["tof"] and report["sequences_kept"] == report["sequences_generated"]
    assert 0.0 <= report["pass_at_1"] <= 1.0 and report["wall_seconds"] > 0
    assert len(result["sequences"]) == report["sequences_kept"]
    assert result["sequences_bp"] == result["sequences"]  # no TOF: one set for both models
    for seq in result["sequences"]:  # the raw form, with the home's own ids
        assert seq and all(isinstance(b, list) and len(b) == 4 for b in seq)
        assert all(0 <= day < 7 and 0 <= bucket < 8 for day, bucket, _dev, _act in seq)
        assert all(0 <= dev < len(DEVICES) and 0 <= act < len(ACTIONS) for _d, _b, dev, act in seq)
    assert pairs_of(result["sequences"]) <= pairs_of(home())  # only pairs the home has
    messages = [m for _f, m in progress]
    assert messages[0] == "loading the LLM" and "prompt 1/1" in messages
    assert progress[-1][0] == 1.0


async def test_cancelling_synthesis_mid_answer_leaves_the_worker_usable(hass: HomeAssistant) -> None:
    # A grace long enough that a job which honours the cancel is never terminated for being slow on a
    # busy CPU (prompt evaluation runs to its end): the same child afterwards proves it stopped itself.
    worker = HabitusWorker(hass, WorkerSettings(cancel_grace_seconds=60.0))
    progress: list[tuple[float, str]] = []
    long_answer = params(max_new_tokens=320, sequences_per_response=20, llm={"n_ctx": 1024})
    try:
        task = hass.async_create_task(
            worker.run("synthesize", long_answer, lambda f, m: progress.append((f, m)))
        )
        async with asyncio.timeout(120):
            while not any(m == "prompt 1/1" for _f, m in progress):
                await asyncio.sleep(0.05)
        pid = worker.pid
        await asyncio.sleep(0.5)  # the prompt is being evaluated or answered (320 tokens take longer)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not worker.busy
        assert worker.pid == pid  # the job honoured the cancel: same child, idle
        assert progress[-1][1] == "prompt 1/1"  # it never reached parsing
        assert (await worker.run("describe", {}))["pid"] == pid
    finally:
        await worker.async_stop()


async def test_a_missing_model_is_a_job_error_and_the_worker_goes_on(worker: HabitusWorker) -> None:
    bad = params(llm={"backend": "local", "model_path": "/nonexistent/model.gguf"})
    with pytest.raises(WorkerJobError, match="model file not found") as err:
        await worker.run("synthesize", bad)
    assert err.value.error_type == "JobError"
    assert await worker.run("sleep_steps", {"steps": 1, "seconds": 0}) == {"steps": 1}
