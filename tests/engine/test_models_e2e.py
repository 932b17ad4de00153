"""End to end on a shipped dataset subset: train -> save (with ONNX) -> load -> score with both executors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from habitus_engine.datasets import load_vocabulary, read_sequences
from habitus_engine.metrics import hr_ndcg_full, hr_ndcg_sampled, precision_recall_f1
from habitus_engine.models import FieldSizes, SASRec, SASRecConfig, TrainConfig, TransAE, TransAEConfig
from tests.paths import SMARTTHINGS

FR = SMARTTHINGS / "fr"
pytestmark = pytest.mark.skipif(not FR.exists(), reason="shared SmartThings datasets not found")


def _seqs(relative: str, limit: int) -> list[list[tuple[int, int, int, int]]]:
    return [s.seq for s in read_sequences(FR / relative)][:limit]


def test_transae_trained_on_night_data_flags_daytime_injections(tmp_path: Path) -> None:
    vocab = load_vocabulary(FR)
    sizes = FieldSizes(len(vocab.devices), len(vocab.actions))
    train = _seqs("paper/gpt4o/night_anomaly_detection.jsonl", 27)
    config = TransAEConfig(fields=("bucket",), train=TrainConfig(epochs=10, batch_size=8, seed=1))
    model = TransAE(sizes, config).fit(train)
    model.set_vocabulary(vocab)
    model.save(tmp_path / "night.npz")

    loaded = TransAE.load(tmp_path / "night.npz", vocabulary=vocab)
    normal = _seqs("paper/night/split_test.jsonl", 60)
    shifted = _seqs("anomalies/night_time.jsonl", 60)  # every bucket moved into 06-18 h
    numpy_scores = loaded.score(normal + shifted, backend="numpy")
    ort_scores = loaded.score(normal + shifted, backend="onnxruntime")
    np.testing.assert_allclose(ort_scores, numpy_scores, atol=1e-4, rtol=0)
    assert numpy_scores[60:].mean() > numpy_scores[:60].mean() + 1.0
    pairs_ranked_right = np.mean(numpy_scores[60:, None] > numpy_scores[None, :60])  # ROC AUC
    assert pairs_ranked_right > 0.9
    flagged = loaded.predict(normal + shifted, backend="onnxruntime")
    np.testing.assert_array_equal(flagged, ort_scores > loaded.threshold_)
    assert precision_recall_f1([0] * 60 + [1] * 60, flagged).recall > 0.9


def test_sasrec_trained_on_spring_data_ranks_next_actions(tmp_path: Path) -> None:
    vocab = load_vocabulary(FR)
    sizes = FieldSizes(len(vocab.devices), len(vocab.actions))
    train = _seqs("paper/winter/split_trn.jsonl", 400)
    model = SASRec(sizes, SASRecConfig(train=TrainConfig(epochs=4, batch_size=32, dropout=0.2, seed=1))).fit(
        train
    )
    model.set_vocabulary(vocab)
    model.save(tmp_path / "next.npz")
    loaded = SASRec.load(tmp_path / "next.npz", vocabulary=vocab)

    # Held-out pieces whose last action is new to the piece: repeating the history cannot hit them.
    cases = [loaded.items(p) for p in _seqs("paper/winter/split_trn.jsonl", 1728)[400:]]
    cases = [c for c in cases if len(c) >= 2 and c[-1] not in c[:-1]][:150]
    histories = [c[:-1] for c in cases]
    targets = [c[-1] for c in cases]
    scores = loaded.item_scores(histories, backend="onnxruntime")
    np.testing.assert_allclose(scores, loaded.item_scores(histories, backend="numpy"), atol=1e-4, rtol=0)
    untrained = SASRec(sizes, model.config)
    untrained._set_params(untrained._fresh_params())
    untrained_scores = untrained.item_scores(histories, backend="numpy")
    assert len(cases) > 50
    trained = hr_ndcg_sampled(scores, targets, histories)
    assert trained.hit_rate > hr_ndcg_sampled(untrained_scores, targets, histories).hit_rate + 0.15
    assert hr_ndcg_full(scores, targets).hit_rate > hr_ndcg_full(untrained_scores, targets).hit_rate + 0.1
    top = loaded.recommend(train[0], k=3)
    assert all(vocab.actions[a] for a, _ in top)
