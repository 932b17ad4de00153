"""The loop-lag probe inside a real HA: it sees a blocked loop, and a worker job does not block it."""

from __future__ import annotations

import asyncio
import time

import pytest
from homeassistant.core import HomeAssistant

from custom_components.habitus.looplag import LoopLagProbe, format_stats, summarise
from custom_components.habitus.worker import HabitusWorker


def _block_loop(seconds: float) -> None:
    """Keep the event loop busy (a CPU-bound call, as a misbehaving integration would make)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def _collect(probe: LoopLagProbe, samples: int) -> None:
    async with asyncio.timeout(30):
        while probe.stats().samples < samples:
            await asyncio.sleep(0.01)


def test_summary_in_milliseconds() -> None:
    stats = summarise([0.001] * 98 + [0.2, 0.3])
    assert (stats.samples, stats.p50_ms, stats.max_ms) == (100, 1.0, 300.0)
    assert 200.0 <= stats.p99_ms <= 300.0
    assert summarise([]).samples == 0
    assert "p99" in format_stats(stats)
    with pytest.raises(ValueError, match="positive"):
        LoopLagProbe(None, interval=0)  # type: ignore[arg-type]


async def test_probe_measures_a_200_ms_blocking_call(hass: HomeAssistant) -> None:
    probe = LoopLagProbe(hass, interval=0.01, capacity=500)
    probe.start()
    try:
        await _collect(probe, 5)
        blocked_until = time.monotonic() + 0.2
        _block_loop(0.2)
        await _collect(probe, probe.stats().samples + 3)
        stats = probe.stats()
        worst_ms, worst_at = probe.worst()
    finally:
        await probe.async_stop()
    assert not probe.running
    assert 180.0 <= stats.max_ms < 2000.0
    assert stats.p50_ms < stats.max_ms
    assert worst_ms == pytest.approx(stats.max_ms, abs=0.01)
    assert abs(worst_at - blocked_until) < 0.5  # when it happened (loosely: a loaded CI box)
    probe.reset()
    assert probe.stats().samples == 0


async def test_a_cpu_bound_worker_job_leaves_the_loop_responsive(hass: HomeAssistant) -> None:
    worker = HabitusWorker(hass)
    probe = LoopLagProbe(hass, interval=0.01, capacity=1000)
    try:
        await worker.run("sleep_steps", {"steps": 1, "seconds": 0})  # the child is up before measuring
        probe.start()
        result = await worker.run("burn_cpu", {"seconds": 1.5})
        stats = probe.stats()
    finally:
        await probe.async_stop()
        await worker.async_stop()
    assert result["iterations"] > 0
    assert stats.samples >= 20
    # A sanity bound on a shared 2-core box; the real figure comes from `habitus bench looplag`.
    assert stats.p99_ms < 100.0, format_stats(stats)
