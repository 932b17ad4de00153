"""TSS: SmartGen's Time and Semantic-aware Split (Algorithm 1, §4.2).

A household's behaviour stream is cut into sequences:

* a new sequence starts when the gap to the previous behaviour exceeds ``Δt_max`` (``max_gap_hours``),
* or when the current sequence already spans more than ``T_max`` (``max_span_hours``) since its start,
* unless the new behaviour is *semantically linked* to the current sequence (SemanticChecker, line 6):
  it switches off / closes / stops a device that was used earlier in the same sequence. Such a behaviour
  always joins the sequence it completes.

Where this differs from the reference code (``SmartGen/split.py``), on purpose:

* the span counter restarts with every new sequence (``t_start ← b.t``, lines 11 and 15). The reference
  never resets it, so after 24 h every later behaviour became a one-behaviour piece;
* the semantic check works (the reference's ``np.array(dict.values())`` test was always true) and is
  per device: an "off" only stays with a sequence in which that device was switched on or used;
* Algorithm 1 as printed never advances ``i`` after the semantic ``continue``; a linked behaviour is
  appended instead.

``split_sequences`` applies TSS to a finished timeline; ``OnlineSegmenter`` applies the same rule one
behaviour at a time to the live event bus and closes an idle sequence once ``Δt_max`` has passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .behaviour import Behaviour, Sequence

# Controls that end what an earlier behaviour on the same device started (matched on whole words).
_OFF_WORDS = frozenset({"off", "close", "closed", "closing", "stop", "pause", "paused", "idle", "disarm"})

type OffPredicate = Callable[[str], bool]


def is_off_action(action: str) -> bool:
    """Default SemanticChecker vocabulary: does ``action`` switch off, close or stop its device?

    ``"Light:switch off"``, ``"WaterValve:valve close"``, ``"Dryer:... setMachineState stop"`` are;
    ``"Light:switch on"`` and ``"Blind:windowShade open"`` are not.
    """
    control = action.split(":", 1)[-1].lower().replace("_", " ")
    return any(word in _OFF_WORDS for word in control.split())


def off_action_set(actions: Iterable[str]) -> OffPredicate:
    """SemanticChecker from an explicit list, e.g. a dataset's ``off_actions`` (``vocab.json``)."""
    allowed = frozenset(actions)
    return allowed.__contains__


@dataclass(frozen=True, slots=True)
class TSSConfig:
    """TSS parameters. The paper's defaults are Δt_max = 9 h, T_max = 24 h (grid 6-15 h × 12-48 h)."""

    max_gap_hours: float = 9.0  # Δt_max: split when two behaviours are further apart than this
    max_span_hours: float = 24.0  # T_max: split when the sequence would span more than this
    # How long after a device was used its "off" still counts as completing it (SemanticChecker);
    # None means T_max. The paper leaves it unbounded; a light switched off days later is another episode.
    link_hours: float | None = None

    def __post_init__(self) -> None:
        if min(self.max_gap_hours, self.max_span_hours, self.max_link_hours) <= 0:
            raise ValueError("TSS thresholds must be positive hours")

    @property
    def max_link_hours(self) -> float:
        """The SemanticChecker window actually used (``link_hours`` or T_max)."""
        return self.max_span_hours if self.link_hours is None else self.link_hours


def is_semantically_linked(
    current: Sequence, behaviour: Behaviour, config: TSSConfig, is_off: OffPredicate
) -> bool:
    """SemanticChecker (Algorithm 1, line 6): ``behaviour`` completes something ``current`` started.

    True when ``behaviour`` is an off/close/stop action and the same device's latest behaviour in
    ``current`` was not an off action and happened at most ``max_link_hours`` before.
    """
    if not is_off(behaviour.action):
        return False
    earlier = _last_on_device(current, behaviour.device)
    return (
        earlier is not None
        and not is_off(earlier.action)
        and behaviour.time - earlier.time <= config.max_link_hours
    )


def _last_on_device(current: Sequence, device: str) -> Behaviour | None:
    return next((b for b in reversed(current) if b.device == device), None)


def has_pending_link(current: Sequence, now: float, config: TSSConfig, is_off: OffPredicate) -> bool:
    """Could a future "off" at or after ``now`` still be semantically linked to ``current``?"""
    latest: dict[str, Behaviour] = {b.device: b for b in current}
    return any(not is_off(b.action) and now - b.time <= config.max_link_hours for b in latest.values())


def should_split(
    current: Sequence, t_start: float, behaviour: Behaviour, config: TSSConfig, is_off: OffPredicate
) -> bool:
    """Algorithm 1, lines 6-15: must ``behaviour`` start a new sequence after ``current``?"""
    if not current:
        return False
    if is_semantically_linked(current, behaviour, config, is_off):
        return False
    if behaviour.time - current[-1].time > config.max_gap_hours:
        return True
    return behaviour.time - t_start > config.max_span_hours


def split_sequences(
    behaviours: Iterable[Behaviour],
    config: TSSConfig | None = None,
    is_off: OffPredicate = is_off_action,
) -> list[Sequence]:
    """TSS over a behaviour timeline; returns the pieces in order.

    Behaviours stay in the order given. A step backwards in time (coarse dataset buckets, an HA clock
    correction) counts as no gap, as in the reference code; nothing is reordered or dropped.
    """
    config = config or TSSConfig()
    pieces: list[Sequence] = []
    current: Sequence = []
    t_start = 0.0
    for behaviour in behaviours:
        if should_split(current, t_start, behaviour, config, is_off):
            pieces.append(current)
            current = []
        if not current:
            t_start = behaviour.time
        current.append(behaviour)
    if current:
        pieces.append(current)
    return pieces


class OnlineSegmenter:
    """TSS one behaviour at a time, for the live event bus.

    ``push`` returns the sequence it closed, if any; ``close_if_idle`` closes the open sequence once no
    behaviour can join it any more (more than ``Δt_max`` of silence), so sequences are stored promptly.
    """

    def __init__(self, config: TSSConfig | None = None, is_off: OffPredicate = is_off_action) -> None:
        self.config = config or TSSConfig()
        self._is_off = is_off
        self._current: Sequence = []
        self._t_start = 0.0

    @property
    def open_sequence(self) -> Sequence:
        """The sequence being built (a copy)."""
        return list(self._current)

    @property
    def open_key(self) -> float | None:
        """The open sequence's first behaviour time (its identity), None when there is none."""
        return self._current[0].time if self._current else None

    def open_tail(self, n: int) -> tuple[Sequence, int]:
        """The open sequence's last ``n`` behaviours (only those copied) and its length: O(n), not O(len)."""
        return (self._current[-n:] if n > 0 else []), len(self._current)

    def push(self, behaviour: Behaviour) -> Sequence | None:
        """Add one behaviour; return the sequence it closed, if it started a new one."""
        closed: Sequence | None = None
        if should_split(self._current, self._t_start, behaviour, self.config, self._is_off):
            closed, self._current = self._current, []
        if not self._current:
            self._t_start = behaviour.time
        self._current.append(behaviour)
        return closed

    def close_if_idle(self, now: float) -> Sequence | None:
        """Close and return the open sequence once nothing can join it any more.

        That is: more than ``Δt_max`` hours since its last behaviour, and no device in it that a later
        "off" could still complete (``max_link_hours``). Closing earlier would separate linked
        behaviours; this keeps live and offline segmentation identical.
        """
        if (
            self._current
            and now - self._current[-1].time > self.config.max_gap_hours
            and not has_pending_link(self._current, now, self.config, self._is_off)
        ):
            closed, self._current = self._current, []
            return closed
        return None

    def restore(self, open_sequence: Sequence) -> None:
        """Resume with an open sequence saved before a restart."""
        self._current = list(open_sequence)
        self._t_start = open_sequence[0].time if open_sequence else 0.0
