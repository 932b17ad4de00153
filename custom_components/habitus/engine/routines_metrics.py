"""EdgeWisePersona's profile-reconstruction metrics (section 4), for mined against true routines.

Protocol (section 4.1): per household the prediction is cut to as many routines as the truth has
(missing ones count as blank, scoring 0); every metric is computed per routine and averaged over the
corpus (all true routines of all households).

* **exact match** and **Jaccard** (4.2): predicted and true routines are paired one-to-one (the pairing
  that maximises the total Jaccard); exact = every trigger and every action setting equal; Jaccard =
  |shared components| / |all components|, a component being one trigger ``field=value`` or one action
  ``entity.setting=value``.
* **trigger / action accuracy** (4.3): each predicted routine is compared with its most similar true
  routine (by Jaccard); its triggers, resp. its actions, must match exactly.
* **scalar MAE** (4.4) per field (``light.brightness``...) and **categorical accuracy** (4.5) per field
  (``climate.hvac_mode``...), over the same best-matching pairs.

Scalars are learned from noisy observations, so "equal" for a scalar means within ``SCALAR_TOLERANCE``
(about one step a user would notice); ``exact_match_strict`` also reports exact equality.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .routines import Routine, Settings, domain_of, is_scalar

SCALAR_TOLERANCE: dict[str, float] = {
    "brightness": 8.0,  # of 255 (~3 %)
    "color_temp_kelvin": 150.0,
    "temperature": 0.5,  # °C
    "volume_level": 0.03,
    "percentage": 5.0,
    "current_position": 5.0,
}
_DEFAULT_TOLERANCE = 0.0

type Component = tuple[str, ...]


def _same(name: str, a: str | float, b: str | float, strict: bool = False) -> bool:
    if is_scalar(name, a) and is_scalar(name, b):
        tolerance = 0.0 if strict else SCALAR_TOLERANCE.get(name, _DEFAULT_TOLERANCE)
        return abs(float(a) - float(b)) <= tolerance + 1e-9
    return str(a) == str(b)


def actions_equal(a: Mapping[str, Settings], b: Mapping[str, Settings], strict: bool = False) -> bool:
    """Same devices, same setting names, every value equal (scalars within tolerance)."""
    if set(a) != set(b):
        return False
    for entity, settings in a.items():
        other = b[entity]
        if set(settings) != set(other):
            return False
        if not all(_same(n, v, other[n], strict) for n, v in settings.items()):
            return False
    return True


def exact(pred: Routine, true: Routine, strict: bool = False) -> bool:
    """Triggers and actions both equal."""
    return pred.triggers == true.triggers and actions_equal(pred.actions, true.actions, strict)


def jaccard(pred: Routine, true: Routine) -> float:
    """Shared components over all components (triggers ``field=value``, actions ``entity.setting=value``)."""
    shared = sum(1 for k, v in pred.triggers.items() if true.triggers.get(k) == v)
    for entity, settings in pred.actions.items():
        other = true.actions.get(entity, {})
        shared += sum(1 for n, v in settings.items() if n in other and _same(n, v, other[n]))
    total = len(pred.triggers) + len(true.triggers) + _n_settings(pred) + _n_settings(true) - shared
    return shared / total if total else 1.0


def _n_settings(routine: Routine) -> int:
    return sum(len(s) for s in routine.actions.values())


def best_pairing(preds: Sequence[Routine], trues: Sequence[Routine]) -> list[tuple[int, int]]:
    """One-to-one (pred, true) index pairs maximising the total Jaccard (exhaustive up to 7, else greedy)."""
    if not preds or not trues:
        return []
    scores = [[jaccard(p, t) for t in trues] for p in preds]
    if len(trues) <= 7:
        best: tuple[float, list[tuple[int, int]]] = (-1.0, [])
        for perm in itertools.permutations(range(len(trues)), len(preds)):
            pairs = list(zip(range(len(preds)), perm, strict=True))
            total = sum(scores[i][j] for i, j in pairs)
            if total > best[0]:
                best = (total, pairs)
        return best[1]
    cells = sorted(((scores[i][j], i, j) for i in range(len(preds)) for j in range(len(trues))), reverse=True)
    used_p: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for _, i, j in cells:
        if i not in used_p and j not in used_t:
            pairs.append((i, j))
            used_p.add(i)
            used_t.add(j)
    return pairs


@dataclass(slots=True)
class RoutineScores:
    """Sums over households; :meth:`to_json` gives the averages."""

    households: int = 0
    routines: int = 0
    exact: float = 0.0
    exact_strict: float = 0.0
    jaccard: float = 0.0
    trigger: float = 0.0
    action: float = 0.0
    scalar_errors: dict[str, list[float]] = field(default_factory=dict)
    categorical_hits: dict[str, list[bool]] = field(default_factory=dict)

    def add(self, preds: Sequence[Routine], trues: Sequence[Routine]) -> None:
        """Score one household (predictions are cut to the truth's count first)."""
        preds = list(preds)[: len(trues)]
        self.households += 1
        self.routines += len(trues)
        for i, j in best_pairing(preds, trues):
            self.exact += exact(preds[i], trues[j])
            self.exact_strict += exact(preds[i], trues[j], strict=True)
            self.jaccard += jaccard(preds[i], trues[j])
        for pred in preds:
            true = max(trues, key=lambda t: jaccard(pred, t))
            self.trigger += pred.triggers == true.triggers
            self.action += actions_equal(pred.actions, true.actions)
            self._fields(pred, true)

    def _fields(self, pred: Routine, true: Routine) -> None:
        for entity, settings in true.actions.items():
            guess = pred.actions.get(entity, {})
            for name, value in settings.items():
                key = f"{domain_of(entity)}.{name}"
                if is_scalar(name, value):
                    if name in guess and is_scalar(name, guess[name]):
                        self.scalar_errors.setdefault(key, []).append(abs(float(guess[name]) - float(value)))
                else:
                    self.categorical_hits.setdefault(key, []).append(str(guess.get(name)) == str(value))

    def to_json(self) -> dict[str, Any]:
        """``{"households", "exact_match", "jaccard", "trigger_accuracy", "action_accuracy", ...}``."""
        n = max(self.routines, 1)
        return {
            "households": self.households,
            "routines": self.routines,
            "exact_match": round(self.exact / n, 4),
            "exact_match_strict": round(self.exact_strict / n, 4),
            "jaccard": round(self.jaccard / n, 4),
            "trigger_accuracy": round(self.trigger / n, 4),
            "action_accuracy": round(self.action / n, 4),
            "scalar_mae": {k: round(sum(v) / len(v), 4) for k, v in sorted(self.scalar_errors.items())},
            "categorical_accuracy": {
                k: round(sum(v) / len(v), 4) for k, v in sorted(self.categorical_hits.items())
            },
        }
