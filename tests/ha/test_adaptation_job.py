"""The adaptation job on a real HA: the real worker, the real ``synthesize`` job, the packaged Gemma 3 270M.

The home is the one of ``test_adaptation.py`` (three routines a day for 20 days, 60 stored sequences).
Budgets are small (one prompt, one epoch) so the whole file stays around two minutes. The only server
addresses used are on loopback: a closed port (LLM unreachable) and a real aiohttp server in the test
that answers every completion with text that is no sequence at all; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.habitus import adaptation_job
from custom_components.habitus.adaptation import (
    ISSUE_WORKER_CRASHED,
    MIN_HOLDOUT_SEQUENCES,
    Evaluation,
    is_better,
)
from custom_components.habitus.adaptation_job import AdaptationManager, Phase, signal_adaptation, training_set
from custom_components.habitus.const import (
    CONF_ADAPT_MODE,
    CONF_ADAPT_ON_SHIFT,
    CONF_LLM_BACKEND,
    CONF_LLM_SERVER_MODEL,
    CONF_LLM_SERVER_URL,
    CONF_QUIET_HOUR,
    DOMAIN,
    AdaptMode,
)
from custom_components.habitus.diagnostics import async_get_config_entry_diagnostics
from custom_components.habitus.engine.context_monitor import SEASONS, ShiftDetection, season_of
from custom_components.habitus.runtime import HabitusConfigEntry

from .conftest import SetupHabitus
from .home_helpers import store_regular_home

SENSOR = "sensor.habitus_adaptation"
CONTEXT = "a baby arrived; the nights are busy with feeding and nappy changes"


def _manager(entry: HabitusConfigEntry) -> AdaptationManager:
    manager = entry.runtime_data.adaptation_jobs
    assert manager is not None
    return manager


def _record(hass: HomeAssistant) -> list[tuple[str, int]]:
    """(state, progress) of every adaptation sensor write from now on."""
    seen: list[tuple[str, int]] = []

    @callback
    def _changed(event: Event[EventStateChangedData]) -> None:
        state = event.data["new_state"]
        if state is not None:
            seen.append((state.state, int(state.attributes.get("progress", -1))))

    async_track_state_change_event(hass, [SENSOR], _changed)
    return seen


async def _wait_for_phase(entry: HabitusConfigEntry, phase: Phase, seconds: float = 120.0) -> None:
    """Until the job is in ``phase`` with the worker busy on it."""
    manager, worker = _manager(entry), entry.runtime_data.worker
    assert worker is not None
    async with asyncio.timeout(seconds):
        while not (manager.phase is phase and worker.busy and worker.pid is not None):
            assert manager.running, manager.last_outcome
            await asyncio.sleep(0.05)


def _quiet_hour() -> tuple[int, datetime]:
    """A quiet hour 2-3 hours ahead (no earlier timer fired by the test reaches it), and when it comes.
    Three real hours: a local ``now() + 3 h`` adds wall-clock hours, only 1-2 real ones across the
    spring DST change."""
    when = dt_util.as_local(dt_util.utcnow() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    return when.hour, when


async def _stored_since(hass: HomeAssistant, entry: HabitusConfigEntry, day: date) -> int:
    """How many stored sequences started on or after local midnight of ``day``."""
    since = dt_util.start_of_local_day(day).timestamp() / 3600.0
    stored = await hass.async_add_executor_job(entry.runtime_data.learner.store.sequences_snapshot())
    return sum(1 for seq in stored if seq and seq[0].time >= since)


async def _adapt(hass: HomeAssistant, **data: Any) -> None:
    await hass.services.async_call(DOMAIN, "adapt", data, blocking=True)


async def test_adapt_synthesizes_with_gemma_trains_evaluates_and_reports_on_the_sensor(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    live = entry.runtime_data.live
    assert live is not None and live.scorer.bundle is not None
    champion = live.scorer.bundle
    store_regular_home(entry, days=20)
    assert hass.states.get(SENSOR).state == "idle"  # type: ignore[union-attr]
    seen = _record(hass)

    await _adapt(hass, context=CONTEXT, mode="augment", epochs=1, max_prompts=1)
    manager = _manager(entry)
    assert manager.running and manager.trigger == "service"
    with pytest.raises(ServiceValidationError) as second:
        await _adapt(hass, context="again", max_prompts=1)
    assert second.value.translation_key == "adaptation_running"
    with pytest.raises(ServiceValidationError) as retrain:
        await hass.services.async_call(DOMAIN, "retrain", {"epochs": 1}, blocking=True)
    assert retrain.value.translation_key == "adaptation_running"
    await hass.async_block_till_done(wait_background_tasks=True)

    # The free text is the new environment of the prompt's scene (a custom shift).
    assert manager.last_params["shift"]["kind"] == "custom"
    assert manager.last_params["shift"]["new"] == CONTEXT
    assert manager.last_params["max_prompts"] == 1
    assert (
        manager.last_params["llm"]["backend"] == "local" and manager.last_params["llm"]["model_path"] is None
    )
    phases = [state for state, _p in seen]
    assert phases[0] == "preparing" and phases[-1] == "idle"
    for phase in ("synthesizing", "training", "evaluating"):
        assert phase in phases
    order = [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p]
    assert order == ["preparing", "synthesizing", "training", "evaluating", "idle"], order
    progress = [p for state, p in seen if state != "idle"]
    assert progress == sorted(progress) and progress[-1] >= 95 and len(set(progress)) > 3

    outcome = manager.last_outcome
    assert outcome["trigger"] == "service" and outcome["mode"] == "augment" and outcome["reason"]
    assert outcome["shift"]["new"] == CONTEXT
    assert outcome["synthesis"]["sequences_kept"] == outcome["synthetic_sequences"] >= 1
    # TOF per task: SASRec trains on the next-action test's set (reported when it differs)
    sasrec = outcome.get("synthetic_sequences_sasrec", outcome["synthetic_sequences"])
    assert outcome["synthesis"]["sequences_kept_bp"] == sasrec >= 1
    # augment: the real training split (48 of 60; the 12 most recent are held out) + synthetic + feedback
    assert outcome["real_sequences"] == 48 and outcome["held_out_sequences"] == 12
    assert outcome["train_sequences"] == 48 + outcome["synthetic_sequences"]
    assert manager.completed_jobs == 1 and not manager.running and manager.phase is Phase.IDLE
    assert outcome["loop_lag"]["samples"] > 0  # HA's loop was probed during the job (no timing asserted)
    assert entry.runtime_data.loop_lag is not None and not entry.runtime_data.loop_lag.running
    # Deployed exactly when the challenger beat the champion on the held-out real sequences.
    verdict, _why = is_better(
        Evaluation.from_metrics(outcome["challenger"]), Evaluation.from_metrics(outcome["champion"])
    )
    assert outcome["deployed"] is verdict
    served = live.scorer.bundle
    if verdict:
        assert served is not champion and served.info.version == outcome["version"]
    else:
        assert served is champion and outcome["version"] == champion.info.version
    state = hass.states.get(SENSOR)
    assert state is not None and state.attributes["completed_jobs"] == 1
    assert state.attributes["last_outcome"]["deployed"] is verdict


async def test_an_idle_sensor_shows_no_empty_attributes(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    """Before: a fresh idle sensor showed "Last outcome: {}" and "Trigger / Pending shift: Unknown"."""
    entry = await setup_habitus()
    state = hass.states.get(SENSOR)
    assert state is not None and state.state == "idle"
    assert state.attributes["progress"] == 0 and state.attributes["completed_jobs"] == 0
    for key in ("message", "trigger", "pending_shift", "last_outcome"):
        assert key not in state.attributes
    manager = _manager(entry)
    manager.pending_shift = ShiftDetection("seasonal", "winter", "summer", "the date")
    async_dispatcher_send(hass, signal_adaptation(entry.entry_id))
    await hass.async_block_till_done()
    state = hass.states.get(SENSOR)
    assert state is not None and state.attributes["pending_shift"] == "seasonal: winter -> summer"


def test_replace_with_too_few_synthetic_sequences_falls_back_to_augment_and_says_why() -> None:
    real, synthetic, feedback = [[(0, 1, 0, 0)]] * 30, [[(1, 2, 1, 1)]] * 3, [[(2, 3, 0, 1)]]
    extra: dict[str, Any] = {}
    training = training_set(AdaptMode.REPLACE, real, synthetic, feedback, extra)
    assert len(training) == 34 and extra["mode"] == "augment"
    assert "replace needs" in extra["mode_reason"] and "kept 3" in extra["mode_reason"]
    extra = {}
    many = [[(1, 2, 1, 1)]] * 12
    assert training_set(AdaptMode.REPLACE, real, many, feedback, extra) == many + feedback
    assert extra["mode"] == "replace" and extra["real_sequences"] == 0


async def test_a_detected_shift_waits_for_the_quiet_window_then_adapts_replacing_the_training_data(
    hass: HomeAssistant, setup_habitus: SetupHabitus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adaptation_job, "SHIFT_MAX_PROMPTS", 1)  # small budgets for the test
    monkeypatch.setattr(adaptation_job, "SCHEDULED_EPOCHS", 1)
    monkeypatch.setattr(adaptation_job, "MIN_SYNTHETIC_REPLACE", 1)  # one prompt yields a handful
    hour, quiet = _quiet_hour()
    entry = await setup_habitus({CONF_QUIET_HOUR: hour, CONF_ADAPT_MODE: "replace"})
    live = entry.runtime_data.live
    assert live is not None
    store_regular_home(entry, days=20)
    manager = _manager(entry)
    now = season_of(dt_util.now().date(), live.context.latitude)
    before = SEASONS[(SEASONS.index(now) + 2) % 4]
    live.store.monitor.acknowledge("seasonal", before)  # the models were adapted to another season

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=1, seconds=1))  # hourly check
    await hass.async_block_till_done()
    assert manager.pending_shift is not None and manager.pending_shift.after == now
    since = dt_util.now().date() - timedelta(days=6)  # the monitor's recent window (7 days)
    assert manager.pending_shift.since == since
    assert not manager.running  # not at once: in the quiet window
    state = hass.states.get(SENSOR)
    assert state is not None and state.attributes["pending_shift"] == f"seasonal: {before} -> {now}"

    async_fire_time_changed(hass, dt_util.as_utc(quiet))
    await hass.async_block_till_done()
    assert manager.running and manager.trigger == "shift"
    await hass.async_block_till_done(wait_background_tasks=True)

    assert manager.last_params["shift"]["kind"] == "seasonal"
    outcome = manager.last_outcome
    assert not outcome.get("failed"), outcome
    assert outcome["trigger"] == "shift" and manager.completed_jobs == 1
    # replace: trained on the synthetic sequences only, judged on the real ones since the shift
    assert outcome["mode"] == "replace" and "mode_reason" not in outcome and outcome["real_sequences"] == 0
    assert outcome["train_sequences"] == outcome["synthetic_sequences"] >= 1
    assert outcome["evaluated_on"] == "since_shift"
    # 17-20 stored since the shift: held out, the most recent 20 % of the 60 (all of them since then)
    assert await _stored_since(hass, entry, since) >= 15 and outcome["held_out_sequences"] == 12
    # adapted: the new season is the monitor's baseline, nothing is pending any more
    assert manager.pending_shift is None and live.store.monitor.baseline["seasonal"] == now


async def test_cancel_mid_synthesis_keeps_the_champion_and_the_worker_usable(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    live = entry.runtime_data.live
    assert live is not None
    champion = live.scorer.bundle
    store_regular_home(entry, days=20)
    manager = _manager(entry)
    await _adapt(hass, context=CONTEXT, max_prompts=8)
    await _wait_for_phase(entry, Phase.SYNTHESIZING)
    assert hass.states.get(SENSOR).state == "synthesizing"  # type: ignore[union-attr]

    await hass.services.async_call(DOMAIN, "cancel_adaptation", {}, blocking=True)
    assert not manager.running and manager.phase is Phase.IDLE
    assert hass.states.get(SENSOR).state == "idle"  # type: ignore[union-attr]
    assert manager.last_outcome["cancelled"] is True and manager.completed_jobs == 0
    assert live.scorer.bundle is champion
    with pytest.raises(ServiceValidationError) as nothing:
        await hass.services.async_call(DOMAIN, "cancel_adaptation", {}, blocking=True)
    assert nothing.value.translation_key == "no_adaptation_running"
    worker = entry.runtime_data.worker
    assert worker is not None
    assert (await worker.run("describe", {}))["pid"] == worker.pid  # the worker serves the next job


async def test_unload_during_synthesis_cancels_the_job_cleanly(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    store_regular_home(entry, days=20)
    await _adapt(hass, context=CONTEXT, max_prompts=8)
    manager, worker, state = _manager(entry), entry.runtime_data.worker, entry.runtime_data.adaptation
    assert worker is not None
    await _wait_for_phase(entry, Phase.SYNTHESIZING)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert not manager.running and manager.phase is Phase.IDLE
    assert state.last_outcome["cancelled"] is True
    assert worker.pid is None and not worker.busy


async def test_a_worker_crash_during_synthesis_keeps_the_champion_and_raises_a_repair_issue(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    live = entry.runtime_data.live
    assert live is not None
    champion = live.scorer.bundle
    store_regular_home(entry, days=20)
    await _adapt(hass, context=CONTEXT, max_prompts=8)
    await _wait_for_phase(entry, Phase.SYNTHESIZING)
    worker = entry.runtime_data.worker
    assert worker is not None and worker.pid is not None
    killed = worker.pid
    os.kill(killed, signal.SIGKILL)
    await hass.async_block_till_done(wait_background_tasks=True)
    manager = _manager(entry)
    outcome = manager.last_outcome
    assert outcome["failed"] is True and outcome["deployed"] is False
    assert outcome["version"] == champion.info.version  # type: ignore[union-attr]
    assert "synthesis failed" in outcome["reason"] and "SIGKILL" in outcome["reason"]
    assert live.scorer.bundle is champion and manager.completed_jobs == 0
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_WORKER_CRASHED) is not None
    # HA and the entry run on: the next job gets a fresh worker, completes, and clears the issue
    await hass.services.async_call(DOMAIN, "retrain", {"epochs": 1}, blocking=True)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert manager.completed_jobs == 1 and not manager.last_outcome.get("failed"), manager.last_outcome
    assert worker.pid != killed  # a fresh child (or none left running)
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_WORKER_CRASHED) is None


async def test_an_unreachable_llm_server_is_a_failed_outcome_with_a_reason(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus(
        {
            CONF_LLM_BACKEND: "server",
            CONF_LLM_SERVER_URL: "http://127.0.0.1:9/v1",  # loopback, nothing listens: unreachable
            CONF_LLM_SERVER_MODEL: "gemma-3-270m",
        }
    )
    live = entry.runtime_data.live
    assert live is not None
    champion = live.scorer.bundle
    store_regular_home(entry, days=20)
    await _adapt(hass, max_prompts=1)
    await hass.async_block_till_done(wait_background_tasks=True)
    manager = _manager(entry)
    assert manager.last_params["llm"]["server_url"] == "http://127.0.0.1:9/v1"
    outcome = manager.last_outcome
    assert outcome["failed"] is True and outcome["deployed"] is False
    assert "synthesis failed" in outcome["reason"]
    assert live.scorer.bundle is champion and manager.phase is Phase.IDLE
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_WORKER_CRASHED) is None  # not a crash


async def test_adapt_with_too_little_data_is_refused_at_once(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    store_regular_home(entry, days=3)
    with pytest.raises(ServiceValidationError) as caught:
        await _adapt(hass, context=CONTEXT)
    assert caught.value.translation_key == "too_little_data"
    assert not _manager(entry).running and hass.states.get(SENSOR).state == "idle"  # type: ignore[union-attr]


async def test_retrain_runs_as_a_job_without_synthesis(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    store_regular_home(entry, days=20)
    seen = _record(hass)
    await hass.services.async_call(DOMAIN, "retrain", {"epochs": 1}, blocking=True)
    await hass.async_block_till_done(wait_background_tasks=True)
    manager = _manager(entry)
    order = [p for i, (p, _x) in enumerate(seen) if i == 0 or seen[i - 1][0] != p]
    assert order == ["preparing", "training", "evaluating", "idle"], order
    assert manager.completed_jobs == 1 and "synthesis" not in manager.last_outcome
    assert manager.last_outcome["train_sequences"] == 48
    assert manager.last_outcome["evaluated_on"] == "recent"  # no shift: the most recent 20 %
    assert manager.last_outcome["held_out_sequences"] == 12


@pytest.mark.parametrize(
    ("since_days_ago", "evaluated_on"),
    [(3, "since_shift"), (0, "recent"), (None, "recent")],
    ids=["enough_since_the_shift", "too_few_since_the_shift", "detection_without_since"],
)
async def test_a_shift_job_is_judged_on_the_sequences_since_the_shift_when_there_are_enough(
    hass: HomeAssistant, setup_habitus: SetupHabitus, since_days_ago: int | None, evaluated_on: str
) -> None:
    """The regular home's 60 sequences end yesterday (UTC): a shift since 3 days before today (UTC)
    gives 8-9 since its local midnight (under the cap, the most recent 20 %: 12), since today none (the
    20 % rule: 12), and a detection without ``since`` (as one built before the field existed) the 20 %
    rule too. The day is the UTC one the home's days are aligned to, not the local one: with the test
    HA's US/Pacific, local today is yesterday (UTC) before 07:00/08:00 UTC, and 3 local days back then
    held 11 (winter) or 12 (summer: the 07:00 routine starts at local midnight; over the cap)."""
    entry = await setup_habitus()
    live = entry.runtime_data.live
    assert live is not None
    store_regular_home(entry, days=20)
    today = dt_util.utcnow().date()  # the day store_regular_home's days end before, whatever the hour
    since = None if since_days_ago is None else today - timedelta(days=since_days_ago)
    detection = ShiftDetection("occupancy", "single", "multiple", "median 3", since)
    manager = _manager(entry)
    manager.async_start(
        adaptation_job.AdaptRequest(
            trigger=adaptation_job.Trigger.SHIFT, synthesize=False, detection=detection, epochs=1
        )
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    outcome = manager.last_outcome
    assert not outcome.get("failed"), outcome
    assert outcome["trigger"] == "shift" and outcome["evaluated_on"] == evaluated_on
    held_out = await _stored_since(hass, entry, since) if since is not None else 0
    if evaluated_on == "recent":
        assert held_out == 0 < MIN_HOLDOUT_SEQUENCES
        assert outcome["held_out_sequences"] == 12 and outcome["train_sequences"] == 48
    else:  # held out from training: trained on the older ones only
        assert held_out in (8, 9) and outcome["held_out_sequences"] == held_out  # 9 in summer time
        assert outcome["train_sequences"] == 60 - held_out
    assert live.store.monitor.baseline["occupancy"] == "multiple"  # adapted to the detected context


async def test_the_quiet_window_trains_the_homes_own_models_while_the_base_ones_serve(
    hass: HomeAssistant, setup_habitus: SetupHabitus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adaptation_job, "SCHEDULED_EPOCHS", 1)  # a quick training
    hour, quiet = _quiet_hour()
    entry = await setup_habitus({CONF_QUIET_HOUR: hour})
    live = entry.runtime_data.live
    assert live is not None and live.scorer.bundle is not None
    assert live.scorer.bundle.info.source == "base"
    store_regular_home(entry, days=20)
    manager = _manager(entry)
    async_fire_time_changed(hass, dt_util.as_utc(quiet - timedelta(hours=1)))  # not the quiet hour
    await hass.async_block_till_done()
    assert not manager.running
    async_fire_time_changed(hass, dt_util.as_utc(quiet))
    await hass.async_block_till_done()
    assert manager.running and manager.trigger == "schedule"
    await hass.async_block_till_done(wait_background_tasks=True)
    outcome = manager.last_outcome
    assert outcome["trigger"] == "schedule" and "synthesis" not in outcome and manager.completed_jobs == 1
    if outcome["deployed"]:  # the home's own models serve now: the next quiet window leaves them be
        assert live.scorer.bundle.info.source == "home"
        async_fire_time_changed(hass, dt_util.as_utc(quiet + timedelta(days=1)))
        await hass.async_block_till_done()
        assert not manager.running


async def test_no_shift_is_scheduled_when_adapt_on_shift_is_off(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus({CONF_ADAPT_ON_SHIFT: False})
    live = entry.runtime_data.live
    assert live is not None
    now = season_of(dt_util.now().date(), live.context.latitude)
    live.store.monitor.acknowledge("seasonal", SEASONS[(SEASONS.index(now) + 1) % 4])
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=1, seconds=1))
    await hass.async_block_till_done()
    assert _manager(entry).pending_shift is None and not _manager(entry).running
    assert live.store.monitor.detect(dt_util.now().date(), live.context.latitude)  # there was one to see


def test_synthetic_sequences_outside_the_vocabulary_are_dropped() -> None:
    raw = [[[0, 1, 0, 1]], [[0, 1, 2, 0]], [[7, 0, 0, 0]], [], "x", [[0, 1, 1, 1], [6, 7, 0, 0]]]
    assert adaptation_job._valid(raw, n_devices=2, n_actions=2) == [
        [(0, 1, 0, 1)],
        [(0, 1, 1, 1), (6, 7, 0, 0)],
    ]
    assert adaptation_job._valid(None, 2, 2) == []


def test_the_prompt_describes_the_current_context_and_the_detected_shift() -> None:
    current = {"season": "autumn", "schedule": "night", "occupancy": "multiple", "people_home": 2}
    assert adaptation_job.describe_context(current) == (
        "it is autumn; the household is active at night; several people are at home"
    )
    assert adaptation_job.describe_context({"schedule": "unknown"}) == "the household's usual routine"
    more = adaptation_job.detected_shift(ShiftDetection("occupancy", "multiple", "single", "median 1"))
    assert more.kind == "NT" and "single person" in more.new and "3 people" in more.original
    night = adaptation_job.shift_params(
        adaptation_job.detected_shift(ShiftDetection("schedule", "daytime", "night", "70% at night"))
    )
    assert night["kind"] == "schedule" and 0 in night["active_hours"] and 12 not in night["active_hours"]


async def test_a_job_record_survives_a_restart_and_shows_in_diagnostics(
    hass: HomeAssistant, setup_habitus: SetupHabitus
) -> None:
    entry = await setup_habitus()
    store_regular_home(entry, days=20)
    await hass.services.async_call(DOMAIN, "retrain", {"epochs": 1}, blocking=True)
    await hass.async_block_till_done(wait_background_tasks=True)
    outcome = dict(_manager(entry).last_outcome)
    assert _manager(entry).completed_jobs == 1 and outcome["finished"]

    assert await hass.config_entries.async_reload(entry.entry_id)  # unload writes, setup reads
    await hass.async_block_till_done(wait_background_tasks=True)
    manager = _manager(entry)
    assert manager.completed_jobs == 1 and manager.last_outcome == outcome
    state = hass.states.get(SENSOR)
    assert state is not None and state.state == "idle"
    assert state.attributes["completed_jobs"] == 1
    assert state.attributes["last_outcome"]["version"] == outcome["version"]

    manager.pending_shift = ShiftDetection("seasonal", "winter", "summer", "the date")
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    job = diagnostics["adaptation"]["job"]
    assert job["phase"] == "idle" and job["completed_jobs"] == 1 and job["running"] is False
    assert job["pending_shift"] == {"kind": "seasonal", "before": "winter", "after": "summer", "since": None}
    manager.pending_shift = ShiftDetection("seasonal", "winter", "summer", "the date", date(2026, 6, 1))
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["adaptation"]["job"]["pending_shift"]["since"] == "2026-06-01"
    assert diagnostics["adaptation"]["last_outcome"]["deployed"] is outcome["deployed"]


async def test_an_llm_answering_garbage_keeps_no_sequence_and_the_champion_serves(
    hass: HomeAssistant, setup_habitus: SetupHabitus, socket_enabled: None
) -> None:
    """A real OpenAI-style server on loopback whose every completion is prose, not a sequence."""
    requests: list[dict[str, Any]] = []

    async def _complete(request: web.Request) -> web.Response:
        requests.append(await request.json())
        text = "I am sorry, as a language model I cannot plan a household's week.\n"
        return web.json_response(
            {"choices": [{"text": text, "finish_reason": "stop"}], "usage": {"prompt_tokens": 9}}
        )

    app = web.Application()
    app.router.add_post("/v1/completions", _complete)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        entry = await setup_habitus(
            {
                CONF_LLM_BACKEND: "server",
                CONF_LLM_SERVER_URL: f"http://127.0.0.1:{port}/v1",
                CONF_LLM_SERVER_MODEL: "gemma-3-270m",
            }
        )
        live = entry.runtime_data.live
        assert live is not None
        champion = live.scorer.bundle
        store_regular_home(entry, days=20)
        await _adapt(hass, context=CONTEXT, max_prompts=1)
        await hass.async_block_till_done(wait_background_tasks=True)
    finally:
        await runner.cleanup()
    assert requests, "the worker never asked the server"
    manager = _manager(entry)
    outcome = manager.last_outcome
    assert outcome["failed"] is True and outcome["deployed"] is False
    assert "kept no valid sequence" in outcome["reason"] and "champion keeps serving" in outcome["reason"]
    assert outcome["version"] == champion.info.version  # type: ignore[union-attr]
    assert live.scorer.bundle is champion and manager.completed_jobs == 0
    assert hass.states.get(SENSOR).state == "idle"  # type: ignore[union-attr]
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_WORKER_CRASHED) is None
