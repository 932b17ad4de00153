"""``run_demo``: start HA, onboard, add Habitus, replay the dataset, report, and always stop HA.

The steps live in their own modules: ``plan`` (options and dataset, checked first), ``startup`` (HA
ready, Habitus added and bootstrapped), ``pasts`` (the pasts written before the live replay),
``run_figures`` (what the run saw); ``DemoSession`` strings them together and owns the config dir and
the HA process.

Exit codes: 0 done (or stopped with Ctrl-C), 1 something failed while running (the message says what,
with the tail of HA's log when HA is the cause), 2 bad options or dataset.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from .browser import check_frontend
from .client import DemoError, RestClient
from .config_dir import HOST, prepare_config_dir
from .console import fail, say
from .habitus_setup import habitus_entry_id
from .hass_process import HassProcess, ensure_port_free, free_port
from .injections import Injector, resolve_injections
from .observe import Adaptation, adaptation_state, hass_rss_mb, probe, start_watcher
from .onboarding import (
    HassAuth,
    Login,
    load_or_create_login,
    onboard_or_login,
    remove_failed_onboarding_extras,
)
from .pasts import report_routine_suggestions, write_home_past, write_routine_household
from .plan import PAPER_MAX_GAP_HOURS, DemoOptions, DemoPlan, plan_demo
from .replay import Replayer, ReplayStats
from .run_figures import LagBaseline, live_counts, loop_lag_figures, settled_figures
from .startup import add_habitus_entry, habitus_figures, wait_bootstrap, wait_ready
from .summary import DemoSummary, Figure
from .timeline import ReplayStep, replay_steps
from .watch import StateWatcher

FIRST_INJECTION_S = 5.0


class DemoSession:
    """One run: owns the config dir and the HA process, and cleans both up in ``close``."""

    def __init__(self, options: DemoOptions, plan: DemoPlan) -> None:
        self.options = options
        self.plan = plan
        self.temporary = options.keep_config is None
        self.config_dir = options.keep_config or Path(tempfile.mkdtemp(prefix="habitus-demo-"))
        self.port = options.port or free_port(HOST)
        self.client = RestClient(HOST, self.port)
        self.hass = HassProcess(self.config_dir)
        self.replayer: Replayer | None = None
        self.summary = DemoSummary()
        self.auth: HassAuth | None = None
        self.watcher: StateWatcher | None = None
        self.injector: Injector | None = None
        self.adaptation = Adaptation(options.adaptation)
        self.lag = LagBaseline(time.time())

    def run(self) -> int:
        """The whole demo; returns the exit code."""
        started_epoch = self._start_hass()
        steps = replay_steps(self.plan.sequences, self.options.speed, self.plan.mapper.replayable)
        had_habitus = habitus_entry_id(self.client) is not None  # a kept config dir
        add_habitus_entry(self.client, self.hass, self.plan.devices, self.options.speed)
        wait_bootstrap(self.client)
        remove_failed_onboarding_extras(self.client)
        if not had_habitus:
            steps = self._write_pasts(steps, started_epoch)
        self._start_watching()
        return self._finish(self._replay(steps))

    def _start_hass(self) -> float:
        """Start HA with the virtual home, onboard (or log in) and wait until it runs; returns the
        epoch it was started at."""
        if self.options.port is not None:
            ensure_port_free(HOST, self.port)
        prepare_config_dir(self.config_dir, self.port, self.plan.devices)
        login = load_or_create_login(self.config_dir, self.options.username)
        started = time.monotonic()
        started_epoch = time.time()
        self.hass.start()
        say(f"Starting Home Assistant (pid {self.hass.pid}) in {self.config_dir} ...")
        self.hass.wait_for_http(self.client, self.options.start_timeout_s)
        self.auth = onboard_or_login(self.client, login)
        version = wait_ready(self.client, self.hass, self.plan.devices)
        self.summary.update({"ha_start_seconds": round(time.monotonic() - started, 1)})
        self._announce(version, login)
        return started_epoch

    def _announce(self, version: str, login: Login) -> None:
        say(f"Home Assistant {version} is up after {self.summary.figures['ha_start_seconds']} s.")
        say(f"  URL:   {self.client.base_url}")
        say(f"  Login: user {login.username!r}, password {login.password!r}")
        areas = sorted({d.area for d in self.plan.devices})
        say(f"Virtual home: {len(self.plan.devices)} devices in {', '.join(areas)}")

    def _write_pasts(self, steps: Iterator[ReplayStep], started_epoch: float) -> Iterator[ReplayStep]:
        """A new Habitus entry: the routine household's weeks, the home's past, then Habitus's routine
        suggestions; the live replay's steps."""
        began = time.monotonic()
        routines = self.options.routines
        household = write_routine_household(self.client, self.summary, started_epoch) if routines else None
        household_seconds = time.monotonic() - began
        steps = write_home_past(
            self.client, self.summary, self.options, self.plan, steps=steps, started_epoch=started_epoch
        )
        if household is not None:
            report_routine_suggestions(self.client, self.summary, household, household_seconds)
        return steps

    def _start_watching(self) -> None:
        """HA's websocket from here on, and the loop lag of the run (not of HA's start)."""
        self.watcher = start_watcher(self.client)
        probe(self.client, reset=True)
        phase = str((adaptation_state(self.client) or {}).get("state", "unknown"))
        self.lag = LagBaseline(time.time(), phase)

    def _replay(self, steps: Iterator[ReplayStep]) -> ReplayStats:
        speed = self.options.speed
        self.replayer = self._replayer(steps)
        self._maybe_adapt()
        hour_s = 3600.0 / speed
        length = f"for {self.options.duration_s:g} s" if self.options.duration_s else "until Ctrl-C"
        say(
            f"Replaying {self.plan.vocab.name} ({self.plan.sequences_file.name}) at {speed:g}x "
            f"(1 dataset hour = {hour_s:.3g} s) {length} ..."
        )
        return self.replayer.run(self.options.duration_s)

    def _replayer(self, steps: Iterator[ReplayStep]) -> Replayer:
        """The live replay's loop, with its injected anomalies (``injections.py``)."""
        gap_s = PAPER_MAX_GAP_HOURS * 3600.0 / self.options.speed
        self.injector = Injector(
            resolve_injections(self.plan.vocab, self.plan.mapper),
            gap_s=gap_s * 1.3 + 0.5,
            first_after_s=FIRST_INJECTION_S,
            every_s=self.options.inject_every_s,
        )
        return Replayer(self.client, self.plan.mapper, steps, progress=self._progress, injector=self.injector)

    def _maybe_adapt(self, learned: dict[str, Figure] | None = None) -> None:
        """Start the demo's one adaptation once Habitus stores enough sequences."""
        if not self.options.adapt:
            return
        learned = learned if learned is not None else habitus_figures(self.client) or {}
        sequences = learned.get("sequences")
        line = self.adaptation.maybe_start(self.client, int(sequences) if isinstance(sequences, int) else 0)
        if line:
            say(line)

    def _progress(self, stats: ReplayStats) -> None:
        learned = habitus_figures(self.client) or {}
        self._maybe_adapt(learned)
        skipped = sum(stats.skipped.values())
        live = live_counts(self.watcher, self.injector)
        say(
            f"[{stats.elapsed_s:5.0f} s] {stats.events_replayed} calls, {skipped} skipped, "
            f"{stats.dataset_sequences} dataset sequences | Habitus: {learned.get('behaviours', '?')} "
            f"behaviours, {learned.get('sequences', '?')} sequences, {learned.get('learning_state', '?')}"
            f" | {live['anomalies_flagged']} anomalies ({live['injected_anomalies_flagged']}/"
            f"{live['injected_anomalies']} injected), {live['predictions']} predictions"
            f" | adaptation: {self.adaptation.status(self.client)}"
        )

    def _instrument_figures(self, wait: bool) -> dict[str, Figure]:
        """The live figures: adaptation (waited for when ``wait``), anomalies, predictions, loop lag, RSS."""
        if wait and self.options.adapt:
            changes = self.watcher.changes if self.watcher is not None else None
            self.adaptation.wait(self.client, say, changes)
        figures = dict(live_counts(self.watcher, self.injector))
        if self.options.adapt:
            figures.update(self.adaptation.figures(self.client))
        figures.update(loop_lag_figures(self.client, self.watcher, self.lag))
        rss = hass_rss_mb(self.hass.pid)
        if rss is not None:
            figures["rss_mb"] = rss
        return figures

    def _browser_figures(self) -> dict[str, Figure]:
        """The headless Chromium check of what a user sees (``browser.py``)."""
        if not self.options.browser or self.auth is None:
            return {}
        repairs = "routine_suggestions" in self.summary.figures  # this run suggested routines
        result = check_frontend(self.client, self.auth, self.options.screenshot_path, repairs)
        say(f"UI check: {result.message}")
        return result.figures()

    def _finish(self, stats: ReplayStats, wait: bool = True) -> int:
        """Read what HA learned, stop HA, print (and write) the summary."""
        self._collect(stats, wait)
        self.stop_hass()
        say("Summary:")
        for line in self.summary.lines():
            say(line)
        if self.options.summary_path is not None:
            self.summary.write(self.options.summary_path)
            say(f"Summary written to {self.options.summary_path}")
        return 0

    def _collect(self, stats: ReplayStats, wait: bool) -> None:
        """Every figure of the run into the summary (the UI check only after a complete ``--for`` run)."""
        self.summary.update(stats.figures())
        self.summary.update(self._instrument_figures(wait))
        self.summary.update(settled_figures(self.client))
        if wait and self.options.duration_s is not None:
            self.summary.update(self._browser_figures())
        self.summary.update(
            {
                "dataset": self.plan.vocab.name,
                "speed": self.options.speed,
                "virtual_devices": len(self.plan.devices),
            }
        )

    def interrupted(self) -> int:
        """Ctrl-C: the summary of what was replayed so far; exit code 0 (how an open-ended run ends)."""
        say("\nStopping ...")
        if self.replayer is None:
            return 0
        self.client.close()  # the interrupted request may have left the connection half-used
        try:
            return self._finish(self.replayer.snapshot(), wait=False)
        except (DemoError, OSError) as err:  # HA went away too: the replay's own counters still stand
            say(f"(could not read Habitus's figures: {err})")
            self._progress(self.replayer.snapshot())
            return 0

    def stop_hass(self) -> None:
        """Stop HA (idempotent)."""
        if self.hass.pid is not None and self.hass.exit_code() is None:
            say("Stopping Home Assistant ...")
        if self.watcher is not None:
            self.watcher.stop()
        self.client.close()
        code = self.hass.stop()
        if code not in (None, 0):
            say(f"warning: Home Assistant exited with code {code}")

    def close(self) -> None:
        """Stop HA, then delete a temporary config dir (a kept one stays)."""
        self.stop_hass()
        if self.temporary:
            shutil.rmtree(self.config_dir, ignore_errors=True)
        else:
            say(f"Config dir kept: {self.config_dir}")


def _interrupt_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM and Ctrl-C raise ``KeyboardInterrupt`` (Ctrl-C stops the demo cleanly even where SIGINT
    started out ignored: a background job); the previous handlers come back afterwards."""
    previous = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def run_demo(options: DemoOptions) -> int:
    """Run the demo; see the module docstring for exit codes."""
    try:
        plan = plan_demo(options)
    except DemoError as err:
        fail(str(err))
        return 2
    with _interruptible():
        session = DemoSession(options, plan)
        try:
            return session.run()
        except KeyboardInterrupt:
            return session.interrupted()
        except OSError as err:  # HA went away mid-run (connection refused/reset)
            fail(f"lost the connection to Home Assistant ({err})", session.hass.log_tail())
            return 1
        except DemoError as err:
            fail(str(err), err.details or None)
            return 1
        finally:
            session.close()
