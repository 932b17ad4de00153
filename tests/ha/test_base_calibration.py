"""Cold start in a real HA: the base TransAE raises nothing until its threshold is the home's own.

The shipped base models (SmartThings FR) serve a fresh entry; their threshold is calibrated on the
home's stored sequences (``base_calibration.py``) and no anomaly fires before
``MIN_CALIBRATION_SEQUENCES`` of them were scored. ``live_helpers`` gives the time and devices.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.habitus.adaptation import rollback
from custom_components.habitus.engine.calibration import MIN_CALIBRATION_SEQUENCES
from custom_components.habitus.live import LiveRuntime
from custom_components.habitus.live_models import ASSETS_DIR, load_base_bundle
from custom_components.habitus.runtime import HabitusConfigEntry

from .conftest import SetupHabitus
from .home_helpers import ROUTINES, store_regular_home
from .live_helpers import CALIBRATION_DAYS, NORMAL, UNUSUAL, act, anomaly_notifications, start

UNUSUAL_ACTIONS = ("WaterValve:valve open", "Siren:alarm both", "Siren:alarm off", "WaterValve:valve close")
NORMAL_ACTIONS = ("AirConditioner:switch on", "AirConditioner:switch off")
OPTIONS = {"max_gap_hours": 0.05}  # a 3-minute TSS gap: sequences close within a test
SCORE = "sensor.habitus_anomaly_score"


def _attrs(hass: HomeAssistant) -> dict[str, object]:
    state = hass.states.get(SCORE)
    assert state is not None
    return dict(state.attributes)


def _live(entry: HabitusConfigEntry) -> LiveRuntime:
    live = entry.runtime_data.live
    assert live is not None
    return live


async def _close_sequence(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Idle past the TSS gap: the idle check closes the open sequence (and the sensors refresh)."""
    freezer.tick(timedelta(minutes=10))
    async_fire_time_changed(hass, dt_util.utcnow())
    await hass.async_block_till_done(wait_background_tasks=True)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=2))  # the throttled refresh
    await hass.async_block_till_done(wait_background_tasks=True)


def _expected_threshold(entry: HabitusConfigEntry) -> float:
    """TransAE's 95th percentile, by hand, of the base model's highest score of every stored sequence
    over what live scoring read of it after each behaviour (the known ones among the last 20 so far)."""
    base = load_base_bundle()
    highest = []
    for seq in entry.runtime_data.learner.store.sequences():
        reads = [
            [r for r in map(base.vocab.raw, seq[max(0, end - 20) : end]) if r]
            for end in range(1, len(seq) + 1)
        ]
        if any(reads):
            highest.append(base.transae.score([r for r in reads if r], "numpy").max())
    return float(np.percentile(highest, 95.0))


async def test_no_anomaly_before_calibration_then_the_home_threshold_flags_only_the_unusual(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    attrs = _attrs(hass)
    assert attrs["threshold_source"] == "calibrating" and attrs["threshold"] is None
    assert (attrs["calibration_sequences"], attrs["calibration_needed"]) == (0, MIN_CALIBRATION_SEQUENCES)

    # Before calibration: the valve and siren are scored, but they raise nothing.
    await act(hass, freezer, UNUSUAL)
    assert float(hass.states.get(SCORE).state) > 0  # type: ignore[union-attr]
    assert hass.states.get("binary_sensor.habitus_anomaly").state == "off"  # type: ignore[union-attr]
    assert hass.states.get("event.habitus_anomaly").state == "unknown"  # type: ignore[union-attr]
    assert anomaly_notifications(hass) == {}
    await _close_sequence(hass, freezer)  # TSS closes it: the calibration counts it, still short
    assert (_attrs(hass)["threshold_source"], _attrs(hass)["calibration_sequences"]) == ("calibrating", 1)

    # The home's regular days are stored; a restart calibrates on them (nothing but the sequences is kept).
    store_regular_home(entry, CALIBRATION_DAYS)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    attrs = _attrs(hass)
    assert attrs["threshold_source"] == "home"
    assert attrs["calibration_sequences"] == CALIBRATION_DAYS * len(ROUTINES) + 1
    threshold = _expected_threshold(entry)
    assert attrs["threshold"] == pytest.approx(threshold, abs=1e-3)

    await act(hass, freezer, NORMAL)  # an air conditioner switched on and off: normal
    assert float(hass.states.get(SCORE).state) < threshold  # type: ignore[union-attr]
    # Next actions: only what this home has done (its stored sequences, the open one), none of FR's others.
    done = {a for _, steps in ROUTINES for _, a in steps} | set(UNUSUAL_ACTIONS) | set(NORMAL_ACTIONS)
    predicted = hass.states.get("sensor.habitus_next_action")
    assert predicted is not None and predicted.attributes["top_k"]
    assert {p["action"] for p in predicted.attributes["top_k"]} <= done
    assert hass.states.get("binary_sensor.habitus_anomaly").state == "off"  # type: ignore[union-attr]
    assert anomaly_notifications(hass) == {}
    await _close_sequence(hass, freezer)  # calibrated again with this sequence too
    assert _attrs(hass)["calibration_sequences"] == CALIBRATION_DAYS * len(ROUTINES) + 2
    threshold = _expected_threshold(entry)
    await act(hass, freezer, UNUSUAL)  # the valve and siren again: now an anomaly
    assert hass.states.get("binary_sensor.habitus_anomaly").state == "on"  # type: ignore[union-attr]
    event = hass.states.get("event.habitus_anomaly")
    assert event is not None and event.attributes["event_type"] == "anomaly_detected"
    assert float(event.attributes["threshold"]) == pytest.approx(threshold, abs=1e-3)
    assert len(anomaly_notifications(hass)) == 1


async def test_a_home_trained_model_uses_its_own_threshold_and_a_rollback_calibrates_again(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    live = _live(entry)
    store_regular_home(entry, CALIBRATION_DAYS)
    store = entry.runtime_data.learner.store
    assert list(store.sequences_reader(last=2)()) == store.sequences()[-2:]  # what calibration reads at most
    await live.calibrator.async_calibrate()
    await hass.async_block_till_done(wait_background_tasks=True)
    calibrated = _attrs(hass)["threshold"]
    assert _attrs(hass)["threshold_source"] == "home"

    # Deployed as this home's model (the FR files stand in for it): its own threshold, nothing calibrated.
    bundle = await live.async_deploy(
        hass, ASSETS_DIR / "transae_fr.npz", ASSETS_DIR / "sasrec_fr.npz", "home-1"
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    attrs = _attrs(hass)
    assert attrs["threshold_source"] == "model" and attrs["calibration_sequences"] is None
    assert attrs["threshold"] == round(float(bundle.transae.threshold_), 4)  # type: ignore[arg-type]
    runs = live.calibrator.runs
    await act(hass, freezer, NORMAL)
    await _close_sequence(hass, freezer)
    assert live.calibrator.runs == runs and live.scorer.bundle is bundle

    rollback(entry)  # back to the base models: calibrated on the home again
    await hass.async_block_till_done(wait_background_tasks=True)
    attrs = _attrs(hass)
    assert attrs["threshold_source"] == "home" and attrs["threshold"] == pytest.approx(calibrated, abs=0.2)
