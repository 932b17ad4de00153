"""TransAE and SASRec: gradient checks, ONNX/numpy parity, training controls, save/load and bad files."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import onnx
import pytest
from autograd import grad

from habitus_engine.datasets import Vocabulary
from habitus_engine.models import (
    FieldSizes,
    ModelFileError,
    NotFittedError,
    SASRec,
    SASRecConfig,
    TrainConfig,
    TrainingCancelledError,
    TransAE,
    TransAEConfig,
)
from habitus_engine.models.encoding import EncodingError, encode_tokens, left_pad
from habitus_engine.models.network import (
    SASRecShape,
    TransAEShape,
    init_sasrec,
    init_transae,
    transae_scores,
)
from habitus_engine.models.ops import ArrayOps, NumpyOps
from habitus_engine.models.sasrec import sasrec_bce
from habitus_engine.models.serving import NumpyExecutor
from habitus_engine.models.training import fast_primitives, fit_params

SIZES = FieldSizes(n_devices=5, n_actions=9)
TINY_TRAIN = TrainConfig(epochs=2, batch_size=16, seed=7)


def _sequences(n: int, seed: int = 0) -> list[list[tuple[int, int, int, int]]]:
    """Random behaviour sequences (1-6 behaviours) inside ``SIZES``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(1, 7))
        out.append(
            [
                (int(rng.integers(7)), int(rng.integers(8)), int(rng.integers(5)), int(rng.integers(9)))
                for _ in range(length)
            ]
        )
    return out


def _vocab(n_devices: int = 5, n_actions: int = 9) -> Vocabulary:
    return Vocabulary(
        "toy",
        tuple(f"Dev{i}" for i in range(n_devices)),
        tuple(f"Dev0:act {i}" for i in range(n_actions)),
        frozenset(),
    )


def _numeric_grad(f, params, name, index, eps=1e-6):  # type: ignore[no-untyped-def]
    plus = {k: v.copy() for k, v in params.items()}
    minus = {k: v.copy() for k, v in params.items()}
    plus[name][index] += eps
    minus[name][index] -= eps
    return (f(plus) - f(minus)) / (2 * eps)


def _check_gradients(loss, params, names, rng):  # type: ignore[no-untyped-def]
    analytic = grad(loss)(params)
    for name in names:
        for _ in range(3):
            index = tuple(int(rng.integers(s)) for s in params[name].shape)
            numeric = _numeric_grad(loss, params, name, index)
            assert analytic[name][index] == pytest.approx(numeric, rel=1e-4, abs=1e-7), (name, index)


def test_transae_gradients_match_finite_differences() -> None:
    shape = TransAEShape(field_sizes=(7, 8, 5, 9), n_tokens=12, d_model=8, n_heads=2, d_ff=12)
    params = init_transae(shape, seed=1)
    tokens = encode_tokens(_sequences(4, seed=3), ("day", "bucket", "device", "action"), SIZES, 3)
    for fast in (None, fast_primitives()):
        ops = ArrayOps(anp, dtype=np.float64, fast=fast)

        def loss(p):  # type: ignore[no-untyped-def]
            return anp.mean(transae_scores(ops, p, tokens, shape))  # noqa: B023

        names = ["tok_emb", "pos_emb", "enc0.attn.wq", "dec0.cross.wk", "dec0.ffn.w1", "dec0.ln3.g", "out3.w"]
        _check_gradients(loss, params, names, np.random.default_rng(0))


@pytest.mark.parametrize("rezero_padding", [True, False])
def test_sasrec_gradients_match_finite_differences(rezero_padding: bool) -> None:
    shape = SASRecShape(n_items=9, max_len=5, d_model=6, n_heads=2, n_blocks=2, rezero_padding=rezero_padding)
    params = init_sasrec(shape, seed=2)
    model = SASRec(SIZES, SASRecConfig(max_len=5))
    rows = model.training_rows(_sequences(6, seed=4))
    ops = ArrayOps(anp, dtype=np.float64, fast=fast_primitives())

    def loss(p):  # type: ignore[no-untyped-def]
        return sasrec_bce(ops, p, rows, shape, np.random.default_rng(5))  # same negatives every call

    names = ["item_emb", "pos_emb", "blk0.attn.wv", "blk1.ffn.w2", "blk1.ln_attn.b", "ln_final.g"]
    _check_gradients(loss, params, names, np.random.default_rng(1))


@pytest.mark.parametrize(
    ("fields", "reduction"),
    [(("day", "bucket", "device", "action"), "mean"), (("bucket",), "mean"), (("device", "action"), "max")],
)
def test_transae_onnx_runtime_matches_numpy(fields: tuple[str, ...], reduction: str) -> None:
    config = TransAEConfig(fields=fields, max_behaviours=6, score_reduction=reduction, train=TINY_TRAIN)
    model = TransAE(SIZES, config)
    model.fit(_sequences(40))
    batch = [*_sequences(30, seed=9), []]  # an empty sequence is all padding
    numpy_scores = model.score(batch, backend="numpy")
    ort_scores = model.score(batch, backend="onnxruntime")
    assert model.executor("onnxruntime").backend == "onnxruntime"
    np.testing.assert_allclose(ort_scores, numpy_scores, atol=1e-4, rtol=0)
    assert numpy_scores[-1] == 0.0
    assert np.all(numpy_scores[:-1] > 0.0)


@pytest.mark.parametrize("rezero_padding", [True, False])
def test_sasrec_onnx_runtime_matches_numpy(rezero_padding: bool, tmp_path: Path) -> None:
    config = SASRecConfig(max_len=8, rezero_padding=rezero_padding, train=TINY_TRAIN)
    model = SASRec(SIZES, config).fit(_sequences(40))
    histories = [model.items(s) for s in _sequences(25, seed=11)]
    numpy_scores = model.item_scores(histories, backend="numpy")
    ort_scores = model.item_scores(histories, backend="onnxruntime")
    assert numpy_scores.shape == (25, SIZES.n_actions + 1)
    np.testing.assert_allclose(ort_scores, numpy_scores, atol=1e-4, rtol=0)
    model.save(tmp_path / "rec.npz")
    again = SASRec.load(tmp_path / "rec.npz")
    assert again.config.rezero_padding is rezero_padding
    np.testing.assert_allclose(again.item_scores(histories, backend="numpy"), numpy_scores, atol=1e-6)


def test_padding_rows_zeroed_at_the_input_only_become_keys_the_history_attends_to() -> None:
    """SmartGen's model.py: from block 1 on, padding rows are learned keys; pmixer's port re-zeroes them."""
    model = SASRec(SIZES, SASRecConfig(max_len=8, train=TINY_TRAIN)).fit(_sequences(40))
    params = model.params_
    assert params is not None
    twin = SASRec(SIZES, SASRecConfig(max_len=8, rezero_padding=False, train=TINY_TRAIN))
    twin._set_params(params)  # same weights, the other graph
    history = [[3, 4]]  # 6 padding rows before it
    assert not np.allclose(model.item_scores(history, "numpy"), twin.item_scores(history, "numpy"))
    full = [[1, 2, 3, 4, 5, 6, 7, 8]]  # no padding: both graphs are the same function
    np.testing.assert_allclose(model.item_scores(full, "numpy"), twin.item_scores(full, "numpy"), atol=1e-6)


def test_numpy_tape_replays_the_network_exactly_for_any_batch_size() -> None:
    """The numpy executor traces on its first call and replays a tape: same values as running the
    network function directly, for batch sizes other than the traced one, and within 1e-4 of ORT."""
    transae = TransAE(SIZES, TransAEConfig(max_behaviours=6, train=TINY_TRAIN)).fit(_sequences(40))
    sasrec = SASRec(SIZES, SASRecConfig(max_len=8, train=TINY_TRAIN)).fit(_sequences(40))
    cases = [
        (transae, transae.encode([*_sequences(30, seed=9), []])),
        (sasrec, left_pad([sasrec.items(s) for s in _sequences(30, seed=11)], 8)),
    ]
    for model, inputs in cases:
        params = model.params_
        assert params is not None
        executor = NumpyExecutor(model._graph(), params)
        traced = executor.run(inputs[:1])
        direct = model._graph()
        for rows in (inputs[:1], inputs, inputs[3:10], inputs[:1]):
            expected = np.asarray(direct(NumpyOps(np.float32), params, rows), np.float32)
            np.testing.assert_array_equal(executor.run(rows), expected)
        np.testing.assert_array_equal(traced, executor.run(inputs[:1]))
        np.testing.assert_allclose(
            executor.run(inputs), model.executor("onnxruntime").run(inputs), atol=1e-4, rtol=0
        )


def test_onnx_export_records_opset_and_metadata(tmp_path: Path) -> None:
    model = TransAE(SIZES, TransAEConfig(max_behaviours=4, train=TINY_TRAIN)).fit(_sequences(20))
    model.set_vocabulary(_vocab())
    path = tmp_path / "transae.onnx"
    model.export_onnx(path)
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 17
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["habitus"])
    assert meta["kind"] == "transae"
    assert meta["threshold"] == pytest.approx(model.threshold_)
    assert meta["vocabulary"]["devices"] == list(_vocab().devices)


def test_max_reduction_scores_the_worst_behaviour() -> None:
    model = TransAE(SIZES, TransAEConfig(max_behaviours=6, train=TINY_TRAIN)).fit(_sequences(40))
    worst = model.with_score_reduction("max")
    batch = _sequences(20, seed=4)
    mean_scores = model.score(batch, backend="numpy")
    max_scores = worst.score(batch, backend="numpy")
    assert np.all(max_scores >= mean_scores - 1e-6)  # the worst behaviour is at least the average one
    singles = [s for s in batch if len(s) == 1]
    np.testing.assert_allclose(
        worst.score(singles, backend="numpy"), model.score(singles, backend="numpy"), rtol=1e-5
    )


def test_training_is_seeded_and_reproducible() -> None:
    data = _sequences(30)
    first = TransAE(SIZES, TransAEConfig(train=TINY_TRAIN)).fit(data)
    second = TransAE(SIZES, TransAEConfig(train=TINY_TRAIN)).fit(data)
    assert first.params_ is not None and second.params_ is not None
    for name, value in first.params_.items():
        np.testing.assert_array_equal(value, second.params_[name])
    other_seed = TransAE(SIZES, TransAEConfig(train=TrainConfig(epochs=2, batch_size=16, seed=8))).fit(data)
    assert other_seed.params_ is not None
    assert not np.array_equal(other_seed.params_["tok_emb"], first.params_["tok_emb"])


def test_training_reports_progress_and_can_be_cancelled() -> None:
    reports = []
    SASRec(SIZES, SASRecConfig(max_len=6, train=TINY_TRAIN)).fit(_sequences(40), progress=reports.append)
    assert [r.epoch for r in reports] == [1, 2]
    assert all(np.isfinite(r.validation_loss) for r in reports)
    polls = []

    def cancel_on_third_batch() -> bool:
        polls.append(1)
        return len(polls) >= 3

    model = TransAE(SIZES, TransAEConfig(train=TrainConfig(epochs=5, batch_size=4)))
    with pytest.raises(TrainingCancelledError):
        model.fit(_sequences(40), should_cancel=cancel_on_third_batch)
    assert len(polls) == 3
    assert model.params_ is None  # a cancelled fit leaves no half-trained weights behind


def test_early_stopping_keeps_the_best_validation_epoch() -> None:
    params = {"w": np.array([1.0, -2.0])}
    validation = iter([5.0, 3.0, 4.0, 4.5, 6.0, 7.0])
    snapshots = []

    def loss(p, rows, rng):  # type: ignore[no-untyped-def]
        return (p["w"] ** 2).sum()

    def val_loss(p):  # type: ignore[no-untyped-def]
        snapshots.append(p["w"].copy())
        return next(validation)

    best, history = fit_params(
        params,
        loss,
        np.zeros((4, 1), np.int64),
        val_loss,
        TrainConfig(epochs=6, batch_size=2, patience=2, learning_rate=0.1),
    )
    assert history.best_epoch == 2
    assert history.stopped_early and len(history.validation_loss) == 4
    np.testing.assert_array_equal(best["w"], snapshots[1])


def test_threshold_is_a_percentile_of_validation_scores() -> None:
    model = TransAE(SIZES, TransAEConfig(train=TINY_TRAIN)).fit(_sequences(40))
    validation = _sequences(50, seed=3)
    scores = model.score(validation, backend="numpy")
    assert model.calibrate(validation, 80.0) == pytest.approx(float(np.percentile(scores, 80.0)))
    flagged = model.predict(validation, backend="numpy")
    assert flagged.sum() == np.sum(scores > np.percentile(scores, 80.0))


def test_sasrec_recommends_top_k_actions_best_first() -> None:
    model = SASRec(SIZES, SASRecConfig(max_len=6, train=TINY_TRAIN)).fit(_sequences(40))
    top = model.recommend(_sequences(1, seed=2)[0], k=4, backend="numpy")
    assert len(top) == 4
    assert len({a for a, _ in top}) == 4 and all(0 <= a < SIZES.n_actions for a, _ in top)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)


def test_sasrec_ranks_only_the_allowed_actions_in_the_same_order() -> None:
    model = SASRec(SIZES, SASRecConfig(max_len=6, train=TINY_TRAIN)).fit(_sequences(40))
    history = _sequences(1, seed=2)[0]
    every = [a for a, _ in model.recommend(history, k=SIZES.n_actions, backend="numpy")]
    allowed = {every[-1], every[2], every[0], -1, SIZES.n_actions}  # ids outside the vocabulary: ignored
    top = model.recommend(history, k=2, backend="numpy", allowed=allowed)
    assert [a for a, _ in top] == [every[0], every[2]]  # the full ranking, filtered
    assert [a for a, _ in model.recommend(history, k=10, backend="numpy", allowed=allowed)] == [
        every[0],
        every[2],
        every[-1],
    ]  # fewer than k when fewer are allowed
    assert model.recommend(history, k=3, backend="numpy", allowed=set()) == []


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = TransAE(SIZES, TransAEConfig(fields=("device", "action"), max_behaviours=5, train=TINY_TRAIN))
    model.fit(_sequences(30))
    model.set_vocabulary(_vocab())
    model.metadata = {"trained_on": "toy"}
    model.save(tmp_path / "ae.npz")
    loaded = TransAE.load(tmp_path / "ae.npz", vocabulary=_vocab())
    batch = _sequences(10, seed=5)
    np.testing.assert_array_equal(loaded.score(batch, backend="numpy"), model.score(batch, backend="numpy"))
    assert loaded.threshold_ == pytest.approx(model.threshold_)
    assert loaded.config == model.config and loaded.metadata == {"trained_on": "toy"}
    np.testing.assert_allclose(
        loaded.score(batch, backend="onnxruntime"), model.score(batch, backend="numpy"), atol=1e-4
    )
    sasrec = SASRec(SIZES, SASRecConfig(max_len=6, train=TINY_TRAIN)).fit(_sequences(30))
    sasrec.save(tmp_path / "rec.npz")
    again = SASRec.load(tmp_path / "rec.npz")
    assert again.recommend(batch[0], 3, "numpy") == sasrec.recommend(batch[0], 3, "numpy")


@pytest.fixture
def saved_model(tmp_path: Path) -> Path:
    model = TransAE(SIZES, TransAEConfig(max_behaviours=4, train=TINY_TRAIN)).fit(_sequences(20))
    model.set_vocabulary(_vocab())
    model.save(tmp_path / "model.npz")
    return tmp_path / "model.npz"


def test_corrupt_and_mismatched_files_raise_model_file_error(saved_model: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a model at all")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(saved_model.read_bytes()[:200])
    for path, message in [
        (garbage, "not a Habitus model"),
        (truncated, "not a Habitus model"),
        (tmp_path / "missing.npz", "no such model file"),
    ]:
        with pytest.raises(ModelFileError, match=message):
            TransAE.load(path)
    with pytest.raises(ModelFileError, match="holds a 'transae' model, expected 'sasrec'"):
        SASRec.load(saved_model)
    renamed = Vocabulary("other", ("A", "B", "C", "D", "E"), _vocab().actions, frozenset())
    with pytest.raises(ModelFileError, match="another vocabulary"):
        TransAE.load(saved_model, vocabulary=renamed)


def test_tampered_weights_raise_model_file_error(saved_model: Path, tmp_path: Path) -> None:
    with np.load(saved_model) as archive:
        contents = {k: archive[k] for k in archive.files}
    contents["param/tok_emb"] = contents["param/tok_emb"][:-1]
    bad_shape = tmp_path / "shape.npz"
    np.savez(bad_shape, **contents)
    with pytest.raises(ModelFileError, match="tok_emb has shape"):
        TransAE.load(bad_shape)
    contents.pop("param/tok_emb")
    missing = tmp_path / "missing_param.npz"
    np.savez(missing, **contents)
    with pytest.raises(ModelFileError, match="missing \\['tok_emb'\\]"):
        TransAE.load(missing)


def test_corrupt_embedded_onnx_graph_raises_model_file_error(saved_model: Path, tmp_path: Path) -> None:
    with np.load(saved_model) as archive:
        contents = {k: archive[k] for k in archive.files}
    contents["__onnx__"] = np.frombuffer(b"\x08garbage" * 10, dtype=np.uint8)
    broken = tmp_path / "broken_onnx.npz"
    np.savez(broken, **contents)
    model = TransAE.load(broken)
    with pytest.raises(ModelFileError, match="ONNX graph does not load"):
        model.score(_sequences(2), backend="onnxruntime")
    assert model.score(_sequences(2), backend="numpy").shape == (2,)  # the weights still serve


def test_unfitted_model_and_out_of_vocabulary_ids_raise() -> None:
    with pytest.raises(NotFittedError):
        TransAE(SIZES).score(_sequences(2))
    with pytest.raises(EncodingError, match="action id 9"):
        TransAE(SIZES).encode([[(0, 0, 0, 9)]])
    with pytest.raises(ValueError, match="fields must be"):
        TransAE(SIZES, TransAEConfig(fields=("weather",)))


def test_left_pad_keeps_the_most_recent_items() -> None:
    np.testing.assert_array_equal(left_pad([[1, 2, 3, 4], [5], []], 3), [[2, 3, 4], [0, 0, 5], [0, 0, 0]])


def test_numpy_executor_needs_neither_autograd_nor_onnx(saved_model: Path) -> None:
    """The hub may lack autograd, onnx and onnxruntime: loading and scoring must still work."""
    script = f"""
import sys
for name in ("autograd", "onnx", "onnxruntime"):
    sys.modules[name] = None
from pathlib import Path
from habitus_engine.models import TransAE
model = TransAE.load(Path({str(saved_model)!r}))
print(model.executor().backend, float(model.score([[(0, 1, 2, 3)]])[0]) > 0)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["numpy", "True"]


def test_time_budget_stops_mid_epoch_and_keeps_the_best_validation_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from habitus_engine.models import training  # noqa: PLC0415

    ticks = iter(range(1000))  # a fake clock: one second per reading
    monkeypatch.setattr(training.time, "monotonic", lambda: float(next(ticks)))
    validation = iter([5.0, 3.0, 4.0, 2.0])
    snapshots = []

    def loss(p, rows, rng):  # type: ignore[no-untyped-def]
        return (p["w"] ** 2).sum()

    def val_loss(p):  # type: ignore[no-untyped-def]
        snapshots.append(p["w"].copy())
        return next(validation)

    best, history = fit_params(
        {"w": np.array([1.0, -2.0])},
        loss,
        np.zeros((4, 1), np.int64),  # two batches per epoch
        val_loss,
        TrainConfig(epochs=10, batch_size=2, patience=5, learning_rate=0.1, max_seconds=5.0),
    )
    # clock 0 at the start, 1-4 after the batches of epochs 1-2, 5 after epoch 3's first batch: stop
    assert history.out_of_time and not history.stopped_early
    assert len(history.validation_loss) == 3  # the cut epoch is validated too
    assert history.best_epoch == 2
    np.testing.assert_array_equal(best["w"], snapshots[1])


def test_no_time_budget_runs_every_epoch() -> None:
    _best, history = fit_params(
        {"w": np.array([1.0])},
        lambda p, rows, rng: (p["w"] ** 2).sum(),
        np.zeros((4, 1), np.int64),
        lambda p: float((p["w"] ** 2).sum()),
        TrainConfig(epochs=3, batch_size=2, patience=5, learning_rate=0.1, max_seconds=None),
    )
    assert len(history.validation_loss) == 3 and not history.out_of_time


def test_on_epoch_sees_every_epochs_progress_and_the_weights_it_validated() -> None:
    validated, seen = [], []

    def val_loss(p):  # type: ignore[no-untyped-def]
        validated.append(p["w"].copy())
        return [3.0, 1.0, 2.0][len(validated) - 1]

    best, history = fit_params(
        {"w": np.array([1.0, -2.0])},
        lambda p, rows, rng: (p["w"] ** 2).sum(),
        np.zeros((4, 1), np.int64),
        val_loss,
        TrainConfig(epochs=3, batch_size=2, patience=5, learning_rate=0.1, max_seconds=None),
        on_epoch=lambda progress, params: seen.append((progress, params["w"].copy())),
    )
    assert [(p.epoch, p.best_epoch, p.validation_loss) for p, _ in seen] == [
        (1, 1, 3.0),
        (2, 2, 1.0),
        (3, 2, 2.0),
    ]
    for (_, weights), checked in zip(seen, validated, strict=True):
        np.testing.assert_array_equal(weights, checked)
    np.testing.assert_array_equal(best["w"], seen[1][1])
    assert history.best_epoch == 2


@pytest.mark.parametrize("kind", ["mask", "replace", "mixed"])
def test_corruption_touches_only_real_behaviours_and_keeps_field_ranges(kind: str) -> None:
    from habitus_engine.models.transae import corrupt_tokens  # noqa: PLC0415

    model = TransAE(SIZES, TransAEConfig(corruption=kind, corruption_rate=0.5))
    shape = model.shape
    tokens = model.encode(_sequences(200, seed=5))  # [N, T], right-padded
    corrupted = corrupt_tokens(tokens, shape, kind, 0.5, np.random.default_rng(1))
    assert corrupted.shape == tokens.shape and corrupted is not tokens
    before = tokens.reshape(len(tokens), -1, 4)
    after = corrupted.reshape(len(tokens), -1, 4)
    padding = before[:, :, 0] == 0
    np.testing.assert_array_equal(after[padding], before[padding])  # padding stays padding
    changed = (after != before).any(axis=-1)
    assert 0.3 < changed[~padding].mean() < 0.6  # about half of the real behaviours
    hidden = (after == 0).all(axis=-1) & ~padding
    if kind == "replace":
        assert not hidden.any()
    else:
        assert hidden.any()
    if kind == "mask":
        assert (hidden == changed).all()  # masking hides whole behaviours, nothing else
    redrawn = after[~padding & ~hidden]
    for j, (offset, size) in enumerate(zip(shape.field_offsets, shape.field_sizes, strict=True)):
        assert ((redrawn[:, j] >= offset) & (redrawn[:, j] < offset + size)).all()
    assert corrupt_tokens(tokens, shape, "none", 0.5, np.random.default_rng(1)) is tokens


def test_denoising_training_keeps_one_unmasked_inference_graph() -> None:
    """The denoising objective changes training only: scores stay ORT/numpy-identical, and the model
    differs from the plain autoencoder's (same seed) because its training inputs were corrupted."""
    data = _sequences(40)
    denoising = TransAE(SIZES, TransAEConfig(corruption="mixed", corruption_rate=0.3, train=TINY_TRAIN))
    plain = TransAE(SIZES, TransAEConfig(corruption="none", train=TINY_TRAIN))
    denoising.fit(data)
    plain.fit(data)
    probe = _sequences(20, seed=9)
    np.testing.assert_allclose(
        denoising.score(probe, backend="onnxruntime"), denoising.score(probe, backend="numpy"), atol=1e-4
    )
    assert denoising.params_ is not None and plain.params_ is not None
    assert not np.allclose(denoising.params_["tok_emb"], plain.params_["tok_emb"])
    with pytest.raises(ValueError, match="corruption"):
        TransAE(SIZES, TransAEConfig(corruption="blur"))
    with pytest.raises(ValueError, match="corruption_rate"):
        TransAE(SIZES, TransAEConfig(corruption="mask", corruption_rate=1.0))


def test_fixed_schedule_returns_the_last_epochs_weights() -> None:
    validation = iter([5.0, 3.0, 4.0, 4.5])
    snapshots = []

    def val_loss(p):  # type: ignore[no-untyped-def]
        snapshots.append(p["w"].copy())
        return next(validation)

    last, history = fit_params(
        {"w": np.array([1.0, -2.0])},
        lambda p, rows, rng: (p["w"] ** 2).sum(),
        np.zeros((4, 1), np.int64),
        val_loss,
        TrainConfig(epochs=4, batch_size=2, patience=5, learning_rate=0.1, restore_best=False),
    )
    assert history.best_epoch == 2 and len(history.validation_loss) == 4
    np.testing.assert_array_equal(last["w"], snapshots[3])  # not the best epoch's (snapshots[1])


def test_unshuffled_training_reads_the_rows_in_their_own_order_every_epoch() -> None:
    def batches_seen(shuffle: bool) -> list[list[int]]:
        seen: list[list[int]] = []

        def loss(p, rows, rng):  # type: ignore[no-untyped-def]
            seen.append([int(r) for r in np.asarray(rows)[:, 0]])
            return (p["w"] ** 2).sum()

        fit_params(
            {"w": np.array([1.0])},
            loss,
            np.arange(6, dtype=np.int64).reshape(6, 1),
            lambda p: 1.0,
            TrainConfig(epochs=3, batch_size=4, patience=5, max_seconds=None, shuffle=shuffle),
        )
        return seen

    assert batches_seen(False) == [[0, 1, 2, 3], [4, 5]] * 3  # SmartGen's DataLoader(shuffle=False)
    shuffled = batches_seen(True)
    assert shuffled != [[0, 1, 2, 3], [4, 5]] * 3
    assert all(sorted(a + b) == list(range(6)) for a, b in zip(shuffled[::2], shuffled[1::2], strict=True))


def test_adam_without_clipping_is_the_textbook_update_and_clipping_changes_it() -> None:
    from habitus_engine.models.training import _Adam  # noqa: PLC0415

    grads = [np.array([300.0, -4.0], np.float32), np.array([0.5, 2.0], np.float32)]  # norms 300, ~2
    config = TrainConfig(learning_rate=0.01, betas=(0.9, 0.999), max_grad_norm=None)
    theta, m, v = np.array([1.0, 1.0], np.float32), np.zeros(2), np.zeros(2)
    expected = theta.astype(np.float64)
    for t, g in enumerate(grads, start=1):  # PyTorch's Adam, eps 1e-8, no decay
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g.astype(np.float64) ** 2
        expected = expected - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    plain, clipped = _Adam(2, config), _Adam(2, dataclasses.replace(config, max_grad_norm=5.0))
    out_plain, out_clipped = theta, theta
    for g in grads:
        out_plain, out_clipped = plain.step(out_plain, g), clipped.step(out_clipped, g)
    np.testing.assert_allclose(out_plain, expected, rtol=1e-5)
    assert not np.allclose(out_clipped, expected, rtol=1e-3)  # step 1 scaled by 5/300, step 2 not
