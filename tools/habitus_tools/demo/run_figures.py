"""The live figures a demo run reports (what it saw on HA's websocket and the loop-lag probe) and
Habitus's figures once they settle."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .client import RestClient
from .injections import SCORING_SETTLE_S, Injector, flagged_injections
from .observe import adaptation_phase_at, anomaly_times, prediction_count, probe
from .summary import Figure, probe_figures
from .watch import StateChange, StateWatcher

SETTLE_S = 5.0


@dataclass(slots=True)
class LagBaseline:
    """When the loop-lag probe was reset (the run's start, not HA's) and the adaptation phase then."""

    epoch: float
    phase: str = "unknown"


def _changes(watcher: StateWatcher | None) -> list[StateChange]:
    return watcher.changes() if watcher is not None else []


def live_counts(watcher: StateWatcher | None, injector: Injector | None) -> dict[str, Figure]:
    """Anomalies (all and injected) and predictions seen on the websocket so far."""
    changes = _changes(watcher)
    times = anomaly_times(changes)
    played = injector.played if injector is not None else []
    return {
        "anomalies_flagged": len(times),
        "injected_anomalies": len(played),
        "injected_anomalies_flagged": flagged_injections(played, times, SCORING_SETTLE_S),
        "predictions": prediction_count(changes),
    }


def loop_lag_figures(
    client: RestClient, watcher: StateWatcher | None, baseline: LagBaseline
) -> dict[str, Figure]:
    """HA's loop lag over the run; when (seconds into the run) and in which adaptation phase the
    worst lag happened."""
    response = probe(client)
    lag = response.get("loop_lag") or {}
    figures: dict[str, Figure] = {
        "loop_lag_p99_ms": float(lag.get("p99_ms", 0.0)),
        "loop_lag_max_ms": float(lag.get("max_ms", 0.0)),
        "loop_lag_samples": int(lag.get("samples", 0)),
    }
    ago = response.get("loop_lag_worst_ago_s")
    if isinstance(ago, int | float):
        worst = time.time() - float(ago)
        figures["loop_lag_worst_at_s"] = round(worst - baseline.epoch, 1)
        figures["loop_lag_worst_during"] = adaptation_phase_at(_changes(watcher), worst) or baseline.phase
    return figures


def settled_figures(client: RestClient) -> dict[str, Figure]:
    """Habitus's figures once two reads a second apart agree (at most ``SETTLE_S``)."""
    deadline = time.monotonic() + SETTLE_S
    figures = probe_figures(client)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        again = probe_figures(client)
        if again == figures:
            break
        figures = again
    return figures
