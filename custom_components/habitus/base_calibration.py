"""Cold start: the base TransAE's anomaly threshold calibrated on this home's own sequences (issue 3).

The shipped base models were trained and calibrated on SmartThings FR; their threshold does not
transfer to another home (``engine/calibration.py``). While they serve, ``BaseCalibrator`` scores the
home's most recent stored TSS sequences (up to ``MAX_CALIBRATION_SEQUENCES``) with the base TransAE in
the executor and serves the bundle with TransAE's percentile of those scores as its threshold, each
sequence scored at its highest reading after any of its behaviours, as live scoring alerts
(``live_models.calibrate_base``, ``LiveScorer.calibrate``). Until ``MIN_CALIBRATION_SEQUENCES`` were
scored, no anomaly is raised and the anomaly score sensor says "calibrating", with the count.

When: at setup (the threshold is recomputed from the stored sequences, so it survives restarts, with
nothing stored but the sequences) and whenever TSS has closed sequences since (``check`` runs on every
learner and live update and compares one counter). A home-trained model serves its own threshold and
nothing is calibrated; a rollback to the base models calibrates them again.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback

from .const import LearningState
from .engine.calibration import MAX_CALIBRATION_SEQUENCES
from .learner import HabitusLearner
from .live_models import ModelBundle, calibrate_base
from .scoring import SCORING_ERRORS, LiveScorer

_LOGGER = logging.getLogger(__name__)


class BaseCalibrator:
    """Keeps the served base TransAE's threshold calibrated on one entry's stored sequences."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], learner: HabitusLearner, scorer: LiveScorer
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._learner = learner
        self._store = learner.store
        self._scorer = scorer
        self._running = False
        self._failed: int | None = None  # the revision a calibration failed at (not retried)
        self.runs = 0  # calibrations applied

    def _due(self) -> ModelBundle | None:
        """The served bundle if it is the base one and TSS closed sequences since its calibration (not
        while the history is read: its end updates the learner once more)."""
        bundle = self._scorer.bundle
        if (
            bundle is None
            or bundle.info.source != "base"
            or self._learner.state is LearningState.BOOTSTRAPPING
        ):
            return None
        revision = self._store.sequences_total
        if revision == self._failed or (bundle.calibration and bundle.calibration.revision == revision):
            return None
        return bundle

    @callback
    def check(self) -> None:
        """Calibrate in the background if due (O(1) when not: it runs on every update)."""
        if self._running or self._due() is None:
            return
        self._running = True
        self._entry.async_create_background_task(self._hass, self._async_run(), "habitus calibrate threshold")

    async def _async_run(self) -> None:
        try:
            await self.async_calibrate()
        finally:
            self._running = False
        self.check()  # sequences closed while it ran

    async def async_calibrate(self) -> None:
        """Calibrate the served base bundle on the stored sequences now (scoring in the executor)."""
        bundle = self._due()
        if bundle is None:
            return
        revision = self._store.sequences_total
        read = self._store.sequences_reader(last=MAX_CALIBRATION_SEQUENCES)
        try:
            calibration = await self._hass.async_add_executor_job(
                lambda: calibrate_base(bundle, read(), revision)
            )
        except SCORING_ERRORS as err:
            self._failed = revision
            _LOGGER.warning("Habitus could not calibrate the base anomaly threshold: %r", err)
            return
        if self._scorer.calibrate(bundle, calibration):
            self.runs += 1
            _LOGGER.debug(
                "Base threshold on %d home sequences: %s", calibration.sequences, calibration.threshold
            )
