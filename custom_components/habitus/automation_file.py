"""Accepted routines become real automations, created the way HA's automation editor creates them.

HA 2025.4's editor (``homeassistant.components.config.automation.EditAutomationConfigView``) reads
``automations.yaml``, replaces or appends the automation with its ``id``, writes the file atomically
(``write_utf8_file_atomic``, in the executor) and then calls ``automation.reload`` with that ``id``.
This module does the same, so the automation is the user's own from then on (editable in the UI).

It also tells whether a loaded automation already does what a suggestion would: the same id, or the
same service calls on the same entities.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from homeassistant.components.automation import DATA_COMPONENT
from homeassistant.config import AUTOMATION_CONFIG_PATH
from homeassistant.const import CONF_ID, SERVICE_RELOAD
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.util.file import write_utf8_file_atomic
from homeassistant.util.yaml import dump, load_yaml

from .const import DOMAIN

AUTOMATION_DOMAIN = "automation"

type ActionSignature = frozenset[tuple[str, str]]  # (service, entity id) pairs


def _upsert_automation(path: str, config: dict[str, Any]) -> None:
    """Replace or append ``config`` (by id) in ``automations.yaml``, written atomically (executor)."""
    current: Any = load_yaml(path) if os.path.isfile(path) else None
    if current is None:
        current = []
    if not isinstance(current, list):
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="automations_file_invalid",
            translation_placeholders={"path": path},
        )
    kept = [item for item in current if not (isinstance(item, dict) and item.get(CONF_ID) == config[CONF_ID])]
    write_utf8_file_atomic(path, dump([*kept, config]))


async def async_add_automation(hass: HomeAssistant, config: dict[str, Any]) -> None:
    """Write the automation to ``automations.yaml`` and load it; raises if HA did not load it."""
    if not hass.services.has_service(AUTOMATION_DOMAIN, SERVICE_RELOAD):
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="automation_unavailable")
    path = hass.config.path(AUTOMATION_CONFIG_PATH)
    await hass.async_add_executor_job(_upsert_automation, path, config)
    await hass.services.async_call(
        AUTOMATION_DOMAIN, SERVICE_RELOAD, {CONF_ID: config[CONF_ID]}, blocking=True
    )
    registry = er.async_get(hass)
    if registry.async_get_entity_id(AUTOMATION_DOMAIN, AUTOMATION_DOMAIN, config[CONF_ID]) is None:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="automation_not_loaded",
            translation_placeholders={"path": path},
        )


def action_signature(actions: Iterable[Any]) -> ActionSignature:
    """The (service, entity) pairs of an automation's actions (service calls with entity targets)."""
    pairs: set[tuple[str, str]] = set()
    for action in actions:
        if not isinstance(action, Mapping):
            continue
        service = action.get("action", action.get("service"))
        if not isinstance(service, str):
            continue
        for entity_id in _targets(action):
            pairs.add((service, entity_id))
    return frozenset(pairs)


def _targets(action: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for holder in (action, action.get("target"), action.get("data")):
        if isinstance(holder, Mapping):
            value = holder.get("entity_id")
            found.extend([value] if isinstance(value, str) else [str(v) for v in value or ()])
    return found


def _actions_of(raw: Mapping[str, Any]) -> list[Any]:
    actions = raw.get("actions", raw.get("action", []))
    return actions if isinstance(actions, list) else [actions]


def equivalent_automation_exists(hass: HomeAssistant, config: Mapping[str, Any]) -> bool:
    """A loaded automation has the suggestion's id, or the same service calls on the same entities."""
    component = hass.data.get(DATA_COMPONENT)
    if component is None:
        return False
    wanted = action_signature(_actions_of(config))
    for automation in component.entities:
        if automation.unique_id == config[CONF_ID]:
            return True
        raw = automation.raw_config
        if raw is not None and wanted and action_signature(_actions_of(raw)) == wanted:
            return True
    return False
