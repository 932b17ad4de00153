"""Event-loop lag probe: how late HA's event loop wakes a task that sleeps a fixed interval.

Issue 5's target is HA's loop lag p99 <= 20 ms while an adaptation job runs in the worker. The probe is
an asyncio task: it sleeps ``interval`` seconds, measures how much later than asked it woke (the time
every other callback on the loop kept it waiting), and keeps the last ``capacity`` samples in a ring
buffer. ``stats()`` summarises them as p50 / p99 / max in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from homeassistant.core import HomeAssistant

DEFAULT_INTERVAL_SECONDS = 0.05
DEFAULT_CAPACITY = 12_000  # 10 min at 20 samples per second


@dataclass(frozen=True, slots=True)
class LoopLagStats:
    """Summary of the recorded lags (milliseconds); all zero without samples."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (diagnostics, the demo's summary)."""
        return asdict(self)


def summarise(lags_seconds: list[float]) -> LoopLagStats:
    """p50 / p99 / max of lags [n] in seconds, reported in milliseconds (rounded to 0.01 ms)."""
    if not lags_seconds:
        return LoopLagStats(0, 0.0, 0.0, 0.0)
    lags_ms = np.asarray(lags_seconds, dtype=np.float64) * 1000.0
    p50, p99 = np.percentile(lags_ms, [50, 99])
    return LoopLagStats(
        len(lags_ms), round(float(p50), 2), round(float(p99), 2), round(float(lags_ms.max()), 2)
    )


def format_stats(stats: LoopLagStats) -> str:
    """One line for logs and benchmark output."""
    return (
        f"loop lag over {stats.samples} samples: p50 {stats.p50_ms:.2f} ms, "
        f"p99 {stats.p99_ms:.2f} ms, max {stats.max_ms:.2f} ms"
    )


class LoopLagProbe:
    """Samples HA's event-loop lag from ``start`` until ``async_stop``."""

    def __init__(
        self,
        hass: HomeAssistant,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        if interval <= 0 or capacity <= 0:
            raise ValueError(f"interval and capacity must be positive, got {interval}, {capacity}")
        self._hass = hass
        self._interval = interval
        self._lags: deque[float] = deque(maxlen=capacity)
        self._task: asyncio.Task[None] | None = None
        self._worst = (0.0, 0.0)  # (lag s, time.monotonic() of the wake-up) of the largest lag

    @property
    def running(self) -> bool:
        """Whether the probe is sampling."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start sampling (event loop); a second call while running does nothing."""
        if not self.running:
            self._task = self._hass.async_create_background_task(self._sample(), "habitus loop-lag probe")

    async def async_stop(self) -> None:
        """Stop sampling (the samples stay readable)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) is not None and current.cancelling():
                    raise  # we are being cancelled ourselves, not just the probe

    def reset(self) -> None:
        """Forget the samples so far (e.g. to measure one phase)."""
        self._lags.clear()
        self._worst = (0.0, 0.0)

    def take(self) -> list[float]:
        """The samples so far (seconds, oldest first), forgotten here (e.g. to split them by phase)."""
        lags = list(self._lags)
        self.reset()
        return lags

    def worst(self) -> tuple[float, float]:
        """The largest lag since the last reset: (milliseconds, ``time.monotonic()`` when it ended)."""
        return self._worst[0] * 1000.0, self._worst[1]

    def stats(self) -> LoopLagStats:
        """p50 / p99 / max of the samples in the ring buffer."""
        return summarise(list(self._lags))

    async def _sample(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(self._interval)
            woke = time.monotonic()
            lag = max(0.0, woke - asked - self._interval)
            self._lags.append(lag)
            if lag > self._worst[0]:
                self._worst = (lag, woke)
