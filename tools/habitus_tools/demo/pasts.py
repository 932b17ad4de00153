"""The pasts a demo writes before its live replay, and what Habitus made of them: the routine
household's weeks and its routine suggestions (``routines_past.py``), the SmartThings home's dataset
days (``past.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .client import RestClient
from .console import say
from .past import split_past, write_past
from .plan import DemoOptions, DemoPlan
from .routines_past import (
    ROUTINES_DAYS,
    HouseholdPast,
    accept_through_repairs,
    fetch_suggestions,
    matches,
    plan_household_past,
    routine_household,
    routines_figures,
    suggested_routine,
    write_household_past,
)
from .startup import settled_learning
from .summary import DemoSummary
from .timeline import ReplayStep


def write_routine_household(client: RestClient, summary: DemoSummary, started_epoch: float) -> HouseholdPast:
    """The routine household's weeks, before the SmartThings past (``routines_past.py``)."""
    zone = ZoneInfo(str(client.get("/api/config").get("time_zone") or "UTC"))
    past = plan_household_past(routine_household(), zone, datetime.fromtimestamp(started_epoch, UTC))
    write_household_past(client, past)
    first, last = (datetime.fromtimestamp(t, zone).date() for t in (past.first_epoch, past.last_epoch))
    say(
        f"Routine household's past: {ROUTINES_DAYS} days ({first} to {last}), {len(past.calls)} "
        f"service calls and {len(past.states)} sun and weather states written at their times; "
        f"{len(past.truth)} true routines"
    )
    summary.update({"routine_calls": len(past.calls)})
    return past


def report_routine_suggestions(
    client: RestClient, summary: DemoSummary, past: HouseholdPast, seconds_so_far: float
) -> None:
    """Ask Habitus for its routine suggestions (mined now), compare them with the true routines and
    accept the first true one through its repair's fix flow. ``seconds_so_far``: writing the past."""
    began = time.monotonic()
    suggestions = fetch_suggestions(client)
    found = matches([suggested_routine(s) for s in suggestions], past.truth)
    figures = routines_figures(suggestions, found, past.truth)
    summary.update({**figures, "routines_seconds": round(seconds_so_far + time.monotonic() - began, 1)})
    say(
        f"Habitus suggests {figures['routine_suggestions']} routines; they recover "
        f"{figures['routine_true_recovered']} of the household's {figures['routine_true']} true routines:"
    )
    for suggestion, match in zip(suggestions, found, strict=True):
        say(f"  {'=' if match is not None else '?'} {suggestion.get('description')}")
    say("  (=: a true routine, same triggers and actions; ?: none)")
    accepted = next((s for s, m in zip(suggestions, found, strict=True) if m is not None), None)
    if accepted is not None:
        _accept(client, summary, accepted)


def _accept(client: RestClient, summary: DemoSummary, suggestion: Mapping[str, Any]) -> None:
    """Accept ``suggestion`` through its repair's fix flow, as a user would; say which automation came."""
    automation = accept_through_repairs(client, str(suggestion.get("id")))
    summary.update({"routine_accepted_automation": automation or "none"})
    say(
        f"Accepted through its repair's fix flow: {suggestion.get('description')} -> "
        f"{automation or 'no automation appeared'}"
    )


def write_home_past(
    client: RestClient,
    summary: DemoSummary,
    options: DemoOptions,
    plan: DemoPlan,
    *,
    steps: Iterator[ReplayStep],
    started_epoch: float,
) -> Iterator[ReplayStep]:
    """Give the virtual home its past and wait until Habitus learned it; the live replay's steps."""
    if options.history_days <= 0:
        return steps
    past = split_past(steps, plan.mapper, options.history_days, options.speed, started_epoch)
    write_past(client, past)
    say(
        f"Virtual home's past: {options.history_days:g} dataset days ({past.dataset_sequences} "
        f"dataset sequences, {len(past.calls)} service calls) written at past times"
    )
    summary.update({"history_calls": len(past.calls)})
    figures = settled_learning(client)
    say(
        f"Habitus learned the past: {figures.get('behaviours')} behaviours, "
        f"{figures.get('sequences')} sequences, {figures.get('learning_state')}"
    )
    return past.live_steps
