"""Choose TransAE's denoising default on VALIDATION data only (issue 3; no test set is read).

For every small training set of ``habitus bench models`` (paper synthetic and oracle, FR and SP, all
three shifts), the product TransAE is fitted on the seeded 80 % split and scored on the 20 %
validation split: normal validation sequences against perturbed copies of them. Two generic
perturbations, neither modelled on the test anomalies: one behaviour replaced by a behaviour of
another training sequence (real tokens, wrong context), and one behaviour's device and action
redrawn uniformly. The figure is the ROC AUC of the anomaly score (threshold-free), averaged.

Run: ``python -m habitus_tools.denoise_select ../shared/datasets/smartthings`` (prints a table).

Superseded as the basis of the product default: the validation sets here hold 2-28 synthetic
sequences, and on real homes this criterion's pick (mixed 0.5) is the worst candidate.
``habitus bench denoise`` (``bench_denoise.py``) judges the objective on real homes' own data and
reuses ``roc_auc`` from here; ``perturb`` lives in ``engine/injection.py``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from habitus_engine.injection import perturb
from habitus_engine.models import TransAE, TransAEConfig
from habitus_engine.models.training import split_validation

from .bench_models import SEED, load_shift

CANDIDATES = [("none", 0.0), ("mask", 0.3), ("replace", 0.3), ("mixed", 0.3), ("mixed", 0.5)]


def roc_auc(normal: NDArray[np.floating], anomalous: NDArray[np.floating]) -> float:
    """P(anomalous score > normal score), ties count half."""
    diff = anomalous[:, None] - normal[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def main(root: Path) -> None:
    """Print the validation AUC of every candidate on every small training set."""
    header = f"{'set':<28}" + "".join(f"{k[:5]}{r:<6g}" for k, r in CANDIDATES)
    print(header, flush=True)
    totals = np.zeros(len(CANDIDATES))
    count = 0
    for shift in ("multiple", "night", "spring"):
        for name in ("fr", "sp"):
            data = load_shift(root / name, shift)
            for set_name in ("paper_synthetic", "oracle"):
                if set_name not in data.training:
                    continue
                train = data.training[set_name][0]
                tr_idx, val_idx = split_validation(len(train), 0.2, SEED)
                fit_set, val = [train[i] for i in tr_idx], [train[i] for i in val_idx]
                foreign, random_tok = perturb(val, fit_set, data.sizes.n_devices, data.sizes.n_actions, SEED)
                row = []
                for kind, rate in CANDIDATES:
                    base = TransAEConfig(corruption=kind, corruption_rate=rate)
                    model = TransAE(data.sizes, replace(base, train=replace(base.train, max_seconds=None)))
                    model.fit(fit_set, val)
                    normal = model.score(val, backend="numpy")
                    aucs = [roc_auc(normal, model.score(p, backend="numpy")) for p in (foreign, random_tok)]
                    row.append(float(np.mean(aucs)))
                totals += row
                count += 1
                print(
                    f"{name + ' ' + shift + ' ' + set_name:<28}" + "".join(f"{a:<11.3f}" for a in row),
                    flush=True,
                )
    print(f"{'mean':<28}" + "".join(f"{a:<11.3f}" for a in totals / count), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
