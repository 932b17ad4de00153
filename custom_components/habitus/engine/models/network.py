"""The TransAE and SASRec networks, each written once against the ops interface (``ops.py``).

Parameters are flat dicts keyed like the checkpoint (``"enc0.attn.wq"``). Shape letters: ``B`` batch,
``T`` tokens per sequence (fixed by the config, padded), ``D`` model width, ``H`` heads, ``V`` token
vocabulary, ``N`` item count.

* **TransAE** (SmartGen §5, ``models1.py``): a Transformer autoencoder. Encoder layers read the token
  embeddings; decoder layers read the same embeddings and attend to the encoder's memory; a linear
  layer reconstructs every token. PyTorch's defaults are kept (post-norm, ReLU FFN, key-padding
  masks). Unlike the reference: a behaviour's field tokens are summed into one position (4x shorter
  attention for the all-fields model), each field has its own output head, and an optional learned
  *behaviour-position* embedding tells the model where a behaviour sits (the reference has none).
* **SASRec** (Kang & McAuley 2018, pmixer's port): item embedding × √D plus a learned position
  embedding, causal self-attention blocks ``Q = LN(x); x = Q + MHA(Q, x, x); x = x + FFN(LN(x))``,
  padding positions zeroed (after every block by default; at the input only as in SmartGen's
  ``model.py`` with ``rezero_padding=False``), a final LayerNorm; scores are dot products with the item
  embedding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .ops import NEG_INF, Ops, Tensor, xavier_uniform

type Params = dict[str, NDArray[np.floating]]
PAD = 0  # token / item id 0 is padding in both networks


@dataclass(frozen=True, slots=True)
class TransAEShape:
    """What the TransAE network needs to know to build its tensors."""

    field_sizes: tuple[int, ...]  # ids per field, in token order; token ids 0 (padding), then field ranges
    n_tokens: int  # T: tokens per (padded) sequence
    d_model: int = 64
    n_heads: int = 4
    n_encoder_layers: int = 1
    n_decoder_layers: int = 1
    d_ff: int = 128
    positional: bool = True  # learned behaviour-position embedding (the reference has none)
    score_reduction: str = "mean"  # "mean" over tokens (paper) or "max" over behaviours

    @property
    def tokens_per_behaviour(self) -> int:
        """Fields per behaviour (4 = day, bucket, device, action)."""
        return len(self.field_sizes)

    @property
    def vocab_size(self) -> int:
        """V: padding plus every field's ids."""
        return 1 + sum(self.field_sizes)

    @property
    def field_offsets(self) -> tuple[int, ...]:
        """First token id of each field."""
        return tuple(1 + sum(self.field_sizes[:j]) for j in range(len(self.field_sizes)))


@dataclass(frozen=True, slots=True)
class SASRecShape:
    """What the SASRec network needs to know to build its tensors."""

    n_items: int  # N: item ids 1..N, 0 = padding
    max_len: int  # L: history length (left-padded)
    d_model: int = 50
    n_heads: int = 1
    n_blocks: int = 2
    # Zero the padding rows after every block (pmixer's original port). False = SmartGen's model.py:
    # zeroed at the input only, so from block 1 on the padding rows (identical in every history,
    # they only see padding) are learned keys every real position can attend to.
    rezero_padding: bool = True


def _attention_params(rng: np.random.Generator, prefix: str, d: int) -> Params:
    params: Params = {}
    for name in ("wq", "wk", "wv", "wo"):
        params[f"{prefix}.{name}"] = xavier_uniform(rng, d, d)
        params[f"{prefix}.b{name[1]}"] = np.zeros(d)
    return params


def _ffn_params(rng: np.random.Generator, prefix: str, d: int, d_ff: int) -> Params:
    return {
        f"{prefix}.w1": xavier_uniform(rng, d, d_ff),
        f"{prefix}.b1": np.zeros(d_ff),
        f"{prefix}.w2": xavier_uniform(rng, d_ff, d),
        f"{prefix}.b2": np.zeros(d),
    }


def _norm_params(prefix: str, d: int) -> Params:
    return {f"{prefix}.g": np.ones(d), f"{prefix}.b": np.zeros(d)}


def init_transae(shape: TransAEShape, seed: int) -> Params:
    """Fresh TransAE parameters (float64), Xavier matrices, N(0, 1/D) embeddings."""
    rng = np.random.default_rng(seed)
    d = shape.d_model
    params: Params = {"tok_emb": rng.normal(0.0, d**-0.5, size=(shape.vocab_size, d))}
    if shape.positional:
        n_positions = shape.n_tokens // shape.tokens_per_behaviour
        params["pos_emb"] = rng.normal(0.0, d**-0.5, size=(n_positions, d))
    for i in range(shape.n_encoder_layers):
        params |= _attention_params(rng, f"enc{i}.attn", d)
        params |= _ffn_params(rng, f"enc{i}.ffn", d, shape.d_ff)
        params |= _norm_params(f"enc{i}.ln1", d) | _norm_params(f"enc{i}.ln2", d)
    for i in range(shape.n_decoder_layers):
        params |= _attention_params(rng, f"dec{i}.self", d) | _attention_params(rng, f"dec{i}.cross", d)
        params |= _ffn_params(rng, f"dec{i}.ffn", d, shape.d_ff)
        for j in (1, 2, 3):
            params |= _norm_params(f"dec{i}.ln{j}", d)
    for j, size in enumerate(shape.field_sizes):  # one output head per field
        params[f"out{j}.w"] = xavier_uniform(rng, d, size)
        params[f"out{j}.b"] = np.zeros(size)
    return params


def init_sasrec(shape: SASRecShape, seed: int) -> Params:
    """Fresh SASRec parameters (float64)."""
    rng = np.random.default_rng(seed)
    d = shape.d_model
    params: Params = {
        "item_emb": rng.normal(0.0, d**-0.5, size=(shape.n_items + 1, d)),
        "pos_emb": rng.normal(0.0, d**-0.5, size=(shape.max_len, d)),
    }
    params["item_emb"][PAD] = 0.0  # padding_idx
    for i in range(shape.n_blocks):
        params |= _attention_params(rng, f"blk{i}.attn", d) | _ffn_params(rng, f"blk{i}.ffn", d, d)
        params |= _norm_params(f"blk{i}.ln_attn", d) | _norm_params(f"blk{i}.ln_ffn", d)
    params |= _norm_params("ln_final", d)
    return params


def attention(
    ops: Ops,
    p: Mapping[str, Tensor],
    prefix: str,
    q_in: Tensor,
    kv_in: Tensor,
    *,
    bias: Tensor,
    heads: tuple[int, int],
) -> Tensor:
    """Multi-head attention: [B, Tq, D], [B, Tk, D], bias broadcastable to [B, H, Tq, Tk] -> [B, Tq, D].

    ``heads`` is ``(H, D)``.
    """
    n_heads, d_model = heads
    q = ops.split_heads(ops.linear(q_in, p[f"{prefix}.wq"], p[f"{prefix}.bq"]), n_heads)  # [B,H,Tq,dh]
    k = ops.split_heads(ops.linear(kv_in, p[f"{prefix}.wk"], p[f"{prefix}.bk"]), n_heads)  # [B,H,Tk,dh]
    v = ops.split_heads(ops.linear(kv_in, p[f"{prefix}.wv"], p[f"{prefix}.bv"]), n_heads)  # [B,H,Tk,dh]
    scale = ops.const(1.0 / math.sqrt(d_model // n_heads))
    scores = ops.add(ops.mul(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))), scale), bias)  # [B,H,Tq,Tk]
    mixed = ops.merge_heads(ops.matmul(ops.dropout(ops.softmax(scores)), v), d_model)  # [B,Tq,D]
    return ops.linear(mixed, p[f"{prefix}.wo"], p[f"{prefix}.bo"])


def feed_forward(ops: Ops, p: Mapping[str, Tensor], prefix: str, x: Tensor) -> Tensor:
    """Position-wise ReLU FFN: [B, T, D] -> [B, T, D]."""
    hidden = ops.dropout(ops.relu(ops.linear(x, p[f"{prefix}.w1"], p[f"{prefix}.b1"])))
    return ops.linear(hidden, p[f"{prefix}.w2"], p[f"{prefix}.b2"])


def norm(ops: Ops, p: Mapping[str, Tensor], prefix: str, x: Tensor) -> Tensor:
    """LayerNorm over the last axis with the ``prefix.g`` / ``prefix.b`` parameters."""
    return ops.layer_norm(x, p[f"{prefix}.g"], p[f"{prefix}.b"])


def transae_hidden(ops: Ops, p: Mapping[str, Tensor], tokens: Tensor, shape: TransAEShape) -> Tensor:
    """TransAE encoder-decoder: int [B, T] -> decoder states [B, T/w, D], one per behaviour.

    A behaviour's w field tokens are embedded and summed into one vector, so attention runs over at
    most ``max_behaviours`` positions instead of ``w`` times as many (w = 1 is the reference's
    one-field input, token for token).
    """
    heads = (shape.n_heads, shape.d_model)
    width = shape.tokens_per_behaviour
    pad = ops.equal(ops.every_nth(tokens, 0, width), PAD)  # [B,Tb], 1.0 on padding behaviours
    bias = ops.mul(ops.unsqueeze(pad, (1, 2)), ops.const(NEG_INF))  # [B,1,1,Tb]
    x: Tensor = None
    for j in range(width):
        field_emb = ops.gather(p["tok_emb"], ops.every_nth(tokens, j, width))  # [B,Tb,D]
        x = field_emb if x is None else ops.add(x, field_emb)
    if shape.positional:
        x = ops.add(x, p["pos_emb"])  # + [Tb,D]
    x = ops.dropout(x)
    memory = x
    for i in range(shape.n_encoder_layers):
        attended = attention(ops, p, f"enc{i}.attn", memory, memory, bias=bias, heads=heads)
        memory = norm(ops, p, f"enc{i}.ln1", ops.add(memory, ops.dropout(attended)))
        memory = norm(
            ops, p, f"enc{i}.ln2", ops.add(memory, ops.dropout(feed_forward(ops, p, f"enc{i}.ffn", memory)))
        )
    h = x
    for i in range(shape.n_decoder_layers):
        attended = attention(ops, p, f"dec{i}.self", h, h, bias=bias, heads=heads)
        h = norm(ops, p, f"dec{i}.ln1", ops.add(h, ops.dropout(attended)))
        attended = attention(ops, p, f"dec{i}.cross", h, memory, bias=bias, heads=heads)
        h = norm(ops, p, f"dec{i}.ln2", ops.add(h, ops.dropout(attended)))
        h = norm(ops, p, f"dec{i}.ln3", ops.add(h, ops.dropout(feed_forward(ops, p, f"dec{i}.ffn", h))))
    return h


def transae_scores(
    ops: Ops, p: Mapping[str, Tensor], tokens: Tensor, shape: TransAEShape, inputs: Tensor = None
) -> Tensor:
    """Per-sequence anomaly score from reconstruction cross-entropy: int [B, T] -> [B].

    ``inputs`` (int [B, T], training only) is what the network reads when it differs from the
    ``tokens`` it must reconstruct: the denoising objective feeds corrupted tokens and scores the
    reconstruction of the clean ones. Serving never passes it (one unmasked pass, the same graph).

    ``score_reduction="mean"`` (the paper's, and always the training loss): mean token cross-entropy
    over non-padding tokens. ``"max"``: the worst behaviour's mean field cross-entropy, so one odd
    behaviour in a long sequence is not averaged away.

    Each field has its own output head on the behaviour's state, so a token is reconstructed among its
    field's ids only (a day never competes with 222 actions). Padding tokens map to a negative local
    id, whose one-hot row is all zero, so they add nothing. Training, the numpy executor and the ONNX
    graph all run this function. An all-padding row scores 0.
    """
    h = transae_hidden(ops, p, tokens if inputs is None else inputs, shape)  # [B,Tb,D]
    width = shape.tokens_per_behaviour
    nll: Tensor = None  # [B,Tb], summed over fields
    for j, (offset, size) in enumerate(zip(shape.field_offsets, shape.field_sizes, strict=True)):
        local_ids = ops.sub(ops.every_nth(tokens, j, width), ops.const(np.array(offset, dtype=np.int64)))
        log_probs = ops.log_softmax(ops.linear(h, p[f"out{j}.w"], p[f"out{j}.b"]))  # [B,Tb,Vj]
        picked = ops.reduce_sum(ops.mul(log_probs, ops.one_hot(local_ids, size)), -1)  # [B,Tb]
        nll = picked if nll is None else ops.add(nll, picked)
    nll = ops.mul(nll, ops.const(-1.0))
    if shape.score_reduction == "max":
        return ops.mul(ops.reduce_max(nll, -1), ops.const(1.0 / width))  # pads contribute 0 <= any loss
    valid = ops.sub(ops.const(1.0), ops.equal(tokens, PAD))  # [B,T]
    count = ops.maximum(ops.reduce_sum(valid, -1), ops.const(1.0))  # [B]
    return ops.div(ops.reduce_sum(nll, -1), count)


def sasrec_hidden(ops: Ops, p: Mapping[str, Tensor], items: Tensor, shape: SASRecShape) -> Tensor:
    """SASRec's ``log2feats``: left-padded item ids int [B, L] -> hidden states [B, L, D]."""
    heads = (shape.n_heads, shape.d_model)
    keep = ops.unsqueeze(ops.sub(ops.const(1.0), ops.equal(items, PAD)), (-1,))  # [B,L,1]
    causal = np.triu(np.full((shape.max_len, shape.max_len), NEG_INF), k=1)  # [L,L], -inf above diagonal
    bias = ops.const(causal)
    x = ops.mul(ops.gather(p["item_emb"], items), ops.const(math.sqrt(shape.d_model)))  # [B,L,D]
    x = ops.mul(ops.dropout(ops.add(x, p["pos_emb"])), keep)
    for i in range(shape.n_blocks):
        q = norm(ops, p, f"blk{i}.ln_attn", x)
        x = ops.add(q, attention(ops, p, f"blk{i}.attn", q, x, bias=bias, heads=heads))
        x = norm(ops, p, f"blk{i}.ln_ffn", x)
        x = ops.add(x, ops.dropout(feed_forward(ops, p, f"blk{i}.ffn", x)))
        if shape.rezero_padding:
            x = ops.mul(x, keep)
    return norm(ops, p, "ln_final", x)


def sasrec_scores(ops: Ops, p: Mapping[str, Tensor], items: Tensor, shape: SASRecShape) -> Tensor:
    """Next-item scores after the history: int [B, L] -> [B, N+1] (column 0 is padding, ignore it)."""
    last = ops.last_step(sasrec_hidden(ops, p, items, shape))  # [B,D]
    return ops.matmul(last, ops.transpose(p["item_emb"], (1, 0)))  # [B,N+1]
