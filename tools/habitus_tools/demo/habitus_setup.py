"""Adding and configuring Habitus through HA's config-flow REST API, as a user in the UI would.

``run_flow`` answers each form with the values it is given for the fields the form actually has
(sections included), so it follows the integration's schema rather than hard-coding it; at a menu it
takes the general options.
"""

from __future__ import annotations

from typing import Any

from .client import DemoError, RestClient

HABITUS_DOMAIN = "habitus"
CONFIG_FLOW_PATH = "/api/config/config_entries/flow"
OPTIONS_FLOW_PATH = "/api/config/config_entries/options/flow"
MAX_FLOW_STEPS = 10
MENU_PREFERENCES = ("general",)  # Habitus's options menu: the general options hold TSS's thresholds


def fill_form(schema: list[dict[str, Any]], values: dict[str, Any]) -> dict[str, Any]:
    """The answer to a form: ``values`` for the fields it has; sections (``expandable``) nested."""
    answer: dict[str, Any] = {}
    for field in schema:
        name = field["name"]
        if field.get("type") == "expandable":
            answer[name] = fill_form(field.get("schema", []), values)
        elif name in values:
            answer[name] = values[name]
    return answer


def menu_choice(step: dict[str, Any]) -> str:
    """The menu option the demo takes: a preferred one (``MENU_PREFERENCES``), else the first."""
    options = step.get("menu_options") or []
    if isinstance(options, dict):
        options = list(options)
    if not options:
        raise DemoError(f"a flow menu without options: {step}")
    return next((o for o in MENU_PREFERENCES if o in options), str(options[0]))


def run_flow(client: RestClient, path: str, start: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Start a flow at ``path`` and answer its forms until it creates an entry; returns that result."""
    step: dict[str, Any] = client.post(path, start)
    for _ in range(MAX_FLOW_STEPS):
        kind = step.get("type")
        if kind == "create_entry":
            return step
        if kind == "menu":  # e.g. the options flow's first step: general / synthesis model / adaptation
            step = client.post(f"{path}/{step['flow_id']}", {"next_step_id": menu_choice(step)})
            continue
        if kind == "abort":
            raise DemoError(f"{path}: the flow was aborted ({step.get('reason')})")
        if kind != "form":
            raise DemoError(f"{path}: the demo cannot answer a flow step of type {kind!r}: {step}")
        if step.get("errors"):
            raise DemoError(
                f"{path}: step {step.get('step_id')!r} rejected the demo's values: {step['errors']}"
            )
        answer = fill_form(step.get("data_schema") or [], values)
        step = client.post(f"{path}/{step['flow_id']}", answer)
    raise DemoError(f"{path}: the flow did not finish within {MAX_FLOW_STEPS} steps")


def habitus_entry_id(client: RestClient) -> str | None:
    """The existing Habitus config entry, if any (a kept config dir)."""
    entries = client.get(f"/api/config/config_entries/entry?domain={HABITUS_DOMAIN}")
    return str(entries[0]["entry_id"]) if entries else None


def add_habitus(client: RestClient, values: dict[str, Any]) -> str:
    """Add Habitus through its config flow (once) and apply ``values`` through its options flow.

    Returns the entry id. ``values`` holds every key either flow may ask for (``include_domains``,
    ``max_gap_hours``...); each form takes the ones it has.
    """
    entry_id = habitus_entry_id(client)
    if entry_id is None:
        result = run_flow(
            client, CONFIG_FLOW_PATH, {"handler": HABITUS_DOMAIN, "show_advanced_options": False}, values
        )
        entry_id = str(result["result"]["entry_id"])
    run_flow(client, OPTIONS_FLOW_PATH, {"handler": entry_id, "show_advanced_options": False}, values)
    return entry_id
