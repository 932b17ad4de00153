"""Live scoring's own thread: one long-lived worker fed by a queue, instead of HA's executor.

Why: handing a job to HA's executor (``hass.async_add_executor_job``) costs the event loop a
``ThreadPoolExecutor.submit`` (work item, two chained futures, a semaphore, a thread wake-up) per
scoring job, and its p99 on the loaded 2-core box was milliseconds (docs/BENCHMARKS.md, "Per-event
overhead with live scoring"). Here the loop side is one ``SimpleQueue.put`` and one
``loop.create_future``; the thread posts the outcome back with one ``loop.call_soon_threadsafe``.

The thread runs jobs one at a time, in order. A job that raises does not end it: the exception is
set on the job's future (the loop logs it) and the next job runs. ``async_stop`` (entry unload, HA
stop) queues a sentinel behind the jobs already queued and joins the thread in the executor, so the
loop never blocks on it. The thread is not a daemon: HA's process cannot exit with it still running
a model call, and the tests' thread-leak check sees it if it is not stopped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

from homeassistant.core import HomeAssistant, callback

_LOGGER = logging.getLogger(__name__)
THREAD_NAME_PREFIX = "habitus_scoring"

type _Item = tuple[Callable[[], Any], asyncio.Future[Any]]


@callback
def _resolve(future: asyncio.Future[Any], outcome: Any, error: BaseException | None) -> None:
    """(loop) Finish a job's future, unless it was cancelled meanwhile (its task was, on unload)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)


class ScoringThread:
    """A worker thread for one entry's scoring jobs (started and stopped with the entry)."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self._loop = hass.loop
        self._queue: SimpleQueue[_Item | None] = SimpleQueue()
        self._thread = threading.Thread(
            target=self._serve, name=f"{THREAD_NAME_PREFIX}_{entry_id}", daemon=False
        )

    @property
    def alive(self) -> bool:
        """Whether the thread runs (started and not stopped yet)."""
        return self._thread.is_alive()

    @callback
    def start(self) -> None:
        """Start the thread (it waits on its queue)."""
        self._thread.start()

    @callback
    def run[T](self, job: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``job`` (called in the thread); the future gets its result or its exception."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put((job, future))
        return future

    async def async_stop(self, hass: HomeAssistant) -> None:
        """Let the queued jobs finish, end the thread and wait for it (in the executor)."""
        if not self._thread.is_alive():
            return
        self._queue.put(None)
        await hass.async_add_executor_job(self._thread.join)

    def _serve(self) -> None:
        """(thread) Run jobs until the sentinel; post each outcome to the loop."""
        while (item := self._queue.get()) is not None:
            job, future = item
            outcome: Any = None
            error: BaseException | None = None
            try:
                outcome = job()
            except Exception as err:  # any failure goes to the loop; the thread serves on
                error = err
            try:
                self._loop.call_soon_threadsafe(_resolve, future, outcome, error)
            except RuntimeError:  # the loop is closed (HA stopped without stopping us): nobody to tell
                _LOGGER.debug("Event loop closed; the scoring thread ends")
                return
