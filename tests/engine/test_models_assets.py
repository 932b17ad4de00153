"""The base models shipped inside the integration (``custom_components/habitus/model_assets``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from habitus_engine.datasets import load_vocabulary, read_sequences
from habitus_engine.models import SASRec, TransAE
from tests.paths import PROJECT_ROOT, SMARTTHINGS

ASSETS = PROJECT_ROOT / "custom_components" / "habitus" / "model_assets"
CARD = PROJECT_ROOT / "model_assets" / "README.md"
FILES = sorted(ASSETS.glob("*.npz"))


def test_assets_are_shipped_small_and_described() -> None:
    assert {f.name.split("_")[0] for f in FILES} == {"transae", "sasrec"}
    card = CARD.read_text(encoding="utf-8")
    for path in FILES:
        assert path.stat().st_size < 1_000_000, path
        assert path.name in card


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_asset_loads_and_both_executors_agree(path: Path) -> None:
    dataset = path.stem.split("_", 1)[1]
    vocab = load_vocabulary(SMARTTHINGS / dataset) if (SMARTTHINGS / dataset).exists() else None
    model = (TransAE if path.name.startswith("transae") else SASRec).load(path, vocabulary=vocab)
    assert model.vocabulary is not None and model.metadata["dataset"] == dataset
    json.dumps(model.metadata)  # plain JSON facts only
    sequences = [[(0, 3, 1, 5), (0, 3, 2, 7)], [(4, 6, 0, 0)], [(6, 7, 3, 11)] * 4]
    if vocab is not None:
        sequences += [s.seq for s in read_sequences(SMARTTHINGS / dataset / "raw" / "test.jsonl")][:20]
    if isinstance(model, TransAE):
        assert model.threshold_ is not None
        np.testing.assert_allclose(
            model.score(sequences, "onnxruntime"), model.score(sequences, "numpy"), atol=1e-4
        )
    else:
        histories = [model.items(s) for s in sequences]
        np.testing.assert_allclose(
            model.item_scores(histories, "onnxruntime"), model.item_scores(histories, "numpy"), atol=1e-4
        )
