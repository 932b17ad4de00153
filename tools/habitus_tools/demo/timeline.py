"""Dataset time to accelerated wall-clock time.

A behaviour's dataset time is SmartGen's ``day*24 + bucket*3`` hours (``smartgen_hours``). The replay
plays it ``speed`` times faster than real time (``speed = 3600``: one dataset hour per second), and
Habitus is configured with ``Δt_max = 9 h / speed`` and ``T_max = 24 h / speed`` so TSS cuts the
accelerated stream where it would cut the real one. Three adjustments, all chosen so that they do not
change which gaps TSS splits on:

* behaviours in the same 3-hour bucket are spread ``BURST_STEP_HOURS`` apart (the dataset only says
  "same bucket"; HA needs an order);
* silences longer than ``IDLE_CAP_HOURS`` are shortened to it (still > Δt_max, so still a split), and
  ``INTER_SEQUENCE_GAP_HOURS`` separates consecutive dataset sequences;
* behaviours the replay will skip (``replayable`` says which) take no time: a sequence of location
  events only is passed over at once instead of playing silence;
* the wall clock runs ``TIMING_MARGIN`` faster than nominal, so a gap of exactly Δt_max (which TSS
  keeps, it splits only on *greater* gaps) stays below the threshold despite network jitter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from habitus_engine.datasets import RawSequence, smartgen_hours

BURST_STEP_HOURS = 0.05  # 3 dataset minutes between behaviours of one bucket (10 per bucket: 0.45 h)
IDLE_CAP_HOURS = 12.0  # longer silences are shortened to this (> Δt_max = 9 h)
INTER_SEQUENCE_GAP_HOURS = 12.0  # silence between two dataset sequences
TIMING_MARGIN = 0.95  # wall seconds = dataset hours * 3600 / speed * TIMING_MARGIN


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """One behaviour to replay at ``at`` wall seconds after the replay started."""

    at: float
    sequence_number: int  # 0, 1, 2... counting every sequence replayed, across loops
    position: int  # index of the behaviour within its sequence
    device: int  # dataset device id
    action: int  # dataset action id


def dataset_offsets(seq: RawSequence, replayable: Sequence[bool] | None = None) -> list[float]:
    """Dataset hours of each behaviour from the sequence's first replayable one, bursts spread,
    silences capped; a behaviour that is not replayable gets the clock of the last one that is."""
    hours = smartgen_hours(seq)
    offsets: list[float] = []
    bucket_start = 0.0
    burst = -1
    previous: float | None = None  # hour of the last replayable behaviour
    for i, hour in enumerate(hours):
        if replayable is not None and not replayable[i]:
            offsets.append(bucket_start + max(burst, 0) * BURST_STEP_HOURS)
            continue
        if previous is None or hour == previous:
            burst += 1
        else:
            bucket_start += min(hour - previous, IDLE_CAP_HOURS)
            burst = 0
        previous = hour
        offsets.append(bucket_start + burst * BURST_STEP_HOURS)
    return offsets


def wall_seconds(dataset_hours: float, speed: float) -> float:
    """Wall-clock seconds for a dataset duration at ``speed`` (with ``TIMING_MARGIN``)."""
    return dataset_hours * 3600.0 / speed * TIMING_MARGIN


def replay_steps(
    sequences: Callable[[], Iterable[RawSequence]],
    speed: float,
    replayable: Callable[[int, int], bool] | None = None,
    loop: bool = True,
) -> Iterator[ReplayStep]:
    """Every behaviour of ``sequences()`` on the accelerated clock, restarting it when ``loop``.

    ``sequences`` is called again for each pass, so a file is streamed rather than held in memory.
    ``replayable(device, action)`` tells which behaviours will really be sent (the others take no time).
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    clock_hours = 0.0
    number = 0
    while True:
        empty = True
        for seq in sequences():
            if not seq:
                continue
            empty = False
            mask = [replayable(dev, act) for _d, _b, dev, act in seq] if replayable else [True] * len(seq)
            offsets = dataset_offsets(seq, mask)
            for position, ((_day, _bucket, device, action), offset) in enumerate(
                zip(seq, offsets, strict=True)
            ):
                yield ReplayStep(wall_seconds(clock_hours + offset, speed), number, position, device, action)
            if any(mask):
                clock_hours += offsets[-1] + INTER_SEQUENCE_GAP_HOURS
            number += 1
        if empty or not loop:
            return
