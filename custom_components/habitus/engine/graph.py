"""GSS: SmartGen's Graph-guided Sequence Synthesis (§4.4).

SSC keeps the *diversity* of a home's sequences but loses their *frequency*: how often one action
follows another. GSS recovers it:

1. the global behaviour graph ``G = (V, E)``: ``V`` the distinct actions, an edge ``Vi -> Vj`` weighted
   by how often ``Vj`` directly follows ``Vi`` inside a sequence (Eq. 12);
2. the action transition matrix ``M`` (``|V| x |V|``, Eq. 13);
3. for each action, its top-k most frequent successors, written as JSON hints for the prompt.

Transitions are counted inside each sequence only (never across the boundary TSS drew). Actions are
any hashable labels: ``"Light:switch on"`` names, or code-table codes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Self

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class GSSConfig:
    """GSS parameters (the reference implementation keeps the top 5 successors)."""

    top_k: int = 5
    min_count: int = 1  # ignore transitions seen fewer times than this

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.min_count < 1:
            raise ValueError("top_k and min_count must be at least 1")


class TransitionGraph:
    """The GSS behaviour transition graph and its matrix. ``fit`` on action sequences.

    Learned attributes: ``actions_`` (the nodes ``V``, in first-seen order), ``matrix_`` (``M``,
    ``[|V|, |V|]`` int64, ``M[i, j]`` = times ``actions_[j]`` directly followed ``actions_[i]``).
    """

    def __init__(self, config: GSSConfig | None = None) -> None:
        self.config = config or GSSConfig()
        self.actions_: list[Hashable] = []
        self.matrix_: NDArray[np.int64] = np.zeros((0, 0), dtype=np.int64)

    def fit(self, sequences: Iterable[Sequence[Hashable]]) -> Self:
        """Count every consecutive pair ``(a_t, a_t+1)`` inside each sequence (Eq. 12-13)."""
        index: dict[Hashable, int] = {}
        pairs: list[tuple[int, int]] = []
        for seq in sequences:
            ids = [index.setdefault(action, len(index)) for action in seq]
            pairs.extend(pairwise(ids))
        matrix = np.zeros((len(index), len(index)), dtype=np.int64)  # [|V|, |V|]
        if pairs:
            src, dst = np.asarray(pairs, dtype=np.int64).T  # [P], [P]
            np.add.at(matrix, (src, dst), 1)
        self.actions_ = list(index)
        self.matrix_ = matrix
        return self

    @property
    def edges(self) -> dict[tuple[Hashable, Hashable], int]:
        """``E`` with weights ``w(Vi -> Vj)``."""
        rows, cols = np.nonzero(self.matrix_)
        return {
            (self.actions_[i], self.actions_[j]): int(self.matrix_[i, j])
            for i, j in zip(rows, cols, strict=True)
        }

    def predict(self, action: Hashable) -> list[tuple[Hashable, int]]:
        """The top-k successors of ``action`` with their counts, most frequent first (ties: first seen).

        An action never seen, or without successors, has none.
        """
        try:
            row = self.matrix_[self.actions_.index(action)]  # [|V|]
        except ValueError:
            return []
        order = np.argsort(-row, kind="stable")[: self.config.top_k]  # [k]
        return [(self.actions_[j], int(row[j])) for j in order if row[j] >= self.config.min_count]

    def top_successors(self) -> dict[Hashable, list[tuple[Hashable, int]]]:
        """Top-k successors of every action that has any."""
        return {a: succ for a in self.actions_ if (succ := self.predict(a))}

    def transition_probabilities(self) -> NDArray[np.float64]:
        """Row-normalised ``M`` (``[|V|, |V|]``); rows of actions without successors are zero."""
        totals = self.matrix_.sum(axis=1, keepdims=True)  # [|V|, 1]
        probabilities: NDArray[np.float64] = np.divide(
            self.matrix_, totals, out=np.zeros(self.matrix_.shape), where=totals > 0
        )
        return probabilities

    def hints_json(self, label: Callable[[Hashable], str] = str, with_counts: bool = False) -> str:
        """The GSS guideline as compact JSON: ``{"action": ["next", ...]}`` (or ``[["next", n], ...]``).

        ``label`` turns an action into its text in the prompt (a name, or a short code). Keys are
        ordered by how often the action occurs as a predecessor, so a token budget that truncates the
        hints keeps the most informative ones.
        """
        successors = self.top_successors()
        weight = {a: int(self.matrix_[self.actions_.index(a)].sum()) for a in successors}
        ordered = sorted(successors, key=lambda a: -weight[a])
        hints = {
            label(a): [[label(n), c] if with_counts else label(n) for n, c in successors[a]] for a in ordered
        }
        return json.dumps(hints, separators=(",", ":"))
