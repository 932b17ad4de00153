"""``habitus bench routines``: score the routine miner with EdgeWisePersona's metrics (section 4).

``--households DIR`` holds line-aligned ``routines.jsonl`` (true routines, a JSON array per household)
and ``events.jsonl`` (the household's event log, a JSON array per line). Each log is mined exactly as
``habitus routines`` does and scored against the truth (:mod:`habitus_engine.routines_metrics`).
``--generate N`` first writes N synthetic households there (:mod:`habitus_engine.households`, variant
``--variant``, seeds ``--seed`` .. ``--seed``+N-1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from habitus_engine.households import HouseholdConfig, write_households
from habitus_engine.routines import Routine, routines_from_json
from habitus_engine.routines_events import parse_events
from habitus_engine.routines_metrics import RoutineScores
from habitus_engine.routines_miner import mine_event_log
from habitus_tools.households_indep import write_households as write_indep


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus bench routines``."""
    parser = subparsers.add_parser("routines", help="routine miner vs true routines", description=__doc__)
    parser.add_argument("--households", required=True, type=Path, metavar="DIR")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the scores here")
    parser.add_argument("--generate", type=int, metavar="N", help="first write N synthetic households to DIR")
    parser.add_argument(
        "--variant", choices=("a", "b", "c", "indep"), default="a", help="generator design (default a)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed of --generate (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``habitus bench routines``."""
    try:
        if args.generate and args.variant == "indep":  # independently designed (households_indep)
            write_indep(args.households, range(args.seed, args.seed + args.generate))
        elif args.generate:
            config = HouseholdConfig.for_variant(args.variant)
            write_households(args.households, range(args.seed, args.seed + args.generate), config)
        scores, seconds = score_directory(args.households)
    except (OSError, ValueError) as err:  # RoutineError, EventLogError and JSON errors are ValueErrors
        print(f"habitus bench routines: error: {err}", file=sys.stderr)
        return 1
    result = scores.to_json() | {"seconds_per_household": round(seconds / max(scores.households, 1), 3)}
    print(json.dumps(result, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


def score_directory(directory: Path) -> tuple[RoutineScores, float]:
    """Mine and score every household of ``directory``; also the seconds spent mining."""
    scores = RoutineScores()
    seconds = 0.0
    for truth, events in _households(directory):
        start = time.perf_counter()
        predicted = mine_event_log(parse_events(events))
        seconds += time.perf_counter() - start
        scores.add(predicted, truth)
    return scores, seconds


def _households(directory: Path) -> Iterator[tuple[list[Routine], Any]]:
    with (
        (directory / "routines.jsonl").open(encoding="utf-8") as routines,
        (directory / "events.jsonl").open(encoding="utf-8") as events,
    ):
        for number, (truth_line, events_line) in enumerate(zip(routines, events, strict=False), start=1):
            try:
                yield routines_from_json(truth_line), json.loads(events_line)
            except ValueError as err:
                raise ValueError(f"{directory} household {number}: {err}") from err
        if routines.readline() or events.readline():
            raise ValueError(f"{directory}: routines.jsonl and events.jsonl have different line counts")
