"""The Habitus worker: heavy jobs (training, synthesis) in a child process, so HA's event loop never stalls.

``HabitusWorker`` owns one long-lived child, started with multiprocessing's *spawn* context (a fresh
interpreter: never ``fork`` inside HA) from the executor, at niceness +10 and with an address-space
limit (``RLIMIT_AS``, ``WorkerSettings.memory_limit_mb``). The child runs ``worker_child.py``, which
loads only ``engine/`` (no Home Assistant) and serves the jobs of ``engine/jobs.py``, one at a time.

``await worker.run(name, params, on_progress)`` returns the job's result dict. The job's command is
pickled and written in the executor (a home's sequences are megabytes: pickling them and waiting for the
child to drain the pipe held the loop for tens of ms). Progress is read from the child's pipe by
``loop.add_reader`` (the loop never blocks on it). Cancelling the awaiting task asks
the child to cancel the job, and terminates the child if the job does not stop within
``cancel_grace_seconds``. A dead child (segfault, ``os.abort``, kill -9, OOM kill) raises
``WorkerCrashedError`` with its exit code / signal; the next ``run`` starts a fresh child. ``async_stop``
(entry unload) ends any job and the child and closes every pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import runpy
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant

from .worker_child import RUN_NAME

_LOGGER = logging.getLogger(__name__)
CHILD_SCRIPT = str(Path(__file__).with_name("worker_child.py"))

type ProgressCallback = Callable[[float, str], None]
type _Pipe = Connection[Any, Any]


class WorkerError(Exception):
    """Base of the worker's errors."""


class WorkerCrashedError(WorkerError):
    """The worker process died (native crash, kill, OOM); ``exitcode`` < 0 is ``-signal``."""

    def __init__(self, exitcode: int | None, job: str) -> None:
        self.exitcode = exitcode
        self.signal = -exitcode if exitcode is not None and exitcode < 0 else None
        how = f"signal {_signal_name(self.signal)}" if self.signal else f"exit code {exitcode}"
        super().__init__(f"the Habitus worker died during {job} ({how})")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class WorkerJobError(WorkerError):
    """The job raised an exception inside the worker (the worker itself is fine)."""

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        super().__init__(f"{error_type}: {message}")


class WorkerStoppedError(WorkerError):
    """The worker was stopped (entry unload) before or while the job ran."""


class _ChildGoneError(Exception):
    """Internal: EOF on the child's pipe."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    """How the child runs."""

    nice: int = 10  # HA keeps the CPU
    # RLIMIT_AS of the child (None: no limit); an overrun is a MemoryError in the job, not an OOM kill of
    # HA. Address space, not RSS: Gemma 3 270M in llama.cpp (n_ctx 2048) peaks at 1.7 GB of it.
    memory_limit_mb: int | None = 3072
    cancel_grace_seconds: float = 5.0  # a cancelled job gets this long before the child is terminated
    start_timeout_seconds: float = 120.0


@dataclass(slots=True)
class _Child:
    process: BaseProcess
    commands: _Pipe
    events: _Pipe
    ready: asyncio.Future[int]
    gone: bool = False
    exit: asyncio.Future[int | None] | None = None  # the reaping, once started
    sending: asyncio.Future[None] | None = None  # a job's command being written (executor)
    # set while no command is being written: the reaping closes the pipes only then
    pipe_idle: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.pipe_idle.set()

    @property
    def writing(self) -> bool:
        """Whether a job's command is still being written (nothing else may be sent meanwhile)."""
        return self.sending is not None and not self.sending.done()


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _write_command(child: _Child, message: tuple[Any, ...]) -> None:
    """Executor: pickle and write one command; blocks while the pipe is full until the child reads."""
    error: OSError | None = None
    try:
        child.commands.send(message)
    except OSError as err:  # raised afresh: its traceback would hold the pickled command's buffer
        error = OSError(err.errno, err.strerror)
    finally:
        child.pipe_idle.set()
    if error is not None:
        raise error


@dataclass(slots=True)
class _Job:
    job_id: int
    name: str
    on_progress: ProgressCallback | None
    future: asyncio.Future[dict[str, Any]]


class HabitusWorker:
    """One worker process running one job at a time (see the module docstring)."""

    def __init__(self, hass: HomeAssistant, settings: WorkerSettings | None = None) -> None:
        self._hass = hass
        self._settings = settings or WorkerSettings()
        self._child: _Child | None = None
        self._job: _Job | None = None
        self._lock = asyncio.Lock()
        self._next_id = 0
        self._stopped = False

    @property
    def pid(self) -> int | None:
        """The live child's process id, if there is one."""
        child = self._child
        return None if child is None or child.gone else child.process.pid

    @property
    def busy(self) -> bool:
        """Whether a job is running."""
        return self._job is not None

    async def run(
        self, name: str, params: dict[str, Any], on_progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        """Run job ``name`` in the child; waits for any running job first. Raises ``WorkerError``s."""
        async with self._lock:
            if self._stopped:
                raise WorkerStoppedError("the Habitus worker is stopped")
            child = await self._ensure_child()
            self._next_id += 1
            job = _Job(self._next_id, name, on_progress, self._hass.loop.create_future())
            self._job = job
            try:
                try:
                    await self._send_run(child, job, ("run", job.job_id, name, params))
                except OSError:  # died (or was stopped) while it was being written
                    self._job = None
                    if job.future.done():  # its EOF was read first: the job's error is not raised
                        job.future.exception()
                    if self._stopped:
                        raise WorkerStoppedError("the Habitus worker was stopped during the job") from None
                    raise await self._crashed(child, name) from None
                return await self._await_job(child, job)
            finally:
                self._job = None

    async def _send_run(self, child: _Child, job: _Job, message: tuple[Any, ...]) -> None:
        """Write the job's command from the executor; cancelled meanwhile: cancel the job once it is out."""
        child.pipe_idle.clear()
        child.sending = self._hass.async_add_executor_job(_write_command, child, message)
        child.sending.add_done_callback(_retrieved)  # a failed write after a cancel is no news
        try:
            await asyncio.shield(child.sending)
        except asyncio.CancelledError:
            await self._cancel_job(child, job)
            raise

    async def async_stop(self) -> None:
        """End any running job (its caller gets ``WorkerStoppedError``) and the child; no leftovers."""
        self._stopped = True
        child = self._child
        if child is None:
            return
        if self._job is not None and not self._job.future.done():
            self._job.future.set_exception(
                WorkerStoppedError("the Habitus worker was stopped during the job")
            )
        if not child.gone:
            self._discard(child)
            if not child.writing:  # else the child is ended after the grace instead
                with contextlib.suppress(OSError):  # the child may be exiting already
                    child.commands.send(("stop",))
        await self._reap(child, self._settings.cancel_grace_seconds)

    # ------------------------------------------------------------------------------------ job flow

    async def _await_job(self, child: _Child, job: _Job) -> dict[str, Any]:
        """The job's result; on cancellation, cancel it in the child (terminating it after the grace)."""
        try:
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            await self._cancel_job(child, job)
            raise
        except _ChildGoneError:
            raise await self._crashed(child, job.name) from None

    async def _cancel_job(self, child: _Child, job: _Job) -> None:
        if not child.gone and await self._written(child):
            with contextlib.suppress(OSError):  # died meanwhile: reaped below
                child.commands.send(("cancel", job.job_id))
            await asyncio.wait((job.future,), timeout=self._settings.cancel_grace_seconds)
        if child.gone or not job.future.done():
            _LOGGER.debug("Habitus worker job %s did not stop when cancelled: ending the worker", job.name)
            self._discard(child)
            await self._reap(child, 0.0)
        job.future.exception()  # done by now; retrieved, as its outcome no longer matters

    async def _written(self, child: _Child) -> bool:
        """Whether the job's command is out (waits up to the grace for it): only then can more follow."""
        if child.sending is not None and not child.sending.done():
            await asyncio.wait((child.sending,), timeout=self._settings.cancel_grace_seconds)
        return not child.writing

    async def _crashed(self, child: _Child, job: str) -> WorkerCrashedError:
        """Reap a dead child; the error to raise."""
        self._discard(child)
        exitcode = await self._reap(child, 5.0)
        error = WorkerCrashedError(exitcode, job)
        _LOGGER.warning("%s; the next job starts a fresh worker", error)
        return error

    # ------------------------------------------------------------------------------- child process

    async def _ensure_child(self) -> _Child:
        """The live child, starting one (in the executor) if there is none or the last one died."""
        if self._child is not None and not self._child.gone:
            return self._child
        if self._child is not None:  # died while idle
            await self._crashed(self._child, "idle time")
        process, commands, events = await self._hass.async_add_executor_job(self._spawn)
        child = _Child(process, commands, events, self._hass.loop.create_future())
        self._child = child
        if self._stopped:  # stopped while spawning
            child.gone = True
            child.ready.cancel()
            await self._reap(child, 0.0)
            raise WorkerStoppedError("the Habitus worker was stopped while starting")
        self._hass.loop.add_reader(events.fileno(), self._on_readable, child)
        try:
            async with asyncio.timeout(self._settings.start_timeout_seconds):
                await asyncio.shield(child.ready)
        except _ChildGoneError:
            if self._stopped:
                raise WorkerStoppedError("the Habitus worker was stopped while starting") from None
            raise await self._crashed(child, "start-up") from None
        except BaseException:  # timeout or cancelled while starting: do not keep a half-started child
            self._discard(child)
            if not child.ready.cancelled():
                child.ready.exception()  # retrieved: nobody waits for this start any more
            await self._reap(child, 0.0)
            raise
        return child

    def _spawn(self) -> tuple[BaseProcess, _Pipe, _Pipe]:
        """Start the child (executor): a spawned interpreter running ``worker_child.py``."""
        context = multiprocessing.get_context("spawn")
        child_commands, commands = context.Pipe(duplex=False)
        events, child_events = context.Pipe(duplex=False)
        arguments = {
            "commands": child_commands,
            "events": child_events,
            "nice": self._settings.nice,
            "memory_limit_mb": self._settings.memory_limit_mb,
        }
        process = context.Process(
            target=runpy.run_path,
            args=(CHILD_SCRIPT,),
            kwargs={"init_globals": {"HABITUS_WORKER": arguments}, "run_name": RUN_NAME},
            name="habitus-worker",
            daemon=True,
        )
        try:
            process.start()
        except BaseException:
            commands.close()
            events.close()
            raise
        finally:
            child_commands.close()  # the child has its own copies; EOF then means the child is gone
            child_events.close()
        return process, commands, events

    def _on_readable(self, child: _Child) -> None:
        """Event loop reader: dispatch every complete message; EOF means the child is gone."""
        try:
            while not child.gone and child.events.poll():
                self._dispatch(child, child.events.recv())
        except (EOFError, OSError):
            self._discard(child)

    def _dispatch(self, child: _Child, message: tuple[Any, ...]) -> None:
        kind, job = message[0], self._job
        if kind == "ready":
            if not child.ready.done():
                child.ready.set_result(message[1])
            return
        if job is None or message[1] != job.job_id or job.future.done():
            return  # a late message of a job that already ended
        if kind == "progress" and job.on_progress is not None:
            try:
                job.on_progress(message[2], message[3])
            except Exception:
                _LOGGER.exception("Habitus worker progress callback failed")
        elif kind == "result":
            job.future.set_result(message[2])
        elif kind == "error":
            job.future.set_exception(WorkerJobError(message[2], message[3]))
        elif kind == "cancelled":
            job.future.set_exception(WorkerStoppedError(f"job {job.name} was cancelled in the worker"))

    def _discard(self, child: _Child) -> None:
        """Mark the child dead, stop reading it, fail what waits on it (event loop); ``_reap`` ends it."""
        if not child.gone:
            child.gone = True
            self._hass.loop.remove_reader(child.events.fileno())
        for future in (child.ready, self._job.future if self._job else None):
            if future is not None and not future.done():
                future.set_exception(_ChildGoneError())

    async def _reap(self, child: _Child, grace: float) -> int | None:
        """End the child once (later callers share the first reaping); its exit code."""
        if child.exit is None:
            child.exit = self._hass.async_add_executor_job(self._end_process, child, grace)
        exitcode = await asyncio.shield(child.exit)
        if self._child is child:
            self._child = None
        return exitcode

    @staticmethod
    def _end_process(child: _Child, grace: float) -> int | None:
        """Executor: wait ``grace`` s for the child to exit, then terminate / kill it; close its pipes."""
        process = child.process
        process.join(grace)
        if process.is_alive():
            process.terminate()
            process.join(2.0)
        if process.is_alive():
            process.kill()
            process.join()
        exitcode = process.exitcode
        process.close()
        child.pipe_idle.wait(5.0)  # a command still being written fails now that the child is gone
        child.commands.close()
        child.events.close()
        return exitcode
