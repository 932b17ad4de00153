"""The replay loop: each dataset behaviour becomes a real service call at its accelerated time.

Calls go to ``POST /api/services/<domain>/<service>`` with the demo user's token, so HA records them
with the user's context (Habitus sees them as user-initiated). The loop keeps to the timeline's wall
clock (a slow call delays the next ones, it never reorders them), reports progress through a
callback, and counts what it sent, skipped (by reason) and what HA refused. An ``Injector``
(``injections.py``) may slip an unusual sequence in between two dataset sequences: the dataset clock
then pauses for as long as the injection and its silences take.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .client import RestClient
from .injections import Injector
from .mapping import SKIP_REASONS, ActionMapper, ServiceCall
from .summary import Figure
from .timeline import ReplayStep

PROGRESS_EVERY_S = 5.0
_MAX_SLEEP_S = 0.5


@dataclass
class ReplayStats:
    """What the replay did so far."""

    events_replayed: int = 0  # service calls HA accepted
    call_errors: int = 0  # service calls HA refused
    skipped: Counter[str] = field(default_factory=Counter)  # by Skip.reason
    dataset_sequences: int = 0  # dataset sequences started
    elapsed_s: float = 0.0

    def figures(self) -> dict[str, Figure]:
        """The replay's part of the summary."""
        figures: dict[str, Figure] = {
            "events_replayed": self.events_replayed,
            "actions_skipped": sum(self.skipped.values()),
        }
        figures.update({f"skipped_{reason}": self.skipped[reason] for reason in SKIP_REASONS})
        figures.update(
            {"call_errors": self.call_errors, "dataset_sequences": self.dataset_sequences,
             "replay_seconds": round(self.elapsed_s, 1)}
        )  # fmt: skip
        return figures


type ProgressCallback = Callable[[ReplayStats], None]


class Replayer:
    """Sends the timeline's behaviours to HA until the duration is over (or forever)."""

    def __init__(
        self,
        client: RestClient,
        mapper: ActionMapper,
        steps: Iterator[ReplayStep],
        progress: ProgressCallback | None = None,
        progress_every_s: float = PROGRESS_EVERY_S,
        *,
        injector: Injector | None = None,
    ) -> None:
        self.client = client
        self.mapper = mapper
        self.steps = steps
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.injector = injector
        self.stats = ReplayStats()
        self._reported_errors: set[str] = set()
        self._start = 0.0
        self._next_progress = 0.0
        self._shift = 0.0  # seconds the dataset clock paused for injections
        self._last_call = 0.0  # time.monotonic() of the last call sent

    def run(self, duration_s: float | None) -> ReplayStats:
        """Replay for ``duration_s`` wall seconds (``None``: until interrupted or the steps run out)."""
        self._start = time.monotonic()
        self._next_progress = self._start + self.progress_every_s
        last_sequence = -1
        for step in self.steps:
            if duration_s is not None and step.at + self._shift >= duration_s:
                break
            if step.position == 0 and self.injector is not None:
                self._maybe_inject(step, duration_s)
            self._wait_until(self._start + self._shift + step.at)
            if step.sequence_number != last_sequence:
                last_sequence = step.sequence_number
                self.stats.dataset_sequences += 1
            self._replay(step)
        if duration_s is not None:
            self._wait_until(self._start + duration_s)
        self.stats.elapsed_s = time.monotonic() - self._start
        return self.stats

    def _maybe_inject(self, step: ReplayStep, duration_s: float | None) -> None:
        """Before a dataset sequence starts: play the due injection between two silences > Δt_max."""
        injector = self.injector
        assert injector is not None
        now = time.monotonic()
        if not injector.due(now - self._start):
            return
        begin = max(now, self._last_call + injector.gap_s)
        if duration_s is not None and begin + injector.gap_s - self._start >= duration_s:
            return
        self._wait_until(begin)
        injector.play(self.client)
        self._last_call = time.monotonic()
        resume = self._last_call + injector.gap_s - self._start
        self._shift = max(self._shift, resume - step.at)

    def snapshot(self) -> ReplayStats:
        """The counters now (elapsed time brought up to date), e.g. after a Ctrl-C."""
        if self._start:
            self.stats.elapsed_s = time.monotonic() - self._start
        return self.stats

    def _wait_until(self, due: float) -> None:
        """Sleep until ``due``, reporting progress on the way."""
        while True:
            now = time.monotonic()
            if now >= self._next_progress:
                self._next_progress = now + self.progress_every_s
                self.stats.elapsed_s = now - self._start
                if self.progress is not None:
                    self.progress(self.stats)
                continue
            if now >= due:
                return
            time.sleep(min(due - now, self._next_progress - now, _MAX_SLEEP_S))

    def _replay(self, step: ReplayStep) -> None:
        mapped = self.mapper.map(step.device, step.action, variant=step.sequence_number + step.position)
        if not isinstance(mapped, ServiceCall):
            self.stats.skipped[mapped.reason] += 1
            return
        response = self.client.request("POST", f"/api/services/{mapped.domain}/{mapped.service}", mapped.data)
        self._last_call = time.monotonic()
        if response.ok:
            self.stats.events_replayed += 1
            return
        self.stats.call_errors += 1
        if mapped.name not in self._reported_errors:  # once per service, the replay goes on
            self._reported_errors.add(mapped.name)
            print(
                f"warning: {mapped.name} {mapped.data} -> HTTP {response.status}: {response.body}",
                file=sys.stderr,
            )
