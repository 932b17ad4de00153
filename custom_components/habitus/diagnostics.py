"""Diagnostics: what Habitus is set to, how much it has learned, and how its live side is doing.

Never the behaviours themselves: no entity ids, no alert texts (they list the behaviours), no feedback
sequences, no free text a user typed (an adaptation's ``context``, a shift's wording), no location.
What the models serve, their thresholds and metrics, counts, states and timings are kept; whatever
user-identifying keys could still reach the output go through ``async_redact_data`` (``TO_REDACT``).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from datetime import datetime
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .live import LiveRuntime
from .live_const import ALERT_COOLDOWN_SECONDS
from .live_models import ModelBundle
from .runtime import HabitusConfigEntry, HabitusRuntime

# Free text and anything naming people, places or devices, wherever it appears (nested keys too).
TO_REDACT = {
    "context",  # the user's words for a new situation (habitus.adapt)
    "original",  # a shift's wording, e.g. "a couple", "a family with a newborn"
    "new",
    "emphasis_devices",
    "devices",
    "actions",
    "behaviours",
    "most_surprising",
    "note",
    "notes",
    "text",
    "people",
    "person",
    "latitude",
    "longitude",
    "elevation",
    "location",
    "weather_entity",
    "include_entities",
    "exclude_entities",
    "include_areas",
    "llm_model_path",  # may name the user's home directory
    "llm_server_url",  # a host, maybe with credentials
    "llm_server_model",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: HabitusConfigEntry
) -> dict[str, Any]:
    """Settings, counts and the live side's state, redacted (see the module docstring)."""
    runtime = entry.runtime_data
    learner, store = runtime.learner, runtime.learner.store
    settings = {
        key: sorted(value) if isinstance(value, frozenset) else value
        for key, value in asdict(runtime.settings).items()
    }
    data: dict[str, Any] = {
        "settings": settings,
        "learning_state": learner.state.value,
        "bootstrapped": store.bootstrapped,
        "behaviours_learned": learner.behaviours_learned,
        "sequences_learned": learner.sequences_learned,
        "stored_sequences": store.stored_sequences,
        "stored_behaviours": store.stored_behaviours,
        "open_sequence_length": len(learner.open_sequence),
        "store_atomic_writes": store.atomic_writes,
        "learner_observers": len(learner.observers),
        "live": _live(runtime.live, runtime),
        "adaptation": _adaptation(runtime),
        "worker": _worker(runtime),
        "loop_lag": _loop_lag(runtime),
    }
    return async_redact_data(data, TO_REDACT)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _epoch(seconds: float | None) -> str | None:
    return dt_util.utc_from_timestamp(seconds).isoformat() if seconds is not None else None


def model_summary(bundle: ModelBundle | None) -> dict[str, Any] | None:
    """One bundle's version, source, dates, metrics, threshold and executor (no vocabulary)."""
    if bundle is None:
        return None
    info = bundle.info
    return {
        "version": info.version,
        "source": info.source,
        "dataset": info.dataset,
        "trained_on": _iso(info.trained_on),
        "training_sequences": info.data,
        "evaluated_on": _iso(info.evaluated_on),
        "metrics": dict(info.metrics),
        **bundle.threshold_status(),  # threshold (None while calibrating on the home), source, counts
        "vocabulary_size": {"devices": len(bundle.vocab.devices), "actions": len(bundle.vocab.actions)},
        "served_by": bundle.served_by,
    }


def _live(live: LiveRuntime | None, runtime: HabitusRuntime) -> dict[str, Any] | None:
    """Served models (and rollback target, and what is stored), scoring, alerts, context monitor."""
    if live is None:
        return None
    scorer, alerts, result = live.scorer, live.alerts, live.scorer.result
    now = dt_util.utcnow().timestamp()
    last = alerts.last_notified
    return {
        "models": {
            "serving": model_summary(scorer.bundle),
            "rollback_target": model_summary(runtime.adaptation.previous),
            "stored_version": live.models.saved_version,
            "store_error": live.models.last_error,
        },
        "scoring": {
            "scored": scorer.scored,
            "known_behaviours": scorer.known,
            "unknown_behaviours": scorer.unknown,
            "coverage": scorer.coverage,
            "anomaly_active": scorer.anomaly_active,
            "open_sequence": None
            if result is None
            else {
                "length": result.length,
                "score": result.score,
                "threshold": result.threshold,
                "unknown": len(result.unknown),
            },
        },
        "alerts": {
            "notified": alerts.notified,
            "suppressed": alerts.suppressed,
            "notification_shown": alerts.notification_id is not None,
            "snoozed_until": _epoch(alerts.snoozed_until),
            "last_notified": _epoch(last),
            "cooling_down": last is not None and now - last < ALERT_COOLDOWN_SECONDS,
            "cooldown_seconds": ALERT_COOLDOWN_SECONDS,
        },
        "feedback_sequences": len(live.store.feedback_normal),
        "context_monitor": {  # not "context": that key is redacted (free text)
            "current": live.context.current(),
            "baseline": dict(live.store.monitor.baseline),
            "days_monitored": len(live.store.monitor.to_dict()["days"]),
        },
    }


def _adaptation(runtime: HabitusRuntime) -> dict[str, Any]:
    """The last outcome, and the job runner's state when there is one."""
    data: dict[str, Any] = {"last_outcome": dict(runtime.adaptation.last_outcome)}
    jobs = getattr(runtime, "adaptation_jobs", None)
    if jobs is not None:
        pending = getattr(jobs, "pending_shift", None)
        data["job"] = {
            "phase": str(getattr(jobs, "phase", "")),
            "progress": getattr(jobs, "progress", None),
            "trigger": str(trigger) if (trigger := getattr(jobs, "trigger", None)) is not None else None,
            "running": bool(getattr(jobs, "running", False)),
            "completed_jobs": getattr(jobs, "completed_jobs", None),
            "message": getattr(jobs, "message", None),  # the stage ("prompt 2/4"), never the user's words
            "pending_shift": None
            if pending is None
            else {  # the detected kind and its before/after values (season, schedule, occupancy names)
                "kind": getattr(pending, "name", None),
                "before": getattr(pending, "before", None),
                "after": getattr(pending, "after", None),
                "since": str(since) if (since := getattr(pending, "since", None)) is not None else None,
            },
        }
    return data


def _worker(runtime: HabitusRuntime) -> dict[str, Any] | None:
    """The worker process: started, its pid alive, a job running."""
    worker = runtime.worker
    if worker is None:
        return None
    pid = worker.pid
    return {"running": pid is not None, "pid": pid, "pid_alive": _alive(pid), "busy": worker.busy}


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _loop_lag(runtime: HabitusRuntime) -> dict[str, Any] | None:
    """The loop-lag probe (it samples while a retrain runs): running, p50/p99/max of its last samples."""
    probe = runtime.loop_lag
    if probe is None:
        return None
    return {"running": probe.running, **probe.stats().as_dict()}
