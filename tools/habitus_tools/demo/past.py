"""The virtual home's past: dataset behaviours played at once with their states stamped at past times.

The adaptation loop needs 25 stored sequences, which a live FR replay takes minutes to produce. So once
Habitus is set up, the first ``--history-days`` dataset days of the replay timeline (the same
accelerated clock, mapping and skips as the live replay) are sent (in batches) to
``virtual_home.replay_past``, which runs each real service call on the virtual entities with its state
stamped at a past time, the last one ``PAST_END_MARGIN_S`` before HA started. Habitus's ingest stamps a
behaviour with its state's time, so TSS cuts this past where it would cut the live stream; the live
replay then continues the timeline.

Why not before Habitus, for its recorder bootstrap: the config flow creates the entry with the default
TSS thresholds (9 h / 24 h) and its bootstrap starts at once; the options flow's reload with the
accelerated thresholds comes a moment later, and when the bootstrap wins that race it learns the whole
past as one sequence. Written after the reload, the past is learned with the right thresholds every
time. (Habitus's idle check, every second, may close a sequence early while the past is being written:
at most a split or two.)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from .client import RestClient
from .mapping import ActionMapper, ServiceCall
from .timeline import ReplayStep, wall_seconds

PAST_END_MARGIN_S = 5.0
REPLAY_PAST_PATH = "/api/services/virtual_home/replay_past"
CALLS_PER_REQUEST = 100


@dataclass(frozen=True, slots=True)
class Past:
    """The past's service calls (with their epoch times) and the replay's remaining steps."""

    calls: list[dict[str, Any]]
    dataset_sequences: int
    live_steps: Iterator[ReplayStep]


def split_past(
    steps: Iterator[ReplayStep], mapper: ActionMapper, days: float, speed: float, end_epoch: float
) -> Past:
    """Take the first ``days`` dataset days of ``steps`` as the past, ending ``PAST_END_MARGIN_S``
    before ``end_epoch``; the rest start the live replay at wall time 0."""
    span = wall_seconds(days * 24.0, speed)
    calls: list[dict[str, Any]] = []
    sequences: set[int] = set()
    origin = end_epoch - PAST_END_MARGIN_S - span
    first_live: ReplayStep | None = None
    for step in steps:
        if step.at >= span:
            first_live = step
            break
        sequences.add(step.sequence_number)
        mapped = mapper.map(step.device, step.action, variant=step.sequence_number + step.position)
        if isinstance(mapped, ServiceCall):
            at = origin + step.at
            calls.append({"at": at, "domain": mapped.domain, "service": mapped.service, "data": mapped.data})
    if first_live is None:
        return Past(calls, len(sequences), iter(()))
    offset = first_live.at
    live = (replace(s, at=s.at - offset) for s in itertools.chain([first_live], steps))
    return Past(calls, len(sequences), live)


def write_past(client: RestClient, past: Past) -> None:
    """Send the past to ``virtual_home.replay_past``, ``CALLS_PER_REQUEST`` calls at a time (HA's
    recorder keeps a ``call_service`` event's data only below 32 kB)."""
    for first in range(0, len(past.calls), CALLS_PER_REQUEST):
        client.post(REPLAY_PAST_PATH, {"calls": past.calls[first : first + CALLS_PER_REQUEST]})
