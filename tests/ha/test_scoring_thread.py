"""Live scoring's own thread and the throttled reading refresh, in a real HA with the base models.

The scorer runs its jobs in one long-lived thread per entry (``scoring_thread.py``) instead of HA's
executor, and rewrites the reading entities at most every ``READING_REFRESH_SECONDS`` (at once when
the anomaly state flips). These tests check what that must keep: the thread lives exactly as long as
the entry, a failing job is logged and scoring goes on, every behaviour is still scored once and in
order, and alerts are not delayed by the refresh throttle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.habitus import scoring
from custom_components.habitus.live_const import signal_reading
from custom_components.habitus.live_models import LiveScore
from custom_components.habitus.scoring import READING_REFRESH_SECONDS

from .conftest import SetupHabitus
from .live_helpers import (
    NORMAL,
    UNUSUAL,
    act,
    anomaly_notifications,
    burst,
    calibrate_on_regular_home,
    live_scorer,
    new_sequence,
    record_applied,
    scoring_threads,
    start,
)

OPTIONS = {"max_gap_hours": 0.05}  # a 3-minute TSS gap
SCORE = "sensor.habitus_anomaly_score"


def _count_refreshes(hass: HomeAssistant, entry_id: str) -> list[None]:
    """One item per refresh of the reading entities (``signal_reading``) from now on."""
    refreshes: list[None] = []

    @callback
    def refreshed() -> None:
        refreshes.append(None)

    async_dispatcher_connect(hass, signal_reading(entry_id), refreshed)
    return refreshes


async def test_the_thread_lives_as_long_as_the_entry(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    assert scoring_threads() == []
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    (thread,) = scoring_threads()
    assert thread.name.endswith(entry.entry_id) and not thread.daemon
    await act(hass, freezer, NORMAL)
    assert live_scorer(entry).scored == 2
    for _ in range(3):  # a reload replaces the thread, never adds one
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        (new,) = scoring_threads()
        assert new is not thread and not thread.is_alive()
        thread = new
    burst(hass, freezer, UNUSUAL)  # unload with jobs queued: they end, then the thread
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert scoring_threads() == [] and not thread.is_alive()


async def test_ha_stop_stops_the_thread(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    await setup_habitus(OPTIONS)
    await act(hass, freezer, NORMAL)
    assert len(scoring_threads()) == 1
    await hass.async_stop()  # HA does not unload entries when it stops
    assert scoring_threads() == []


@pytest.mark.parametrize(
    "case",
    [
        (ValueError("bad model pair"), logging.WARNING, "could not score"),
        (ZeroDivisionError("a bug"), logging.ERROR, "live scoring failed"),
    ],
    ids=["expected", "unexpected"],
)
async def test_a_failing_job_is_logged_and_scoring_goes_on(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    case: tuple[Exception, int, str],
) -> None:
    error, level, message = case
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    scorer = live_scorer(entry)
    real: Callable[..., list[LiveScore]] = scoring.score_snapshots
    calls = 0

    def fails_once(*args: Any) -> list[LiveScore]:  # raised in the scoring thread
        nonlocal calls
        calls += 1
        if calls == 1:
            raise error
        return real(*args)

    applied = record_applied(scorer)
    with caplog.at_level(logging.WARNING), patch.object(scoring, "score_snapshots", fails_once):
        await act(hass, freezer, NORMAL)
        await new_sequence(hass, freezer, minutes=10)
        await act(hass, freezer, UNUSUAL)
    logged = [r for r in caplog.records if r.name == scoring.__name__ and message in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == level
    assert (logged[0].exc_info is not None) == (level == logging.ERROR)  # a bug comes with its traceback
    assert [r.length for r in applied] == [2, 1, 2, 3, 4]  # the first behaviour's job failed, no other
    assert len(scoring_threads()) == 1 and scorer.jobs == 6
    assert len(anomaly_notifications(hass)) == 1  # the thread still serves: the anomaly alerted


async def test_a_burst_refreshes_the_reading_twice_and_alerts_at_once(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    scorer = live_scorer(entry)
    applied = record_applied(scorer)
    refreshes = _count_refreshes(hass, entry.entry_id)
    burst(hass, freezer, NORMAL * 5)  # 14 behaviours in one instant: a normal sequence of 10...
    freezer.tick(timedelta(minutes=10))
    burst(hass, freezer, UNUSUAL)  # ...then an unusual one (open at the end)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [r.length for r in applied] == [*range(1, 11), *range(1, 5)]  # each once, in order
    assert not any(r.anomalous for r in applied[:10]) and applied[-1].anomalous
    assert len(anomaly_notifications(hass)) == 1  # alerted at once, not after the refresh interval
    binary = hass.states.get("binary_sensor.habitus_anomaly")
    assert binary is not None and binary.state == "on"  # the flip was shown at once too
    assert len(refreshes) == 2  # 14 readings, two refreshes: the first reading, then the flip
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=READING_REFRESH_SECONDS))
    await hass.async_block_till_done()
    state = hass.states.get(SCORE)
    assert state is not None and state.attributes["sequence_length"] == len(UNUSUAL)
    assert float(state.state) == pytest.approx(applied[-1].score, abs=1e-4)
    assert len(refreshes) == 2  # the flip showed the latest reading: no refresh was pending
