"""Routine suggestions in a real HA: mined from user behaviours, shown as repair issues and a sensor,
accepted into a real automation that fires, dismissed / snoozed persistently (issue 6, items 2 and 4).

Behaviours are real state changes on HA's bus (``Context(user_id=...)`` for the user, ``parent_id`` for
an automation), with time driven by the freezer. The only service mocked is ``light.turn_on``
(``async_mock_service``): there is no light integration to call here; the call proves the automation ran.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant import config_entries
from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.components.demo.media_player import DemoTVShowPlayer
from homeassistant.components.media_player import MediaPlayerEntityFeature
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers import translation
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
    setup_test_component_platform,
)

from custom_components.habitus import suggestions as suggestions_module
from custom_components.habitus.const import DOMAIN, SUGGESTIONS_INTERVAL
from custom_components.habitus.decisions import decisions_key
from custom_components.habitus.engine.routines import Routine
from custom_components.habitus.runtime import HabitusConfigEntry
from custom_components.habitus.store import storage_key

from .conftest import SetupHabitus
from .disk_helpers import full_disk

LIGHT = "light.kitchen"
NAMED = {"friendly_name": "Kitchen ceiling"}
FIRST_MONDAY = (2026, 2, 2)  # no DST change in the weeks used


def _local(days: int, hour: int, minute: int) -> datetime:
    year, month, day = FIRST_MONDAY
    start = datetime(year, month, day, hour, minute, tzinfo=dt_util.get_default_time_zone())
    return start + timedelta(days=days)


@pytest.fixture
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A config dir whose configuration.yaml includes automations.yaml, as HA's default config does."""
    hass.config.config_dir = str(tmp_path)
    (tmp_path / "configuration.yaml").write_text("automation: !include automations.yaml\n")
    return tmp_path


async def _weekday_mornings(hass: HomeAssistant, freezer: FrozenDateTimeFactory, context: Any) -> None:
    """Five weekday mornings: the light goes on at about 07:00 (brightness 180), off by itself at 08:00."""
    for day in range(5):
        freezer.move_to(_local(day, 7, 2 * day % 6))
        hass.states.async_set(LIGHT, "on", {"brightness": 180, **NAMED}, context=context())
        await hass.async_block_till_done()
        freezer.move_to(_local(day, 8, 0))
        hass.states.async_set(LIGHT, "off", NAMED, context=Context())
        await hass.async_block_till_done()


def _user() -> Context:
    return Context(user_id="user-1")


def _automation() -> Context:
    return Context(parent_id="01J0AUTOMATIONRUN00000000")


async def _setup(hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory) -> Any:
    freezer.move_to(_local(-1, 12, 0))
    hass.states.async_set(LIGHT, "off", {})
    return await setup_habitus({"include_domains": ["light"]})


async def _suggestions(hass: HomeAssistant) -> list[dict[str, Any]]:
    response = await hass.services.async_call(
        DOMAIN, "get_routine_suggestions", {"refresh": True}, blocking=True, return_response=True
    )
    assert response is not None
    suggestions = response["suggestions"]
    assert isinstance(suggestions, list)
    return suggestions


async def _fix_flow(hass: HomeAssistant, issue_id: str, choice: str) -> dict[str, Any]:
    manager = hass.data["repairs"]["flow_manager"]
    result = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["accept", "dismiss", "snooze"]
    result = await manager.async_configure(result["flow_id"], {"next_step_id": choice})
    if choice == "snooze":
        assert result["type"] is FlowResultType.FORM
        result = await manager.async_configure(result["flow_id"], {"days": 1})
    return dict(result)


async def _repair_dialog(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> tuple[dict[str, Any], Any, Any]:
    """The weekday-morning routine's suggestion, the repairs flow manager and its dialog's first step."""
    assert await async_setup_component(hass, "repairs", {})
    await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    [suggestion] = await _suggestions(hass)
    manager = hass.data["repairs"]["flow_manager"]
    return suggestion, manager, await manager.async_init(DOMAIN, data={"issue_id": suggestion["id"]})


async def test_user_routine_is_suggested_and_accepting_creates_an_automation_that_fires(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory, config_dir: Path
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    assert await async_setup_component(hass, "automation", {})
    await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)

    suggestions = await _suggestions(hass)
    assert len(suggestions) == 1
    suggestion = suggestions[0]
    automation = suggestion["automation"]
    assert automation["actions"] == [
        {"action": "light.turn_on", "target": {"entity_id": LIGHT}, "data": {"brightness_pct": 71}}
    ]
    assert automation["triggers"][0]["trigger"] == "time"
    assert automation["triggers"][0]["at"].startswith("07:0")
    validated = await async_validate_config_item(hass, automation["id"], automation)
    assert validated is not None and validated.validation_error is None
    issue = ir.async_get(hass).async_get_issue(DOMAIN, suggestion["id"])
    assert issue is not None and issue.is_fixable
    assert issue.translation_placeholders is not None
    assert "light.kitchen" in issue.translation_placeholders["yaml"]
    assert hass.states.get("sensor.habitus_routine_suggestions").state == "1"  # type: ignore[union-attr]

    result = await _fix_flow(hass, suggestion["id"], "accept")
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "accepted")
    assert ir.async_get(hass).async_get_issue(DOMAIN, suggestion["id"]) is None
    assert "light.kitchen" in (config_dir / "automations.yaml").read_text()
    automation_state = next(
        s for s in hass.states.async_all("automation") if s.attributes.get("id") == suggestion["id"]
    )
    assert automation_state.state == "on"
    assert hass.states.get("sensor.habitus_routine_suggestions").state == "0"  # type: ignore[union-attr]

    calls = async_mock_service(hass, "light", "turn_on")
    hour, minute = (int(part) for part in automation["triggers"][0]["at"].split(":")[:2])
    fire_at = _local(7, hour, minute)  # the next Monday
    freezer.move_to(fire_at)
    async_fire_time_changed(hass, fire_at)
    await hass.async_block_till_done()
    assert [call.data for call in calls] == [{"entity_id": [LIGHT], "brightness_pct": 71}]
    assert await _suggestions(hass) == []  # accepted: not suggested again
    # Detach its time trigger (a live timer otherwise outlives the test).
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": automation_state.entity_id}, blocking=True
    )


async def test_a_suggestion_names_its_devices_and_its_routine_in_the_repairs_list(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """Every suggestion's repair was titled "Habitus suggests an automation", and it read
    "light.kitchen on 71 %": the list did not say which routine, nor the text which device. Nor when
    its automation fires: the demo's "On weekdays: Bedroom fan on percentage 70 %" fired at 16:10."""
    assert await async_setup_component(hass, "repairs", {})
    await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    [suggestion] = await _suggestions(hass)
    at = suggestion["automation"]["triggers"][0]["at"]
    assert at.startswith("07:0")
    assert suggestion["description"] == f"On weekdays, at {at[:5]}: Kitchen ceiling on 71 %"
    # The routine itself, in the schema (so a caller can compare it with other routines).
    assert suggestion["triggers"] == {"time_of_day": "morning", "day_of_week": "weekday"}
    assert suggestion["actions"] == {LIGHT: {"state": "on", "brightness": 180.0}}
    assert suggestion["automation"]["alias"] == f"Habitus: {suggestion['description']}"
    assert suggestion["automation"]["actions"][0]["target"] == {"entity_id": LIGHT}
    issue = ir.async_get(hass).async_get_issue(DOMAIN, suggestion["id"])
    assert issue is not None and issue.translation_key is not None and issue.translation_placeholders
    titles = await translation.async_get_translations(hass, "en", "issues", [DOMAIN])
    title = titles[f"component.{DOMAIN}.issues.{issue.translation_key}.title"]
    assert title.format(**issue.translation_placeholders).endswith(suggestion["description"])


async def test_the_repair_dialog_says_where_the_automation_goes(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """The dialog tells before the choice where the automation goes and what the other choices do
    (and after it, what it did: test_the_repair_dialog_says_what_the_choice_did). Before, it showed
    the routine and its YAML only."""
    suggestion, manager, step = await _repair_dialog(hass, setup_habitus, freezer)
    texts = await translation.async_get_translations(hass, "en", "issues", [DOMAIN])
    prefix = f"component.{DOMAIN}.issues.routine_suggestion.fix_flow.step"
    shown = texts[f"{prefix}.init.description"].format(**step["description_placeholders"])
    assert suggestion["description"] in shown and suggestion["id"] in shown  # the routine, its YAML
    assert "Settings → Automations & scenes" in shown
    for option in ("accept", "dismiss", "snooze"):
        assert f"**{texts[f'{prefix}.init.menu_options.{option}']}**" in shown
    assert "days" in texts[f"{prefix}.snooze.description"]
    manager.async_abort(step["flow_id"])


@pytest.mark.parametrize(
    ("choice", "said"),
    [
        ("accept", "Settings → Automations & scenes"),
        ("dismiss", "will not suggest this routine again"),
        ("snooze", "again in {days, plural, one {# day} other {# days}}"),
    ],
)
@pytest.mark.usefixtures("config_dir")
async def test_the_repair_dialog_says_what_the_choice_did(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    choice: str,
    said: str,
) -> None:
    """Each choice ended the dialog on HA's "Success! The issue is repaired!" (its text for a fix flow
    that creates an entry): a snoozed routine is not repaired, and the created automation was not named.
    The flow now ends on its own words: the automation's name and where it is, never again, back in N
    days; the suggester removed the repair either way."""
    assert await async_setup_component(hass, "repairs", {})
    assert await async_setup_component(hass, "automation", {})
    await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    [suggestion] = await _suggestions(hass)

    result = await _fix_flow(hass, suggestion["id"], choice)
    assert result["type"] is FlowResultType.ABORT
    texts = await translation.async_get_translations(hass, "en", "issues", [DOMAIN])
    text = texts[f"component.{DOMAIN}.issues.routine_suggestion.fix_flow.abort.{result['reason']}"]
    assert said in text
    placeholders = result["description_placeholders"]
    if choice == "accept":
        shown = text.format(**placeholders)
        assert f"**{suggestion['automation']['alias']}**" in shown
        assert f"(/config/automation/edit/{suggestion['id']})" in shown
    if choice == "snooze":
        assert placeholders == {"days": "1"}
    assert ir.async_get(hass).async_get_issue(DOMAIN, suggestion["id"]) is None
    for state in hass.states.async_all("automation"):  # detach the accepted one's time trigger
        await hass.services.async_call(
            "automation", "turn_off", {"entity_id": state.entity_id}, blocking=True
        )


async def test_a_snooze_out_of_range_says_so_in_the_dialog(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """0 days showed an empty red box: the schema's voluptuous error ("value must be at least 1") is
    no translation key, and HA's dialog shows a field's error by its translation only."""
    suggestion, manager, step = await _repair_dialog(hass, setup_habitus, freezer)
    step = await manager.async_configure(step["flow_id"], {"next_step_id": "snooze"})
    texts = await translation.async_get_translations(hass, "en", "issues", [DOMAIN])
    prefix = f"component.{DOMAIN}.issues.routine_suggestion.fix_flow"
    for days in (0, 366):
        step = await manager.async_configure(step["flow_id"], {"days": days})
        assert (step["type"], step["step_id"]) == (FlowResultType.FORM, "snooze")
        shown = texts[f"{prefix}.error.{step['errors']['days']}"].format(**step["description_placeholders"])
        assert shown == "Choose from 1 to 365 days."
    assert [s["id"] for s in await _suggestions(hass)] == [suggestion["id"]]  # not snoozed
    step = await manager.async_configure(step["flow_id"], {"days": 365})
    assert (step["type"], step["reason"]) == (FlowResultType.ABORT, "snoozed")


async def test_dismissed_stays_dismissed_across_a_restart_of_the_entry(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    entry: HabitusConfigEntry = await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    [suggestion] = await _suggestions(hass)

    result = await _fix_flow(hass, suggestion["id"], "dismiss")
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "dismissed")
    assert hass_storage[decisions_key(entry.entry_id)]["data"]["dismissed"] == [suggestion["id"]]

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert await _suggestions(hass) == []
    assert ir.async_get(hass).async_get_issue(DOMAIN, suggestion["id"]) is None


async def test_an_issue_that_still_stands_keeps_its_created_time_across_a_reload(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """Saving the options reloads Habitus. The unload deleted every suggestion issue and the refresh
    created them again: the repairs list showed each one "created 2 minutes ago" after every save.
    Now one that stands keeps its time; one that no longer stands goes at the refresh after the reload;
    disabling and removing Habitus remove them."""
    entry: HabitusConfigEntry = await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    [suggestion] = await _suggestions(hass)
    registry = ir.async_get(hass)
    issue = registry.async_get_issue(DOMAIN, suggestion["id"])
    assert issue is not None and issue.created is not None
    created = issue.created
    stale = "a_routine_shown_before_that_no_longer_stands"
    ir.async_create_issue(
        hass,
        DOMAIN,
        stale,
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="routine_suggestion",
        data={"routine_id": stale},
    )
    freezer.tick(timedelta(minutes=2))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [s["id"] for s in await _suggestions(hass)] == [suggestion["id"]]
    issue = registry.async_get_issue(DOMAIN, suggestion["id"])
    assert issue is not None and issue.active and issue.created == created
    assert registry.async_get_issue(DOMAIN, stale) is None

    assert await hass.config_entries.async_set_disabled_by(
        entry.entry_id, config_entries.ConfigEntryDisabler.USER
    )
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, suggestion["id"]) is None
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, None)
    await hass.async_block_till_done(wait_background_tasks=True)
    await _suggestions(hass)
    assert registry.async_get_issue(DOMAIN, suggestion["id"]) is not None
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, suggestion["id"]) is None


async def test_snoozed_comes_back_after_the_snooze(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    [suggestion] = await _suggestions(hass)

    await hass.services.async_call(
        DOMAIN, "snooze_routine", {"routine_id": suggestion["id"], "days": 2}, blocking=True
    )
    assert await _suggestions(hass) == []
    freezer.tick(timedelta(days=1))
    assert await _suggestions(hass) == []
    freezer.tick(timedelta(days=1, minutes=1))
    assert [s["id"] for s in await _suggestions(hass)] == [suggestion["id"]]


async def test_unknown_routine_id_is_a_translated_validation_error(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    await _setup(hass, setup_habitus, freezer)
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(DOMAIN, "dismiss_routine", {"routine_id": "nope"}, blocking=True)
    assert caught.value.translation_key == "unknown_routine"


async def test_no_suggestion_when_an_equivalent_automation_exists(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    own = {
        "id": "my_morning_light",
        "triggers": [{"trigger": "event", "event_type": "good_morning"}],
        "actions": [{"action": "light.turn_on", "target": {"entity_id": LIGHT}}],
    }
    assert await async_setup_component(hass, "automation", {"automation": [own]})
    await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    assert await _suggestions(hass) == []
    assert hass.states.get("sensor.habitus_routine_suggestions").state == "0"  # type: ignore[union-attr]


async def test_automation_originated_behaviours_are_not_routines(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    entry: HabitusConfigEntry = await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _automation)
    assert entry.runtime_data.learner.behaviours_learned >= 5  # learned, with origin "automation"
    assert await _suggestions(hass) == []


async def test_accept_fails_clearly_when_ha_does_not_load_automations_yaml(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory, tmp_path: Path
) -> None:
    """configuration.yaml without ``automation: !include automations.yaml``: a clear error, nothing lost."""
    hass.config.config_dir = str(tmp_path)
    (tmp_path / "configuration.yaml").write_text("homeassistant:\n")
    assert await async_setup_component(hass, "automation", {})
    await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    [suggestion] = await _suggestions(hass)

    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call(
            DOMAIN, "accept_routine", {"routine_id": suggestion["id"]}, blocking=True
        )
    assert caught.value.translation_key == "automation_not_loaded"
    assert [s["id"] for s in await _suggestions(hass)] == [suggestion["id"]]  # still offered


async def test_accept_without_the_automation_integration_is_a_clear_error(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    [suggestion] = await _suggestions(hass)
    with pytest.raises(HomeAssistantError) as caught:
        await hass.services.async_call(
            DOMAIN, "accept_routine", {"routine_id": suggestion["id"]}, blocking=True
        )
    assert caught.value.translation_key == "automation_unavailable"


async def test_suggestions_refresh_periodically(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    sensor = "sensor.habitus_routine_suggestions"
    assert hass.states.get(sensor).state == "0"  # type: ignore[union-attr]  # mined at start only
    freezer.tick(SUGGESTIONS_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(sensor).state == "1"  # type: ignore[union-attr]
    assert ir.async_get(hass).async_get_issue(
        DOMAIN, hass.states.get(sensor).attributes["suggestions"][0]["id"]
    )  # type: ignore[union-attr]


async def test_snoozed_suggestion_reappears_when_the_snooze_ends_without_a_manual_refresh(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """Snoozed for 3 h: back at the snooze's end, before the next 6-hourly refresh would run."""
    entry = await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    [suggestion] = await _suggestions(hass)
    sensor = "sensor.habitus_routine_suggestions"
    await hass.services.async_call(
        DOMAIN, "snooze_routine", {"routine_id": suggestion["id"], "days": 0.125}, blocking=True
    )
    await hass.async_block_till_done()
    assert hass.states.get(sensor).state == "0"  # type: ignore[union-attr]

    # A reload in between: the snooze's end is scheduled again from the stored decisions (and the
    # 6-hourly refresh restarts from now, so it cannot be what brings the suggestion back).
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(sensor).state == "0"  # type: ignore[union-attr]

    freezer.tick(timedelta(hours=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(sensor).state == "0"  # type: ignore[union-attr]
    freezer.tick(timedelta(hours=1, seconds=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(sensor).state == "1"  # type: ignore[union-attr]
    assert ir.async_get(hass).async_get_issue(DOMAIN, suggestion["id"]) is not None


async def test_routine_mining_runs_in_the_executor_not_on_the_event_loop(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    loop_thread = threading.get_ident()  # the test runs on HA's event loop
    threads: list[int] = []
    real = suggestions_module.mine_routines

    def recording(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(suggestions_module, "mine_routines", recording)
    assert len(await _suggestions(hass)) == 1  # the real miner still ran, through the wrapper
    assert threads
    assert loop_thread not in threads


async def test_null_settings_an_earlier_version_stored_are_left_out_and_mining_works(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Before ingest refused NaN settings (7725550), a light reporting brightness NaN was stored as
    ``brightness: null`` (HA's JSON writer): such a store must still be mined.

    Before: mining took the null for a brightness and raised TypeError (float(None)) at every refresh,
    so no suggestion ever came and the service call failed."""
    entry = await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    assert await hass.config_entries.async_unload(entry.entry_id)  # (writes the store)
    stored = hass_storage[storage_key(entry.entry_id)]["data"]
    for settings in stored["tables"]["settings"]:
        if "brightness" in settings:
            settings["brightness"] = None
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    suggestions = await _suggestions(hass)
    assert [s["automation"]["actions"] for s in suggestions] == [
        [{"action": "light.turn_on", "target": {"entity_id": LIGHT}}]
    ]


async def test_accept_on_a_full_disk_keeps_automations_yaml_and_the_suggestion(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    hass_storage: dict[str, Any],
) -> None:
    """ENOSPC at the write call of automations.yaml (``disk_helpers.full_disk``, the one thing
    simulated): the file is left as it was, the call fails with the OS's reason, the suggestion is
    still offered and not recorded as accepted; with space again, accepting works."""
    assert await async_setup_component(hass, "automation", {})
    entry = await _setup(hass, setup_habitus, freezer)
    await _weekday_mornings(hass, freezer, _user)
    [suggestion] = await _suggestions(hass)
    path = config_dir / "automations.yaml"
    path.write_text("[]\n")
    with full_disk(path), pytest.raises(HomeAssistantError, match="No space left on device"):
        await hass.services.async_call(
            DOMAIN, "accept_routine", {"routine_id": suggestion["id"]}, blocking=True
        )
    assert path.read_text() == "[]\n"
    assert [p.name for p in config_dir.iterdir() if p.name.startswith("tmp")] == []
    assert [s["id"] for s in await _suggestions(hass)] == [suggestion["id"]]
    assert decisions_key(entry.entry_id) not in hass_storage  # nothing recorded as accepted

    await hass.services.async_call(DOMAIN, "accept_routine", {"routine_id": suggestion["id"]}, blocking=True)
    assert suggestion["id"] in path.read_text()
    assert await _suggestions(hass) == []
    automation = next(
        s for s in hass.states.async_all("automation") if s.attributes.get("id") == suggestion["id"]
    )
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": automation.entity_id}, blocking=True
    )


def test_second_tier_routines_are_not_suggested(monkeypatch: pytest.MonkeyPatch) -> None:
    """The miner's second tier (under its confidence floor, ``extras["tier"] == 2``) stays out of HA."""
    first = Routine({"time_of_day": "morning"}, {"light.kitchen": {"state": "on"}}, 9, 0.6)
    second = Routine({"weather": "rainy"}, {"cover.bedroom": {"state": "closed"}}, 5, 0.15)
    second.extras["tier"] = 2

    class Miner:
        def __init__(self, config: Any) -> None:
            pass

        def fit(self, behaviours: Any) -> Miner:
            return self

        def predict(self) -> list[Routine]:
            return [first, second]

    monkeypatch.setattr(suggestions_module, "RoutineMiner", Miner)
    found = suggestions_module.mine_routines([], dt_util.UTC, suggestions_module.MinerConfig())
    assert found == [first]


async def test_a_player_that_cannot_set_its_volume_does_not_stop_the_automation(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HA's demo TV (turn on, select source, no VOLUME_SET) reports its volume; its routine's
    automation leaves the volume out, and the light after the TV is still switched on. Before, HA
    refused ``media_player.volume_set`` (``ServiceNotSupported``) and the automation stopped there."""
    assert await async_setup_component(hass, "repairs", {})
    assert await async_setup_component(hass, "automation", {})
    setup_test_component_platform(hass, "media_player", [DemoTVShowPlayer()])
    assert await async_setup_component(hass, "media_player", {"media_player": {"platform": "test"}})
    await _setup(hass, setup_habitus, freezer)
    player = "media_player.lounge_room"
    assert hass.states.get(player).attributes["volume_level"] == 1.0  # type: ignore[union-attr]
    tv = {"state": "playing", "volume_level": 0.3, "source": "youtube"}
    routine = Routine(
        {"day_of_week": "weekday"},
        {player: tv, LIGHT: {"state": "on", "brightness": 180.0}},
        support=5,
        confidence=1.0,
        typical_time="07:02",
    )
    monkeypatch.setattr(suggestions_module, "mine_routines", lambda *_args: [routine])
    [suggestion] = await _suggestions(hass)
    await _fix_flow(hass, suggestion["id"], "accept")
    await hass.services.async_call("media_player", "turn_off", {"entity_id": player}, blocking=True)

    calls = async_mock_service(hass, "light", "turn_on")
    fire_at = _local(7, 7, 2)  # the next Monday
    freezer.move_to(fire_at)
    async_fire_time_changed(hass, fire_at)
    await hass.async_block_till_done()
    assert [call.data for call in calls] == [{"entity_id": [LIGHT], "brightness_pct": 71}]
    tv_state = hass.states.get(player)
    assert tv_state is not None
    assert (tv_state.state, tv_state.attributes["source"]) == ("playing", "youtube")
    assert "volume" not in suggestion["description"]  # said as set
    assert [action["action"] for action in suggestion["automation"]["actions"]] == [
        "media_player.turn_on",
        "media_player.select_source",
        "light.turn_on",
    ]
    automation_state = next(
        s for s in hass.states.async_all("automation") if s.attributes.get("id") == suggestion["id"]
    )
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": automation_state.entity_id}, blocking=True
    )


async def test_a_dismissed_routine_stays_dismissed_when_its_device_reports_fewer_features(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a device supports narrows what its automation sets, not which routine the user dismissed:
    a TV that stops reporting volume control (after an update) must not bring the dismissed routine
    back under another id."""
    assert await async_setup_component(hass, "repairs", {})
    await _setup(hass, setup_habitus, freezer)
    player = "media_player.tv"
    everything = int(
        MediaPlayerEntityFeature.TURN_ON
        | MediaPlayerEntityFeature.TURN_OFF
        | MediaPlayerEntityFeature.VOLUME_SET
        | MediaPlayerEntityFeature.SELECT_SOURCE
    )
    hass.states.async_set(player, "off", {"supported_features": everything})
    routine = Routine(
        {"day_of_week": "weekday"},
        {player: {"state": "playing", "volume_level": 0.3, "source": "youtube"}},
        support=5,
        confidence=1.0,
        typical_time="07:02",
    )
    monkeypatch.setattr(suggestions_module, "mine_routines", lambda *_args: [routine])
    [suggestion] = await _suggestions(hass)
    assert "volume_set" in str(suggestion["automation"]["actions"])
    await _fix_flow(hass, suggestion["id"], "dismiss")

    hass.states.async_set(
        player, "off", {"supported_features": everything & ~MediaPlayerEntityFeature.VOLUME_SET}
    )
    assert await _suggestions(hass) == []


async def test_an_unavailable_device_keeps_its_routine_suggested_as_mined(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unavailable TV reports no features; that says nothing about what it supports, so its routine
    stays suggested (and its volume set) rather than vanishing until the TV is back."""
    await _setup(hass, setup_habitus, freezer)
    player = "media_player.tv"
    hass.states.async_set(player, "unavailable", {"supported_features": 0})
    routine = Routine(
        {"day_of_week": "weekday"},
        {player: {"state": "playing", "volume_level": 0.3}},
        support=5,
        confidence=1.0,
        typical_time="07:02",
    )
    monkeypatch.setattr(suggestions_module, "mine_routines", lambda *_args: [routine])
    [suggestion] = await _suggestions(hass)
    assert [action["action"] for action in suggestion["automation"]["actions"]] == [
        "media_player.turn_on",
        "media_player.volume_set",
    ]


async def test_a_suggestion_opened_right_after_a_reload_shows_its_routine(
    hass: HomeAssistant, setup_habitus: SetupHabitus, freezer: FrozenDateTimeFactory
) -> None:
    """A reload keeps the suggestion issues (f94fa59), but the reloaded entry knows its suggestions
    only once its first refresh (mining, in the executor) has ended. Before, the repair opened in the
    meantime (right after an options save) said 'This suggestion is no longer current.'; it now waits
    for that refresh."""
    suggestion, manager, _first = await _repair_dialog(hass, setup_habitus, freezer)
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert await hass.config_entries.async_reload(entry.entry_id)
    result = await manager.async_init(DOMAIN, data={"issue_id": suggestion["id"]})
    assert result["type"] is FlowResultType.MENU, result
    assert result["menu_options"] == ["accept", "dismiss", "snooze"]
