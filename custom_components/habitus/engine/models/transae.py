"""TransAE: the Transformer autoencoder SmartGen uses for anomaly detection (§5, Table 2).

A sequence is anomalous when the autoencoder reconstructs it badly: the anomaly score is the mean
token cross-entropy over the sequence's non-padding tokens, and the threshold is a percentile of the
validation scores (SmartGen: ``np.percentile(val_scores, p)``).

Default threshold percentile: **95**. On in-distribution behaviour the percentile p flags about
(100 - p) % of normal sequences, so 95 means roughly one false alarm per twenty closed sequences. It
is the paper's setting for spring and night on FR and SP (multiple uses 99, where its validation set is
its training set, so scores are optimistic); ``calibrate`` sets any other percentile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from ..datasets import RawSequence
from .base import Backend, NetworkModel
from .encoding import ALL_FIELDS, FieldSizes, encode_tokens
from .network import PAD, Params, TransAEShape, init_transae, transae_scores
from .ops import ArrayOps, NumpyOps, Ops, Tensor
from .serving import GraphFn
from .training import (
    CancelFn,
    EpochFn,
    ProgressFn,
    TrainConfig,
    TrainHistory,
    fast_primitives,
    fit_params,
    split_validation,
    train_config_from,
)

CORRUPTIONS = ("none", "mask", "replace", "mixed")
TRANSAE_MAX_EPOCHS = 200  # TransAEConfig's epoch cap (see there)
# TransAEConfig's Adam step size (was 1e-3). Where the 25 s budget binds, 5e-3 reaches in fewer epochs
# what 1e-3 reaches at convergence: 3-home mean ROC AUC 0.848 vs 0.813 as the hub trains; converged
# the rates tie (0.856 vs 0.847), 1e-2 stops SP short (0.795): ``habitus bench denoise
# --learning-rate``, docs/BENCHMARKS.md "TransAE's epoch cap, time budget and learning rate".
TRANSAE_LEARNING_RATE = 5e-3


@dataclass(frozen=True, slots=True)
class TransAEConfig:
    """TransAE settings. The paper's AD model is 512-d / 8 heads / 2+2 layers / 15 epochs; the hub
    default is much smaller so training and per-behaviour scoring fit a Raspberry-Pi-class CPU."""

    fields: tuple[str, ...] = ALL_FIELDS  # product default: one model over all four fields
    max_behaviours: int = 10  # SmartGen sequences hold at most 10 behaviours
    d_model: int = 32
    n_heads: int = 2
    n_encoder_layers: int = 1
    n_decoder_layers: int = 1
    d_ff: int = 64
    positional: bool = True  # behaviour-position embedding (the reference has none)
    threshold_percentile: float = 95.0  # see module docstring
    score_reduction: str = "mean"  # "mean" token loss (paper) or "max" over behaviours; training uses mean
    # Denoising objective (see ``corrupt_tokens``): "none" (plain autoencoder, the reference),
    # "mask" (behaviours hidden), "replace" (random ids) or "mixed" (half each); training only.
    # Default mixed/0.15, chosen on real homes' own data, no test set: trained as the hub trains on
    # FR, SP and AN raw trn, scored on held-out normal sequences against anomalies injected into
    # them, it has the best mean ROC AUC over 3 homes x 3 seeds (0.796; plain autoencoder 0.784; the
    # former default mixed 0.5 0.770, last or tied last on every home): ``habitus bench denoise``,
    # docs/BENCHMARKS.md "TransAE's objective on real homes".
    corruption: str = "mixed"
    corruption_rate: float = 0.15  # share of a training sequence's behaviours corrupted per batch
    # Training schedule: epoch cap 200 (SASRec keeps TrainConfig's 30); early stopping and the 25 s
    # budget (``max_seconds``) end training. Trained as the hub trains on FR, SP and AN raw trn (3
    # seeds each), every run still improved at the former cap 30 and early stopping ended them at
    # epochs 38-102; the mean ROC AUC on held-out normal vs injected anomalies rose from 0.766 to
    # 0.830 (FR) and 0.816 to 0.904 (AN), SP tied (0.807 / 0.808); with the 25 s budget on a busy
    # 2-core box the 3-home mean went 0.781 -> 0.813: ``habitus bench denoise --caps``,
    # docs/BENCHMARKS.md "TransAE's epoch cap, time budget and learning rate on real homes". The
    # budget is unchanged, so is the time to train on 10k sequences (budget-bound). Adam's
    # step size is ``TRANSAE_LEARNING_RATE`` (5e-3; TrainConfig's 1e-3 stays SASRec's).
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=TRANSAE_MAX_EPOCHS, learning_rate=TRANSAE_LEARNING_RATE)
    )


class TransAE(NetworkModel):
    """Anomaly detector: ``fit`` on normal sequences, ``score`` (higher = more anomalous), ``predict``."""

    kind = "transae"
    input_name = "tokens"
    output_name = "scores"

    def __init__(self, sizes: FieldSizes, config: TransAEConfig | None = None) -> None:
        super().__init__(sizes)
        self.config = config or TransAEConfig()
        if self.config.score_reduction not in ("mean", "max"):
            raise ValueError(f"score_reduction must be 'mean' or 'max', got {self.config.score_reduction!r}")
        if self.config.corruption not in CORRUPTIONS:
            raise ValueError(f"corruption must be one of {CORRUPTIONS}, got {self.config.corruption!r}")
        if not 0.0 <= self.config.corruption_rate < 1.0:
            raise ValueError(f"corruption_rate must be in [0, 1), got {self.config.corruption_rate}")
        unknown = set(self.config.fields) - set(ALL_FIELDS)
        if unknown or not self.config.fields:
            raise ValueError(f"fields must be a non-empty subset of {ALL_FIELDS}, got {self.config.fields}")
        self.threshold_: float | None = None
        self.history_: TrainHistory | None = None

    @property
    def shape(self) -> TransAEShape:
        """The network's tensor sizes."""
        c = self.config
        width = len(c.fields)
        return TransAEShape(
            field_sizes=tuple(self.sizes.size(f) for f in c.fields),
            n_tokens=c.max_behaviours * width,
            d_model=c.d_model,
            n_heads=c.n_heads,
            n_encoder_layers=c.n_encoder_layers,
            n_decoder_layers=c.n_decoder_layers,
            d_ff=c.d_ff,
            positional=c.positional,
            score_reduction=c.score_reduction,
        )

    def encode(self, sequences: Sequence[RawSequence]) -> NDArray[np.int64]:
        """Sequences -> token matrix int64 [N, T]."""
        return encode_tokens(sequences, self.config.fields, self.sizes, self.config.max_behaviours)

    def fit(
        self,
        sequences: Sequence[RawSequence],
        validation: Sequence[RawSequence] | None = None,
        *,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
        on_epoch: EpochFn | None = None,
    ) -> Self:
        """Train on normal sequences; without ``validation``, a seeded split of ``sequences`` is held out.

        Sets ``params_`` (best validation epoch), ``threshold_`` (percentile of validation scores) and
        ``history_``. Raises ``TrainingCancelledError`` if ``should_cancel`` returns True.
        ``on_epoch`` sees every epoch's weights (``fit_params``).
        """
        train_cfg = self.config.train
        tokens = self.encode(sequences)
        if validation is None:
            train_idx, val_idx = split_validation(len(tokens), train_cfg.validation_fraction, train_cfg.seed)
            train_tokens, val_tokens = tokens[train_idx], tokens[val_idx]
        else:
            train_tokens, val_tokens = tokens, self.encode(validation)
        if len(train_tokens) == 0 or len(val_tokens) == 0:
            raise ValueError("TransAE needs at least two sequences (one to train, one to validate)")
        shape = self.shape

        mean_shape = dataclasses.replace(shape, score_reduction="mean")

        def validation_loss(params: Params) -> float:
            return float(np.mean(transae_scores(NumpyOps(dtype=np.float32), params, val_tokens, mean_shape)))

        params, self.history_ = fit_params(
            init_transae(shape, train_cfg.seed),
            _transae_loss(mean_shape, train_cfg.dropout, self.config.corruption, self.config.corruption_rate),
            train_tokens,
            validation_loss,
            train_cfg,
            progress=progress,
            should_cancel=should_cancel,
            on_epoch=on_epoch,
        )
        self._set_params(params)
        self.calibrate_tokens(val_tokens, self.config.threshold_percentile)
        return self

    def with_score_reduction(self, reduction: str) -> TransAE:
        """A copy sharing these weights that scores with ``reduction``; calibrate it before ``predict``."""
        twin = TransAE(self.sizes, dataclasses.replace(self.config, score_reduction=reduction))
        twin._set_params(self._require_params())
        twin.vocabulary, twin.metadata = self.vocabulary, dict(self.metadata)
        return twin

    def calibrate(self, validation: Sequence[RawSequence], percentile: float | None = None) -> float:
        """Set ``threshold_`` to the ``percentile`` (default: the config's) of validation scores."""
        return self.calibrate_tokens(self.encode(validation), percentile or self.config.threshold_percentile)

    def calibrate_tokens(self, tokens: NDArray[np.int64], percentile: float) -> float:
        """``calibrate`` on an already encoded token matrix [N, T]."""
        self.threshold_ = float(np.percentile(self._run(tokens, "numpy"), percentile))
        return self.threshold_

    def score(self, sequences: Sequence[RawSequence], backend: Backend = "auto") -> NDArray[np.float32]:
        """Anomaly scores [N] (mean reconstruction cross-entropy; higher = more anomalous)."""
        return self._run(self.encode(sequences), backend)

    def predict(self, sequences: Sequence[RawSequence], backend: Backend = "auto") -> NDArray[np.bool_]:
        """Anomaly flags [N]: score above ``threshold_``."""
        if self.threshold_ is None:
            raise ValueError("TransAE has no threshold: fit or calibrate it first")
        return self.score(sequences, backend) > self.threshold_

    # --- NetworkModel hooks --------------------------------------------------------------------------
    def _graph(self) -> GraphFn:
        shape = self.shape

        def graph(ops: Ops, params: Mapping[str, Tensor], tokens: Tensor) -> Tensor:
            return transae_scores(ops, params, tokens, shape)

        return graph

    def _n_inputs(self) -> int:
        return self.shape.n_tokens

    def _output_dims(self) -> list[int | str]:
        return ["batch"]

    def _fresh_params(self) -> Params:
        return init_transae(self.shape, 0)

    def _config_meta(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def _file_meta(self) -> dict[str, Any]:
        return {**super()._file_meta(), "threshold": self.threshold_}

    @classmethod
    def _from_meta(cls, meta: Mapping[str, Any]) -> Self:
        raw = dict(meta["config"])
        train = train_config_from(raw.pop("train"))
        config = TransAEConfig(**{**raw, "fields": tuple(raw["fields"]), "train": train})
        model = cls(FieldSizes(**meta["sizes"]), config)
        threshold = meta.get("threshold")
        model.threshold_ = None if threshold is None else float(threshold)
        return model


def corrupt_tokens(
    tokens: NDArray[np.int64], shape: TransAEShape, kind: str, rate: float, rng: np.random.Generator
) -> NDArray[np.int64]:
    """The denoising autoencoder's input: a copy of ``tokens`` [B, T] with behaviours corrupted.

    Each non-padding behaviour is picked with probability ``rate``. "mask" hides a picked behaviour
    (all its field tokens become padding: it leaves the attention keys, as a masked token in
    SmartGuard's masked reconstruction), "replace" draws every field token anew uniformly from its
    field, "mixed" does one or the other with equal odds. The loss still scores the reconstruction of
    the clean ``tokens`` at every position, so the model must predict each behaviour from its context
    and cannot trust (copy) its input: at inference, one plain pass over the unmasked sequence, an
    observed behaviour that its context makes unlikely costs more than a usual one.
    """
    if kind == "none" or rate <= 0.0:
        return tokens
    width = shape.tokens_per_behaviour
    behaviours = tokens.reshape(len(tokens), -1, width).copy()  # [B,Tb,w]
    picked = (rng.random(behaviours.shape[:2]) < rate) & (behaviours[:, :, 0] != PAD)  # [B,Tb]
    hide = picked & ((kind == "mask") | ((kind == "mixed") & (rng.random(picked.shape) < 0.5)))
    redraw = picked & ~hide
    for j, (offset, size) in enumerate(zip(shape.field_offsets, shape.field_sizes, strict=True)):
        fresh = offset + rng.integers(0, size, size=picked.shape)  # [B,Tb]
        behaviours[:, :, j] = np.where(redraw, fresh, behaviours[:, :, j])
    behaviours[hide] = PAD
    return behaviours.reshape(tokens.shape)


def _transae_loss(shape: TransAEShape, dropout: float, corruption: str, rate: float) -> Any:
    """Training loss for autograd: mean per-sequence reconstruction loss of a token batch [b, T],
    dropout on; with ``corruption`` the network reads corrupted tokens (``corrupt_tokens``)."""

    fast = fast_primitives()

    def loss(params: Params, batch: NDArray[np.int64], rng: np.random.Generator) -> Any:
        import autograd.numpy as anp  # noqa: PLC0415  (training-only dependency)

        ops = ArrayOps(anp, training=True, dropout=dropout, rng=rng, dtype=np.float32, fast=fast)
        inputs = corrupt_tokens(batch, shape, corruption, rate, rng)
        return anp.mean(transae_scores(ops, params, batch, shape, inputs=inputs))

    return loss
