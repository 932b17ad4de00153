"""The routines part of the home's past: a household of the project's own generator, lived weeks ago.

The SmartThings replay cannot show routine suggestions: its dataset has no weather, and the
accelerated clock puts a whole dataset year into the last hour, so no routine has a time of day or a
day of the week. So, before the SmartThings past, the demo replays one household of
``engine/households.py`` (variant ``ROUTINES_VARIANT``, seed ``ROUTINES_SEED``, ``ROUTINES_DAYS``
days; its true routines are known) in *real* time, at past times: its ``ROUTINES_DAYS`` days end at
least ``END_MARGIN_DAYS`` before HA started, shifted by whole weeks so that every action keeps its
local clock time and its kind of day in HA's time zone.

* Its device snapshots become real service calls on virtual devices of their own
  (``HOUSEHOLD_DEVICES``: ``light.kitchen`` is ``light.kitchen_light``...), sent to
  ``virtual_home.replay_past`` with their origin: the user's sessions run with the demo user's
  context, the household's existing automations with an automation's (``parent_id``), so Habitus
  ingests them as it would live ones and counts only the user's behaviour.
* Its world goes along as states stamped at their past times: the generator's ``sun.sun`` (sunrise
  and sunset of the household, not astral ones of HA's location; the real state comes back after
  each batch) and its hourly ``weather.home`` (condition and °C), so each behaviour's context holds
  the household's sun phase, weather and outdoor temperature of its own moment.

Then ``habitus.get_routine_suggestions`` with ``refresh: true`` (the REST API, as a user's script
would) mines what HA saw, and each suggestion is compared with the generator's true routines
(``engine/routines_metrics.exact``: same triggers, same actions, scalars within a user step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from habitus_engine.automation_calls import service_calls as automation_calls
from habitus_engine.households import Household, HouseholdConfig, Variant, generate_household
from habitus_engine.routines import Routine, RoutineError, Settings, domain_of, settings_from_snapshot
from habitus_engine.routines_metrics import exact

from .client import RestClient
from .home import VirtualDevice
from .past import CALLS_PER_REQUEST, REPLAY_PAST_PATH

ROUTINES_VARIANT: Variant = "b"
# Chosen of variant b's seeds 0-5 (70 days): the most true routines (5), all recovered offline (seeds
# 0, 1, 2, 3, 5: 3 of 4, 2 of 4, 3 of 3, 2 of 2, 4 of 5). The demo shows the miner at its best;
# BENCHMARKS.md has its average.
ROUTINES_SEED = 4
ROUTINES_DAYS = 70  # within Habitus's default retention (90 days), ending END_MARGIN_DAYS before now
END_MARGIN_DAYS = 1.0
SUGGESTIONS_PATH = "/api/services/habitus/get_routine_suggestions?return_response"
REPAIR_FIX_PATH = "/api/repairs/issues/fix"
CONTEXT_DOMAINS = ("sun", "weather")
MODEL = "Routine household"

# Generator entity -> (virtual device key, name, kind, area). Keys differ from the SmartThings home's
# and are unique in the home (the device registry keys a virtual device by it).
HOUSEHOLD_DEVICES: dict[str, tuple[str, str, str, str]] = {
    "light.kitchen": ("kitchen_light", "Kitchen light", "dimmer", "Kitchen"),
    "light.bedroom": ("bedroom_light", "Bedroom light", "color", "Bedroom"),
    "cover.living_room": ("living_room_blind", "Living room blind", "blind", "Living Room"),
    "fan.bedroom": ("bedroom_fan", "Bedroom fan", "fan", "Bedroom"),
    "switch.coffee_maker": ("coffee_maker", "Coffee maker", "appliance", "Kitchen"),
    "climate.bedroom": ("bedroom_thermostat", "Bedroom thermostat", "thermostat", "Bedroom"),
    "media_player.kitchen_radio": ("kitchen_radio", "Kitchen radio", "radio", "Kitchen"),
}


def household_devices() -> list[VirtualDevice]:
    """The routine household's devices in the virtual home."""
    return [
        VirtualDevice(key, name, MODEL, domain_of(entity_id), kind, area)
        for entity_id, (key, name, kind, area) in HOUSEHOLD_DEVICES.items()
    ]


def virtual_entity(entity_id: str) -> str:
    """The virtual entity a generator entity is played on (``light.kitchen`` -> ``light.kitchen_light``)."""
    return f"{domain_of(entity_id)}.{HOUSEHOLD_DEVICES[entity_id][0]}"


def on_virtual_entities(routine: Routine) -> Routine:
    """A true routine with its actions on the virtual entities (what HA's suggestions name)."""
    actions = {virtual_entity(e): dict(s) for e, s in routine.actions.items()}
    return dataclasses.replace(routine, triggers=dict(routine.triggers), actions=actions)


def service_calls(entity_id: str, settings: Settings) -> list[dict[str, Any]]:
    """The service calls that put a virtual entity in ``settings`` (``settings_from_snapshot``'s form):
    the ones an accepted suggestion's automation would make (``engine/automation_calls.service_calls``), in
    ``replay_past``'s form."""
    calls: list[dict[str, Any]] = []
    for action in automation_calls(entity_id, settings):
        domain, service = str(action["action"]).split(".", 1)
        calls.append(
            {"domain": domain, "service": service, "data": {**action["target"], **action.get("data", {})}}
        )
    return calls


def week_shift(last: datetime, end: datetime, margin: timedelta) -> timedelta:
    """Whole weeks that move the local wall time ``last`` to at most ``end - margin`` (``end``'s wall
    time), and no further: weekdays and clock times stay, the past ends shortly before ``end``."""
    room = (end - margin).replace(tzinfo=None) - last.replace(tzinfo=None)
    return timedelta(weeks=room // timedelta(weeks=1))


def epoch_at(when: datetime, shift: timedelta, zone: tzinfo) -> float:
    """Epoch seconds of ``when``'s local wall time moved by ``shift``, read in ``zone`` (HA's time zone)."""
    return (when.replace(tzinfo=None) + shift).replace(tzinfo=zone).timestamp()


@dataclass(frozen=True, slots=True)
class HouseholdPast:
    """The household as ``virtual_home.replay_past`` takes it, and its true routines."""

    calls: list[dict[str, Any]]  # at, domain, service, data, origin
    states: list[dict[str, Any]]  # at, entity_id, state, attributes (sun.sun, weather.home)
    truth: list[Routine]  # on the virtual entities
    first_epoch: float
    last_epoch: float


def routine_household(days: int = ROUTINES_DAYS, seed: int = ROUTINES_SEED) -> Household:
    """The generator's household the demo replays."""
    config = dataclasses.replace(HouseholdConfig.for_variant(ROUTINES_VARIANT), days=days)
    return generate_household(seed, config)


def plan_household_past(household: Household, zone: tzinfo, end: datetime) -> HouseholdPast:
    """The household's events at past times in ``zone``, ending ``END_MARGIN_DAYS`` before ``end``."""
    events = [(datetime.fromisoformat(e["time"]), e) for e in household.events]
    shift = week_shift(max(t for t, _ in events), end.astimezone(zone), timedelta(days=END_MARGIN_DAYS))
    calls: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    for when, event in events:
        at = epoch_at(when, shift, zone)
        entity_id = str(event["entity_id"])
        attributes = {k: v for k, v in event["attributes"].items() if k != "friendly_name"}
        if domain_of(entity_id) in CONTEXT_DOMAINS:
            states.append(
                {"at": at, "entity_id": entity_id, "state": event["state"], "attributes": attributes}
            )
            continue
        settings = settings_from_snapshot(entity_id, str(event["state"]), attributes)
        for call in service_calls(virtual_entity(entity_id), settings):
            calls.append({"at": at, **call, "origin": event["origin"]})
    times = [c["at"] for c in calls] + [s["at"] for s in states]
    truth = [on_virtual_entities(r) for r in household.routines]
    return HouseholdPast(calls, states, truth, min(times), max(times))


def batches(past: HouseholdPast, size: int = CALLS_PER_REQUEST) -> Iterable[dict[str, Any]]:
    """``replay_past`` requests of at most ``size`` items, in time order. Each also repeats the sun and
    weather states current at its start (``sun.sun`` has its real state back between requests), so
    every call sees the household's world of its own moment."""
    items = sorted(
        [(s["at"], 0, "states", s) for s in past.states] + [(c["at"], 1, "calls", c) for c in past.calls],
        key=lambda item: (item[0], item[1]),
    )
    current: dict[str, dict[str, Any]] = {}
    for first in range(0, len(items), size):
        request: dict[str, Any] = {"calls": [], "states": list(current.values())}
        for _at, _order, kind, item in items[first : first + size]:
            request[kind].append(item)
            if kind == "states":
                current[item["entity_id"]] = item
        yield request


def write_household_past(client: RestClient, past: HouseholdPast) -> None:
    """Send the household to ``virtual_home.replay_past``."""
    for request in batches(past):
        client.post(REPLAY_PAST_PATH, request)


def fetch_suggestions(client: RestClient) -> list[Mapping[str, Any]]:
    """``habitus.get_routine_suggestions`` with ``refresh: true``: mine now, return what is suggested."""
    answer = client.post(SUGGESTIONS_PATH, {"refresh": True})
    response = answer.get("service_response", {}) if isinstance(answer, Mapping) else {}
    suggestions = response.get("suggestions", []) if isinstance(response, Mapping) else []
    return [s for s in suggestions if isinstance(s, Mapping)]


def suggested_routine(suggestion: Mapping[str, Any]) -> Routine | None:
    """The routine a suggestion returns (its ``triggers`` and ``actions``), None if it has none."""
    try:
        return Routine.from_json(suggestion)
    except RoutineError:
        return None


def matches(suggested: list[Routine | None], truth: list[Routine]) -> list[int | None]:
    """For each suggestion, the index of the true routine it is (exact match), or None."""
    return [
        next((i for i, true in enumerate(truth) if routine is not None and exact(routine, true)), None)
        for routine in suggested
    ]


def routines_figures(
    suggestions: list[Mapping[str, Any]], found: list[int | None], truth: list[Routine]
) -> dict[str, int | str]:
    """The summary's routine figures: suggestions, those that are true routines, true routines
    recovered, and the suggestions in words (``=`` a true routine, ``?`` none), ``|``-separated."""
    texts = [
        f"{'=' if m is not None else '?'} {s.get('description')}"
        for s, m in zip(suggestions, found, strict=True)
    ]
    return {
        "routine_true": len(truth),
        "routine_suggestions": len(suggestions),
        "routine_suggestions_true": sum(1 for m in found if m is not None),
        "routine_true_recovered": len({m for m in found if m is not None}),
        "routine_suggestion_texts": " | ".join(texts),
    }


def accept_through_repairs(client: RestClient, suggestion_id: str) -> str | None:
    """Accept a suggestion as a user does in Settings > System > Repairs (its repair's fix flow, through
    the REST API the frontend uses); returns the automation entity HA now has for it, if any."""
    step = client.post(REPAIR_FIX_PATH, {"handler": "habitus", "issue_id": suggestion_id})
    if step.get("type") != "menu" or "accept" not in (step.get("menu_options") or []):
        return None
    done = client.post(f"{REPAIR_FIX_PATH}/{step['flow_id']}", {"next_step_id": "accept"})
    if (done.get("type"), done.get("reason")) != ("abort", "accepted"):  # the dialog's "created ..." end
        return None
    return next(
        (
            str(s["entity_id"])
            for s in client.get("/api/states")
            if str(s["entity_id"]).startswith("automation.") and s["attributes"].get("id") == suggestion_id
        ),
        None,
    )
