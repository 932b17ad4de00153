"""Alerts (cool-down, snooze, dismiss) and the live services (feedback, export) with their errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er

from custom_components.habitus.alerts import notification_message
from custom_components.habitus.const import DOMAIN
from custom_components.habitus.live_const import ALERT_COOLDOWN_SECONDS
from custom_components.habitus.live_models import LiveScore
from custom_components.habitus.live_store import live_storage_key
from habitus_engine.datasets import load_vocabulary, read_sequences, to_behaviours

from .conftest import SetupHabitus
from .live_helpers import (
    NORMAL,
    UNUSUAL,
    act,
    anomaly_notifications,
    calibrate_on_regular_home,
    new_sequence,
    serve_calibrated_at_its_own_threshold,
    start,
)

OPTIONS = {"max_gap_hours": 0.05}  # a 3-minute TSS gap


def _event_time(hass: HomeAssistant) -> str:
    state = hass.states.get("event.habitus_anomaly")
    assert state is not None
    return state.state


async def _call(hass: HomeAssistant, service: str, data: dict[str, Any] | None = None) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data or {}, blocking=True, return_response=service in ("export_dataset",)
    )


async def _one_anomaly_notified(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> ConfigEntry:
    """Habitus calibrated on a regular home, then one unusual sequence: one notification."""
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    await act(hass, freezer, UNUSUAL)
    assert len(anomaly_notifications(hass)) == 1
    return entry


@pytest.mark.parametrize(
    ("unknown", "said"),
    [
        (("Oven:switch on",), " 1 behaviour was not in the model's vocabulary and was left out."),
        (("Oven:switch on", "Oven:switch off"), " 2 behaviours were not in the model's vocabulary and were"),
    ],
)
def test_the_notification_counts_unknown_behaviours_in_plain_words(
    unknown: tuple[str, ...], said: str
) -> None:
    """It said "1 behaviour(s) were not in the model's vocabulary"."""
    result = LiveScore(
        1.0, 3, 5.0, 2.0, unknown, (), behaviours=((1.0, "valve.main", "WaterValve:valve open"),)
    )
    message = notification_message(result)
    assert said in message and "(s)" not in message


async def test_the_notification_follows_the_sequence_it_flagged(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """It listed the behaviours up to the first anomalous reading (here the valve opened, alone) and was
    never rewritten: the siren that makes the sequence unusual was missing. Now the same notification
    (same id) lists the behaviours so far, the last 10 and how many came earlier, and "that was me"
    still answers it."""
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    await act(hass, freezer, UNUSUAL[:1])
    [first_id] = anomaly_notifications(hass)
    await act(hass, freezer, UNUSUAL[1:])
    [(shown_id, notification)] = anomaly_notifications(hass).items()
    assert shown_id == first_id
    message = notification["message"]
    assert [line for line in message.splitlines() if line.startswith("- ")] == [
        "- Wed 03:05: valve.main: open",
        "- Wed 03:05: siren.hall: sound",
        "- Wed 03:06: siren.hall: silence",
        "- Wed 03:06: valve.main: close",
    ]
    await act(hass, freezer, UNUSUAL + UNUSUAL)  # 12 behaviours in the one sequence
    [(shown_id, notification)] = anomaly_notifications(hass).items()
    lines = [line for line in notification["message"].splitlines() if line.startswith("- ")]
    assert shown_id == first_id and len(lines) == 11
    assert lines[0] == "- 2 earlier behaviours, then:" and lines[-1].endswith(": valve.main: close")
    await _call(hass, "feedback")  # "that was me" answers the rewritten notification
    await hass.async_block_till_done()
    assert anomaly_notifications(hass) == {}
    await hass.config_entries.async_unload(entry.entry_id)
    [stored] = hass_storage[live_storage_key(entry.entry_id)]["data"]["feedback_normal"]
    assert len(stored) == 12


async def test_a_notification_the_user_closed_is_not_brought_back(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    await _one_anomaly_notified(hass, setup_habitus, freezer)
    [shown] = anomaly_notifications(hass)
    persistent_notification.async_dismiss(hass, shown)  # the notification's own "dismiss"
    await act(hass, freezer, UNUSUAL)  # the same sequence goes on
    assert anomaly_notifications(hass) == {}
    with pytest.raises(ServiceValidationError):
        await _call(hass, "dismiss_alert")


def test_a_followed_notification_says_when_the_score_came_down() -> None:
    result = LiveScore(
        1.0, 14, 1.5, 2.0, (), (), behaviours=((1.0, "valve.main", "WaterValve:valve open"),), earlier=13
    )
    message = notification_message(result)
    assert "- 13 earlier behaviours, then:" in message
    assert "went above the threshold 2.00" in message and "it is 1.50." in message
    assert "1.50, above" not in message


async def test_cool_down_suppresses_a_repeat_but_the_event_still_fires(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    await _one_anomaly_notified(hass, setup_habitus, freezer)
    first_event = _event_time(hass)
    await new_sequence(hass, freezer, minutes=5)
    await act(hass, freezer, UNUSUAL)  # a second anomalous sequence inside the cool-down
    assert _event_time(hass) != first_event
    assert hass.states.get("event.habitus_anomaly").attributes["notified"] is False  # type: ignore[union-attr]
    assert len(anomaly_notifications(hass)) == 1
    assert ALERT_COOLDOWN_SECONDS == 1800
    await new_sequence(hass, freezer, minutes=31)  # 03:41: the same hour bucket, cool-down over
    await act(hass, freezer, UNUSUAL)
    assert len(anomaly_notifications(hass)) == 2


async def test_snooze_suppresses_notifications_until_it_ends(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    await hass.services.async_call(DOMAIN, "snooze_alerts", {"minutes": 10}, blocking=True)
    await act(hass, freezer, UNUSUAL)
    assert hass.states.get("binary_sensor.habitus_anomaly").state == "on"  # type: ignore[union-attr]
    assert anomaly_notifications(hass) == {}
    await new_sequence(hass, freezer, minutes=11)
    await act(hass, freezer, UNUSUAL)
    assert len(anomaly_notifications(hass)) == 1
    with pytest.raises(vol.Invalid):  # the schema bounds the duration
        await hass.services.async_call(DOMAIN, "snooze_alerts", {"minutes": -1}, blocking=True)


async def test_dismiss_removes_the_notification_and_errors_when_none(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "dismiss_alert")
    assert err.value.translation_key == "no_alert"
    await act(hass, freezer, UNUSUAL)
    assert len(anomaly_notifications(hass)) == 1
    await _call(hass, "dismiss_alert")
    assert anomaly_notifications(hass) == {}


async def test_a_reload_keeps_the_shown_notification_and_the_cool_down(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """Saving the options reloads Habitus: its notification must stay dismissable, not be stacked on."""
    entry = await _one_anomaly_notified(hass, setup_habitus, freezer)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await new_sequence(hass, freezer, minutes=5)
    await act(hass, freezer, UNUSUAL)  # inside the cool-down that began before the reload
    assert hass.states.get("event.habitus_anomaly").attributes["notified"] is False  # type: ignore[union-attr]
    assert len(anomaly_notifications(hass)) == 1
    await _call(hass, "dismiss_alert")  # the notification shown before the reload
    assert anomaly_notifications(hass) == {}
    with pytest.raises(ServiceValidationError):
        await _call(hass, "dismiss_alert")


async def test_after_a_reload_that_was_me_still_applies_to_the_anomaly_shown(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """The notification asks for habitus.feedback; a reload must not make it answer "no anomaly"."""
    entry = await _one_anomaly_notified(hass, setup_habitus, freezer)
    fired = _event_time(hass)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _event_time(hass) == fired  # the open sequence, read again, is not a new anomaly
    await _call(hass, "feedback")
    await hass.async_block_till_done()
    assert anomaly_notifications(hass) == {}
    assert hass.states.get("binary_sensor.habitus_anomaly").state == "off"  # type: ignore[union-attr]


async def test_removing_habitus_removes_its_notification(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    entry = await _one_anomaly_notified(hass, setup_habitus, freezer)
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert anomaly_notifications(hass) == {}


async def test_the_notification_names_the_devices(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """It listed "valve open (valve.main)": entity ids, where the user named the devices; then
    "WaterValve:valve open (Main water valve)" (the demo's "Switch:switch on (Other)"): SmartThings'
    action names, where the next-action sensor says "Main water valve: open"."""
    registry = er.async_get(hass)
    assert (
        registry.async_get_or_create("valve", "demo", "main", suggested_object_id="main").entity_id
        == "valve.main"
    )
    registry.async_update_entity("valve.main", name="Main water valve")
    await _one_anomaly_notified(hass, setup_habitus, freezer)
    [notification] = anomaly_notifications(hass).values()
    message = notification["message"]
    assert ": Main water valve: open" in message and "valve.main" not in message
    assert "WaterValve:" not in message and "Siren:" not in message  # the most surprising one too
    event = hass.states.get("event.habitus_anomaly")
    assert event is not None and "valve.main" in event.attributes["devices"]  # ids stay for automations


async def test_feedback_marks_the_sequence_normal_and_stores_it(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await calibrate_on_regular_home(entry)  # the base threshold is this home's
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "feedback")
    assert err.value.translation_key == "no_anomaly"
    await act(hass, freezer, UNUSUAL)
    assert hass.states.get("binary_sensor.habitus_anomaly").state == "on"  # type: ignore[union-attr]
    await _call(hass, "feedback")
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.habitus_anomaly").state == "off"  # type: ignore[union-attr]
    assert anomaly_notifications(hass) == {}
    await act(hass, freezer, (("valve.main", "open"),))  # the same sequence goes on: still normal
    assert hass.states.get("binary_sensor.habitus_anomaly").state == "off"  # type: ignore[union-attr]
    await hass.config_entries.async_unload(entry.entry_id)
    stored = hass_storage[live_storage_key(entry.entry_id)]["data"]["feedback_normal"]
    assert [[action for _t, _d, action in seq] for seq in stored] == [
        ["WaterValve:valve open", "Siren:alarm both", "Siren:alarm off", "WaterValve:valve close"]
    ]
    assert await hass.config_entries.async_setup(entry.entry_id)  # kept across a reload
    await hass.async_block_till_done()
    assert entry.runtime_data.live is not None
    assert len(entry.runtime_data.live.store.feedback_sequences()) == 1


async def test_export_writes_a_dataset_the_engine_reads_back(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path)
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "export_dataset", {"path": "export"})
    assert err.value.translation_key == "export_empty"
    for _ in range(3):
        await act(hass, freezer, NORMAL)
        await new_sequence(hass, freezer, minutes=5)
    entry.runtime_data.learner.close_if_idle()  # the third sequence is stored now, not at the next change
    serve_calibrated_at_its_own_threshold(entry)  # the three sequences stay all there is to export
    await act(hass, freezer, UNUSUAL)  # the open sequence is not exported; its feedback is
    await _call(hass, "feedback")
    response = await _call(hass, "export_dataset", {"path": "exports/home"})
    directory = tmp_path / "exports" / "home"
    assert response == {"path": str(directory), "sequences": 4, "devices": 3, "actions": 6}
    vocab = load_vocabulary(directory)
    assert set(vocab.devices) == {"climate.living", "valve.main", "siren.hall"}
    assert {vocab.actions[i] for i in vocab.off_actions} == {
        "AirConditioner:switch off",
        "Siren:alarm off",
        "WaterValve:valve close",
    }
    sequences = read_sequences(directory / "sequences.jsonl")
    assert [len(s.seq) for s in sequences] == [2, 2, 2, 4]
    assert all(day == 2 and bucket == 1 for s in sequences for day, bucket, _, _ in s.seq)  # Wed 03-06 h
    assert [b.action for b in to_behaviours(sequences[0].seq, vocab)] == [
        "AirConditioner:switch on",
        "AirConditioner:switch off",
    ]


@pytest.mark.parametrize("path", ["../outside", "/etc", ".", "configuration.yaml"], ids=str)
async def test_export_rejects_paths_outside_the_config_folder(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
    path: str,
) -> None:
    hass.config.config_dir = str(tmp_path)
    (tmp_path / "configuration.yaml").write_text("{}\n")
    start(hass, freezer)
    await setup_habitus(OPTIONS)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "export_dataset", {"path": path})
    assert err.value.translation_key == "export_path_invalid"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["configuration.yaml"]


async def test_services_say_habitus_is_not_loaded(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    start(hass, freezer)
    entry = await setup_habitus(OPTIONS)
    await hass.config_entries.async_unload(entry.entry_id)
    for service, data in (("feedback", {}), ("dismiss_alert", {}), ("export_dataset", {"path": "x"})):
        with pytest.raises(ServiceValidationError) as err:
            await _call(hass, service, data)
        assert err.value.translation_key == "not_loaded"
