"""Live scoring off the loop: coalesced executor jobs, every behaviour scored once and in order.

The scorer hands the open sequence to the executor; behaviours that arrive while a job runs are
scored together by the next job (``scoring.score_snapshots``). These tests drive real state changes
through a real HA with the shipped base models (see ``live_helpers`` for the time and devices).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.habitus.engine.behaviour import Behaviour
from custom_components.habitus.live_models import (
    ModelBundle,
    calibrate_base,
    load_base_bundle,
    score_open_sequence,
)
from custom_components.habitus.scoring import READING_REFRESH_SECONDS, Snapshot, score_snapshots

from .conftest import SetupHabitus
from .home_helpers import ROUTINES
from .live_helpers import (
    NORMAL,
    UNUSUAL,
    act,
    anomaly_notifications,
    burst,
    calibrate_on_regular_home,
    calibrated_at_its_own_threshold,
    live_scorer,
    record_applied,
    start,
)

OPTIONS = {"max_gap_hours": 0.05}  # a 3-minute TSS gap
HOUR = datetime(2026, 11, 18, 11, 5, tzinfo=UTC).timestamp() / 3600  # Wednesday 03:05 US/Pacific


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return calibrated_at_its_own_threshold(load_base_bundle())


@pytest.fixture
def pacific() -> Iterator[None]:
    """The time zone the helpers' hours are judged in (the test HA's), restored afterwards."""
    before = dt_util.get_default_time_zone()
    dt_util.set_default_time_zone(dt_util.get_time_zone("US/Pacific"))  # type: ignore[arg-type]
    yield
    dt_util.set_default_time_zone(before)


ACTIONS = {  # what ingest makes of the helpers' state changes
    ("valve.main", "open"): "WaterValve:valve open",
    ("valve.main", "closed"): "WaterValve:valve close",
    ("siren.hall", "on"): "Siren:alarm both",
    ("siren.hall", "off"): "Siren:alarm off",
    ("climate.living", "cool"): "AirConditioner:switch on",
    ("climate.living", "off"): "AirConditioner:switch off",
}


def _behaviours(changes: Iterable[tuple[str, str]], start_hour: float) -> list[Behaviour]:
    return [
        Behaviour(time=start_hour + i * 20 / 3600, device=entity, action=ACTIONS[entity, state])
        for i, (entity, state) in enumerate(changes)
    ]


@pytest.mark.usefixtures("pacific")
def test_base_models_predict_only_actions_this_home_has_done() -> None:
    """Calibrated on the home's sequences, the FR base models predict none of FR's other actions."""
    base = load_base_bundle()
    home = [
        [Behaviour(HOUR - 24 * d + hour + i / 60, dev, act, "user") for i, (dev, act) in enumerate(steps)]
        for d in range(1, 4)
        for hour, steps in ROUTINES
    ]
    home_actions = {act for _, steps in ROUTINES for _, act in steps} & set(base.vocab.actions)
    calibration = calibrate_base(base, home, revision=1)
    assert {base.vocab.actions[i] for i in calibration.actions} == home_actions
    served = replace(base, calibration=calibration)
    now = _behaviours(NORMAL, HOUR)  # the air conditioner: in FR's vocabulary, not in the home's past
    uncalibrated = score_open_sequence(base, now[0].time, now, len(now))
    assert {a for a, _ in uncalibrated.top_k} - home_actions - set(ACTIONS.values())  # FR's own actions
    got = score_open_sequence(served, now[0].time, now, len(now))
    assert got.top_k and {a for a, _ in got.top_k} <= home_actions | {b.action for b in now}
    ranked = [a for a, _ in uncalibrated.top_k if a in home_actions | {b.action for b in now}]
    assert [a for a, _ in got.top_k][: len(ranked)] == ranked  # the same ranking, filtered
    batch = score_snapshots(served, [(now[0].time, now, len(now))], frozenset(), {})
    assert batch[0].top_k == got.top_k  # the batched path filters alike


@pytest.mark.usefixtures("pacific")
def test_a_batch_scores_each_snapshot_like_one_call_per_behaviour(bundle: ModelBundle) -> None:
    """``score_snapshots`` over many snapshots == ``score_open_sequence`` on each one alone."""
    first = _behaviours(UNUSUAL, HOUR)
    unknown = Behaviour(time=HOUR + 1.1, device="humidifier.bath", action="Humidifier:switch on")
    second = [*_behaviours(NORMAL + NORMAL, HOUR + 1.0), unknown]
    snapshots: list[Snapshot] = [(first[0].time, first[: i + 1], i + 1) for i in range(len(first))]
    snapshots += [(second[0].time, second[: i + 1], i + 1) for i in range(len(second))]
    unknown_only = [Behaviour(time=HOUR + 2.0, device="humidifier.bath", action="Humidifier:switch on")]
    snapshots.append((unknown_only[0].time, unknown_only, 1))
    batch = score_snapshots(bundle, snapshots, frozenset({first[0].time}), {})
    assert len(batch) == len(snapshots)
    anomalies = 0
    for snapshot, got in zip(snapshots, batch, strict=True):
        alone = score_open_sequence(bundle, *snapshot, explain=True)
        assert (got.key, got.length, got.unknown, got.behaviours, got.earlier) == (
            alone.key,
            alone.length,
            alone.unknown,
            alone.behaviours,
            alone.earlier,
        )
        if alone.score is None:
            assert got.score is None and got.top_k == ()
            continue
        assert got.score == pytest.approx(alone.score, abs=1e-5)
        assert [a for a, _ in got.top_k] == [a for a, _ in alone.top_k]
        assert [p for _, p in got.top_k] == pytest.approx([p for _, p in alone.top_k], abs=1e-3)
        last_of_first = snapshot is snapshots[len(first) - 1]
        if got.anomalous:
            anomalies += 1
            # explained: the first anomalous reading of the sequence, as the alert needs, and its last
            # reading in the job, which its notification is rewritten with
            explained = anomalies == 1 or last_of_first
            assert got.most_surprising == (alone.most_surprising if explained else None)
    assert anomalies >= 2  # the valve and siren at 03:05 are unusual for the FR models
    followed = score_snapshots(bundle, snapshots, frozenset(), {}, frozenset({second[0].time}))
    # the sequence whose notification is shown: its last reading is explained (if it has a score)
    assert [r.most_surprising is not None for r in followed] == [
        i == len(snapshots) - 2 for i in range(len(snapshots))
    ]


async def test_a_burst_is_scored_in_few_jobs_each_behaviour_once_in_order(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    scorer = live_scorer(entry)
    applied = record_applied(scorer)
    jobs = scorer.jobs
    trained_on = hass.states.get("sensor.habitus_model_trained_on")
    changes = NORMAL * 4  # 8 behaviours of one sequence, all before the first job returns
    burst(hass, freezer, changes)
    await hass.async_block_till_done(wait_background_tasks=True)
    after = hass.states.get("sensor.habitus_model_trained_on")
    assert trained_on is not None and after is not None
    assert after.last_reported == trained_on.last_reported  # readings rewrite only their entities
    assert [r.length for r in applied] == list(range(1, len(changes) + 1))  # each once, in order
    assert len({r.key for r in applied}) == 1
    assert scorer.scored == len(changes)
    assert scorer.jobs - jobs < len(changes)  # coalesced: the first job, then one for the rest
    assert scorer.result is applied[-1]
    state = hass.states.get("sensor.habitus_anomaly_score")  # the first reading was shown at once...
    assert state is not None and state.attributes["sequence_length"] == 1
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=READING_REFRESH_SECONDS))
    await hass.async_block_till_done()  # ...the burst's last one after the refresh interval
    state = hass.states.get("sensor.habitus_anomaly_score")
    assert state is not None and float(state.state) == pytest.approx(applied[-1].score, abs=1e-4)
    assert state.attributes["sequence_length"] == len(changes)


async def test_an_anomalous_sequence_in_a_burst_still_alerts_once(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    scorer = live_scorer(entry)
    applied = record_applied(scorer)
    burst(hass, freezer, UNUSUAL)
    freezer.tick(timedelta(minutes=10))  # the next behaviour opens a new sequence
    burst(hass, freezer, NORMAL)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [r.length for r in applied] == [1, 2, 3, 4, 1, 2]
    assert any(r.anomalous for r in applied[:4])
    assert len(anomaly_notifications(hass)) == 1  # the closed unusual sequence was still reported
    event = hass.states.get("event.habitus_anomaly")
    assert event is not None and set(event.attributes["devices"]) <= {"valve.main", "siren.hall"}
    assert event.attributes["most_surprising"] is not None
    assert scorer.result is applied[-1] and scorer.result.key != applied[0].key  # the open one shows
    binary = hass.states.get("binary_sensor.habitus_anomaly")
    assert binary is not None and binary.state == "off"


async def test_a_reading_of_a_sequence_closed_meanwhile_alerts_but_is_not_shown(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    scorer = live_scorer(entry)
    applied = record_applied(scorer)
    burst(hass, freezer, UNUSUAL)
    await asyncio.sleep(0)  # the state listeners run: a scoring job starts, the rest wait for it
    assert scorer._running
    entry.runtime_data.learner.close_if_idle(dt_util.utcnow() + timedelta(minutes=10))  # closes it
    assert not entry.runtime_data.learner.open_sequence
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [r.length for r in applied] == [1, 2, 3, 4]
    [notification] = anomaly_notifications(hass).values()  # the alert stands, with all 4 behaviours
    assert notification["message"].count("\n- ") == 4
    assert scorer.last_anomaly is applied[-1]  # its latest reading ("that was me" stores all of it)
    assert scorer.result is None and not scorer.anomaly_active  # but it is no open sequence's reading
    for entity_id, shown in (
        ("binary_sensor.habitus_anomaly", "off"),
        ("sensor.habitus_anomaly_score", "unknown"),
    ):
        state = hass.states.get(entity_id)
        assert state is not None and state.state == shown, entity_id


async def test_unload_while_a_job_runs_writes_nothing_late(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    scorer = live_scorer(entry)
    await act(hass, freezer, NORMAL)
    scored = scorer.scored
    burst(hass, freezer, UNUSUAL)
    await asyncio.sleep(0)  # the listeners run: a job is in flight, the rest pending
    assert scorer._running
    with caplog.at_level(logging.WARNING):
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert scorer.scored == scored  # the job's result was dropped
    assert anomaly_notifications(hass) == {}
    for entity_id in ("sensor.habitus_anomaly_score", "binary_sensor.habitus_anomaly"):
        state = hass.states.get(entity_id)
        assert state is not None and state.state == "unavailable", entity_id
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "habitus" in r.name]


async def test_a_swap_during_a_job_scores_its_behaviours_again_with_the_new_models(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    scorer = live_scorer(entry)
    await act(hass, freezer, NORMAL)  # an open sequence of 2
    new = await hass.async_add_executor_job(load_base_bundle)
    applied = record_applied(scorer)
    burst(hass, freezer, UNUSUAL)
    await asyncio.sleep(0)  # one job in flight (length 3), three snapshots pending (4, 5, 6)
    assert scorer._running
    scorer.swap_models(new)
    assert scorer.bundle is new
    await hass.async_block_till_done(wait_background_tasks=True)
    # the old job's reading was dropped, its snapshot rescored by the new models; the swap's own
    # rescore of the open sequence was already pending (length 6): each behaviour once, in order
    assert [r.length for r in applied] == [3, 4, 5, 6]
    assert scorer.result is applied[-1]
