"""Export the learned dataset in the shared SmartThings JSON Lines format (``engine/datasets.py``).

A directory under HA's config directory gets ``sequences.jsonl`` (one ``[[day, bucket, device, action],
...]`` line per stored TSS sequence, then the sequences the user marked normal) and ``vocab.json``
(``dataset``, ``devices`` = the home's entity ids, ``actions`` = ``Type:control`` names, ``off_actions``).
Day and bucket are local (Monday = 0, 3-hour buckets). ``habitus_engine.datasets`` reads it back.
Everything here runs in the executor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .engine.behaviour import Sequence
from .engine.datasets import RawSequence, write_sequences
from .engine.segment import is_off_action
from .live_const import EXPORT_SEQUENCES_FILE, EXPORT_VOCAB_FILE
from .live_models import day_bucket

EXPORT_DATASET_NAME = "home"


class ExportPathError(ValueError):
    """The export path is outside the config directory, or a file is in the way."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What was written."""

    directory: Path
    sequences: int
    devices: int
    actions: int


def resolve_export_dir(config_dir: Path, requested: str) -> Path:
    """The export directory: ``requested`` relative to (or absolute inside) the config directory."""
    base = config_dir.resolve()
    target = (base / requested).resolve()
    if target == base or base not in target.parents:
        raise ExportPathError(f"{requested} is not a folder inside {base}")
    if target.exists() and not target.is_dir():
        raise ExportPathError(f"{target} exists and is not a folder")
    return target


type Triple = tuple[float, str, str]  # a behaviour's (time, device, action): plain, GC-untracked


def triples(seq: Sequence) -> list[Triple]:
    """A sequence as ``(time, device, action)`` tuples: all ``to_home_raw`` needs, none of the dicts."""
    return [(b.time, b.device, b.action) for b in seq]


def to_home_raw(sequences: list[Sequence]) -> tuple[list[RawSequence], list[str], list[str]]:
    """Behaviour sequences -> raw sequences with the home's own ids; returns (raw, devices, actions)."""
    return triples_to_home_raw([triples(seq) for seq in sequences])


def triples_to_home_raw(sequences: list[list[Triple]]) -> tuple[list[RawSequence], list[str], list[str]]:
    """``to_home_raw`` of sequences given as ``(time, device, action)`` triples."""
    devices = sorted({device for seq in sequences for _, device, _ in seq})
    actions = sorted({action for seq in sequences for _, _, action in seq})
    device_ids = {name: i for i, name in enumerate(devices)}
    action_ids = {name: i for i, name in enumerate(actions)}
    raw = [
        [(*day_bucket(time), device_ids[device], action_ids[action]) for time, device, action in seq]
        for seq in sequences
        if seq
    ]
    return raw, devices, actions


def write_dataset(directory: Path, sequences: list[Sequence]) -> ExportResult:
    """Write ``sequences.jsonl`` and ``vocab.json`` into ``directory`` (created if needed)."""
    raw, devices, actions = to_home_raw(sequences)
    directory.mkdir(parents=True, exist_ok=True)
    count = write_sequences(directory / EXPORT_SEQUENCES_FILE, raw)
    vocab = {
        "dataset": EXPORT_DATASET_NAME,
        "devices": devices,
        "actions": actions,
        "off_actions": [i for i, name in enumerate(actions) if is_off_action(name)],
    }
    (directory / EXPORT_VOCAB_FILE).write_text(json.dumps(vocab, indent=1), encoding="utf-8")
    return ExportResult(directory, count, len(devices), len(actions))
