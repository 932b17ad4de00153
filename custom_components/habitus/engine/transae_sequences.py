"""TransAE over plain token sequences: SSC's encoder (SmartGen §4.3) and TOF's loss model (§4.5).

SSC and TOF work on sequences of hashable tokens (a home's actions). ``TransAESequenceModel``
indexes those tokens, trains a small ``models.TransAE`` on them (one field, like SmartGen's
per-setting AD input; id ``n`` stands for a token unseen in ``fit``) and then serves, in eval mode with
the numpy executor (deterministic, no dropout):

* ``encode`` -> ``[N, D]``: the TransAE **encoder** output mean-pooled over a sequence's behaviours
  (SSC's semantic vector, Eq. 9);
* ``losses`` -> ``[N]``: the TransAE reconstruction loss (its anomaly score, Eq. 14-17), TOF's stage-1
  and stage-2 loss.

The encoder pass re-runs the first half of ``models.network.transae_hidden`` (embeddings, positions,
encoder layers) with the network's own ``attention`` / ``norm`` / ``feed_forward`` blocks; it reads the
trained weights and never changes the served scoring graph.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.typing import NDArray

from .datasets import RawSequence
from .models import FieldSizes, TrainConfig, TransAE, TransAEConfig
from .models.network import PAD, TransAEShape, attention, feed_forward, norm
from .models.ops import NEG_INF, Ops, Tensor
from .models.serving import GraphFn, NumpyExecutor


@dataclass(frozen=True, slots=True)
class SequenceModelConfig:
    """A hub-sized TransAE trained for a few epochs (seconds on a home's sequences)."""

    d_model: int = 32
    n_heads: int = 2
    d_ff: int = 64
    max_behaviours: int = 10  # SmartGen sequences hold at most 10 behaviours
    epochs: int = 10
    batch_size: int = 16  # small batches: a home's few hundred sequences still give many steps
    learning_rate: float = 3e-3
    # Safety cap per fit (TrainConfig.max_seconds); SSC fits on distinct sequences, which finish
    # their epochs well within it (FR winter, 148 distinct: 12 s on a loaded 2-core box).
    max_seconds: float | None = 60.0
    corruption: str = "none"  # a plain autoencoder: SmartGen's TransAE
    seed: int = 2024

    def transae(self) -> TransAEConfig:
        """The ``TransAEConfig`` these settings describe (one "action" field)."""
        train = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            max_seconds=self.max_seconds,
            seed=self.seed,
            patience=2,
        )
        return TransAEConfig(
            fields=("action",),
            max_behaviours=self.max_behaviours,
            d_model=self.d_model,
            n_heads=self.n_heads,
            d_ff=self.d_ff,
            corruption=self.corruption,
            train=train,
        )


def _encoder_graph(shape: TransAEShape) -> GraphFn:
    """Graph ``(ops, params, tokens int [B, T]) -> encoder memory [B, Tb, D]`` (eval mode)."""

    def graph(ops: Ops, p: Mapping[str, Tensor], tokens: Tensor) -> Tensor:
        heads = (shape.n_heads, shape.d_model)
        width = shape.tokens_per_behaviour
        pad = ops.equal(ops.every_nth(tokens, 0, width), PAD)  # [B,Tb]
        bias = ops.mul(ops.unsqueeze(pad, (1, 2)), ops.const(NEG_INF))  # [B,1,1,Tb]
        x: Tensor = None
        for j in range(width):
            field_emb = ops.gather(p["tok_emb"], ops.every_nth(tokens, j, width))  # [B,Tb,D]
            x = field_emb if x is None else ops.add(x, field_emb)
        if shape.positional:
            x = ops.add(x, p["pos_emb"])
        memory = x
        for i in range(shape.n_encoder_layers):
            attended = attention(ops, p, f"enc{i}.attn", memory, memory, bias=bias, heads=heads)
            memory = norm(ops, p, f"enc{i}.ln1", ops.add(memory, attended))
            memory = norm(ops, p, f"enc{i}.ln2", ops.add(memory, feed_forward(ops, p, f"enc{i}.ffn", memory)))
        return memory

    return graph


class TransAESequenceModel:
    """TransAE on token sequences: ``fit``, then ``encode`` (SSC) and ``losses`` (TOF).

    Satisfies both ``compress.SequenceEncoder`` and ``outliers.SequenceLossModel``.
    Learned: ``vocabulary_`` (token -> id), ``model_`` (the trained ``TransAE``).
    """

    def __init__(self, config: SequenceModelConfig | None = None) -> None:
        self.config = config or SequenceModelConfig()
        self.vocabulary_: dict[Hashable, int] = {}
        self.model_: TransAE | None = None
        self._encoder: NumpyExecutor | None = None

    def fit(self, sequences: Sequence[Sequence[Hashable]]) -> Self:
        """Index the tokens and train the TransAE (a seeded 20 % of the sequences validate).

        Needs at least two non-empty sequences (one to train, one to validate).
        """
        vocabulary: dict[Hashable, int] = {}
        for seq in sequences:
            for token in seq:
                vocabulary.setdefault(token, len(vocabulary))
        self.vocabulary_ = vocabulary
        sizes = FieldSizes(n_devices=1, n_actions=len(vocabulary) + 1)  # + the unknown id
        model = TransAE(sizes, self.config.transae())
        rows = [self._raw(seq) for seq in sequences if seq]
        if len(rows) < 2:
            raise ValueError("TransAE needs at least two non-empty sequences")
        self.model_ = model.fit(rows)
        assert model.params_ is not None
        self._encoder = NumpyExecutor(_encoder_graph(model.shape), model.params_)
        return self

    def _raw(self, seq: Sequence[Hashable]) -> RawSequence:
        unknown = len(self.vocabulary_)
        return [(0, 0, 0, self.vocabulary_.get(token, unknown)) for token in seq]

    def _tokens(self, sequences: Sequence[Sequence[Hashable]]) -> NDArray[np.int64]:
        if self.model_ is None:
            raise RuntimeError("fit the model first")
        return self.model_.encode([self._raw(seq) for seq in sequences])  # [N, T]

    def encode(self, sequences: Sequence[Sequence[Hashable]]) -> NDArray[np.float64]:
        """Mean-pooled encoder output over each sequence's behaviours, ``[N, D]`` (empty: zero row)."""
        tokens = self._tokens(sequences)  # [N, T]
        assert self._encoder is not None
        if len(tokens) == 0:
            return np.zeros((0, self.config.d_model), dtype=np.float64)
        memory = np.asarray(self._encoder.run(tokens), dtype=np.float64)  # [N, Tb, D]
        valid = (tokens != PAD).astype(np.float64)[:, :, None]  # [N, Tb, 1] (one field: T = Tb)
        count = np.maximum(valid.sum(axis=1), 1.0)  # [N, 1]
        pooled: NDArray[np.float64] = (memory * valid).sum(axis=1) / count
        return pooled

    def losses(self, sequences: Sequence[Sequence[Hashable]]) -> NDArray[np.float64]:
        """TransAE reconstruction loss (mean token cross-entropy) of each sequence, ``[N]``."""
        if self.model_ is None:
            raise RuntimeError("fit the model first")
        raw = [self._raw(seq) for seq in sequences]
        return np.asarray(self.model_.score(raw, backend="numpy"), dtype=np.float64)
