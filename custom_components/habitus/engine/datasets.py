"""Datasets in the shared SmartThings JSON Lines format (``shared/datasets/smartthings``).

A dataset directory holds ``vocab.json`` and JSON Lines files whose lines are either a bare sequence
``[[day, bucket, device, action], ...]`` or ``{"seq": [...], "label": 0|1}``. Ids are per dataset.
A behaviour's time, as SmartGen computes it, is ``day*24 + bucket*3`` hours, plus 168 h every time the
week wraps within a sequence (see ``smartgen_hours``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .behaviour import Behaviour, Sequence

type RawBehaviour = tuple[int, int, int, int]  # (day 0=Mon..6, hour bucket 0..7, device id, action id)
type RawSequence = list[RawBehaviour]


class DatasetError(ValueError):
    """A dataset file or vocabulary is malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A dataset's ids: ``devices[i]`` and ``actions[i]`` name id ``i``."""

    name: str
    devices: tuple[str, ...]
    actions: tuple[str, ...]
    off_actions: frozenset[int]

    @property
    def off_action_names(self) -> frozenset[str]:
        """Names of the off actions, the SemanticChecker vocabulary TSS was meant to use."""
        return frozenset(self.actions[i] for i in self.off_actions if 0 <= i < len(self.actions))


@dataclass(frozen=True, slots=True)
class LabelledSequence:
    """One sequence of a dataset file, with its label (0 = normal, 1 = anomaly)."""

    seq: RawSequence
    label: int = 0


def load_vocabulary(dataset_dir: Path) -> Vocabulary:
    """Read ``vocab.json`` from a dataset directory."""
    path = dataset_dir / "vocab.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Vocabulary(
            name=str(raw.get("dataset", dataset_dir.name)),
            devices=tuple(str(d) for d in raw["devices"]),
            actions=tuple(str(a) for a in raw["actions"]),
            off_actions=frozenset(int(i) for i in raw.get("off_actions", [])),
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise DatasetError(f"{path}: not a dataset vocabulary ({err})") from err


def read_sequences(path: Path, default_label: int = 0) -> list[LabelledSequence]:
    """Read a JSON Lines file of sequences; blank lines are skipped, malformed ones raise."""
    return list(iter_sequences(path, default_label))


def read_raw_sequences(path: Path, limit: int | None = None, missing_ok: bool = False) -> list[RawSequence]:
    """The sequences of a JSON Lines file without their labels (``read_sequences``), the first
    ``limit`` only if given; a missing file is empty with ``missing_ok``, else it raises."""
    if missing_ok and not path.exists():
        return []
    return [s.seq for s in read_sequences(path)][:limit]


def iter_sequences(path: Path, default_label: int = 0) -> Iterator[LabelledSequence]:
    """Stream a JSON Lines file of sequences (see module docstring for the line formats)."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield _parse_line(line, default_label, f"{path}:{number}")


def _parse_line(line: str, default_label: int, where: str) -> LabelledSequence:
    try:
        obj = json.loads(line)
        seq_obj, label = (
            (obj["seq"], int(obj.get("label", default_label)))
            if isinstance(obj, dict)
            else (
                obj,
                default_label,
            )
        )
        seq = [_raw_behaviour(b) for b in seq_obj]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise DatasetError(f"{where}: not a behaviour sequence ({err})") from err
    return LabelledSequence(seq, label)


def _raw_behaviour(item: object) -> RawBehaviour:
    if not isinstance(item, list) or len(item) != 4:
        raise ValueError(f"expected [day, bucket, device, action], got {item!r}")
    day, bucket, device, action = (int(v) for v in item)
    if not (0 <= day <= 6 and 0 <= bucket <= 7 and device >= 0 and action >= 0):
        raise ValueError(f"value out of range in {item!r}")
    return (day, bucket, device, action)


def write_sequences(path: Path, sequences: Iterable[RawSequence]) -> int:
    """Write bare sequences as JSON Lines; returns how many lines were written."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for seq in sequences:
            handle.write(json.dumps([list(b) for b in seq], separators=(",", ":")) + "\n")
            count += 1
    return count


def smartgen_hours(seq: RawSequence) -> list[float]:
    """SmartGen's time axis: ``day*24 + bucket*3`` h, +168 h whenever the week wraps.

    The week counts as wrapped whenever the time of week steps backwards (Sunday -> Monday, but also a
    later bucket followed by an earlier one on the same day): that is what ``SmartGen/split.py`` does,
    and it reproduces the dataset README's TSS piece counts exactly (tests/engine/test_segment.py).
    """
    hours: list[float] = []
    week_offset = 0.0
    previous = None
    for day, bucket, _device, _action in seq:
        hour = week_offset + day * 24.0 + bucket * 3.0
        if previous is not None and hour < previous:
            week_offset += 168.0
            hour += 168.0
        hours.append(hour)
        previous = hour
    return hours


def to_behaviours(seq: RawSequence, vocab: Vocabulary) -> Sequence:
    """Turn a raw sequence into ``Behaviour`` records named through the vocabulary.

    ``device`` is the dataset's device name and ``action`` its ``Device:control`` name; an id outside
    the vocabulary raises ``DatasetError``.
    """
    try:
        return [
            Behaviour(time=t, device=vocab.devices[dev], action=vocab.actions[act])
            for t, (_day, _bucket, dev, act) in zip(smartgen_hours(seq), seq, strict=True)
        ]
    except IndexError as err:
        raise DatasetError(f"id outside the {vocab.name} vocabulary in {seq!r}") from err


def to_raw(seq: Sequence, vocab: Vocabulary) -> RawSequence:
    """Inverse of ``to_behaviours`` for dataset-time behaviours (time → day and 3-hour bucket)."""
    device_ids = {name: i for i, name in enumerate(vocab.devices)}
    action_ids = {name: i for i, name in enumerate(vocab.actions)}
    raw: RawSequence = []
    for b in seq:
        hour_of_week = b.time % 168.0
        raw.append(
            (
                int(hour_of_week // 24),
                int((hour_of_week % 24) // 3),
                device_ids[b.device],
                action_ids[b.action],
            )
        )
    return raw
