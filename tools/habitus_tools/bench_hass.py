"""A real Home Assistant in the bench's process, and what explains its event loop's stalls.

Shared by ``habitus bench live`` and ``habitus bench looplag``: a temporary config dir (``recorder`` on
SQLite, ``input_boolean`` switches, the integration linked into ``custom_components``), HA set up the way
``hass`` does (``bootstrap.async_setup_hass``), a Habitus entry added through its config flow; then two
diagnoses of a late loop. ``GcPauses`` times Python's garbage collections (``gc.callbacks``): a full
(generation-2) collection walks every tracked object of HA's heap while holding the GIL, a loop stall
nobody scheduled. ``StallTracer`` (``--trace-stalls MS``) records every thread's stack whenever the loop
has not ticked for ``MS`` ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

GC_REPORTED_MS = 1.0  # collections shorter than this are not kept
FULL_GENERATION = 2


def config_yaml(switches: int, prefix: str) -> str:
    """HA's ``configuration.yaml``: recorder (1-s commits) and ``input_boolean.<prefix><i>`` switches."""
    booleans = "".join(f"  {prefix}{i}:\n    name: Bench {i}\n" for i in range(switches))
    return (
        "homeassistant:\n  name: Habitus bench\n  unit_system: metric\n  time_zone: UTC\n"
        f"recorder:\n  commit_interval: 1\ninput_boolean:\n{booleans}"
    )


@asynccontextmanager
async def config_dir(switches: int, prefix: str, *, integration: bool) -> AsyncIterator[Path]:
    """A temporary config dir (made and removed in the executor), the integration linked if asked."""
    from .demo.paths import REPO_ROOT  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    path = Path(await loop.run_in_executor(None, tempfile.mkdtemp, "", "habitus-bench-"))
    try:
        (path / "configuration.yaml").write_text(config_yaml(switches, prefix), encoding="utf-8")
        if integration:
            (path / "custom_components").mkdir()
            (path / "custom_components" / "habitus").symlink_to(REPO_ROOT / "custom_components" / "habitus")
        yield path
    finally:
        await loop.run_in_executor(None, shutil.rmtree, path, True)


async def setup_hass(path: Path) -> Any:
    """Home Assistant set up on ``path`` as ``hass`` does it (not started yet)."""
    from homeassistant import bootstrap, runner  # noqa: PLC0415

    hass = await bootstrap.async_setup_hass(runner.RuntimeConfig(config_dir=str(path), skip_pip=True))
    if hass is None:
        raise RuntimeError("Home Assistant did not set up")
    return hass


async def add_entry(hass: Any) -> Any:
    """A Habitus entry added through its config flow, learning the ``input_boolean`` domain."""
    result = await hass.config_entries.flow.async_init("habitus", context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"include_domains": ["input_boolean"]}
    )
    await hass.async_block_till_done()
    return result["result"]


def add_trace_stalls(parser: argparse.ArgumentParser, applies_to: str = "") -> None:
    """The ``--trace-stalls MS`` option (``applies_to``: which of the bench's modes it serves)."""
    parser.add_argument(
        "--trace-stalls",
        type=float,
        default=None,
        metavar="MS",
        help=f"{applies_to}write all stacks to <--json>.stalls.txt when the loop is MS ms late (diagnosis)",
    )


class GcPause(NamedTuple):
    """One garbage collection: its generation (2: full), how long it held the GIL, when it ended."""

    generation: int
    ms: float
    ended: float  # time.monotonic()


class GcPauses:
    """Garbage-collector pauses (``gc.callbacks``), each one >= ``GC_REPORTED_MS``."""

    def __init__(self) -> None:
        self._started = 0.0
        self._pauses: list[GcPause] = []

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        ms = (time.perf_counter() - self._started) * 1000.0
        if ms >= GC_REPORTED_MS:
            self._pauses.append(GcPause(int(info["generation"]), ms, time.monotonic()))

    def install(self) -> None:
        gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)

    def take(self) -> list[GcPause]:
        """The pauses so far, forgotten here."""
        pauses, self._pauses = self._pauses, []
        return pauses


def gc_summary(pauses: list[GcPause], since: float) -> dict[str, Any]:
    """Counts and the longest pauses; each full collection as (seconds after ``since``, ms)."""
    full = [p for p in pauses if p.generation == FULL_GENERATION]
    return {
        "pauses": len(pauses),
        "full_collections": len(full),
        "longest_full_ms": round(max((p.ms for p in full), default=0.0), 1),
        "longest_young_ms": round(max((p.ms for p in pauses if p not in full), default=0.0), 1),
        "full_at_s": [(round(p.ended - since, 2), round(p.ms, 1)) for p in full],
    }


class StallTracer:
    """``--trace-stalls MS``: when the loop has not ticked for ``MS`` ms, record every thread's stack.

    A watchdog thread checks the loop's heartbeat every 2 ms and, once per stall, formats
    ``sys._current_frames()``: it needs the GIL, so a stall caused by Python code on the loop is caught
    in the act (the loop's thread yields the GIL every switch interval; a garbage collection only when it
    ends, in its ``gc.callbacks``), while a loop thread that is not even scheduled shows up idle in
    ``select``. (``faulthandler.dump_traceback_later`` reads the frames without the GIL and crashed HA
    when fired hundreds of times.) The dumps are written at the end."""

    def __init__(self, threshold_ms: float, loop_thread: int) -> None:
        self._threshold = threshold_ms / 1000.0
        self._loop_thread = loop_thread
        self._tick = time.monotonic()
        self._stopped = threading.Event()
        self.dumps: list[str] = []
        self._watchdog = threading.Thread(target=self._watch, name="bench stall watchdog", daemon=True)

    @classmethod
    def started(cls, hass: Any, threshold_ms: float | None) -> StallTracer | None:
        """A tracer watching the loop this is called on (none without a threshold)."""
        if not threshold_ms:
            return None
        tracer = cls(threshold_ms, threading.get_ident())
        tracer._watchdog.start()
        hass.async_create_background_task(tracer.heartbeat(), "bench stall heartbeat")
        return tracer

    async def heartbeat(self) -> None:
        """Tick every 2 ms while the loop runs."""
        while not self._stopped.is_set():
            self._tick = time.monotonic()
            await asyncio.sleep(0.002)

    def _watch(self) -> None:
        dumped_for = -1.0
        while not self._stopped.wait(0.002):
            tick = self._tick
            late = time.monotonic() - tick
            if late >= self._threshold and tick != dumped_for:
                dumped_for = tick
                self.dumps.append(self._dump(late))

    def _dump(self, late: float) -> str:
        frames = sys._current_frames()  # a diagnosis tool
        parts = [f"=== loop {late * 1000:.0f} ms late at {time.monotonic():.3f}"]
        for ident, frame in frames.items():
            if ident == threading.get_ident():
                continue
            name = "LOOP" if ident == self._loop_thread else str(ident)
            parts.append(f"--- thread {name}\n" + "".join(traceback.format_stack(frame, limit=8)))
        return "\n".join(parts)

    async def async_stop(self, hass: Any, path: Path) -> None:
        """Stop watching and write the dumps to ``path`` (in the executor)."""
        self._stopped.set()
        self._watchdog.join()
        text = "\n\n".join(self.dumps) + "\n"
        await hass.async_add_executor_job(lambda: path.write_text(text, encoding="utf-8"))
