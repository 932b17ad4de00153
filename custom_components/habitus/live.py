"""The live side of an entry: scoring, alerts, context (``entry.runtime_data.live``).

Set up after the learner: the live store is read, the models the home last deployed are loaded from
``model_store.py`` (else the shipped base models; both in the executor, where ONNX Runtime sessions are
created too; numpy where onnxruntime does not import), the scorer's thread starts, and the learner's
behaviour observers get the scorer, the context tracker and the action names (which entities did each
action: the next-action sensor's words, ``action_names.py``). While the base models serve, their anomaly
threshold is calibrated on the home's own stored sequences (``base_calibration.py``; no anomaly before
that). If no models can be loaded Habitus keeps learning and the model sensors say "none". The base
models are loaded once per HA run (``hass.data``): a reload reuses them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .action_names import ActionDevices
from .alerts import AnomalyAlerts
from .base_calibration import BaseCalibrator
from .const import signal_updated
from .context_live import ContextTracker
from .engine.behaviour import Behaviour
from .engine.models import ModelFileError
from .ingest import weather_entity_id
from .learner import HabitusLearner
from .live_const import signal_live
from .live_models import ModelBundle, load_base_bundle, load_bundle
from .live_store import LiveStore
from .model_store import UNSAVED, ModelStore, async_load_models, async_save_models, model_store
from .scoring import LiveScorer
from .write_issues import retry_delay

_LOGGER = logging.getLogger(__name__)
_BASE_BUNDLE: HassKey[ModelBundle] = HassKey("habitus_base_bundle")


@dataclass(slots=True, kw_only=True)
class LiveRuntime:
    """What the live entities and services use."""

    hass: HomeAssistant
    entry: ConfigEntry[Any]
    store: LiveStore
    scorer: LiveScorer
    alerts: AnomalyAlerts
    context: ContextTracker
    models: ModelStore  # the deployed models on disk (model_store.py)
    calibrator: BaseCalibrator  # the base models' threshold on this home (base_calibration.py)
    actions: ActionDevices  # the entities that did each action: the next-action sensor's words
    store_failures: int = 0  # failed model writes in a row
    store_retry: CALLBACK_TYPE | None = None  # the pending retry of a failed model write
    unloaded: bool = False  # no retry once the entry unloads (a write still in its thread included)
    unsaved: tuple[ModelBundle, ModelBundle | None] | None = None  # served and rollback, not stored

    async def async_deploy(
        self,
        hass: HomeAssistant,
        transae: Path,
        sasrec: Path,
        version: str,
        *,
        metrics: Mapping[str, float] | None = None,
    ) -> ModelBundle:
        """Load a home's trained model files (executor) and serve them: the adaptation loop's deploy step.

        ``metrics``: the evaluation that made these models the champion (shown by the last-evaluation
        sensor, dated now). Raises ``ModelFileError``/``ValueError`` for a bad pair; the serving models
        are then unchanged. The replaced bundle becomes the rollback target; both are stored on disk.
        Returns the bundle now served.
        """
        bundle = await hass.async_add_executor_job(
            lambda: load_bundle(transae, sasrec, version=version, source="home")
        )
        if metrics is not None:
            bundle.info = replace(bundle.info, evaluated_on=dt_util.utcnow(), metrics=dict(metrics))
        replaced = self.scorer.bundle
        self.scorer.swap_models(bundle)
        self.entry.runtime_data.adaptation.previous = replaced
        await self.async_store(hass, replaced)
        return bundle

    async def async_store(self, hass: HomeAssistant, previous: ModelBundle | None) -> bool:
        """Store the served bundle as ``current`` and ``previous`` as the rollback target (a deploy's or a
        rollback's last step); a write error keeps serving, raises a repair issue and is tried again
        (1, 2, 4 ... 15 minutes later; an unload hands the models to the next setup, a reload) unless a
        newer store comes first (False)."""
        self.cancel_store_retry()
        bundle = self.scorer.bundle
        if bundle is None:
            return False
        self.unsaved = (bundle, previous)  # until written: an unload cancelling the write hands these over
        if await async_save_models(hass, self.entry.entry_id, self.models, bundle, previous):
            self.store_failures, self.unsaved = 0, None
            if self.unloaded:  # a write that ended after the unload: nothing left to hand over
                hass.data.get(UNSAVED, {}).pop(self.entry.entry_id, None)
            return True
        self.store_failures += 1
        if self.unloaded:  # it failed while the entry unloaded (or was removed): its next setup stores it
            self._hand_over()
            return False

        @callback
        def _retry(_now: datetime) -> None:
            self.store_retry = None
            self.schedule_store(previous)

        self.store_retry = async_call_later(hass, retry_delay(self.store_failures), _retry)
        return False

    @callback
    def cancel_store_retry(self) -> None:
        """Drop a pending retry (a newer store, or the entry unloads)."""
        if self.store_retry is not None:
            self.store_retry()
            self.store_retry = None

    @callback
    def async_unloaded(self) -> None:
        """The entry unloads: drop the pending retry, and set none for a write still going on."""
        self.unloaded = True
        self.cancel_store_retry()
        self._hand_over()

    def _hand_over(self) -> None:
        """Models not stored go to the entry's next setup in this HA run (a reload), which serves and
        stores them: it would otherwise serve the older ones on disk, and nothing would clear the issue."""
        if self.unsaved is not None:
            self.hass.data.setdefault(UNSAVED, {})[self.entry.entry_id] = (*self.unsaved, self.store_failures)

    @callback
    def schedule_store(self, previous: ModelBundle | None) -> None:
        """``async_store`` from a callback (rollback); the entry waits for it when it unloads."""
        self.entry.async_create_task(self.hass, self.async_store(self.hass, previous), "habitus store models")


async def async_setup_live(
    hass: HomeAssistant, entry: ConfigEntry[Any], learner: HabitusLearner
) -> LiveRuntime:
    """Build the live parts of ``entry`` and wire them to the learner; listeners end with the entry."""
    store = LiveStore(hass, entry.entry_id)
    await store.async_load()
    alerts = AnomalyAlerts(hass, entry.entry_id, store)
    entry.async_on_unload(alerts.async_follow_dismissals())
    scorer = LiveScorer(hass, entry, learner, alerts)
    settings = entry.runtime_data.settings
    context = ContextTracker(hass, entry.entry_id, store, lambda: weather_entity_id(hass, settings))
    models = model_store(hass, entry.entry_id)
    bundle = await _async_stored_bundle(hass, entry, models)
    if (unsaved := hass.data.get(UNSAVED, {}).pop(entry.entry_id, None)) is not None:
        bundle, entry.runtime_data.adaptation.previous = unsaved[0], unsaved[1]
    if bundle is not None:
        scorer.swap_models(bundle)
    actions = ActionDevices(hass, entry, learner)
    _observe(entry, learner, (scorer.observe, context.observe, actions.observe))
    _start_scoring(hass, entry, scorer)
    _until_unload(entry, context.async_start())
    calibrator = BaseCalibrator(hass, entry, learner, scorer)
    _follow_the_learner(hass, entry, calibrator, actions)
    runtime = LiveRuntime(
        hass=hass,
        entry=entry,
        store=store,
        scorer=scorer,
        alerts=alerts,
        context=context,
        models=models,
        calibrator=calibrator,
        actions=actions,
    )
    entry.async_on_unload(runtime.async_unloaded)
    if unsaved is not None:  # the unloaded entry could not store them: tried again now
        runtime.store_failures = unsaved[2]
        runtime.schedule_store(unsaved[1])
    return runtime


def _observe(
    entry: ConfigEntry[Any], learner: HabitusLearner, observers: tuple[Callable[[Behaviour], None], ...]
) -> None:
    """Give each behaviour the learner takes to ``observers`` until the entry unloads."""
    for observer in observers:
        learner.observers.append(observer)
        entry.async_on_unload(_remover(learner, observer))


def _until_unload(entry: ConfigEntry[Any], unsubscribes: Iterable[CALLBACK_TYPE]) -> None:
    for unsubscribe in unsubscribes:
        entry.async_on_unload(unsubscribe)


def _start_scoring(hass: HomeAssistant, entry: ConfigEntry[Any], scorer: LiveScorer) -> None:
    """The scorer's thread: stopped on unload and when HA stops (entries are not unloaded then); a
    sequence TSS closes is checked for an anomaly."""
    scorer.start()
    entry.async_on_unload(scorer.async_close)
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, scorer.async_on_stop))
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_updated(entry.entry_id), scorer.sequence_closed_check)
    )


def _follow_the_learner(
    hass: HomeAssistant, entry: ConfigEntry[Any], calibrator: BaseCalibrator, actions: ActionDevices
) -> None:
    """The base models' calibration and the action names follow what is stored: checked now (the
    calibration survives restarts; the names come at once, or when the history has been read) and
    whenever sequences close; the calibration also when the models are swapped."""
    for signal in (signal_updated(entry.entry_id), signal_live(entry.entry_id)):  # closed sequences, swaps
        entry.async_on_unload(async_dispatcher_connect(hass, signal, calibrator.check))
    calibrator.check()
    entry.async_on_unload(async_dispatcher_connect(hass, signal_updated(entry.entry_id), actions.check))
    actions.check()


async def _async_stored_bundle(
    hass: HomeAssistant, entry: ConfigEntry[Any], models: ModelStore
) -> ModelBundle | None:
    """The bundle to serve: the stored ``current`` (else the base models); restores the rollback target."""
    stored = await async_load_models(hass, entry.entry_id, models)
    base = None
    if stored.current is None or stored.previous_is_base:
        base = await _async_base_bundle(hass)
    entry.runtime_data.adaptation.previous = stored.previous or (base if stored.previous_is_base else None)
    return stored.current or base


async def _async_base_bundle(hass: HomeAssistant) -> ModelBundle | None:
    """The shipped base models, loaded once per HA run (never mutated: a deploy replaces the bundle)."""
    if (cached := hass.data.get(_BASE_BUNDLE)) is not None:
        return cached
    try:
        bundle = await hass.async_add_executor_job(load_base_bundle)
    except (ModelFileError, ValueError, OSError) as err:
        _LOGGER.warning("Habitus cannot load its base models, anomaly and prediction are off: %s", err)
        return None
    hass.data[_BASE_BUNDLE] = bundle
    return bundle


def _remover(learner: HabitusLearner, observer: Any) -> Any:
    @callback
    def remove() -> None:
        if observer in learner.observers:
            learner.observers.remove(observer)

    return remove
