"""Shared steps of the live tests: a frozen local time the base models judge, and real state changes.

The shipped base models (SmartThings FR) see time as (weekday, 3-hour bucket). The tests run on a
Wednesday at 03:05 US/Pacific (the test HA's zone): bucket 1, where the FR TransAE scores an air
conditioner switched on and off (``NORMAL``; FR's raw trn holds 15 sequences with the air conditioner in
that bucket) about 0.19-0.28 and a water valve opened with a siren sounding (``UNUSUAL``) about 2.7-3.2,
against its threshold 2.62 (measured with ``live_models.load_base_bundle``, not tuned on anything). Both
hold for the file ``build-assets`` makes with the hub's held-out validation too (not shipped: 0.05-0.09
and 3.0-3.6 against 0.32; docs/BENCHMARKS.md, "Base models validated as the hub does").
A lamp switched on and off, the former ``NORMAL`` (0.81-1.34), is unusual for FR (Light: 1.3 % of its
trn behaviours) and flagged by that file.

The base models raise no anomaly before their threshold is calibrated on the home's own sequences
(``base_calibration.py``): ``calibrate_on_regular_home`` stores enough days of ``home_helpers``' regular
home and calibrates; the base TransAE then scores those routines 0.5-1.8 (whole sequences) and the
threshold, the percentile of each sequence's highest reading after any of its behaviours, is about 2.1,
between ``NORMAL`` and ``UNUSUAL`` as the file's own was.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.persistent_notification import Notification, _async_get_or_create_notifications
from homeassistant.core import Context, HomeAssistant

from custom_components.habitus.const import DOMAIN
from custom_components.habitus.engine.calibration import MIN_CALIBRATION_SEQUENCES
from custom_components.habitus.live_models import Calibration, LiveScore, ModelBundle, ThresholdSource
from custom_components.habitus.runtime import HabitusConfigEntry
from custom_components.habitus.scoring import LiveScorer
from custom_components.habitus.scoring_thread import THREAD_NAME_PREFIX

from .home_helpers import ROUTINES, store_regular_home

WEDNESDAY_0305_PACIFIC = "2026-11-18 11:05:00+00:00"
USER = Context(user_id="u")
DEVICES = {"valve.main": "closed", "siren.hall": "off", "climate.living": "off", "humidifier.bath": "off"}
UNUSUAL = (("valve.main", "open"), ("siren.hall", "on"), ("siren.hall", "off"), ("valve.main", "closed"))
NORMAL = (("climate.living", "cool"), ("climate.living", "off"))
# Days of the regular home that calibrate the base threshold (one sequence per routine a day).
CALIBRATION_DAYS = math.ceil(MIN_CALIBRATION_SEQUENCES / len(ROUTINES)) + 1


def start(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Freeze the clock at Wednesday 03:05 local and create the devices (before Habitus is set up)."""
    freezer.move_to(WEDNESDAY_0305_PACIFIC)
    for entity_id, state in DEVICES.items():
        hass.states.async_set(entity_id, state)


async def act(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, changes: tuple[tuple[str, str], ...]
) -> None:
    """Apply user changes 20 s apart and wait for scoring (background tasks) to finish."""
    for entity_id, state in changes:
        freezer.tick(timedelta(seconds=20))
        hass.states.async_set(entity_id, state, context=USER)
        await hass.async_block_till_done(wait_background_tasks=True)


async def new_sequence(hass: HomeAssistant, freezer: FrozenDateTimeFactory, minutes: float) -> None:
    """Let time pass (longer than the tests' 3-minute TSS gap, so the next change opens a sequence)."""
    freezer.tick(timedelta(minutes=minutes))
    await hass.async_block_till_done(wait_background_tasks=True)


def anomaly_notifications(hass: HomeAssistant) -> dict[str, Notification]:
    """Habitus's anomaly notifications shown now."""
    return {
        key: value
        for key, value in _async_get_or_create_notifications(hass).items()
        if key.startswith(f"{DOMAIN}_") and "_anomaly_" in key
    }


def scoring_threads() -> list[threading.Thread]:
    """The live scorers' threads running now (one per loaded entry)."""
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME_PREFIX)]


def live_scorer(entry: HabitusConfigEntry) -> LiveScorer:
    """The entry's live scorer (the live side must be set up)."""
    live = entry.runtime_data.live
    assert live is not None
    return live.scorer


def record_applied(scorer: LiveScorer) -> list[LiveScore]:
    """Pass-through spy on the scorer's ``_apply``: the readings the loop applied, in order."""
    applied: list[LiveScore] = []
    apply = scorer._apply

    def spy(results: Iterable[LiveScore]) -> None:
        results = list(results)
        applied.extend(results)
        apply(results)

    scorer._apply = spy  # type: ignore[method-assign]
    return applied


def burst(hass: HomeAssistant, freezer: FrozenDateTimeFactory, changes: Iterable[tuple[str, str]]) -> None:
    """State changes 20 s apart on the frozen clock, all before any scoring job returns."""
    for entity_id, state in changes:
        freezer.tick(timedelta(seconds=20))
        hass.states.async_set(entity_id, state, context=USER)


async def calibrate_on_regular_home(entry: HabitusConfigEntry) -> float:
    """Store ``CALIBRATION_DAYS`` of the regular home and calibrate the base threshold on them now (as
    the entry does when TSS closes sequences); the threshold."""
    live = entry.runtime_data.live
    assert live is not None
    store_regular_home(entry, CALIBRATION_DAYS)
    await live.calibrator.async_calibrate()
    bundle = live.scorer.bundle
    assert bundle is not None and bundle.threshold_source is ThresholdSource.HOME
    return bundle.threshold


def calibrated_at(bundle: ModelBundle, threshold: float, revision: int = 0) -> ModelBundle:
    """A base bundle calibrated at ``threshold`` on a home that has done every action it knows (so it
    may predict any of them, as an uncalibrated one does)."""
    every_action = frozenset(range(len(bundle.vocab.actions)))
    return replace(
        bundle, calibration=Calibration(MIN_CALIBRATION_SEQUENCES, threshold, revision, every_action)
    )


def calibrated_at_its_own_threshold(bundle: ModelBundle, revision: int = 0) -> ModelBundle:
    """A base bundle that alerts at its file's threshold (scoring tests that call the models directly)."""
    return calibrated_at(bundle, bundle.threshold, revision)


def serve_calibrated_at_its_own_threshold(entry: HabitusConfigEntry) -> None:
    """The entry's base models alert at their file's threshold, as if calibrated on the sequences stored
    so far, until TSS closes another (for a test whose stored sequences must stay its own)."""
    live = entry.runtime_data.live
    assert live is not None and live.scorer.bundle is not None
    revision = entry.runtime_data.learner.store.sequences_total
    served = live.scorer.bundle
    assert live.scorer.calibrate(served, calibrated_at_its_own_threshold(served, revision).calibration)  # type: ignore[arg-type]
