"""A detected shift whose challenger is better only within the noise: kept pending, judged again later.

Real HA, the real worker and ``train_models`` (one epoch, no synthesis where the job is started
directly), the real live store across a reload. The guard's verdict is the one seam: its margin rule is
tested on real evaluations in ``test_adaptation.py`` (``is_better``, ``standard_errors``); here every
verdict held to the margin is "better, but within the noise", and the verdict without it is the real
rule's, so the tests see what the job does with such a verdict.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.habitus import adaptation
from custom_components.habitus.adaptation_job import (
    MAX_SHIFT_RETRIES,
    AdaptationManager,
    AdaptRequest,
    ShiftRetry,
    Trigger,
)
from custom_components.habitus.const import CONF_QUIET_HOUR
from custom_components.habitus.diagnostics import async_get_config_entry_diagnostics
from custom_components.habitus.engine.behaviour import Behaviour
from custom_components.habitus.engine.context_monitor import ShiftDetection
from custom_components.habitus.runtime import HabitusConfigEntry

from .conftest import SetupHabitus
from .home_helpers import store_regular_home
from .test_adaptation_job import SENSOR, _manager, _quiet_hour


def _within_the_noise(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every verdict held to the margin keeps the champion within the noise; without the margin the real
    rule decides. Returns the ``margin`` of each verdict, in order."""
    real = adaptation.is_better
    margins: list[bool] = []

    def judged(new: adaptation.Evaluation, old: adaptation.Evaluation, *, margin: bool = True) -> Any:
        margins.append(margin)
        if margin:
            return False, "better, but within the noise of the held-out sequences (test)"
        return real(new, old, margin=False)

    monkeypatch.setattr(adaptation, "is_better", judged)
    monkeypatch.setattr(
        adaptation, "within_noise", lambda _new, _old, deployed, *, margin: margin and not deployed
    )
    return margins


def _home_champion(entry: HabitusConfigEntry) -> None:
    """The serving models count as trained on this home (the margin protects only such a champion)."""
    live = entry.runtime_data.live
    assert live is not None and live.scorer.bundle is not None
    live.scorer.bundle.info = replace(live.scorer.bundle.info, source="home")


def _detection() -> ShiftDetection:
    """An occupancy shift three local days ago: 8-11 of the regular home's 60 sequences since then."""
    return ShiftDetection(
        "occupancy", "single", "multiple", "median 3", dt_util.now().date() - timedelta(days=3)
    )


async def _judge(
    hass: HomeAssistant, manager: AdaptationManager, detection: ShiftDetection
) -> dict[str, Any]:
    """One job for the pending ``detection`` (no synthesis, one epoch), as the quiet window runs it."""
    manager.async_start(AdaptRequest(trigger=Trigger.SHIFT, synthesize=False, detection=detection, epochs=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    outcome = manager.last_outcome
    assert not outcome.get("failed"), outcome
    return outcome


def _store_more(entry: HabitusConfigEntry, count: int) -> None:
    """``count`` more closed sequences today (after the regular home's), as the learner stores them."""
    store = entry.runtime_data.learner.store
    start = dt_util.start_of_local_day().timestamp() / 3600.0  # local midnight: before now, after yesterday
    now = dt_util.utcnow().timestamp() / 3600.0
    for i in range(count):
        at = start + i * 0.01
        store.add_sequence([Behaviour(at, "light.kitchen", "Light:switch on", "user")], now)


async def test_a_shift_challenger_within_the_noise_stays_pending_across_a_reload_until_more_sequences(
    hass: HomeAssistant, setup_habitus: SetupHabitus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept for now, not acknowledged, the sensor and the log say after how many more sequences; the
    pending shift survives a reload; the quiet window waits for those sequences, then runs the job."""
    margins = _within_the_noise(monkeypatch)
    hour, quiet = _quiet_hour()
    entry = await setup_habitus({CONF_QUIET_HOUR: hour})
    live = entry.runtime_data.live
    assert live is not None
    store_regular_home(entry, days=20)
    _home_champion(entry)
    champion = live.scorer.bundle
    manager = _manager(entry)
    detection = manager.pending_shift = _detection()

    outcome = await _judge(hass, manager, detection)
    held_out = outcome["held_out_sequences"]
    assert outcome["evaluated_on"] == "since_shift" and 8 <= held_out < 12 and margins == [True]
    assert outcome["deployed"] is False and outcome["within_noise"] is True and outcome["margin"] is True
    assert outcome["shift_pending"] is True and outcome["retry"] == 1
    assert outcome["rejudge_after_sequences"] == held_out
    assert outcome["reason"].endswith(
        f"kept for now: the occupancy shift stays pending and will be judged again after {held_out} more "
        f"sequences (retry 1 of {MAX_SHIFT_RETRIES})"
    )
    assert live.scorer.bundle is champion and manager.completed_jobs == 1
    # not acknowledged: the monitor's baseline is not the new context, the shift is still pending
    assert live.store.monitor.baseline.get("occupancy") != "multiple"
    assert manager.pending_shift == detection and manager.rejudge_after == held_out
    state = hass.states.get(SENSOR)
    assert state is not None and state.attributes["rejudge_after_sequences"] == held_out
    assert state.attributes["pending_shift"] == "occupancy: single -> multiple"
    assert state.attributes["last_outcome"]["shift_pending"] is True

    assert await hass.config_entries.async_reload(entry.entry_id)  # unload writes, setup reads
    await hass.async_block_till_done(wait_background_tasks=True)
    manager = _manager(entry)
    assert manager.pending_shift == detection  # the detection itself, its ``since`` included
    total = entry.runtime_data.learner.store.sequences_total
    assert manager.shift_retry == ShiftRetry(1, total + held_out, held_out)
    state = hass.states.get(SENSOR)
    assert state is not None and state.attributes["rejudge_after_sequences"] == held_out
    job = (await async_get_config_entry_diagnostics(hass, entry))["adaptation"]["job"]
    assert job["rejudge_after_sequences"] == held_out and job["pending_shift"]["kind"] == "occupancy"

    async_fire_time_changed(hass, dt_util.as_utc(quiet))  # too few new sequences: the window waits
    await hass.async_block_till_done()
    assert not manager.running and manager.pending_shift == detection
    _store_more(entry, held_out - 1)
    assert manager.rejudge_after == 1
    async_fire_time_changed(hass, dt_util.as_utc(quiet + timedelta(days=1)))
    await hass.async_block_till_done()
    assert not manager.running
    _store_more(entry, 1)
    assert manager.rejudge_after == 0
    async_fire_time_changed(hass, dt_util.as_utc(quiet + timedelta(days=2)))
    await hass.async_block_till_done()
    assert manager.running and manager.trigger == "shift"  # judged again (with synthesis: cut short)
    assert await manager.async_cancel()
    assert manager.pending_shift == detection and manager.shift_retry is not None  # a cancel keeps it


async def test_a_shift_is_judged_again_at_most_twice_and_the_last_time_without_the_margin(
    hass: HomeAssistant, setup_habitus: SetupHabitus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the noise on its first re-judgement too, the shift stays pending (retry 2 of 2); the next
    judgement is the last, held to no margin: the real rule decides and the shift is acknowledged
    whatever it decides, so a home never trains for one shift more than three times."""
    margins = _within_the_noise(monkeypatch)
    entry = await setup_habitus()
    live = entry.runtime_data.live
    assert live is not None
    store_regular_home(entry, days=20)
    _home_champion(entry)
    manager = _manager(entry)
    detection = manager.pending_shift = _detection()
    manager.shift_retry = ShiftRetry(1, entry.runtime_data.learner.store.sequences_total, 10)  # as restored

    outcome = await _judge(hass, manager, detection)
    assert margins == [True] and outcome["rejudgement"] == 1 and outcome["retry"] == MAX_SHIFT_RETRIES == 2
    assert outcome["shift_pending"] is True and manager.shift_retry is not None
    assert manager.shift_retry.retries == 2 and live.store.adaptation["pending_shift"]["retries"] == 2

    outcome = await _judge(hass, manager, detection)
    assert margins == [True, False] and outcome["margin"] is False and outcome["rejudgement"] == 2
    assert "shift_pending" not in outcome and outcome["within_noise"] is False
    assert (
        outcome["deployed"]
        is adaptation.is_better(
            adaptation.Evaluation.from_metrics(outcome["challenger"]),
            adaptation.Evaluation.from_metrics(outcome["champion"]),
            margin=False,
        )[0]
    )
    # settled: the new context is the monitor's baseline, nothing pending, nothing kept in the store
    assert live.store.monitor.baseline["occupancy"] == "multiple"
    assert manager.pending_shift is None and manager.shift_retry is None and manager.rejudge_after is None
    assert "pending_shift" not in live.store.adaptation
    assert manager.completed_jobs == 2
