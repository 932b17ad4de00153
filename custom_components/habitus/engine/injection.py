"""Synthetic anomalies injected into copies of normal sequences: a detection probe that needs no labels.

A home has no labelled anomalies, so how well TransAE still *detects* can only be estimated on anomalies
made from its own normal sequences. ``inject`` makes one anomalous copy of every normal sequence per kind
(in the spirit of SmartGen's attacks, none copied from them; statistics from ``train`` only):

- ``device``: one behaviour becomes the home's rarest device-action pair (a never-used one when ``pairs``
  lists pairs the home could do but did not), same day and hour (the paper's heater attack);
- ``hour``: every behaviour moves to the 3-hour bucket in which the sequence's devices are least used
  (the paper's time attack);
- ``burst``: a device's two most used actions, alternating ``BURST`` times, open the sequence at its own
  time (the paper's TV / robot / projector bursts);
- ``swap``: one behaviour's device and action taken from another ``train`` behaviour (``perturb``'s first
  output: real tokens in the wrong context).

Sequences are raw ``(day, bucket, device id, action id)`` behaviours (``datasets.RawSequence``).
Everything is seeded (``numpy.random.default_rng(seed)``) and deterministic; inputs are never mutated.
Used by the hub's champion-vs-challenger guard (``adaptation.evaluate``, on held-out sequences only) and
by ``habitus bench denoise`` / ``bench adapt``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .datasets import RawBehaviour, RawSequence
from .models import FieldSizes, TransAEConfig

KINDS = ("device", "hour", "burst", "swap")
N_BUCKETS = 8  # SmartGen's 3-hour buckets of a day
BURST = 3  # behaviours in an injected burst


def perturb(
    val: Sequence[RawSequence], pool: Sequence[RawSequence], n_devices: int, n_actions: int, seed: int
) -> tuple[list[RawSequence], list[RawSequence]]:
    """(foreign-behaviour copies, random-token copies) of ``val``: in each, one behaviour's device and
    action replaced by those of a random ``pool`` behaviour, or drawn uniformly from the vocabulary."""
    rng = np.random.default_rng(seed)
    pool_beh = [b for s in pool for b in s]
    foreign: list[RawSequence] = []
    random_tok: list[RawSequence] = []
    for seq in val:
        i = int(rng.integers(len(seq)))
        other = pool_beh[int(rng.integers(len(pool_beh)))]
        foreign.append([*seq[:i], (seq[i][0], seq[i][1], other[2], other[3]), *seq[i + 1 :]])
        j = int(rng.integers(len(seq)))
        new = (seq[j][0], seq[j][1], int(rng.integers(n_devices)), int(rng.integers(n_actions)))
        random_tok.append([*seq[:j], new, *seq[j + 1 :]])
    return foreign, random_tok


def inject(
    normal: Sequence[RawSequence],
    train: Sequence[RawSequence],
    pairs: Sequence[tuple[int, int]],
    sizes: FieldSizes,
    seed: int,
    *,
    max_behaviours: int | None = None,
) -> dict[str, list[RawSequence]]:
    """kind -> one anomalous copy of every (non-empty) ``normal`` sequence, in order (module docstring).

    ``pairs``: every (device, action) the home could do; ``sizes``: the vocabulary's sizes (``swap``'s
    draws); ``max_behaviours``: a burst copy is cut to it (default: ``TransAEConfig``'s). A kind the
    statistics cannot make (no pair, no device with two actions in ``train``) is left empty.
    """
    limit = TransAEConfig().max_behaviours if max_behaviours is None else max_behaviours
    rng = np.random.default_rng(seed)
    pair_count = Counter((b[2], b[3]) for s in train for b in s)
    fewest = min((pair_count[p] for p in pairs), default=0)
    rare = [p for p in pairs if pair_count[p] == fewest]
    at_hour = Counter((b[2], b[1]) for s in train for b in s)  # (device, bucket) -> uses
    by_device: dict[int, Counter[int]] = {}
    for s in train:
        for b in s:
            by_device.setdefault(b[2], Counter())[b[3]] += 1
    burst_devices = sorted(d for d, actions in by_device.items() if len(actions) >= 2)
    out: dict[str, list[RawSequence]] = {kind: [] for kind in KINDS}
    for seq in normal:
        i = int(rng.integers(len(seq)))
        if rare:
            device, action = rare[int(rng.integers(len(rare)))]
            out["device"].append([*seq[:i], (seq[i][0], seq[i][1], device, action), *seq[i + 1 :]])
        out["hour"].append(_quiet_hour(seq, at_hour))
        if burst_devices:
            device = burst_devices[int(rng.integers(len(burst_devices)))]
            (a1, _), (a2, _) = by_device[device].most_common(2)
            start = seq[0][:2]  # the sequence's own (day, bucket)
            burst: list[RawBehaviour] = [(*start, device, (a1, a2)[k % 2]) for k in range(BURST)]
            out["burst"].append([*burst, *seq][:limit])
    if train:
        out["swap"] = perturb(normal, train, sizes.n_devices, sizes.n_actions, seed)[0]
    return out


def _quiet_hour(seq: RawSequence, at_hour: Counter[tuple[int, int]]) -> RawSequence:
    """``seq`` moved to the bucket (not already in it) where its devices are least used in training."""
    other_hours = [h for h in range(N_BUCKETS) if h not in {b[1] for b in seq}] or list(range(N_BUCKETS))
    quiet = min(other_hours, key=lambda h: sum(at_hour[(b[2], h)] for b in seq))
    return [(b[0], quiet, b[2], b[3]) for b in seq]


type NamedBehaviour = tuple[int, int, str, str]  # (day, bucket, device name, "Type:control" action)
type NamedSequence = list[NamedBehaviour]


@dataclass(frozen=True, slots=True)
class NamedCopy:
    """One anomalous copy made by ``inject_named``: its kind, the index of its source in the sequences
    given, and the copy itself (a detection probe can then ask whether the source alone is flagged)."""

    kind: str  # one of ``KINDS``
    source: int  # index into ``inject_named``'s ``sequences``
    sequence: NamedSequence


def inject_named(sequences: Sequence[NamedSequence], seed: int, per_kind: int) -> list[NamedCopy]:
    """Anomalous copies, by name, of a seeded sample of at most ``per_kind`` of ``sequences``: one per
    kind per sampled sequence (kinds in ``KINDS`` order), statistics from ``sequences`` themselves.

    For a home, which has no ``action_device`` map: the pairs it could do are each device with every
    action of a device type it was seen with (an action is ``"Type:control"``), so ``device`` injects
    the least used of them, often a never-used one. A copy equal to its source (a ``swap`` that drew
    the replaced behaviour itself) is dropped: it is no anomaly.
    """
    kept = [i for i, s in enumerate(sequences) if s]
    devices = sorted({b[2] for i in kept for b in sequences[i]})
    actions = sorted({b[3] for i in kept for b in sequences[i]})
    device_ids = {name: i for i, name in enumerate(devices)}
    action_ids = {name: i for i, name in enumerate(actions)}
    raw: list[RawSequence] = [
        [(d, k, device_ids[dev], action_ids[act]) for d, k, dev, act in sequences[i]] for i in kept
    ]
    pairs = _pairs_by_type(raw, actions)
    rng = np.random.default_rng(seed)
    chosen = sorted(int(i) for i in rng.choice(len(raw), size=min(len(raw), per_kind), replace=False))
    sources = [raw[i] for i in chosen]
    copies = inject(sources, raw, pairs, FieldSizes(len(devices), len(actions)), seed)
    return [
        NamedCopy(kind, kept[index], [(d, k, devices[dev], actions[act]) for d, k, dev, act in copy])
        for kind in KINDS
        for copy, source, index in zip(copies[kind], sources, chosen, strict=False)
        if copy != source
    ]


def _pairs_by_type(raw: Sequence[RawSequence], actions: Sequence[str]) -> list[tuple[int, int]]:
    """Every (device, action) whose action's ``Type:`` is one the device was seen doing in ``raw``."""
    types: dict[int, set[str]] = {}
    for s in raw:
        for b in s:
            types.setdefault(b[2], set()).add(actions[b[3]].split(":", 1)[0])
    action_types = [name.split(":", 1)[0] for name in actions]
    return [(d, a) for d in sorted(types) for a, kind in enumerate(action_types) if kind in types[d]]
