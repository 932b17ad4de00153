"""``habitus bench models --hub-row``: TransAE fitted as the hub's ``train_models`` fits it, its threshold
the held-out sequences' prefix-max percentile, and each test piece flagged as live scoring flags it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from habitus_engine.calibration import max_prefix_scores
from habitus_engine.jobs import transae_split
from habitus_engine.metrics import precision_recall_f1
from habitus_tools.bench_models import fit_ad_hub, load_shift
from habitus_tools.cli import main
from habitus_tools.hub_transae import live_flags
from tests.tools.test_bench_models import FR, tiny_fr  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not FR.exists(), reason="shared SmartThings datasets not found")
SCALE = 0.02  # 200 x 0.02 = 4 epochs at most


def test_hub_row_threshold_is_the_held_out_prefix_max_percentile_and_flags_any_prefix(
    tiny_fr: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "hub.json"
    args = ["bench", "models", "--dataset", str(tiny_fr), "--shift", "night", "--json", str(out)]
    extra = ["--sets", "paper_synthetic", "--tasks", "ad", "--protocol", "product", "--hub-row"]
    assert main([*args, *extra, "--epoch-scale", str(SCALE)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    entry = doc["results"]["paper_synthetic"]
    assert {"ad_product", "ad_product_max", "ad_hub"} <= set(entry)  # the existing keys stay
    assert doc["settings"]["hub_row"] is True
    assert "paper_synthetic (product, as the hub)" in capsys.readouterr().out

    # the same fit, step by step: the seeded run is reproducible
    data = load_shift(tiny_fr, "night")
    train = data.training["paper_synthetic"][0]
    model = fit_ad_hub(train, data.sizes, scale=SCALE)
    n = model.config.max_behaviours
    held = [train[int(i)] for i in transae_split(train, model.config).calibration]
    held_max = max_prefix_scores(lambda reads: model.score(reads, "auto"), held, n, n)
    assert model.threshold_ == pytest.approx(float(np.percentile(held_max, 95.0)))
    assert entry["ad_hub"]["threshold"] == pytest.approx(model.threshold_)

    pieces = data.test_normal + data.test_anomalies
    piece_max = max_prefix_scores(lambda reads: model.score(reads, "auto"), pieces, n, n)
    flags = live_flags(model, pieces)
    np.testing.assert_array_equal(flags, piece_max > model.threshold_)
    # a piece's last reading is the whole piece (10 behaviours at most): the prefix max is never lower
    whole = model.score(pieces, "auto")
    assert np.all(piece_max >= whole - 1e-5)
    labels = [0] * len(data.test_normal) + [1] * len(data.test_anomalies)
    expected = precision_recall_f1(labels, flags)
    got = entry["ad_hub"]
    assert (got["precision"], got["recall"], got["f1"]) == pytest.approx(
        (expected.precision, expected.recall, expected.f1)
    )
    assert got["n_test"] == len(pieces) == 50
