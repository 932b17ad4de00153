"""SASRec: next-action prediction by causal self-attention over the action history (SmartGen Table 3).

Kang & McAuley, *Self-Attentive Sequential Recommendation* (ICDM 2018), following pmixer's
SASRec.pytorch: item ids 1..N with 0 as padding, left-padded histories, training by binary
cross-entropy on the next item against one sampled negative per position, ranking by dot product.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from ..datasets import RawSequence
from .base import Backend, NetworkModel
from .encoding import FieldSizes, ItemMode, item_sequence, left_pad, n_items_for
from .network import PAD, Params, SASRecShape, init_sasrec, sasrec_hidden, sasrec_scores
from .ops import ArrayOps, NumpyOps, Ops, Tensor
from .serving import GraphFn
from .training import (
    CancelFn,
    ProgressFn,
    TrainConfig,
    TrainHistory,
    fast_primitives,
    fit_params,
    split_validation,
    train_config_from,
)


def top_actions(scores: NDArray[np.float32], k: int, allowed: Collection[int] | None = None) -> list[int]:
    """The ``k`` action ids with the highest ``scores`` (one history's, padding column dropped), best
    first, ties in id order; ``allowed``: only these ids (None: all)."""
    n = scores.shape[0]
    ids = range(n) if allowed is None else sorted(a for a in allowed if 0 <= a < n)
    candidates: NDArray[np.int64] = np.fromiter(ids, dtype=np.int64)
    return [int(i) for i in candidates[np.argsort(-scores[candidates], kind="stable")[:k]]]


@dataclass(frozen=True, slots=True)
class SASRecConfig:
    """SASRec settings (the paper: hidden 50, 2 blocks, 1 head, dropout 0.2, lr 1e-3, maxlen 200)."""

    item_mode: ItemMode = "action"  # "paper" = SmartGen's shared flat-token id space (comparison only)
    max_len: int = 20  # history length L
    d_model: int = 50
    n_heads: int = 1
    n_blocks: int = 2
    rezero_padding: bool = True  # False: padding rows zeroed at the input only (SmartGen's model.py)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(dropout=0.2, batch_size=64, patience=5))


class SASRec(NetworkModel):
    """Next-item model: ``fit`` on sequences, ``item_scores`` for histories, ``recommend`` top-k actions."""

    kind = "sasrec"
    input_name = "items"
    output_name = "scores"

    def __init__(self, sizes: FieldSizes, config: SASRecConfig | None = None) -> None:
        super().__init__(sizes)
        self.config = config or SASRecConfig()
        self.history_: TrainHistory | None = None

    @property
    def n_items(self) -> int:
        """N: item ids are 1..N."""
        return n_items_for(self.config.item_mode, self.sizes)

    @property
    def shape(self) -> SASRecShape:
        """The network's tensor sizes."""
        c = self.config
        return SASRecShape(
            n_items=self.n_items,
            max_len=c.max_len,
            d_model=c.d_model,
            n_heads=c.n_heads,
            n_blocks=c.n_blocks,
            rezero_padding=c.rezero_padding,
        )

    def items(self, seq: RawSequence) -> list[int]:
        """A behaviour sequence as item ids (``encoding.item_sequence``)."""
        return item_sequence(seq, self.config.item_mode, self.sizes)

    def training_items(self, seq: RawSequence) -> list[int]:
        """The items of ``seq`` that training reads (all of them; a subclass may hold some out)."""
        return self.items(seq)

    def training_rows(self, sequences: Sequence[RawSequence]) -> NDArray[np.int64]:
        """Rows ``[inputs | next items]``, int64 [n, 2L], one per sequence with at least two items."""
        item_lists = [self.training_items(s) for s in sequences]
        item_lists = [i for i in item_lists if len(i) >= 2]
        length = self.config.max_len
        return np.concatenate(
            [left_pad([i[:-1] for i in item_lists], length), left_pad([i[1:] for i in item_lists], length)],
            axis=1,
        )

    def fit(
        self,
        sequences: Sequence[RawSequence],
        validation: Sequence[RawSequence] | None = None,
        *,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> Self:
        """Train on sequences (next-item BCE, one sampled negative per position), early-stopped on
        the validation BCE with fixed negatives. Raises ``TrainingCancelledError`` when asked to stop."""
        train_cfg = self.config.train
        rows = self.training_rows(sequences)
        if validation is None:
            train_idx, val_idx = split_validation(len(rows), train_cfg.validation_fraction, train_cfg.seed)
            train_rows, val_rows = rows[train_idx], rows[val_idx]
        else:
            train_rows, val_rows = rows, self.training_rows(validation)
        if len(train_rows) == 0 or len(val_rows) == 0:
            raise ValueError("SASRec needs at least two sequences of two or more behaviours")
        shape = self.shape

        def validation_loss(params: Params) -> float:
            rng = np.random.default_rng(train_cfg.seed + 1)  # the same negatives every epoch
            return float(sasrec_bce(NumpyOps(dtype=np.float32), params, val_rows, shape, rng))

        params, self.history_ = fit_params(
            init_sasrec(shape, train_cfg.seed),
            _sasrec_loss(shape, train_cfg.dropout),
            train_rows,
            validation_loss,
            train_cfg,
            progress=progress,
            should_cancel=should_cancel,
        )
        self._set_params(params)
        return self

    def item_scores(
        self, histories: Sequence[Sequence[int]], backend: Backend = "auto"
    ) -> NDArray[np.float32]:
        """Scores of every next item after each history: [N_hist, N+1] (column 0 = padding).

        A score is a logit (the dot product of the last hidden state with the item's embedding),
        trained by binary cross-entropy against one sampled negative: ``sigmoid(score)`` estimates
        the probability that this item, rather than a random one, comes next. No softmax is applied, so the
        scores of one history are not a distribution over next items."""
        return self._run(left_pad(histories, self.config.max_len), backend)

    def recommend(
        self,
        seq: RawSequence,
        k: int = 10,
        backend: Backend = "auto",
        allowed: Collection[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Top-k next actions after ``seq`` as ``(action id, score)``, best first ("action" mode);
        scores are logits, see ``item_scores``. ``allowed``: rank only these action ids (fewer than
        ``k`` come back when fewer are allowed); None ranks the whole vocabulary."""
        if self.config.item_mode != "action":
            raise ValueError("recommend() needs item_mode='action'; use item_scores() for paper mode")
        scores = self.item_scores([self.items(seq)], backend)[0, 1:]  # drop padding column
        return [(i, float(scores[i])) for i in top_actions(scores, k, allowed)]

    # --- NetworkModel hooks --------------------------------------------------------------------------
    def _graph(self) -> GraphFn:
        shape = self.shape

        def graph(ops: Ops, params: Mapping[str, Tensor], items: Tensor) -> Tensor:
            return sasrec_scores(ops, params, items, shape)

        return graph

    def _n_inputs(self) -> int:
        return self.config.max_len

    def _output_dims(self) -> list[int | str]:
        return ["batch", self.n_items + 1]

    def _fresh_params(self) -> Params:
        return init_sasrec(self.shape, 0)

    def _config_meta(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    @classmethod
    def _from_meta(cls, meta: Mapping[str, Any]) -> Self:
        raw = dict(meta["config"])
        config = SASRecConfig(**{**raw, "train": train_config_from(raw.pop("train"))})
        return cls(FieldSizes(**meta["sizes"]), config)


def sample_negatives(rows: NDArray[np.int64], n_items: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """One negative per position: [n, 2L] rows -> [n, L] ids in 1..N, none of them in the row's items."""
    length = rows.shape[1] // 2
    negatives = rng.integers(1, n_items + 1, size=(len(rows), length))
    for _ in range(10):  # resample collisions; a few rounds leave (almost) none
        clash = (negatives[:, :, None] == rows[:, None, :]).any(axis=-1)
        if not clash.any():
            break
        negatives[clash] = rng.integers(1, n_items + 1, size=int(clash.sum()))
    return negatives


def sasrec_bce(
    ops: ArrayOps, params: Params, rows: NDArray[np.int64], shape: SASRecShape, rng: np.random.Generator
) -> Any:
    """Mean BCE over non-padding positions: rows [n, 2L] (inputs | next items) -> scalar."""
    xp = ops.xp
    length = shape.max_len
    inputs, positives = rows[:, :length], rows[:, length:]
    negatives = sample_negatives(rows, shape.n_items, rng)
    hidden = sasrec_hidden(ops, params, inputs, shape)  # [n,L,D]
    pos_logit = xp.sum(hidden * params["item_emb"][positives], axis=-1)  # [n,L]
    neg_logit = xp.sum(hidden * params["item_emb"][negatives], axis=-1)  # [n,L]
    mask = (positives != PAD).astype(ops.dtype)
    # -log σ(pos) - log(1 - σ(neg)) = softplus(-pos) + softplus(neg)
    losses = xp.logaddexp(0.0, -pos_logit) + xp.logaddexp(0.0, neg_logit)
    return xp.sum(losses * mask) / max(float(mask.sum()), 1.0)


def _sasrec_loss(shape: SASRecShape, dropout: float) -> Any:
    """Training loss for autograd (dropout on)."""

    fast = fast_primitives()

    def loss(params: Params, batch: NDArray[np.int64], rng: np.random.Generator) -> Any:
        import autograd.numpy as anp  # noqa: PLC0415  (training-only dependency)

        ops = ArrayOps(anp, training=True, dropout=dropout, rng=rng, dtype=np.float32, fast=fast)
        return sasrec_bce(ops, params, batch, shape, rng)

    return loss
