"""``habitus routines``: mine EdgeWisePersona routines from an event log and show them as automations.

``--events FILE`` is a JSON array of events ``{"time": ISO 8601 with offset, "entity_id", "state",
"attributes", "origin"}`` (the ``events.jsonl`` element), or an ``events.jsonl`` file, one household per
line (``--household`` picks the line). Context comes from the log's ``sun.sun`` and ``weather.*``
snapshots; only ``origin: "user"`` actions count. Each routine is printed as a sentence with its
support and confidence, followed by its suggested automation (YAML); the miner's second tier (routines
under its confidence floor, listed last) is marked. ``--json OUT`` writes the routines as a JSON array in
the ``routines.jsonl`` schema, each with its support and confidence (and ``"tier": 2`` on the second
tier's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from habitus_engine.automations import routine_to_automation
from habitus_engine.routines import Routine, RoutineError
from habitus_engine.routines_events import ContextTimeline, EventLogError, parse_events
from habitus_engine.routines_miner import MinerConfig, mine_event_log


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus routines``."""
    parser = subparsers.add_parser(
        "routines", help="mine routines from an event log and suggest automations", description=__doc__
    )
    parser.add_argument("--events", required=True, type=Path, help="event log: JSON array or events.jsonl")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the routines here (JSON array)")
    parser.add_argument("--household", type=int, default=0, help="line of an events.jsonl file (default 0)")
    parser.add_argument(
        "--min-support", type=int, default=MinerConfig().min_support, help="occurrences needed"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``habitus routines``."""
    try:
        events = parse_events(load_event_log(args.events, args.household))
    except (OSError, ValueError) as err:  # EventLogError and JSON errors are ValueErrors
        print(f"habitus routines: error: {err}", file=sys.stderr)
        return 1
    config = MinerConfig(min_support=args.min_support)
    routines = mine_event_log(events, config)
    weather_entity = ContextTimeline(events).weather_entity
    user_actions = sum(1 for e in events if e.origin == "user")
    print(f"{len(events)} events, {user_actions} by users -> {len(routines)} routines")
    for index, routine in enumerate(routines, start=1):
        print(f"\n{index}. {routine.describe()}")
        stats = f"support {routine.support}, confidence {routine.confidence:.0%}"
        if routine.extras.get("tier") == 2:
            stats += " (second tier: under the confidence floor)"
        print(f"   {stats}, typical time {routine.typical_time or 'unknown'}")
        print(_indent(_automation_text(routine, weather_entity)))
    if args.json is not None:
        try:
            args.json.write_text(
                json.dumps([r.to_json() for r in routines], ensure_ascii=False, indent=1) + "\n",
                encoding="utf-8",
            )
        except OSError as err:
            print(f"habitus routines: error: cannot write {args.json}: {err}", file=sys.stderr)
            return 1
    return 0


def load_event_log(path: Path, household: int = 0) -> Any:
    """The decoded event array of ``path`` (a JSON array, or line ``household`` of a JSON Lines file)."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    if not 0 <= household < len(lines):
        raise EventLogError(f"{path} has {len(lines)} households, no line {household}")
    try:
        return json.loads(lines[household])
    except json.JSONDecodeError as err:
        raise EventLogError(f"{path} line {household + 1} is not JSON: {err}") from err


def _automation_text(routine: Routine, weather_entity: str | None) -> str:
    try:
        config = routine_to_automation(routine, weather_entity)
    except RoutineError as err:
        return f"(no automation: {err})"
    try:
        import yaml  # noqa: PLC0415  (PyYAML ships with Home Assistant)
    except ImportError:
        return json.dumps([config], ensure_ascii=False, indent=2)
    return str(yaml.safe_dump([config], sort_keys=False, allow_unicode=True)).rstrip()


def _indent(text: str) -> str:
    return "\n".join(f"   {line}" for line in text.splitlines())
