"""Compact JSON encoding of behaviour sequences, as the store keeps them. Pure Python (no HA).

A stored sequence is one short string of numbers, e.g. ``[[493212.1,0,3,0,1,12.5,-1],...]``: each row
is ``[time_h, device, action, origin, context, outdoor_temp_c|null, settings|-1]`` where device, action,
context and settings are indices into intern tables kept next to the sequences. Contexts and settings
repeat a lot (a handful of time/sun/weather bands, a few brightness levels), so interning them keeps a
90-day store small, and closed sequences are encoded once, when they close, never re-encoded on save.
HA's JSON writer indents nested lists one item per line; one string per sequence avoids that too.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypedDict, cast

from .engine.behaviour import ORIGINS, Behaviour, Sequence

_TEMP_KEY = "outdoor_temp_c"


class CodecError(ValueError):
    """A stored sequence or table could not be decoded."""


class CodecTables(TypedDict):
    """The intern tables, stored next to the sequences."""

    devices: list[str]
    actions: list[str]
    contexts: list[dict[str, str | float]]
    settings: list[dict[str, str | float]]


def _key(mapping: dict[str, str | float]) -> tuple[tuple[str, str | float], ...]:
    return tuple(sorted(mapping.items()))


class _Interner[T]:
    """An append-only table of values and their indices (by a string key)."""

    def __init__(self, values: list[T], key: Any) -> None:
        self.values = list(values)
        self._key = key
        self._index = {key(value): i for i, value in enumerate(self.values)}

    def index(self, value: T) -> int:
        key = self._key(value)
        found = self._index.get(key)
        if found is None:
            found = self._index[key] = len(self.values)
            self.values.append(value)
        return found

    def get(self, index: int) -> T:
        if not 0 <= index < len(self.values):
            raise CodecError(f"table index {index} out of range 0..{len(self.values) - 1}")
        return self.values[index]


class SequenceCodec:
    """Encodes sequences to compact strings and back, against growing intern tables."""

    def __init__(self, tables: CodecTables | None = None) -> None:
        tables = tables or CodecTables(devices=[], actions=[], contexts=[], settings=[])
        self._devices = _Interner[str](tables["devices"], str)
        self._actions = _Interner[str](tables["actions"], str)
        self._contexts = _Interner[dict[str, str | float]](tables["contexts"], _key)
        self._settings = _Interner[dict[str, str | float]](tables["settings"], _key)

    @property
    def devices(self) -> list[str]:
        """Every device that has been encoded (the intern table)."""
        return list(self._devices.values)

    def tables(self) -> CodecTables:
        """The intern tables to store (copies)."""
        return CodecTables(
            devices=list(self._devices.values),
            actions=list(self._actions.values),
            contexts=list(self._contexts.values),
            settings=list(self._settings.values),
        )

    def encode(self, sequence: Sequence) -> str:
        """One sequence as a compact JSON array of rows."""
        return json.dumps([self._row(b) for b in sequence], separators=(",", ":"))

    def _row(self, behaviour: Behaviour) -> list[float | int | None]:
        context = {k: v for k, v in behaviour.context.items() if k != _TEMP_KEY}
        temp = behaviour.context.get(_TEMP_KEY)
        return [
            round(behaviour.time, 6),
            self._devices.index(behaviour.device),
            self._actions.index(behaviour.action),
            ORIGINS.index(behaviour.origin),
            self._contexts.index(context),
            float(temp) if isinstance(temp, int | float) else None,
            self._settings.index(dict(behaviour.settings)) if behaviour.settings else -1,
        ]

    def decode(self, encoded: str) -> Sequence:
        """The sequence back; ``CodecError`` if the string or an index is malformed."""
        try:
            rows = json.loads(encoded)
            return [self._behaviour(row) for row in cast(list[list[Any]], rows)]
        except (ValueError, TypeError, IndexError) as err:
            raise CodecError(f"malformed stored sequence: {err}") from err

    def _behaviour(self, row: list[Any]) -> Behaviour:
        time, device, action, origin, context_i, temp, settings_i = row
        if not 0 <= int(origin) < len(ORIGINS):
            raise CodecError(f"origin index {origin} out of range")
        context = dict(self._contexts.get(int(context_i)))
        # NaN/inf: in rows stored before ingest refused them; no temperature, like ingest now
        if temp is not None and math.isfinite(temp):
            context[_TEMP_KEY] = float(temp)
        return Behaviour(
            time=float(time),
            device=self._devices.get(int(device)),
            action=self._actions.get(int(action)),
            origin=ORIGINS[int(origin)],
            context=context,
            # null: a NaN/inf setting HA's JSON writer stored before ingest refused them
            settings={k: v for k, v in self._settings.get(int(settings_i)).items() if v is not None}
            if settings_i >= 0
            else {},
        )


type StoredSequence = tuple[float, int, str]  # (end time h, behaviours, encoded rows)


def without_devices(
    stored: list[StoredSequence], codec: SequenceCodec, devices: frozenset[str]
) -> tuple[list[StoredSequence], SequenceCodec]:
    """Every sequence re-encoded with a fresh codec, minus ``devices``' behaviours (emptied ones go).

    Runs when entities have been excluded since the data was stored, so nothing about them remains,
    not even in the intern tables. Malformed sequences are kept as they are (never lost silently).
    """
    fresh = SequenceCodec()
    kept: list[StoredSequence] = []
    for end, count, rows in stored:
        try:
            sequence = [b for b in codec.decode(rows) if b.device not in devices]
        except CodecError:
            kept.append((end, count, rows))
            continue
        if sequence:
            kept.append((sequence[-1].time, len(sequence), fresh.encode(sequence)))
    return kept, fresh
