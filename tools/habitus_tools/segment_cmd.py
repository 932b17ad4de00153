"""``habitus segment``: apply TSS (SmartGen Algorithm 1) to a dataset file or an HA history export.

Two input formats are recognised by content:

* the shared SmartThings JSON Lines format (``[[day, bucket, device, action], ...]`` or
  ``{"seq": [...], "label": n}`` per line). Each line is one timeline; behaviour times follow SmartGen
  (``day*24 + bucket*3`` h, +168 h per week wrap). Output: one JSON line per TSS piece, same encoding.
* an HA history export: a JSON array (or JSON Lines) of state objects
  ``{"entity_id", "state", "last_changed" | "time", "attributes"?, "origin"?}`` with real timestamps,
  or the REST ``/api/history/period`` shape (a list of per-entity lists). State changes become
  behaviours through the integration's device dictionary (``engine/devices.py``), exactly as on the
  hub. Output: one JSON line per piece, ``[{"time": ISO, "device": entity_id, "action": "Type:control"},
  ...]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from habitus_engine.behaviour import Behaviour
from habitus_engine.datasets import (
    DatasetError,
    RawSequence,
    Vocabulary,
    iter_sequences,
    load_vocabulary,
    to_behaviours,
    to_raw,
    write_sequences,
)
from habitus_engine.devices import DeviceState, describe_change
from habitus_engine.segment import TSSConfig, is_off_action, off_action_set, split_sequences


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``habitus segment``."""
    parser = subparsers.add_parser(
        "segment", help="split behaviour timelines into sequences (TSS)", description=__doc__
    )
    parser.add_argument("--input", required=True, type=Path, help="dataset .jsonl or HA history export")
    parser.add_argument("--output", required=True, type=Path, help="JSON Lines, one TSS piece per line")
    parser.add_argument("--max-gap", type=float, default=9.0, metavar="HOURS", help="Δt_max (default 9)")
    parser.add_argument("--max-span", type=float, default=24.0, metavar="HOURS", help="T_max (default 24)")
    parser.add_argument(
        "--vocab", type=Path, help="vocab.json (default: found beside the input or in its parents)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``habitus segment``."""
    try:
        config = TSSConfig(max_gap_hours=args.max_gap, max_span_hours=args.max_span)
        first = _first_meaningful_char(args.input)
        if first == "[" and _looks_like_dataset(args.input):
            vocab = load_vocabulary(_find_vocab_dir(args.input, args.vocab))
            lines_in, pieces = _segment_dataset(args.input, args.output, vocab, config)
        else:
            lines_in, pieces = _segment_history(args.input, args.output, config)
    except (OSError, DatasetError, ValueError) as err:
        print(f"habitus segment: error: {err}", file=sys.stderr)
        return 1
    print(f"{lines_in} timelines -> {pieces} sequences (Δt_max={args.max_gap} h, T_max={args.max_span} h)")
    return 0


def _first_meaningful_char(path: Path) -> str:
    with path.open(encoding="utf-8") as handle:
        while chunk := handle.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return stripped[0]
    raise ValueError(f"{path} is empty")


def _looks_like_dataset(path: Path) -> bool:
    """A dataset line is ``[[int, int, int, int], ...]``; an export holds objects."""
    with path.open(encoding="utf-8") as handle:
        line = next((ln for ln in handle if ln.strip()), "")
    try:
        first = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(first, list) and all(isinstance(b, list) and len(b) == 4 for b in first)


def _find_vocab_dir(input_path: Path, explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit.parent if explicit.is_file() else explicit
    for parent in input_path.resolve().parents:
        if (parent / "vocab.json").is_file():
            return parent
    raise DatasetError(f"no vocab.json beside {input_path} or in its parents; pass --vocab")


def _segment_dataset(src: Path, dst: Path, vocab: Vocabulary, config: TSSConfig) -> tuple[int, int]:
    is_off = off_action_set(vocab.off_action_names) if vocab.off_actions else is_off_action
    lines = 0

    def pieces() -> Iterator[RawSequence]:
        nonlocal lines
        for labelled in iter_sequences(src):
            lines += 1
            for piece in split_sequences(to_behaviours(labelled.seq, vocab), config, is_off):
                yield to_raw(piece, vocab)

    count = write_sequences(dst, pieces())
    return lines, count


def _segment_history(src: Path, dst: Path, config: TSSConfig) -> tuple[int, int]:
    behaviours = sorted(_history_behaviours(_load_history(src)), key=lambda b: b.time)
    pieces = split_sequences(behaviours, config, is_off_action)
    with dst.open("w", encoding="utf-8") as handle:
        for piece in pieces:
            handle.write(json.dumps([_behaviour_json(b) for b in piece], separators=(",", ":")) + "\n")
    return 1, len(pieces)


def _load_history(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, list) and data and all(isinstance(item, list) for item in data):
        data = [state for per_entity in data for state in per_entity]  # /api/history/period shape
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError(f"{path}: expected a JSON array of HA state objects")
    return data


def _history_behaviours(states: list[dict[str, Any]]) -> Iterator[Behaviour]:
    """Map consecutive states per entity through the integration's device dictionary.

    A history export has no registry, so ``device_class`` comes from the state attributes. The first
    state of each entity only sets the baseline; unavailable/unknown, unchanged and attribute churn
    that is no user setting are not behaviours (``engine/devices.py``).
    """
    previous: dict[str, DeviceState] = {}
    for item in sorted(states, key=_state_time):
        entity_id = str(item.get("entity_id", ""))
        if "." not in entity_id:
            continue
        attributes = item.get("attributes") or {}
        device_class = attributes.get("device_class") if isinstance(attributes, dict) else None
        current = DeviceState(
            domain=entity_id.split(".", 1)[0],
            state=str(item.get("state", "")),
            device_class=device_class if isinstance(device_class, str) else None,
            attributes=attributes if isinstance(attributes, dict) else {},
        )
        change = describe_change(previous.get(entity_id), current)
        previous[entity_id] = current
        if change is None:
            continue
        origin = item.get("origin", "device")
        yield Behaviour(
            time=_state_time(item).timestamp() / 3600.0,
            device=entity_id,
            action=change.action,
            origin=origin if origin in ("user", "automation", "device") else "device",
            settings=change.settings,
        )


def _state_time(item: dict[str, Any]) -> datetime:
    raw = item.get("last_changed") or item.get("last_updated") or item.get("time")
    if not isinstance(raw, str):
        raise ValueError(f"state of {item.get('entity_id')!r} has no timestamp")
    parsed = datetime.fromisoformat(raw)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _behaviour_json(b: Behaviour) -> dict[str, str]:
    return {
        "time": datetime.fromtimestamp(b.time * 3600.0, tz=UTC).isoformat(),
        "device": b.device,
        "action": b.action,
    }
