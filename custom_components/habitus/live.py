"""The live side of an entry: scoring, alerts, context (``entry.runtime_data.live``).

Set up after the learner: the live store is read, the shipped base models are loaded in the executor
(ONNX Runtime sessions are created there too; numpy where onnxruntime does not import), and the
learner's behaviour observers get the scorer and the context tracker. If the base models cannot be
loaded Habitus keeps learning and the model sensors say "none".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util import dt as dt_util

from .alerts import AnomalyAlerts
from .const import signal_updated
from .context_live import ContextTracker
from .engine.models import ModelFileError
from .learner import HabitusLearner
from .live_models import ModelBundle, load_base_bundle, load_bundle
from .live_store import LiveStore
from .scoring import LiveScorer

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class LiveRuntime:
    """What the live entities and services use."""

    store: LiveStore
    scorer: LiveScorer
    alerts: AnomalyAlerts
    context: ContextTracker

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
        are then unchanged. Returns the bundle now served (``swap_models`` it back to roll back).
        """
        bundle = await hass.async_add_executor_job(
            lambda: load_bundle(transae, sasrec, version=version, source="home")
        )
        if metrics is not None:
            bundle.info = replace(bundle.info, evaluated_on=dt_util.utcnow(), metrics=dict(metrics))
        self.scorer.swap_models(bundle)
        return bundle


async def async_setup_live(
    hass: HomeAssistant, entry: ConfigEntry[Any], learner: HabitusLearner
) -> LiveRuntime:
    """Build the live parts of ``entry`` and wire them to the learner; listeners end with the entry."""
    store = LiveStore(hass, entry.entry_id)
    await store.async_load()
    alerts = AnomalyAlerts(hass, entry.entry_id, store)
    scorer = LiveScorer(hass, entry, learner, alerts)
    context = ContextTracker(hass, entry.entry_id, store)
    bundle = await _async_base_bundle(hass)
    if bundle is not None:
        scorer.swap_models(bundle)
    for observer in (scorer.observe, context.observe):
        learner.observers.append(observer)
        entry.async_on_unload(_remover(learner, observer))
    entry.async_on_unload(scorer.close)
    for unsubscribe in context.async_start():
        entry.async_on_unload(unsubscribe)
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_updated(entry.entry_id), scorer.sequence_closed_check)
    )
    return LiveRuntime(store=store, scorer=scorer, alerts=alerts, context=context)


async def _async_base_bundle(hass: HomeAssistant) -> ModelBundle | None:
    try:
        return await hass.async_add_executor_job(load_base_bundle)
    except (ModelFileError, ValueError, OSError) as err:
        _LOGGER.warning("Habitus cannot load its base models, anomaly and prediction are off: %s", err)
        return None


def _remover(learner: HabitusLearner, observer: Any) -> Any:
    @callback
    def remove() -> None:
        if observer in learner.observers:
            learner.observers.remove(observer)

    return remove
