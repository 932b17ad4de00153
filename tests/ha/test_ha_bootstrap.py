"""Bootstrap: the first setup learns from what the real recorder recorded, in the background."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util.ulid import ulid_now
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done
from sqlalchemy.exc import OperationalError

from custom_components.habitus.bootstrap import async_bootstrap
from custom_components.habitus.const import LearningState
from custom_components.habitus.store import storage_key

from .conftest import SetupHabitus

USER_ID = "0123456789abcdef0123456789abcdef"  # HA user ids are uuid hex, as the recorder stores them


def _context_for(entity_id: str) -> Context:
    """The living-room light is used by hand, the TV by an automation; the secret light by itself."""
    if entity_id == "light.living":
        return Context(user_id=USER_ID)
    if entity_id == "media_player.tv":
        return Context(parent_id=ulid_now())
    return Context()


async def _record_history(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Two evenings of activity, 24 h apart, recorded by the recorder."""
    hass.states.async_set("sun.sun", "below_horizon")
    hass.states.async_set("weather.home", "snowy", {"temperature": -3, "temperature_unit": "°C"})
    for entity_id in ("light.living", "media_player.tv", "light.secret"):
        hass.states.async_set(entity_id, "off", {"device_class": "tv"} if "tv" in entity_id else {})
    for _ in range(2):
        freezer.tick(timedelta(hours=12))
        for entity_id, state, attributes in [
            ("light.living", "on", {"brightness": 120}),
            ("light.secret", "on", {}),
            ("media_player.tv", "on", {"device_class": "tv", "source": "HDMI 1"}),
            ("light.living", "on", {"brightness": 60}),  # dimmed: a setting change
            ("media_player.tv", "off", {"device_class": "tv"}),
            ("light.living", "off", {}),
            ("light.secret", "off", {}),
        ]:
            freezer.tick(timedelta(minutes=20))
            hass.states.async_set(entity_id, state, attributes, context=_context_for(entity_id))
        freezer.tick(timedelta(hours=10))
    await async_wait_recording_done(hass)


async def test_first_setup_learns_the_recorded_history(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    await _record_history(hass, freezer)
    freezer.tick(timedelta(minutes=1))
    entry = await setup_habitus({"exclude_entities": ["light.secret"], "max_gap_hours": 9.0})
    learner = entry.runtime_data.learner
    assert learner.state is LearningState.LEARNING

    sequences = [*learner.store.sequences(), learner.open_sequence]
    sequences = [s for s in sequences if s]
    expected = [
        "Light:switch on",
        "Television:switch on",
        "Light:setLevel",
        "Television:switch off",
        "Light:switch off",
    ]
    assert [[b.action for b in s] for s in sequences] == [expected, expected]  # 20 h gap: two sequences
    first = sequences[0]
    assert {b.device for b in first} == {"light.living", "media_player.tv"}  # the excluded light never read
    assert [b.origin for b in first] == ["user", "automation", "user", "automation", "user"]
    assert first[2].settings["brightness"] == 60.0
    assert first[0].context["weather"] == "snowy"
    assert first[0].context["outdoor_temp"] == "very cold"
    assert learner.behaviours_learned == 10

    await learner.store.async_flush()
    data = hass_storage[storage_key(entry.entry_id)]["data"]
    assert data["bootstrapped"] is True
    assert "light.secret" not in str(data)


async def test_setup_is_not_delayed_and_live_events_wait_for_the_history(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    await _record_history(hass, freezer)
    freezer.tick(timedelta(minutes=1))
    with patch("custom_components.habitus.async_bootstrap") as bootstrap:
        entry = await setup_habitus(wait=False)  # setup returns with the history still to read
    learner = entry.runtime_data.learner
    assert learner.state is LearningState.BOOTSTRAPPING
    assert hass.states.get("sensor.habitus_learning_state").state == "bootstrapping"
    hass.states.async_set("light.living", "on", context=Context(user_id=USER_ID))  # a live change meanwhile
    await hass.async_block_till_done()
    assert learner.open_sequence == []  # held back until the history is learned

    # run the real bootstrap now with the arguments setup gave it
    await async_bootstrap(*bootstrap.call_args.args)
    await hass.async_block_till_done()
    actions = [b.action for s in learner.store.sequences() for b in s] + [
        b.action for b in learner.open_sequence
    ]
    assert len(actions) == 15  # 14 recorded behaviours (the secret light is not excluded here) + 1 live
    assert actions[-1] == "Light:switch on"  # the live change comes after the history
    assert learner.open_sequence[-1].origin == "user"
    assert hass.states.get("sensor.habitus_learning_state").state == "learning"


async def test_bootstrap_runs_once(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    await _record_history(hass, freezer)
    entry = await setup_habitus()
    assert entry.runtime_data.learner.behaviours_learned == 14
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data.learner.behaviours_learned == 14  # not learned twice


async def test_unreadable_history_raises_an_issue_and_retries_next_time(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    await _record_history(hass, freezer)
    failure = OperationalError("SELECT", {}, Exception("database is locked"))
    with patch("homeassistant.components.recorder.history.get_significant_states", side_effect=failure):
        entry = await setup_habitus()
    learner = entry.runtime_data.learner
    assert learner.state is LearningState.LEARNING  # live learning goes on
    assert not learner.store.bootstrapped
    assert ir.async_get(hass).async_get_issue("habitus", "history_unreadable") is not None
    freezer.tick(timedelta(minutes=5))
    hass.states.async_set("light.living", "on", context=Context(user_id=USER_ID))  # learned live
    await hass.async_block_till_done()
    assert learner.behaviours_learned == 1

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data.learner.store.bootstrapped
    # the retry reads the history only up to where live learning began: 14 recorded + 1 live, none twice
    learner = entry.runtime_data.learner
    assert learner.behaviours_learned == 15
    kept = [*learner.store.sequences(), learner.open_sequence]
    assert sum(len(s) for s in kept) == 15
    times = [s[-1].time for s in learner.store.sequences()]
    assert times == sorted(times)  # the older history went in before the live sequence
    assert learner.store.history_until is None
    assert ir.async_get(hass).async_get_issue("habitus", "history_unreadable") is None


async def test_changes_still_queued_in_the_recorder_are_not_missed(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    hass.states.async_set("switch.pump", "off")
    await async_wait_recording_done(hass)
    for state in ("on", "off") * 50:  # 100 changes handed to the recorder, not waited for
        freezer.tick(timedelta(seconds=30))
        hass.states.async_set("switch.pump", state, context=Context(user_id=USER_ID))
    freezer.tick(timedelta(seconds=1))
    entry = await setup_habitus()
    learner = entry.runtime_data.learner
    assert learner.behaviours_learned == 100
    assert {b.origin for s in learner.store.sequences() for b in s} | {
        b.origin for b in learner.open_sequence
    } == {"user"}
