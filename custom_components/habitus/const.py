"""Constants of the Habitus integration: option keys, defaults, signals."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Final

DOMAIN: Final = "habitus"

# Config (user step) and options keys. The demo posts these names through the REST config flow API.
CONF_INCLUDE_DOMAINS: Final = "include_domains"
CONF_INCLUDE_AREAS: Final = "include_areas"
CONF_INCLUDE_ENTITIES: Final = "include_entities"
CONF_EXCLUDE_ENTITIES: Final = "exclude_entities"
CONF_MAX_GAP_HOURS: Final = "max_gap_hours"
CONF_MAX_SPAN_HOURS: Final = "max_span_hours"
CONF_RETENTION_DAYS: Final = "retention_days"
CONF_MAX_SEQUENCES: Final = "max_sequences"
CONF_WEATHER_ENTITY: Final = "weather_entity"
# LLM for synthesis (issue 5 item 7): the embedded llama.cpp model or an OpenAI-compatible server.
CONF_LLM_BACKEND: Final = "llm_backend"  # one of LlmBackendKind
CONF_LLM_MODEL_PATH: Final = "llm_model_path"  # local GGUF; empty: the packaged Gemma 3 270M
CONF_LLM_SERVER_URL: Final = "llm_server_url"  # e.g. http://127.0.0.1:8080/v1
CONF_LLM_SERVER_MODEL: Final = "llm_server_model"  # the server's model name
# Adaptation loop (issue 5 item 5).
CONF_ADAPT_MODE: Final = "adapt_mode"  # one of AdaptMode
CONF_ADAPT_ON_SHIFT: Final = "adapt_on_shift"  # adapt in the next quiet window after a detected shift
CONF_QUIET_HOUR: Final = "quiet_hour"  # local hour (0-23) the nightly quiet window starts

DEFAULT_DOMAINS: Final = (
    "light",
    "switch",
    "fan",
    "climate",
    "cover",
    "media_player",
    "lock",
    "vacuum",
    "valve",
    "siren",
    "humidifier",
    "water_heater",
    "alarm_control_panel",
    "input_boolean",
)
DEFAULT_MAX_GAP_HOURS: Final = 9.0  # SmartGen's Δt_max
DEFAULT_MAX_SPAN_HOURS: Final = 24.0  # SmartGen's T_max
DEFAULT_RETENTION_DAYS: Final = 90
DEFAULT_MAX_SEQUENCES: Final = 20000
MIN_MAX_GAP_HOURS: Final = 0.0005  # 1.8 s: lets the demo replay days in minutes

# How often an idle open sequence is checked for closing (seconds, clamped around Δt_max / 4).
IDLE_CHECK_MIN_SECONDS: Final = 1.0
IDLE_CHECK_MAX_SECONDS: Final = 300.0
# Closed sequences needed before the learning state is "ready" (enough for the models to train on).
READY_MIN_SEQUENCES: Final = 20
# Coalesce store writes: at most one every this many seconds (flushed on unload and HA stop).
SAVE_DELAY_SECONDS: Final = 30.0
# How far back the first-setup bootstrap reads the recorder (bounded further by retention_days).
BOOTSTRAP_MAX_DAYS: Final = 30
# Routine suggestions: how often the routine miner runs, and the default snooze.
SUGGESTIONS_INTERVAL: Final = timedelta(hours=6)
DEFAULT_SNOOZE_DAYS: Final = 7


DEFAULT_QUIET_HOUR: Final = 3
# LLM set-up in the options flow (llm_setup.py): downloaded GGUF files live in <config>/habitus/models/.
LLM_MODELS_DIR: Final = ("habitus", "models")
LLM_DOWNLOAD_MAX_BYTES: Final = 16 * 1024**3  # 16 GiB: any model a hub could run
LLM_SERVER_TIMEOUT_SECONDS: Final = 10.0  # GET {url}/models when the options flow validates a server
LLM_LOAD_TIMEOUT_SECONDS: Final = 300.0  # loading a GGUF once in a child process to validate it


class LlmBackendKind(StrEnum):
    """Where synthesis runs its LLM."""

    LOCAL = "local"  # llama-cpp-python in the worker process, a GGUF file on the hub
    SERVER = "server"  # an OpenAI-compatible server (llama.cpp server, Ollama, vLLM, ...)


class AdaptMode(StrEnum):
    """How synthetic sequences join the training data."""

    AUGMENT = "augment"  # real history + synthetic sequences for the new context
    REPLACE = "replace"  # synthetic sequences (+ feedback) only: SmartGen's setting


class LearningState(StrEnum):
    """What Habitus is doing (the learning state sensor)."""

    BOOTSTRAPPING = "bootstrapping"  # replaying recorder history after the first setup
    LEARNING = "learning"  # collecting sequences, fewer than READY_MIN_SEQUENCES so far
    READY = "ready"  # enough sequences for the models


def signal_updated(entry_id: str) -> str:
    """Dispatcher signal sent whenever the learned counts or the learning state change."""
    return f"{DOMAIN}_{entry_id}_updated"
