"""Constants and signals of the live side (scoring, alerts, context, live services)."""

from __future__ import annotations

from typing import Final

from .const import DOMAIN

# Alerts: after one notification, further anomalies within this cool-down only fire the event entity.
ALERT_COOLDOWN_SECONDS: Final = 30 * 60.0
DEFAULT_SNOOZE_MINUTES: Final = 60
MAX_SNOOZE_MINUTES: Final = 7 * 24 * 60
# How often the head count at home is sampled for the context monitor (besides every person change).
OCCUPANCY_SAMPLE_MINUTES: Final = 30
# Behaviours of the open sequence handed to the models (SASRec's history length; TransAE uses its last 10).
SCORING_WINDOW: Final = 20

EVENT_ANOMALY_DETECTED: Final = "anomaly_detected"
EXPORT_SEQUENCES_FILE: Final = "sequences.jsonl"
EXPORT_VOCAB_FILE: Final = "vocab.json"

SERVICE_FEEDBACK: Final = "feedback"
SERVICE_EXPORT_DATASET: Final = "export_dataset"
SERVICE_SNOOZE_ALERTS: Final = "snooze_alerts"
SERVICE_DISMISS_ALERT: Final = "dismiss_alert"


def signal_live(entry_id: str) -> str:
    """Dispatcher signal: the live reading (score, next action, context, models, alerts) changed."""
    return f"{DOMAIN}_{entry_id}_live"


# Entities showing the scorer's latest reading (score, anomaly, next action, vocabulary coverage): the
# only ones refreshed after each scoring job (``signal_reading``); the rest follow ``signal_live``.
READING_ENTITY_KEYS: Final = frozenset({"anomaly", "anomaly_score", "next_action", "model_version"})


def signal_reading(entry_id: str) -> str:
    """Dispatcher signal: a scoring job's readings were applied (only the reading entities refresh)."""
    return f"{DOMAIN}_{entry_id}_reading"


def signal_anomaly(entry_id: str) -> str:
    """Dispatcher signal: a new anomaly (payload: the event entity's attributes)."""
    return f"{DOMAIN}_{entry_id}_anomaly"
