"""``run_demo``: start HA, onboard, add Habitus, replay the dataset, report, and always stop HA.

Exit codes: 0 done (or stopped with Ctrl-C), 1 something failed while running (the message says what,
with the tail of HA's log when HA is the cause), 2 bad options or dataset.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from habitus_engine.datasets import DatasetError, RawSequence, Vocabulary, iter_sequences, load_vocabulary

from .browser import check_frontend
from .client import DemoError, RestClient, wait_until
from .config_dir import FRONTEND_REQUIREMENT, HOST, frontend_available, prepare_config_dir
from .habitus_setup import add_habitus, habitus_entry_id
from .hass_process import HassProcess, ensure_port_free, free_port
from .home import VirtualDevice
from .injections import SCORING_SETTLE_S, Injector, flagged_injections, resolve_injections
from .mapping import ActionMapper
from .observe import (
    Adaptation,
    AdaptationSettings,
    adaptation_phase_at,
    adaptation_state,
    anomaly_times,
    hass_rss_mb,
    prediction_count,
    probe,
    start_watcher,
)
from .onboarding import (
    HassAuth,
    Login,
    load_or_create_login,
    onboard_or_login,
    remove_failed_onboarding_extras,
)
from .past import split_past, write_past
from .paths import DEFAULT_DATASET_DIR, default_sequence_file
from .replay import Replayer, ReplayStats
from .routines_past import (
    ROUTINES_DAYS,
    HouseholdPast,
    accept_through_repairs,
    fetch_suggestions,
    household_devices,
    matches,
    plan_household_past,
    routine_household,
    routines_figures,
    suggested_routine,
    write_household_past,
)
from .summary import DemoSummary, Figure, habitus_learning_figures, probe_figures
from .timeline import ReplayStep, replay_steps
from .watch import StateWatcher

MIN_MAX_GAP_HOURS = 0.0005  # the smallest Δt_max Habitus's options flow accepts
PAPER_MAX_GAP_HOURS = 9.0  # SmartGen's Δt_max
PAPER_MAX_SPAN_HOURS = 24.0  # SmartGen's T_max
MAX_SPEED = PAPER_MAX_GAP_HOURS / MIN_MAX_GAP_HOURS  # 18000
# One dataset hour = 0.25 s: a dataset sequence (median span 15 h) plays in a few seconds, so even a
# 25 s run closes several TSS sequences, and Δt_max = 2.25 s stays well above HTTP jitter.
DEFAULT_SPEED = 14400.0
READY_TIMEOUT_S = 120.0
SETTLE_S = 5.0
DEFAULT_HISTORY_DAYS = 365.0  # dataset days of the home's past, played at once (past.py): >= 100 TSS
# sequences, so the base threshold is calibrated on the home before the live replay starts
DEFAULT_INJECT_EVERY_S = 15.0
FIRST_INJECTION_S = 5.0
BOOTSTRAP_TIMEOUT_S = 300.0
OPTIONS_RELOAD_S = 2.0
SENSOR_REFRESH_S = 1.5


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``habitus demo`` was asked to do."""

    dataset_dir: Path = DEFAULT_DATASET_DIR
    sequences_file: Path | None = None  # default: the dataset's raw/trn.jsonl
    speed: float = DEFAULT_SPEED
    duration_s: float | None = None  # None: until Ctrl-C
    summary_path: Path | None = None
    port: int | None = None  # None: a free port
    keep_config: Path | None = None  # None: a temporary config dir, deleted at exit
    start_timeout_s: float = 300.0
    username: str = "demo"
    history_days: float = DEFAULT_HISTORY_DAYS  # 0: no past, Habitus learns from the live replay only
    inject_every_s: float = DEFAULT_INJECT_EVERY_S  # 0: no injected anomalies
    adapt: bool = True
    adaptation: AdaptationSettings = field(default_factory=AdaptationSettings)
    browser: bool = True  # headless Chromium check of the UI at the end of a --for run
    screenshot_path: Path | None = None
    routines: bool = True  # the routine household's past and Habitus's routine suggestions


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """The dataset side of a run, checked before HA starts."""

    vocab: Vocabulary
    sequences_file: Path
    mapper: ActionMapper
    household: list[VirtualDevice] = field(default_factory=list)  # the routine household's devices

    @property
    def devices(self) -> list[VirtualDevice]:
        """The virtual home's devices."""
        return [*self.mapper.home.values(), *self.household]

    def sequences(self) -> Iterator[RawSequence]:
        """The replayed file's sequences, streamed."""
        return (labelled.seq for labelled in iter_sequences(self.sequences_file))


def plan_demo(options: DemoOptions) -> DemoPlan:
    """Check the options and load the dataset; ``DemoError`` says what is wrong."""
    if not 0 < options.speed <= MAX_SPEED:
        raise DemoError(
            f"--speed must be in (0, {MAX_SPEED:.0f}]: "
            f"Habitus needs Δt_max = 9 h / speed >= {MIN_MAX_GAP_HOURS} h"
        )
    if options.duration_s is not None and options.duration_s <= 0:
        raise DemoError("--for must be a positive number of seconds")
    if options.history_days < 0 or options.inject_every_s < 0:
        raise DemoError("--history-days and --inject-every cannot be negative")
    try:
        vocab = load_vocabulary(options.dataset_dir)
    except DatasetError as err:
        raise DemoError(f"--dataset {options.dataset_dir}: {err}") from err
    sequences_file = options.sequences_file or default_sequence_file(options.dataset_dir)
    if sequences_file is None or not sequences_file.is_file():
        raise DemoError(f"no sequence file to replay in {options.dataset_dir} (give one with --sequences)")
    if not frontend_available():
        raise DemoError(
            f"Home Assistant cannot start without its web UI package: install it with "
            f"'{sys.executable} -m pip install {FRONTEND_REQUIREMENT}'"
        )
    mapper = ActionMapper(vocab)
    if not mapper.home:
        raise DemoError(f"no device of {vocab.name} maps onto a Home Assistant entity")
    return DemoPlan(vocab, sequences_file, mapper, household_devices() if options.routines else [])


def habitus_values(devices: list[VirtualDevice], speed: float) -> dict[str, Any]:
    """Everything Habitus's config and options flows may ask for: the virtual home's domains and TSS
    thresholds scaled to the accelerated clock (``Δt_max = 9 h / speed``, ``T_max = 24 h / speed``)."""
    return {
        "include_domains": sorted({d.domain for d in devices}),
        "include_areas": [],
        "include_entities": [],
        "exclude_entities": [],
        "max_gap_hours": PAPER_MAX_GAP_HOURS / speed,
        "max_span_hours": PAPER_MAX_SPAN_HOURS / speed,
    }


def say(text: str) -> None:
    """Print a progress line at once (the demo is often piped or watched live)."""
    print(text, flush=True)


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
        self.lag_reset_epoch = time.time()
        self.phase_at_reset = "unknown"
        self.routines_seconds = 0.0

    def run(self) -> int:
        """The whole demo; returns the exit code."""
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
        version = self._wait_ready()
        self.summary.update({"ha_start_seconds": round(time.monotonic() - started, 1)})
        self._announce(version, login)
        steps = replay_steps(self.plan.sequences, self.options.speed, self.plan.mapper.replayable)
        had_habitus = habitus_entry_id(self.client) is not None  # a kept config dir
        self._add_habitus()
        self._wait_bootstrap()
        remove_failed_onboarding_extras(self.client)
        if not had_habitus:
            household = self._write_household_past(started_epoch)
            steps = self._write_past(steps, started_epoch)
            if household is not None:
                self._routine_suggestions(household)
        self.watcher = start_watcher(self.client)
        probe(self.client, reset=True)  # loop lag from here on: the run, not HA's start
        self.lag_reset_epoch = time.time()
        self.phase_at_reset = str((adaptation_state(self.client) or {}).get("state", "unknown"))
        stats = self._replay(steps)
        return self._finish(stats)

    def _write_household_past(self, started_epoch: float) -> HouseholdPast | None:
        """The routine household's weeks, before the SmartThings past (``routines_past.py``)."""
        if not self.options.routines:
            return None
        began = time.monotonic()
        zone = ZoneInfo(str(self.client.get("/api/config").get("time_zone") or "UTC"))
        past = plan_household_past(routine_household(), zone, datetime.fromtimestamp(started_epoch, UTC))
        write_household_past(self.client, past)
        first, last = (datetime.fromtimestamp(t, zone).date() for t in (past.first_epoch, past.last_epoch))
        say(
            f"Routine household's past: {ROUTINES_DAYS} days ({first} to {last}), {len(past.calls)} "
            f"service calls and {len(past.states)} sun and weather states written at their times; "
            f"{len(past.truth)} true routines"
        )
        self.summary.update({"routine_calls": len(past.calls)})
        self.routines_seconds = time.monotonic() - began
        return past

    def _routine_suggestions(self, past: HouseholdPast) -> None:
        """Ask Habitus for its routine suggestions (mined now) and compare them with the true routines."""
        began = time.monotonic()
        suggestions = fetch_suggestions(self.client)
        found = matches([suggested_routine(s) for s in suggestions], past.truth)
        figures = routines_figures(suggestions, found, past.truth)
        self.summary.update(
            {**figures, "routines_seconds": round(self.routines_seconds + time.monotonic() - began, 1)}
        )
        say(
            f"Habitus suggests {figures['routine_suggestions']} routines; they recover "
            f"{figures['routine_true_recovered']} of the household's {figures['routine_true']} true routines:"
        )
        for suggestion, match in zip(suggestions, found, strict=True):
            say(f"  {'=' if match is not None else '?'} {suggestion.get('description')}")
        say("  (=: a true routine, same triggers and actions; ?: none)")
        accepted = next((s for s, m in zip(suggestions, found, strict=True) if m is not None), None)
        if accepted is not None:
            automation = accept_through_repairs(self.client, str(accepted.get("id")))
            self.summary.update({"routine_accepted_automation": automation or "none"})
            say(
                f"Accepted through its repair's fix flow: {accepted.get('description')} -> "
                f"{automation or 'no automation appeared'}"
            )

    def _write_past(self, steps: Iterator[ReplayStep], started_epoch: float) -> Iterator[ReplayStep]:
        """Give the virtual home its past and wait until Habitus learned it; the live replay's steps."""
        if self.options.history_days <= 0:
            return steps
        past = split_past(
            steps, self.plan.mapper, self.options.history_days, self.options.speed, started_epoch
        )
        write_past(self.client, past)
        say(
            f"Virtual home's past: {self.options.history_days:g} dataset days ({past.dataset_sequences} "
            f"dataset sequences, {len(past.calls)} service calls) written at past times"
        )
        self.summary.update({"history_calls": len(past.calls)})
        figures = self._settled_learning()
        say(
            f"Habitus learned the past: {figures.get('behaviours')} behaviours, "
            f"{figures.get('sequences')} sequences, {figures.get('learning_state')}"
        )
        return past.live_steps

    def _settled_learning(self) -> dict[str, Figure]:
        """Habitus's learning figures once two reads ``SENSOR_REFRESH_S`` apart agree."""
        deadline = time.monotonic() + BOOTSTRAP_TIMEOUT_S
        figures = wait_until(self._habitus_figures, "Habitus's sensors", READY_TIMEOUT_S)
        while time.monotonic() < deadline:
            time.sleep(SENSOR_REFRESH_S)
            again = wait_until(self._habitus_figures, "Habitus's sensors", READY_TIMEOUT_S)
            if again == figures:
                break
            figures = again
        return figures

    def _wait_bootstrap(self) -> None:
        """Wait until Habitus's entry, reloaded with the options, has finished its bootstrap."""

        def loaded() -> bool:
            entries = self.client.get("/api/config/config_entries/entry?domain=habitus")
            return bool(entries) and entries[0].get("state") == "loaded"

        def done() -> dict[str, Figure] | None:
            figures = self._habitus_figures() if loaded() else None
            return figures if figures and figures.get("learning_state") != "bootstrapping" else None

        time.sleep(OPTIONS_RELOAD_S)  # the options flow's reload runs after its answer
        wait_until(done, "Habitus's bootstrap from the recorder", BOOTSTRAP_TIMEOUT_S)

    def _wait_ready(self) -> str:
        """Wait for HA to run with every virtual entity; returns HA's version."""
        wanted = {d.entity_id for d in self.plan.devices}
        config: dict[str, Any] = {}

        def ready() -> bool:
            config.update(self.client.get("/api/config"))
            if config.get("recovery_mode") or config.get("safe_mode"):
                raise DemoError("Home Assistant started in recovery mode", self.hass.log_tail())
            present = {s["entity_id"] for s in self.client.get("/api/states")}
            return config.get("state") == "RUNNING" and wanted <= present

        try:
            wait_until(ready, "Home Assistant to run with the virtual home's entities", READY_TIMEOUT_S)
        except DemoError as err:
            raise DemoError(str(err), self.hass.log_tail()) from err
        return str(config.get("version", "?"))

    def _announce(self, version: str, login: Login) -> None:
        say(f"Home Assistant {version} is up after {self.summary.figures['ha_start_seconds']} s.")
        say(f"  URL:   {self.client.base_url}")
        say(f"  Login: user {login.username!r}, password {login.password!r}")
        areas = sorted({d.area for d in self.plan.devices})
        say(f"Virtual home: {len(self.plan.devices)} devices in {', '.join(areas)}")

    def _add_habitus(self) -> None:
        values = habitus_values(self.plan.devices, self.options.speed)
        try:
            entry_id = add_habitus(self.client, values)
            wait_until(self._habitus_figures, "Habitus's sensors", READY_TIMEOUT_S)
        except DemoError as err:
            raise DemoError(str(err), err.details or self.hass.log_tail()) from err
        gap_s = PAPER_MAX_GAP_HOURS * 3600.0 / self.options.speed
        say(
            f"Habitus added (entry {entry_id}), learning from {', '.join(values['include_domains'])}; "
            f"TSS Δt_max = {values['max_gap_hours']:.6f} h ({gap_s:.2f} s), "
            f"T_max = {values['max_span_hours']:.6f} h"
        )

    def _habitus_figures(self) -> dict[str, Figure] | None:
        """Habitus's learning figures, or ``None`` while its sensors are not there yet."""
        try:
            return habitus_learning_figures(self.client)
        except DemoError:
            return None

    def _replay(self, steps: Iterator[ReplayStep]) -> ReplayStats:
        speed = self.options.speed
        gap_s = PAPER_MAX_GAP_HOURS * 3600.0 / speed
        self.injector = Injector(
            resolve_injections(self.plan.vocab, self.plan.mapper),
            gap_s=gap_s * 1.3 + 0.5,
            first_after_s=FIRST_INJECTION_S,
            every_s=self.options.inject_every_s,
        )
        self.replayer = Replayer(
            self.client, self.plan.mapper, steps, progress=self._progress, injector=self.injector
        )
        self._maybe_adapt()
        hour_s = 3600.0 / speed
        length = f"for {self.options.duration_s:g} s" if self.options.duration_s else "until Ctrl-C"
        say(
            f"Replaying {self.plan.vocab.name} ({self.plan.sequences_file.name}) at {speed:g}x "
            f"(1 dataset hour = {hour_s:.3g} s) {length} ..."
        )
        return self.replayer.run(self.options.duration_s)

    def _maybe_adapt(self, learned: dict[str, Figure] | None = None) -> None:
        """Start the demo's one adaptation once Habitus stores enough sequences."""
        if not self.options.adapt:
            return
        learned = learned if learned is not None else self._habitus_figures() or {}
        sequences = learned.get("sequences")
        line = self.adaptation.maybe_start(self.client, int(sequences) if isinstance(sequences, int) else 0)
        if line:
            say(line)

    def _progress(self, stats: ReplayStats) -> None:
        learned = self._habitus_figures() or {}
        self._maybe_adapt(learned)
        skipped = sum(stats.skipped.values())
        live = self._live_counts()
        say(
            f"[{stats.elapsed_s:5.0f} s] {stats.events_replayed} calls, {skipped} skipped, "
            f"{stats.dataset_sequences} dataset sequences | Habitus: {learned.get('behaviours', '?')} "
            f"behaviours, {learned.get('sequences', '?')} sequences, {learned.get('learning_state', '?')}"
            f" | {live['anomalies_flagged']} anomalies ({live['injected_anomalies_flagged']}/"
            f"{live['injected_anomalies']} injected), {live['predictions']} predictions"
            f" | adaptation: {self.adaptation.status(self.client)}"
        )

    def _live_counts(self) -> dict[str, Figure]:
        """Anomalies (all and injected) and predictions seen on the websocket so far."""
        changes = self.watcher.changes() if self.watcher is not None else []
        times = anomaly_times(changes)
        played = self.injector.played if self.injector is not None else []
        return {
            "anomalies_flagged": len(times),
            "injected_anomalies": len(played),
            "injected_anomalies_flagged": flagged_injections(played, times, SCORING_SETTLE_S),
            "predictions": prediction_count(changes),
        }

    def _instrument_figures(self, wait: bool) -> dict[str, Figure]:
        """The live figures: adaptation (waited for when ``wait``), anomalies, predictions, loop lag, RSS."""
        if wait and self.options.adapt:
            changes = self.watcher.changes if self.watcher is not None else None
            self.adaptation.wait(self.client, say, changes)
        figures = dict(self._live_counts())
        if self.options.adapt:
            figures.update(self.adaptation.figures(self.client))
        figures.update(self._loop_lag_figures())
        rss = hass_rss_mb(self.hass.pid)
        if rss is not None:
            figures["rss_mb"] = rss
        return figures

    def _loop_lag_figures(self) -> dict[str, Figure]:
        """HA's loop lag over the run; when (seconds into the run) and in which adaptation phase the
        worst lag happened."""
        response = probe(self.client)
        lag = response.get("loop_lag") or {}
        figures: dict[str, Figure] = {
            "loop_lag_p99_ms": float(lag.get("p99_ms", 0.0)),
            "loop_lag_max_ms": float(lag.get("max_ms", 0.0)),
            "loop_lag_samples": int(lag.get("samples", 0)),
        }
        ago = response.get("loop_lag_worst_ago_s")
        if isinstance(ago, int | float):
            worst = time.time() - float(ago)
            figures["loop_lag_worst_at_s"] = round(worst - self.lag_reset_epoch, 1)
            changes = self.watcher.changes() if self.watcher is not None else []
            figures["loop_lag_worst_during"] = adaptation_phase_at(changes, worst) or self.phase_at_reset
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
        self.summary.update(stats.figures())
        self.summary.update(self._instrument_figures(wait))
        self.summary.update(self._settled_figures())
        if wait and self.options.duration_s is not None:
            self.summary.update(self._browser_figures())
        self.summary.update(
            {
                "dataset": self.plan.vocab.name,
                "speed": self.options.speed,
                "virtual_devices": len(self.plan.devices),
            }
        )
        self.stop_hass()
        say("Summary:")
        for line in self.summary.lines():
            say(line)
        if self.options.summary_path is not None:
            self.summary.write(self.options.summary_path)
            say(f"Summary written to {self.options.summary_path}")
        return 0

    def _settled_figures(self) -> dict[str, Figure]:
        """Habitus's figures once two reads a second apart agree (at most ``SETTLE_S``)."""
        deadline = time.monotonic() + SETTLE_S
        figures = probe_figures(self.client)
        while time.monotonic() < deadline:
            time.sleep(1.0)
            again = probe_figures(self.client)
            if again == figures:
                break
            figures = again
        return figures

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


def run_demo(options: DemoOptions) -> int:
    """Run the demo; see the module docstring for exit codes."""
    try:
        plan = plan_demo(options)
    except DemoError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    # Ctrl-C stops the demo cleanly even where SIGINT started out ignored (a background job).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    session = DemoSession(options, plan)
    try:
        return session.run()
    except KeyboardInterrupt:
        return session.interrupted()
    except OSError as err:  # HA went away mid-run (connection refused/reset)
        print(f"error: lost the connection to Home Assistant ({err})", file=sys.stderr)
        print(f"--- Home Assistant log (last lines) ---\n{session.hass.log_tail()}", file=sys.stderr)
        return 1
    except DemoError as err:
        print(f"error: {err}", file=sys.stderr)
        if err.details:
            print(f"--- Home Assistant log (last lines) ---\n{err.details}", file=sys.stderr)
        return 1
    finally:
        session.close()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
