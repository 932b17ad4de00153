"""What the demo reads off the running HA besides the learning counts: anomalies, predictions, one
adaptation, HA's event-loop lag and its memory.

* Anomalies: each firing of Habitus's anomaly event entity (``event.habitus_anomaly``; else each
  off -> on of ``binary_sensor.habitus_anomaly``), seen live on the websocket (``watch.py``).
* Predictions: updates of the next-action sensor with a non-empty prediction.
* Adaptation: one job started through ``habitus.adapt`` (synthesis with the embedded Gemma 3 270M,
  ``max_prompts`` 1, a few epochs) once Habitus stores enough sequences; where the service does not
  exist yet, ``habitus.retrain`` (no synthesis), which the summary says in ``adaptation_service``.
  Completion is read from the adaptation sensor's ``completed_jobs`` (or, without that sensor, from
  Habitus's last outcome through ``virtual_home.probe``).
* Loop lag: ``virtual_home.probe`` (a ``LoopLagProbe`` sampling inside HA), reset when the replay starts.
* Memory: ``VmRSS`` of the ``hass`` process from ``/proc``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import DemoError, RestClient
from .summary import Figure
from .watch import StateChange, StateWatcher

ANOMALY_EVENT = "event.habitus_anomaly"
ANOMALY_SENSOR = "binary_sensor.habitus_anomaly"
NEXT_ACTION = "sensor.habitus_next_action"
ADAPTATION_SENSOR = "sensor.habitus_adaptation"
WATCHED_PREFIXES = ("event.habitus", "binary_sensor.habitus", "sensor.habitus")
NO_VALUE = (None, "", "unknown", "unavailable")
PROBE_PATH = "/api/services/virtual_home/probe?return_response"
ADAPT_MIN_SEQUENCES = 25  # the adaptation loop's minimum: 20 to train on + 5 held out (adaptation.py)
MAX_START_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class AdaptationSettings:
    """How the demo's one adaptation runs."""

    max_prompts: int = 1
    epochs: int = 3
    context: str = "A night-shift job started: the home is now busy at night and quiet in the morning"
    timeout_s: float = 600.0  # how long the end of a --for run waits for the job to finish


def hass_rss_mb(pid: int | None) -> float | None:
    """Resident memory of process ``pid`` in MB (``VmRSS`` of ``/proc/<pid>/status``)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError):
        return None
    return None


def probe(client: RestClient, reset: bool = False) -> dict[str, Any]:
    """``virtual_home.probe``'s response: ``loop_lag`` stats and ``habitus_last_outcome``."""
    body = client.post(PROBE_PATH, {"reset": reset})
    response = body.get("service_response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        raise DemoError(f"virtual_home.probe answered {body!r}")
    return response


def anomaly_times(changes: list[StateChange]) -> list[float]:
    """When Habitus reported an anomaly: event entity firings, else the binary sensor turning on."""
    fired = [c.time for c in changes if c.entity_id == ANOMALY_EVENT and c.new not in NO_VALUE]
    if fired:
        return fired
    return [c.time for c in changes if c.entity_id == ANOMALY_SENSOR and c.new == "on" and c.old != "on"]


def prediction_count(changes: list[StateChange]) -> int:
    """Next-action sensor updates that carry a prediction."""
    return sum(1 for c in changes if c.entity_id == NEXT_ACTION and c.new not in NO_VALUE)


def adaptation_phase_at(changes: list[StateChange], when: float) -> str | None:
    """The adaptation sensor's state at epoch ``when`` (its last change before then)."""
    phase = None
    for change in changes:
        if change.entity_id == ADAPTATION_SENSOR and change.time <= when:
            phase = change.new
    return phase


def job_ended(changes: list[StateChange], since: float) -> bool:
    """Whether the adaptation sensor went busy after ``since`` (epoch) and is idle again."""
    busy = False
    for change in changes:
        if change.entity_id != ADAPTATION_SENSOR or change.time < since:
            continue
        if change.new not in (*NO_VALUE, "idle"):
            busy = True
        elif change.new == "idle" and busy:
            return True
    return False


def completed_jobs(state: dict[str, Any] | None) -> int | None:
    """The adaptation sensor's ``completed_jobs`` (``None``: no such sensor/attribute)."""
    if not state:
        return None
    value = state.get("attributes", {}).get("completed_jobs")
    return int(value) if isinstance(value, int | float) else None


@dataclass
class Adaptation:
    """The demo's one adaptation: started once enough sequences are stored, then followed to the end."""

    settings: AdaptationSettings
    service: str | None = None  # "adapt" or "retrain" once started
    started_at: float | None = None  # time.monotonic()
    started_epoch: float = 0.0
    baseline: int = 0  # completed jobs before ours (a kept config dir)
    outcome_before: dict[str, Any] | None = None
    last_error: str = ""
    attempts: int = 0
    figures_extra: dict[str, Figure] = field(default_factory=dict)

    def maybe_start(self, client: RestClient, stored_sequences: int) -> str | None:
        """Start the job if not yet started and Habitus has enough data; a line to print when started."""
        if self.service is not None or self.attempts >= MAX_START_ATTEMPTS:
            return None
        if stored_sequences < ADAPT_MIN_SEQUENCES:
            self.last_error = f"waiting for {ADAPT_MIN_SEQUENCES} sequences, Habitus has {stored_sequences}"
            return None
        self.attempts += 1
        services = {s["domain"]: set(s["services"]) for s in client.get("/api/services")}
        habitus = services.get("habitus", set())
        service = "adapt" if "adapt" in habitus else "retrain" if "retrain" in habitus else None
        if service is None:
            self.last_error = "Habitus has neither an adapt nor a retrain service"
            return None
        body: dict[str, Any] = {"epochs": self.settings.epochs}
        if service == "adapt":
            body |= {"max_prompts": self.settings.max_prompts, "context": self.settings.context}
        self.baseline = completed_jobs(_state(client, ADAPTATION_SENSOR)) or 0
        self.outcome_before = probe(client).get("habitus_last_outcome")
        response = client.request("POST", f"/api/services/habitus/{service}", body)
        if not response.ok:
            self.last_error = f"habitus.{service} -> HTTP {response.status}: {response.body}"
            return None
        self.service, self.started_at, self.last_error = service, time.monotonic(), ""
        self.started_epoch = time.time() - 1.0  # HA's time_fired may be a hair earlier than our clock
        return f"Adaptation started: habitus.{service} {body}"

    def completed(self, client: RestClient) -> int:
        """Jobs finished since ours started (deployed or champion kept)."""
        if self.service is None:
            return 0
        jobs = completed_jobs(_state(client, ADAPTATION_SENSOR))
        if jobs is not None:
            return max(0, jobs - self.baseline)
        outcome = probe(client).get("habitus_last_outcome")
        return int(isinstance(outcome, dict) and outcome != self.outcome_before and "challenger" in outcome)

    def status(self, client: RestClient) -> str:
        """The adaptation sensor's phase and progress, for the progress line."""
        state = _state(client, ADAPTATION_SENSOR)
        if not state:
            return "started" if self.service else "waiting for data"
        attributes = state.get("attributes", {})
        message = attributes.get("message") or ""
        return f"{state.get('state')} {attributes.get('progress', '')}% {message}".strip()

    def wait(
        self, client: RestClient, say: Any, changes: Callable[[], list[StateChange]] | None = None
    ) -> None:
        """Block until our job completed, ended otherwise (the adaptation sensor went busy, then back
        to idle, per the websocket's ``changes``) or ``timeout_s`` passed since it started."""
        if self.service is None or self.started_at is None:
            return
        deadline = self.started_at + self.settings.timeout_s
        next_line = 0.0
        while self.completed(client) < 1 and time.monotonic() < deadline:
            if changes is not None and job_ended(changes(), self.started_epoch):
                return
            if time.monotonic() >= next_line:
                say(f"Waiting for the adaptation to finish: {self.status(client)}")
                next_line = time.monotonic() + 10.0
            time.sleep(1.0)

    def figures(self, client: RestClient) -> dict[str, Figure]:
        """``adaptations``, ``adaptation_service`` and the job's outcome, flat."""
        figures: dict[str, Figure] = {
            "adaptations": self.completed(client),
            "adaptation_service": f"habitus.{self.service}" if self.service else f"none ({self.last_error})",
        }
        state = _state(client, ADAPTATION_SENSOR)
        outcome = (state or {}).get("attributes", {}).get("last_outcome") if state else None
        if not isinstance(outcome, dict):
            outcome = probe(client).get("habitus_last_outcome")
        if isinstance(outcome, dict) and self.service:
            if "deployed" in outcome:
                figures["adaptation_deployed"] = bool(outcome["deployed"])
            if isinstance(outcome.get("reason"), str):
                figures["adaptation_reason"] = outcome["reason"]
        return figures


def _state(client: RestClient, entity_id: str) -> dict[str, Any] | None:
    response = client.request("GET", f"/api/states/{entity_id}")
    return response.body if response.ok and isinstance(response.body, dict) else None


def adaptation_state(client: RestClient) -> dict[str, Any] | None:
    """The adaptation sensor's state object (``None``: no such sensor)."""
    return _state(client, ADAPTATION_SENSOR)


def start_watcher(client: RestClient) -> StateWatcher:
    """A connected ``StateWatcher`` on Habitus's entities."""
    if client.auth is None:
        raise DemoError("not logged in to Home Assistant")
    ws_url = client.base_url.replace("http://", "ws://", 1) + "/api/websocket"
    watcher = StateWatcher(ws_url, client.auth.access_token(), WATCHED_PREFIXES)
    watcher.start()
    return watcher
