"""The adaptation job (issue 5): synthesize data for a new context, retrain, keep the better models.

One ``AdaptationManager`` per entry (``runtime.adaptation_jobs``) runs at most ONE job at a time, as a
background task of the entry that ends with the job:

1. **preparing** - the home's stored TSS sequences are split by time (older 80 % to train on, the most
   recent 20 % held out as the evaluation set, never shown to the LLM nor trained on). A job adapting
   to a detected shift holds out the sequences since the shift instead (from the first day of the
   monitor's recent window that showed it), when there are at least ``MIN_HOLDOUT_SEQUENCES``: a
   challenger for the new context is judged on the new context. The outcome says which
   (``evaluated_on``: ``since_shift`` / ``recent``) and how many (``held_out_sequences``);
2. **synthesizing** - the worker's ``synthesize`` job (SmartGen's pipeline: TSS -> SSC -> GSS -> LLM ->
   parse -> TOF) generates sequences for the new context (a ``ContextShift``: the detected seasonal /
   schedule / occupancy shift, or the user's free text), with the LLM chosen in the options;
3. **training** - TransAE + SASRec on *augment* = real + synthetic + feedback, or *replace* = synthetic +
   feedback (SmartGen's setting; falls back to augment, saying why, when too few synthetic sequences
   were kept);
4. **evaluating** - champion vs challenger on the held-out recent *real* sequences
   (``adaptation._train_and_judge``): the challenger is deployed only if better, otherwise the champion
   keeps serving and the outcome says why.

Triggers: the ``adapt`` service (and ``retrain``: the same job without synthesis), and a shift the context
monitor detects (checked hourly) when ``adapt_on_shift`` is on: it is then run in the next nightly quiet
window (``quiet_hour``, local time), not at once. With no shift pending, the quiet window also trains the
home's own models (no synthesis) while the shipped base models still serve and the home has enough data.
``cancel_adaptation`` and the entry's unload cancel a running job (the worker cancels its job; the
champion keeps serving). Failures (worker crash, LLM unreachable, no valid synthetic sequence) end in
``last_outcome`` with a readable reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_change, async_track_time_interval
from homeassistant.util import dt as dt_util

from .adaptation import (
    MIN_HOLDOUT_SEQUENCES,
    MIN_TRAIN_SEQUENCES,
    async_home_data,
    async_train_and_judge,
    check_enough_data,
    worker_crashed_issue,
)
from .const import DOMAIN, AdaptMode
from .engine.context_monitor import ShiftDetection
from .engine.datasets import RawSequence
from .engine.shifts import ContextShift, custom_shift
from .native import synthesis_backend
from .runtime import HabitusConfigEntry
from .worker import WorkerCrashedError, WorkerError

_LOGGER = logging.getLogger(__name__)

SHIFT_CHECK_INTERVAL = timedelta(hours=1)
# replace mode needs at least this many kept synthetic sequences, else it falls back to augment
MIN_SYNTHETIC_REPLACE = 10
# budgets of a job started by a detected shift (the service gives its own)
SHIFT_MAX_PROMPTS = 4
SCHEDULED_EPOCHS: int | None = None  # None: the models' own epoch budget (early stopping ends sooner)
N_CTX = 2048
_SHIFT_KINDS = {"ST": "seasonal", "TT": "schedule", "NT": "occupancy", "custom": "custom"}
_PEOPLE = {"single": 1, "multiple": 3}
# overall progress (0-100) each phase starts at, with and without synthesis
_SPANS_SYNTH = {"preparing": (0, 5), "synthesizing": (5, 60), "training": (60, 95), "evaluating": (95, 100)}
_SPANS_PLAIN = {"preparing": (0, 5), "training": (5, 90), "evaluating": (90, 100)}


class Phase(StrEnum):
    """What the adaptation job is doing (the adaptation sensor's state)."""

    IDLE = "idle"
    PREPARING = "preparing"
    SYNTHESIZING = "synthesizing"
    TRAINING = "training"
    EVALUATING = "evaluating"


class Trigger(StrEnum):
    """Why a job runs."""

    SERVICE = "service"  # adapt / retrain called
    SHIFT = "shift"  # a shift the context monitor detected (run in the quiet window)
    SCHEDULE = "schedule"  # the nightly quiet window (the home's own models, cold start)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdaptRequest:
    """One job's parameters."""

    trigger: Trigger
    synthesize: bool = True  # False: retrain on the real data only
    mode: AdaptMode = AdaptMode.AUGMENT
    context: str | None = None  # the user's words for the new situation
    detection: ShiftDetection | None = None  # the detected shift this job adapts to
    epochs: int | None = None
    max_prompts: int | None = None


def signal_adaptation(entry_id: str) -> str:
    """Dispatcher signal: the adaptation job's phase, progress or outcome changed."""
    return f"{DOMAIN}_{entry_id}_adaptation"


class AdaptationFailedError(HomeAssistantError):
    """The job could not produce a challenger; the message is the outcome's reason."""


def shift_params(shift: ContextShift) -> dict[str, Any]:
    """A ``ContextShift`` as the ``synthesize`` job's ``shift`` parameter (contract A)."""
    return {
        "kind": _SHIFT_KINDS[shift.kind],
        "original": shift.original,
        "new": shift.new,
        "emphasis_devices": list(shift.emphasis_devices),
        "active_hours": list(shift.active_hours),
    }


def detected_shift(detection: ShiftDetection) -> ContextShift:
    """The prompt's ``ContextShift`` for a detected ST / TT / NT shift."""
    if detection.name == "occupancy":
        return detection.as_context_shift(_PEOPLE[detection.before], _PEOPLE[detection.after])
    return detection.as_context_shift()


def describe_context(current: dict[str, Any]) -> str:
    """The household's current context (context sensor values) as one sentence for the prompt."""
    parts = [f"it is {current['season']}"] if current.get("season") else []
    if current.get("schedule") == "daytime":
        parts.append("the household is active during the daytime")
    elif current.get("schedule") == "night":
        parts.append("the household is active at night")
    if current.get("occupancy") == "single":
        parts.append("a single person is at home")
    elif current.get("occupancy") == "multiple":
        parts.append("several people are at home")
    return "; ".join(parts) or "the household's usual routine"


def _since_hours(detection: ShiftDetection | None) -> float | None:
    """The start (epoch hours) of a detected shift's recent window: local midnight of its ``since``."""
    if detection is None or detection.since is None:
        return None
    return dt_util.start_of_local_day(detection.since).timestamp() / 3600.0


def _valid(raw: Any, n_devices: int, n_actions: int) -> list[RawSequence]:
    """The synthetic sequences whose every behaviour is an in-range ``[day, bucket, device, action]``."""
    limits = (7, 8, n_devices, n_actions)
    kept: list[RawSequence] = []
    for seq in raw if isinstance(raw, list) else []:
        if isinstance(seq, list) and seq and all(_in_range(b, limits) for b in seq):
            kept.append([(b[0], b[1], b[2], b[3]) for b in seq])
    return kept


def _in_range(behaviour: Any, limits: tuple[int, ...]) -> bool:
    return (
        isinstance(behaviour, list | tuple)
        and len(behaviour) == 4
        and all(isinstance(v, int) and 0 <= v < lim for v, lim in zip(behaviour, limits, strict=True))
    )


def training_set(
    mode: AdaptMode,
    real: list[RawSequence],
    synthetic: list[RawSequence],
    feedback: list[RawSequence],
    extra: dict[str, Any],
) -> list[RawSequence]:
    """A job's training set. augment: real + synthetic + feedback; replace: synthetic + feedback (if enough
    were kept, else augment). ``extra`` gets the mode used, why, and the counts (the job's outcome)."""
    extra["mode"] = mode.value
    if mode is AdaptMode.REPLACE and len(synthetic) < MIN_SYNTHETIC_REPLACE:
        extra["mode"] = AdaptMode.AUGMENT.value
        extra["mode_reason"] = (
            f"replace needs {MIN_SYNTHETIC_REPLACE} synthetic sequences, synthesis kept "
            f"{len(synthetic)}: trained on real + synthetic data instead"
        )
        mode = AdaptMode.AUGMENT
    extra["synthetic_sequences"] = len(synthetic)
    extra["real_sequences"] = len(real) if mode is AdaptMode.AUGMENT else 0
    extra["feedback_sequences"] = len(feedback)
    if mode is AdaptMode.REPLACE:
        return synthetic + feedback
    return real + synthetic + feedback


class AdaptationManager:
    """Runs the entry's adaptation jobs, one at a time (see the module docstring)."""

    def __init__(self, hass: HomeAssistant, entry: HabitusConfigEntry) -> None:
        self._hass = hass
        self._entry = entry
        self._task: asyncio.Task[None] | None = None
        self._spans = _SPANS_PLAIN
        self.phase = Phase.IDLE
        self.progress = 0  # 0-100 over the whole job
        self.message = ""
        self.trigger: Trigger | None = None
        self.completed_jobs = 0  # jobs that ended with a verdict (deployed or kept the champion)
        self.pending_shift: ShiftDetection | None = None  # detected; runs in the next quiet window
        self.last_params: dict[str, Any] = {}  # the last synthesize job's parameters, sequences left out
        self._restore()

    def _restore(self) -> None:
        """``completed_jobs`` and ``last_outcome`` as the live store kept them (they survive restarts)."""
        live = self._entry.runtime_data.live
        saved = live.store.adaptation if live is not None else {}
        with contextlib.suppress(TypeError, ValueError):
            self.completed_jobs = max(0, int(saved.get("completed_jobs", 0)))
        outcome = saved.get("last_outcome")
        state = self._entry.runtime_data.adaptation
        if isinstance(outcome, dict) and not state.last_outcome:
            state.last_outcome = dict(outcome)

    def _persist(self) -> None:
        """Keep ``completed_jobs`` and ``last_outcome`` in the live store (written within seconds)."""
        live = self._entry.runtime_data.live
        if live is not None:
            live.store.adaptation = {
                "completed_jobs": self.completed_jobs,
                "last_outcome": dict(self.last_outcome),
            }
            live.store.schedule_save()

    # ------------------------------------------------------------------------------------ state

    @property
    def running(self) -> bool:
        """Whether a job is running."""
        return self._task is not None and not self._task.done()

    @property
    def last_outcome(self) -> dict[str, Any]:
        """The last job's outcome (deployed, reason, version, metrics, ...)."""
        return self._entry.runtime_data.adaptation.last_outcome

    @callback
    def _set(self, phase: Phase, fraction: float = 0.0, message: str = "") -> None:
        """Move to ``phase`` at ``fraction`` of it; the sensor follows."""
        self.phase = phase
        start, end = self._spans.get(phase.value, (0, 0))
        self.progress = (
            0 if phase is Phase.IDLE else int(start + (end - start) * min(max(fraction, 0.0), 1.0))
        )
        self.message = message
        async_dispatcher_send(self._hass, signal_adaptation(self._entry.entry_id))

    def _reporter(self, phase: Phase) -> Any:
        """A worker progress callback reporting into ``phase``."""

        def report(fraction: float, message: str) -> None:
            if self.phase is phase:
                self._set(phase, fraction, message)

        return report

    # ------------------------------------------------------------------------------- start / stop

    @callback
    def async_start(self, request: AdaptRequest) -> None:
        """Start a job in the background; ``adaptation_running`` if one runs already."""
        if self.running:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="adaptation_running")
        self.trigger = request.trigger
        self._spans = _SPANS_SYNTH if request.synthesize else _SPANS_PLAIN
        self._set(Phase.PREPARING, 0.0, "reading the home's sequences")
        self._task = self._entry.async_create_background_task(
            self._hass, self._async_job(request), f"habitus adaptation ({request.trigger})"
        )

    async def async_cancel(self) -> bool:
        """Cancel the running job and wait until it has ended (the worker cancels its job); False if none."""
        task = self._task
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.wait((task,))
        return True

    # --------------------------------------------------------------------------------------- job

    async def _async_job(self, request: AdaptRequest) -> None:
        """One job from preparing to its outcome; failures and cancellation are outcomes too."""
        state = self._entry.runtime_data.adaptation
        started = dt_util.utcnow()
        extra: dict[str, Any] = {"trigger": request.trigger.value, "started": started.isoformat()}
        probe = self._entry.runtime_data.loop_lag  # HA's loop lag over the whole job (issue 5 target)
        if probe is not None:
            probe.reset()
            probe.start()
        try:
            outcome = await self._async_adapt(request, extra)
        except asyncio.CancelledError:
            state.last_outcome = {**self._kept(extra), "cancelled": True, "reason": "cancelled"}
            raise
        except (HomeAssistantError, WorkerError) as err:
            _LOGGER.warning("Habitus adaptation failed, the champion keeps serving: %s", err)
            state.last_outcome = {**self._kept(extra), "failed": True, "reason": str(err)}
        except Exception as err:  # e.g. an unreadable challenger file: still an outcome, never a dead task
            _LOGGER.exception("Habitus adaptation failed unexpectedly, the champion keeps serving")
            state.last_outcome = {**self._kept(extra), "failed": True, "reason": repr(err)}
        else:
            state.last_outcome = {**outcome, **extra}
            self.completed_jobs += 1
            self._acknowledge(request.detection)
        finally:
            state.last_outcome["finished"] = dt_util.utcnow().isoformat()
            self._persist()
            if probe is not None:
                with contextlib.suppress(asyncio.CancelledError):  # a cancelled job re-raises its own
                    await probe.async_stop()
            self._task = None
            self._set(Phase.IDLE)

    def _kept(self, extra: dict[str, Any]) -> dict[str, Any]:
        """The outcome's common part when no challenger was judged: the champion keeps serving."""
        live = self._entry.runtime_data.live
        bundle = live.scorer.bundle if live is not None else None
        return {**extra, "deployed": False, "version": bundle.info.version if bundle else None}

    async def _async_adapt(self, request: AdaptRequest, extra: dict[str, Any]) -> dict[str, Any]:
        home = await async_home_data(self._hass, self._entry, _since_hours(request.detection))
        extra["evaluated_on"] = home.evaluated_on
        real, feedback, devices, actions = home.real, home.feedback, home.devices, home.actions
        check_enough_data(len(real) + len(feedback), len(home.held_out))
        training = real + feedback
        training_bp: list[RawSequence] | None = None
        if request.synthesize:
            synthetic, synthetic_bp = await self._async_synthesize(request, real, devices, actions, extra)
            training = training_set(request.mode, real, synthetic, feedback, extra)
            if synthetic_bp != synthetic:  # TOF per task: SASRec trains on the next-action test's set
                extra["synthetic_sequences_sasrec"] = len(synthetic_bp)
                training_bp = training_set(AdaptMode(extra["mode"]), real, synthetic_bp, feedback, {})
        self._set(Phase.TRAINING, 0.0, "training TransAE and SASRec")
        return await async_train_and_judge(
            self._hass,
            self._entry,
            held_out=home.held_out,
            data=(training, devices, actions),
            progress=self._reporter(Phase.TRAINING),
            epochs=request.epochs,
            on_evaluate=lambda: self._set(Phase.EVALUATING, 0.0, "champion vs challenger"),
            sasrec_sequences=training_bp,
            margin=home.evaluated_on == "recent",  # a shift job's verdict acknowledges the shift
        )

    async def _async_synthesize(
        self,
        request: AdaptRequest,
        real: list[RawSequence],
        devices: list[str],
        actions: list[str],
        extra: dict[str, Any],
    ) -> tuple[list[RawSequence], list[RawSequence]]:
        """Run the worker's ``synthesize`` job; the kept synthetic sequences (none: a failure): TOF's
        set for TransAE, then its set for SASRec (``sequences_bp``; TOF filters per downstream task)."""
        shift = self._shift(request)
        settings = self._entry.runtime_data.settings
        params: dict[str, Any] = {
            "devices": devices,
            "actions": actions,
            "shift": shift_params(shift),
            "llm": {
                # llama.cpp unusable on this hub (native.py's check): the server, if one is set
                "backend": synthesis_backend(self._hass, settings.llm_backend, settings.llm_server_url).value,
                "model_path": settings.llm_model_path,
                "server_url": settings.llm_server_url,
                "server_model": settings.llm_server_model,
                "n_threads": 1,
                "n_ctx": N_CTX,
            },
            "max_prompts": request.max_prompts or SHIFT_MAX_PROMPTS,
        }
        self.last_params = dict(params)
        extra["shift"] = {"kind": params["shift"]["kind"], "new": shift.new}
        self._set(Phase.SYNTHESIZING, 0.0, "synthesizing sequences for the new context")
        worker = self._entry.runtime_data.worker
        assert worker is not None  # checked by async_home_data
        try:
            result = await worker.run(
                "synthesize",
                {**params, "sequences": real},  # [day, bucket, device, action] tuples: pickled as they are
                self._reporter(Phase.SYNTHESIZING),
            )
        except WorkerCrashedError as err:
            worker_crashed_issue(self._hass, err)
            raise AdaptationFailedError(f"synthesis failed: {err}") from err
        except WorkerError as err:
            raise AdaptationFailedError(f"synthesis failed: {err}") from err
        found = result.get("report")
        report: dict[str, Any] = found if isinstance(found, dict) else {}
        extra["synthesis"] = {k: v for k, v in report.items() if isinstance(v, int | float | str | None)}
        kept = _valid(result.get("sequences"), len(devices), len(actions))
        if not kept:
            raise AdaptationFailedError(
                "synthesis kept no valid sequence for the new context "
                f"({report.get('sequences_generated', 0)} generated); the champion keeps serving"
            )
        return kept, _valid(result.get("sequences_bp"), len(devices), len(actions)) or kept

    def _shift(self, request: AdaptRequest) -> ContextShift:
        """The new context: the user's words, else the detected shift, else more of the current context."""
        live = self._entry.runtime_data.live
        current = describe_context(live.context.current() if live is not None else {})
        if request.context:
            return custom_shift(current, request.context)
        if request.detection is not None:
            return detected_shift(request.detection)
        return custom_shift(current, f"{current}; more days like the recent ones")

    @callback
    def _acknowledge(self, detection: ShiftDetection | None) -> None:
        """The models are adapted to the detected context: it becomes the monitor's baseline."""
        live = self._entry.runtime_data.live
        if detection is None or live is None:
            return
        live.store.monitor.acknowledge(detection.name, detection.after)
        live.store.schedule_save()
        if self.pending_shift == detection:
            self.pending_shift = None

    # ---------------------------------------------------------------------------------- triggers

    @callback
    def async_listen(self) -> list[CALLBACK_TYPE]:
        """Check for shifts hourly; run a pending one in the nightly quiet window. Returns unsubscribers."""
        quiet_hour = self._entry.runtime_data.settings.quiet_hour
        return [
            async_track_time_interval(
                self._hass, self._check_shifts, SHIFT_CHECK_INTERVAL, cancel_on_shutdown=True
            ),
            async_track_time_change(self._hass, self._quiet_window, hour=quiet_hour, minute=0, second=0),
        ]

    @callback
    def _check_shifts(self, _now: datetime | None = None) -> None:
        """Ask the context monitor for a shift; a new one waits for the quiet window (if adapt_on_shift)."""
        runtime = self._entry.runtime_data
        if not runtime.settings.adapt_on_shift or runtime.live is None or self.pending_shift is not None:
            return
        found = runtime.live.store.monitor.detect(dt_util.now().date(), runtime.live.context.latitude)
        runtime.live.store.schedule_save()  # a first judged context became the baseline
        if found:
            self.pending_shift = found[0]
            _LOGGER.info(
                "Habitus noticed a %s shift (%s -> %s: %s); adapting at %02d:00",
                found[0].name,
                found[0].before,
                found[0].after,
                found[0].evidence,
                runtime.settings.quiet_hour,
            )
            async_dispatcher_send(self._hass, signal_adaptation(self._entry.entry_id))

    @callback
    def _quiet_window(self, _now: datetime) -> None:
        """The nightly quiet window: adapt to a pending detected shift, else train the home's own models
        while the shipped base models still serve (cold start) and the home has enough data."""
        self._check_shifts()
        if self.running:
            return
        runtime = self._entry.runtime_data
        if self.pending_shift is not None:
            self.async_start(
                AdaptRequest(
                    trigger=Trigger.SHIFT,
                    mode=runtime.settings.adapt_mode,
                    detection=self.pending_shift,
                    max_prompts=SHIFT_MAX_PROMPTS,
                    epochs=SCHEDULED_EPOCHS,
                )
            )
        elif self._cold_start():
            self.async_start(
                AdaptRequest(trigger=Trigger.SCHEDULE, synthesize=False, epochs=SCHEDULED_EPOCHS)
            )

    def _cold_start(self) -> bool:
        """Whether the home's own models should be trained now: none serve yet, and the data suffices."""
        runtime = self._entry.runtime_data
        bundle = runtime.live.scorer.bundle if runtime.live is not None else None
        if bundle is not None and bundle.info.source == "home":
            return False
        return runtime.learner.store.stored_sequences >= MIN_TRAIN_SEQUENCES + MIN_HOLDOUT_SEQUENCES


def enough_data(entry: HabitusConfigEntry) -> None:
    """Cheap service-time check (stored counts only): ``too_little_data`` for a home without enough."""
    runtime = entry.runtime_data
    stored = runtime.learner.store.stored_sequences
    feedback = len(runtime.live.store.feedback_normal) if runtime.live is not None else 0
    if stored + feedback < MIN_TRAIN_SEQUENCES + MIN_HOLDOUT_SEQUENCES:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="too_little_data",
            translation_placeholders={"train": str(stored + feedback), "minimum": str(MIN_TRAIN_SEQUENCES)},
        )


__all__ = ["AdaptRequest", "AdaptationManager", "Phase", "Trigger", "signal_adaptation"]
