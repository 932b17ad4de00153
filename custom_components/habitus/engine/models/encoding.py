"""Behaviour sequences -> integer token matrices for TransAE and SASRec.

A raw behaviour is ``(day 0-6, hour bucket 0-7, device id, action id)`` (``datasets.RawSequence``).

* **TransAE tokens.** Each chosen field gets its own id range after the padding id 0, so "device 3"
  and "action 3" are different tokens (the reference shares one table across fields, so they
  collide). ``fields=("day", "bucket", "device", "action")`` is the product default (one model over
  all fields); ``("action",)``, ``("bucket",)`` or ``("device",)`` reproduce SmartGen's per-setting
  AD input (spring, night, multiple). Sequences are right-padded; longer ones keep their last
  ``max_behaviours`` behaviours (the ones a live score is about).
* **SASRec items.** ``"action"`` mode: item = action id + 1 (0 = padding). ``"paper"`` mode reproduces
  SmartGen's BP protocol: the flat ``[day, bucket, device, action, ...]`` ints share one id space and id
  0 doubles as padding, as in the reference (a known defect, kept only for comparison). Histories are
  left-padded to ``max_len`` and keep their most recent items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ..datasets import RawSequence

type Field = Literal["day", "bucket", "device", "action"]
type ItemMode = Literal["action", "paper"]
FIELD_INDEX: dict[str, int] = {"day": 0, "bucket": 1, "device": 2, "action": 3}
ALL_FIELDS: tuple[Field, ...] = ("day", "bucket", "device", "action")


class EncodingError(ValueError):
    """A behaviour id falls outside the vocabulary a model was built for."""


@dataclass(frozen=True, slots=True)
class FieldSizes:
    """How many ids each behaviour field has (``vocab.json``: 7 days, 8 buckets, devices, actions)."""

    n_devices: int
    n_actions: int
    n_days: int = 7
    n_buckets: int = 8

    def size(self, field_name: str) -> int:
        """Number of ids of one field."""
        return {
            "day": self.n_days,
            "bucket": self.n_buckets,
            "device": self.n_devices,
            "action": self.n_actions,
        }[field_name]


def token_offsets(fields: Sequence[str], sizes: FieldSizes) -> list[int]:
    """First token id of each field (id 0 is padding)."""
    offsets, next_id = [], 1
    for name in fields:
        offsets.append(next_id)
        next_id += sizes.size(name)
    return offsets


def token_vocab_size(fields: Sequence[str], sizes: FieldSizes) -> int:
    """V: padding plus every field's ids."""
    return 1 + sum(sizes.size(name) for name in fields)


def encode_tokens(
    sequences: Sequence[RawSequence], fields: Sequence[str], sizes: FieldSizes, max_behaviours: int
) -> NDArray[np.int64]:
    """TransAE input: N sequences -> int64 [N, max_behaviours * len(fields)], right-padded with 0."""
    width = len(fields)
    offsets = token_offsets(fields, sizes)
    columns = [FIELD_INDEX[name] for name in fields]
    limits = [sizes.size(name) for name in fields]
    out = np.zeros((len(sequences), max_behaviours * width), dtype=np.int64)
    for row, seq in enumerate(sequences):
        for pos, behaviour in enumerate(seq[-max_behaviours:]):
            for j, (column, offset, limit) in enumerate(zip(columns, offsets, limits, strict=True)):
                value = int(behaviour[column])
                if not 0 <= value < limit:
                    raise EncodingError(f"{fields[j]} id {value} outside 0..{limit - 1} in {list(seq)!r}")
                out[row, pos * width + j] = offset + value
    return out


def n_items_for(mode: ItemMode, sizes: FieldSizes) -> int:
    """N, the largest item id, for a SASRec item mode."""
    if mode == "action":
        return sizes.n_actions
    return max(sizes.n_actions, sizes.n_devices, sizes.n_days, sizes.n_buckets)


def item_sequence(seq: RawSequence, mode: ItemMode, sizes: FieldSizes) -> list[int]:
    """One behaviour sequence as SASRec item ids (see module docstring)."""
    if mode == "action":
        items = [int(b[3]) + 1 for b in seq]
        limit = sizes.n_actions
    else:
        items = [int(v) for b in seq for v in b]
        limit = n_items_for(mode, sizes)
    for item in items:
        if not 0 <= item <= limit:
            raise EncodingError(f"item {item} outside 0..{limit} in {list(seq)!r}")
    return items


def left_pad(histories: Sequence[Sequence[int]], max_len: int) -> NDArray[np.int64]:
    """Item histories -> int64 [N, max_len], left-padded with 0, keeping the most recent items."""
    out = np.zeros((len(histories), max_len), dtype=np.int64)
    for row, items in enumerate(histories):
        recent = list(items)[-max_len:]
        if recent:
            out[row, max_len - len(recent) :] = recent
    return out
