"""The virtual home's past: dataset behaviours written into the recorder at past times, before Habitus.

A home that installs Habitus already has a history, and Habitus's bootstrap learns it from the recorder.
The demo gives its virtual home one: the first ``--history-days`` dataset days of the replay timeline
(the same accelerated clock, mapping and skips as the live replay) are sent (in batches) to
``virtual_home.replay_past``, which runs each real service call on the virtual entities with its state
stamped at a past time, so that the last of them lies ``PAST_END_MARGIN_S`` before HA started. Habitus,
added next, bootstraps from that history (TSS cuts it exactly as it would cut the live stream), so the
adaptation loop has enough stored sequences within seconds instead of minutes of replay.

(The virtual entities' initial states, written when HA started, follow that past in the recorder;
Habitus reads them as one last short sequence of changes.)
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
