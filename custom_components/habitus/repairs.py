"""Fix flow of a routine suggestion's repair issue: accept (create the automation), dismiss or snooze."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant import data_entry_flow
from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .const import DEFAULT_SNOOZE_DAYS, DOMAIN
from .routine_suggestion import Suggestion
from .suggestions import RoutineSuggester

SNOOZE_DAYS_MIN, SNOOZE_DAYS_MAX = 1, 365  # the snooze_routine service's range, in whole days


def loaded_suggester(hass: HomeAssistant) -> RoutineSuggester:
    """The suggester of the loaded Habitus entry (translated error if Habitus is not loaded)."""
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        suggester = getattr(entry.runtime_data, "suggester", None)
        if isinstance(suggester, RoutineSuggester):
            return suggester
    raise HomeAssistantError(translation_domain=DOMAIN, translation_key="not_loaded")


class RoutineSuggestionFlow(RepairsFlow):
    """Menu: accept / dismiss / snooze one suggested routine."""

    def __init__(self, routine_id: str) -> None:
        self._routine_id = routine_id

    async def _async_suggestion(self) -> Suggestion | None:
        try:
            suggester = loaded_suggester(self.hass)
        except HomeAssistantError:
            return None
        return await suggester.async_current(self._routine_id)

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> data_entry_flow.FlowResult:
        """Show the routine and the choices."""
        suggestion = await self._async_suggestion()
        if suggestion is None:
            return self.async_abort(reason="routine_gone")
        return self.async_show_menu(
            step_id="init",
            menu_options=["accept", "dismiss", "snooze"],
            description_placeholders={"routine": suggestion.text, "yaml": suggestion.yaml},
        )

    async def async_step_accept(self, user_input: dict[str, Any] | None = None) -> data_entry_flow.FlowResult:
        """Create the automation; the dialog then says its name and where it is."""
        try:
            suggester = loaded_suggester(self.hass)
            suggestion = suggester.get(self._routine_id)
            await suggester.async_accept(self._routine_id)
        except HomeAssistantError as err:
            return self.async_abort(reason="accept_failed", description_placeholders={"error": str(err)})
        return self._done(
            "accepted",
            {"alias": str(suggestion.automation["alias"]), "automation_id": suggestion.id},
        )

    async def async_step_dismiss(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        """Never suggest it again."""
        try:
            await loaded_suggester(self.hass).async_dismiss(self._routine_id)
        except HomeAssistantError:
            return self.async_abort(reason="routine_gone")
        return self._done("dismissed", {})

    async def async_step_snooze(self, user_input: dict[str, Any] | None = None) -> data_entry_flow.FlowResult:
        """Ask for how long, then hide it until then.

        The range is checked here, not by the schema: HA's dialog shows a schema's error by its
        translation, and voluptuous's ("value must be at least 1") has none, so 0 showed an empty
        red box.
        """
        days = int(user_input["days"]) if user_input is not None else DEFAULT_SNOOZE_DAYS
        if user_input is None or not SNOOZE_DAYS_MIN <= days <= SNOOZE_DAYS_MAX:
            return self.async_show_form(
                step_id="snooze",
                data_schema=vol.Schema({vol.Required("days", default=DEFAULT_SNOOZE_DAYS): vol.Coerce(int)}),
                errors=None if user_input is None else {"days": "days_out_of_range"},
                description_placeholders={"min": str(SNOOZE_DAYS_MIN), "max": str(SNOOZE_DAYS_MAX)},
            )
        try:
            await loaded_suggester(self.hass).async_snooze(self._routine_id, float(days))
        except HomeAssistantError:
            return self.async_abort(reason="routine_gone")
        return self._done("snoozed", {"days": str(days)})

    def _done(self, outcome: str, placeholders: dict[str, str]) -> data_entry_flow.FlowResult:
        """End the flow saying what the choice did (``fix_flow.abort.<outcome>``).

        HA's repair dialog ends a flow that creates an entry with its own text, "The issue is repaired!",
        whatever the choice was (a snoozed routine is not repaired, a created automation is not named),
        while it shows an abort reason's translation. The suggester has removed the issue already.
        """
        return self.async_abort(reason=outcome, description_placeholders=placeholders)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The fix flow of a routine suggestion issue (the issue id is the routine id)."""
    routine_id = (data or {}).get("routine_id")
    if routine_id is None:  # not a routine suggestion: a plain confirmation
        return ConfirmRepairFlow()
    return RoutineSuggestionFlow(str(routine_id))
