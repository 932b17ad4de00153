"""Batched scoring of open-sequence snapshots: TransAE and SASRec over many behaviours at once.

Runs in live scoring's thread (``scoring_thread.py``), never on the event loop. A *snapshot* is what
``LiveScorer`` saw of the open TSS sequence after one behaviour: its key (the first behaviour's time),
its last ``SCORING_WINDOW`` behaviours and its length. ``score_snapshots`` turns a list of them into
one reading each, in two batched model calls.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from .engine.behaviour import Behaviour
from .engine.datasets import RawBehaviour, RawSequence
from .engine.models.sasrec import top_actions
from .live_models import TOP_K, LiveScore, ModelBundle, ThresholdSource, allowed_actions

RAW_CACHE_SIZE = 1024  # mapped behaviours kept across jobs (one entry per recent behaviour)

type Snapshot = tuple[float, list[Behaviour], int]  # (sequence key, recent behaviours, length)
type RawCache = dict[tuple[float, str, str], RawBehaviour | None]


def _mapped(bundle: ModelBundle, recent: list[Behaviour], cache: RawCache) -> list[RawBehaviour | None]:
    """Each behaviour's model ids (None: outside the vocabulary), through the job's cache."""
    out: list[RawBehaviour | None] = []
    for b in recent:
        ident = (b.time, b.device, b.action)
        if ident not in cache:
            cache[ident] = bundle.vocab.raw(b)
        out.append(cache[ident])
    return out


def score_snapshots(
    bundle: ModelBundle,
    snapshots: list[Snapshot],
    explain: frozenset[float],
    cache: RawCache,
    follow: frozenset[float] = frozenset(),
) -> list[LiveScore]:
    """Score every snapshot in two batched model calls (scoring thread only); one reading per snapshot.

    Each reading equals ``live_models.score_open_sequence`` of that snapshot: TransAE's score of the
    last ``max_behaviours`` known behaviours, SASRec's top-k after all known ones. The explanation
    (most surprising behaviour, leave-one-out) is filled in for the first anomalous snapshot of each
    sequence in ``explain``, and for the last snapshot of each sequence in ``follow`` or explained so
    (the notification about it is rewritten with that reading: one explanation per sequence and job).
    ``cache`` (behaviour -> ids) belongs to the bundle; only one job uses it.
    """
    if bundle.sasrec.config.item_mode != "action":
        raise ValueError("live scoring needs a SASRec with item_mode='action'")
    if len(cache) > RAW_CACHE_SIZE:
        cache.clear()
    max_behaviours = bundle.transae.config.max_behaviours
    threshold = bundle.threshold
    calibrating = bundle.threshold_source is ThresholdSource.CALIBRATING  # no anomaly before calibration
    known_of: list[list[tuple[Behaviour, RawBehaviour]]] = []
    unknown_of: list[tuple[str, ...]] = []
    known_at: list[list[int]] = []  # where in its snapshot each known behaviour is
    for _, recent, _ in snapshots:
        mapped = _mapped(bundle, recent, cache)
        known_of.append([(b, raw) for b, raw in zip(recent, mapped, strict=True) if raw is not None])
        known_at.append([j for j, raw in enumerate(mapped) if raw is not None])
        unknown_of.append(tuple(b.action for b, raw in zip(recent, mapped, strict=True) if raw is None))
    rows = [i for i, known in enumerate(known_of) if known]
    windows: list[RawSequence] = [[raw for _, raw in known_of[i][-max_behaviours:]] for i in rows]
    scores = bundle.transae.score(windows, bundle.backend) if rows else np.zeros(0, np.float32)
    histories = [bundle.sasrec.items([raw for _, raw in known_of[i]]) for i in rows]
    items = bundle.sasrec.item_scores(histories, bundle.backend) if rows else np.zeros((0, 1), np.float32)
    results = [
        LiveScore(key, length, None, threshold, unknown_of[i], (), calibrating=calibrating)
        for i, (key, _, length) in enumerate(snapshots)
    ]
    explained: set[float] = set()
    for row, i in enumerate(rows):
        key, recent, length = snapshots[i]
        window = known_of[i][-max_behaviours:]
        earlier = length - len(recent) + known_at[i][len(known_of[i]) - len(window)]
        result = LiveScore(
            key,
            length,
            float(scores[row]),
            threshold,
            unknown_of[i],
            _top_k(bundle, items[row], [raw for _, raw in known_of[i]]),
            behaviours=tuple((b.time, b.device, b.action) for b, _ in window),
            earlier=earlier,
            calibrating=calibrating,
        )
        if result.anomalous and key in explain and key not in explained:
            explained.add(key)
            result = replace(result, most_surprising=_most_surprising(bundle, window))
        results[i] = result
    followed = follow | explained
    last_of = {key: i for i, (key, _, _) in enumerate(snapshots) if key in followed and known_of[i]}
    for i in last_of.values():
        if results[i].most_surprising is None:
            window = known_of[i][-max_behaviours:]
            results[i] = replace(results[i], most_surprising=_most_surprising(bundle, window))
    return results


def _top_k(
    bundle: ModelBundle, scores: NDArray[np.float32], history: RawSequence
) -> tuple[tuple[str, float], ...]:
    """``live_models.next_actions``: the best ``TOP_K`` allowed actions, as sigmoid probabilities."""
    actions = scores[1:]  # column 0 is padding
    top = top_actions(actions, TOP_K, allowed_actions(bundle, history))
    probs = 1.0 / (1.0 + np.exp(-np.array([float(actions[i]) for i in top], dtype=np.float64)))
    return tuple((bundle.vocab.actions[int(i)], round(float(p), 4)) for i, p in zip(top, probs, strict=True))


def _most_surprising(bundle: ModelBundle, window: list[tuple[Behaviour, RawBehaviour]]) -> str:
    """The behaviour whose removal lowers TransAE's score most (one batch of ``len(window)`` rows)."""
    if len(window) == 1:
        worst = window[0][0]
    else:
        raws = [raw for _, raw in window]
        drops = [raws[:i] + raws[i + 1 :] for i in range(len(raws))]
        without = bundle.transae.score(drops, bundle.backend)  # [n]: the score without behaviour i
        worst = window[int(np.argmin(without))][0]
    return f"{worst.action} ({worst.device})"
