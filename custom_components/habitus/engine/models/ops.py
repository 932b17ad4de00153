"""One forward pass, three backends: the ops interface the TransAE and SASRec networks are written against.

Each network (``network.py``) is written once as a function ``forward(ops, params, tokens)``. The
``ops`` object decides what the arithmetic means:

* ``ArrayOps(numpy)``: the numpy executor the hub runs when ONNX Runtime is missing (float32);
* ``ArrayOps(autograd.numpy, training=True)``: the same graph, differentiated by ``autograd`` for
  training (dropout active, float64 for gradient checks);
* ``OnnxGraphOps``: the same calls append ONNX nodes, so the exported graph is that very network.

Tensors are opaque to the network code (``Tensor = Any``): numpy arrays, autograd boxes, or the name
of an ONNX value. Every method states its shapes; ``...`` means any leading axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

type Tensor = Any

NEG_INF = -1e9  # additive attention bias for masked keys (finite, so fully masked rows stay finite)
ONNX_OPSET = 17  # LayerNormalization needs opset >= 17


@dataclass(frozen=True, slots=True)
class FastPrimitives:
    """Autograd primitives that replace indexing whose default backward (``np.add.at``) is slow."""

    gather: Callable[[Tensor, Tensor], Tensor]  # [V, D], int [...] -> [..., D]
    every_nth: Callable[[Tensor, int, int], Tensor]  # [B, T, ...] -> [B, T/step, ...]


class ArrayOps:
    """The ops on arrays: ``xp`` is ``numpy`` (inference) or ``autograd.numpy`` (training)."""

    def __init__(
        self,
        xp: ModuleType = np,
        *,
        training: bool = False,
        dropout: float = 0.0,
        rng: np.random.Generator | None = None,
        dtype: type[np.floating[Any]] = np.float32,
        fast: FastPrimitives | None = None,
    ) -> None:
        self.xp = xp
        self._fast = fast  # training passes autograd primitives with fast backward passes
        self.training = training
        self.dropout_rate = dropout
        self.rng = rng or np.random.default_rng(0)
        self.dtype = dtype

    def const(self, value: NDArray[Any] | float) -> Tensor:
        """A constant; floats take the backend's dtype, integer arrays stay integer."""
        array = np.asarray(value)
        return array if array.dtype.kind in "iub" else array.astype(self.dtype)

    def matmul(self, a: Tensor, b: Tensor) -> Tensor:  # [..., n, k], [..., k, m] -> [..., n, m]
        return self.xp.matmul(a, b)

    def add(self, a: Tensor, b: Tensor) -> Tensor:  # broadcasting
        return a + b

    def linear(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:  # [..., n], [n, m], [m] -> [..., m]
        lead = np.shape(x)[:-1]
        flat = self.xp.reshape(x, (-1, np.shape(x)[-1]))  # 2-D, so the weight gradient is one matmul
        return self.xp.reshape(self.xp.matmul(flat, w) + b, (*lead, np.shape(w)[-1]))

    def sub(self, a: Tensor, b: Tensor) -> Tensor:  # broadcasting
        return a - b

    def mul(self, a: Tensor, b: Tensor) -> Tensor:  # broadcasting
        return a * b

    def div(self, a: Tensor, b: Tensor) -> Tensor:  # broadcasting
        return a / b

    def maximum(self, a: Tensor, b: Tensor) -> Tensor:  # broadcasting
        return self.xp.maximum(a, b)

    def relu(self, x: Tensor) -> Tensor:  # [...] -> [...]
        return self.xp.maximum(x, 0.0)

    def softmax(self, x: Tensor) -> Tensor:  # [..., n] -> [..., n], numerically stable
        shifted = x - self.xp.max(x, axis=-1, keepdims=True)
        e = self.xp.exp(shifted)
        return e / self.xp.sum(e, axis=-1, keepdims=True)

    def log_softmax(self, x: Tensor) -> Tensor:  # [..., n] -> [..., n]
        shifted = x - self.xp.max(x, axis=-1, keepdims=True)
        return shifted - self.xp.log(self.xp.sum(self.xp.exp(shifted), axis=-1, keepdims=True))

    def layer_norm(self, x: Tensor, gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> Tensor:
        """[..., d], [d], [d] -> [..., d]: normalise over the last axis."""
        mean = self.xp.mean(x, axis=-1, keepdims=True)
        centred = x - mean
        var = self.xp.mean(centred * centred, axis=-1, keepdims=True)
        return centred / self.xp.sqrt(var + eps) * gamma + beta

    def gather(self, table: Tensor, ids: Tensor) -> Tensor:  # [n, d], int [...] -> [..., d]
        return table[ids] if self._fast is None else self._fast.gather(table, ids)

    def transpose(self, x: Tensor, perm: tuple[int, ...]) -> Tensor:  # permute axes
        return self.xp.transpose(x, perm)

    def split_heads(self, x: Tensor, n_heads: int) -> Tensor:  # [B, T, D] -> [B, H, T, D/H]
        b, t, d = x.shape
        return self.xp.transpose(self.xp.reshape(x, (b, t, n_heads, d // n_heads)), (0, 2, 1, 3))

    def merge_heads(self, x: Tensor, d_model: int) -> Tensor:  # [B, H, T, dh] -> [B, T, H*dh]
        b, _h, t, _dh = x.shape
        return self.xp.reshape(self.xp.transpose(x, (0, 2, 1, 3)), (b, t, d_model))

    def equal(self, ids: Tensor, value: int) -> Tensor:  # int [...] -> float [...] (1.0 where equal)
        return (np.asarray(ids) == value).astype(self.dtype)

    def one_hot(self, ids: Tensor, depth: int) -> Tensor:  # int [...] -> float [..., depth]
        return (np.asarray(ids)[..., None] == np.arange(depth)).astype(self.dtype)

    def unsqueeze(self, x: Tensor, axes: tuple[int, ...]) -> Tensor:  # insert unit axes
        return self.xp.expand_dims(x, axes)

    def reduce_sum(self, x: Tensor, axis: int, keepdims: bool = False) -> Tensor:
        return self.xp.sum(x, axis=axis, keepdims=keepdims)

    def reduce_max(self, x: Tensor, axis: int) -> Tensor:
        return self.xp.max(x, axis=axis)

    def last_step(self, x: Tensor) -> Tensor:  # [B, T, D] -> [B, D]
        return x[:, -1, :]

    def every_nth(
        self, x: Tensor, start: int, step: int
    ) -> Tensor:  # [B, T, ...] -> [B, ceil((T-start)/step), ...]
        return x[:, start::step]

    def dropout(self, x: Tensor) -> Tensor:  # inverted dropout, identity unless training
        if not self.training or self.dropout_rate <= 0.0:
            return x
        keep = 1.0 - self.dropout_rate
        mask = (self.rng.random(np.shape(x), dtype=np.float32) < keep).astype(self.dtype) / keep
        return x * mask


class NumpyOps(ArrayOps):
    """``ArrayOps(numpy)`` for serving, with the hot ops written as direct ufunc calls.

    Same arithmetic, fewer Python-level numpy wrappers per call: a per-behaviour score is ~200 tiny
    ops, so wrapper overhead, not FLOPs, decides the numpy executor's latency.
    """

    def __init__(self, dtype: type[np.floating[Any]] = np.float32) -> None:
        super().__init__(np, dtype=dtype)
        self._averaging: dict[int, NDArray[Any]] = {}  # d -> [d, d] of 1/d
        self._ones: dict[int, NDArray[Any]] = {}  # n -> [n, 1] of 1
        self._ranges: dict[int, NDArray[np.int64]] = {}  # depth -> arange(depth)

    def _averaging_matrix(self, d: int) -> NDArray[Any]:
        if d not in self._averaging:
            self._averaging[d] = np.full((d, d), 1.0 / d, dtype=self.dtype)
        return self._averaging[d]

    def _ones_column(self, n: int) -> NDArray[Any]:
        if n not in self._ones:
            self._ones[n] = np.ones((n, 1), dtype=self.dtype)
        return self._ones[n]

    def linear(self, x: Tensor, w: Tensor, b: Tensor) -> Tensor:  # [..., n], [n, m], [m] -> [..., m]
        out = np.matmul(x, w)
        out += b
        return out

    def softmax(self, x: Tensor) -> Tensor:  # [..., n] -> [..., n]; the sum as a matmul (BLAS, no reduce)
        e = np.exp(x - np.maximum.reduce(x, axis=-1, keepdims=True))
        e /= np.matmul(e, self._ones_column(x.shape[-1]))
        return e

    def log_softmax(self, x: Tensor) -> Tensor:  # [..., n] -> [..., n]
        shifted = x - np.maximum.reduce(x, axis=-1, keepdims=True)
        shifted -= np.log(np.matmul(np.exp(shifted), self._ones_column(x.shape[-1])))
        return shifted

    def layer_norm(self, x: Tensor, gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> Tensor:
        """Means as matmuls with a [d, d] matrix of 1/d: already broadcast, no reductions."""
        averaging = self._averaging_matrix(x.shape[-1])
        centred = x - np.matmul(x, averaging)
        scale = np.matmul(centred * centred, averaging)
        scale += eps
        np.sqrt(scale, out=scale)
        centred /= scale
        centred *= gamma
        centred += beta
        return centred

    def one_hot(self, ids: Tensor, depth: int) -> Tensor:  # int [...] -> float [..., depth]
        if depth not in self._ranges:
            self._ranges[depth] = np.arange(depth)
        return (np.asarray(ids)[..., None] == self._ranges[depth]).astype(self.dtype)

    def split_heads(self, x: Tensor, n_heads: int) -> Tensor:  # [B, T, D] -> [B, H, T, D/H]
        b, t, d = x.shape
        return x.reshape(b, t, n_heads, d // n_heads).transpose(0, 2, 1, 3)

    def merge_heads(self, x: Tensor, d_model: int) -> Tensor:  # [B, H, T, dh] -> [B, T, H*dh]
        b, _h, t, _dh = x.shape
        return x.transpose(0, 2, 1, 3).reshape(b, t, d_model)

    def reduce_sum(self, x: Tensor, axis: int, keepdims: bool = False) -> Tensor:
        return np.add.reduce(x, axis=axis, keepdims=keepdims)

    def reduce_max(self, x: Tensor, axis: int) -> Tensor:
        return np.maximum.reduce(x, axis=axis)

    def transpose(self, x: Tensor, perm: tuple[int, ...]) -> Tensor:
        return x.transpose(perm)


class OnnxGraphOps:
    """The ops as an ONNX graph builder: every call appends nodes and returns the output's name.

    ``onnx`` is imported here, never by the hub's inference path. Floats are float32.
    """

    def __init__(self) -> None:
        from onnx import helper  # noqa: PLC0415  (optional dependency, only for export)

        self._helper = helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self.training = False

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def _node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self._name(op.lower())
        self.nodes.append(self._helper.make_node(op, inputs, [out], **attrs))
        return out

    def initializer(self, name: str, value: NDArray[Any]) -> str:
        """Add a named initializer (a weight or a constant); returns its name."""
        from onnx import numpy_helper  # noqa: PLC0415

        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        self.initializers.append(numpy_helper.from_array(array, name=name))
        return name

    def const(self, value: NDArray[Any] | float) -> str:
        return self.initializer(self._name("const"), np.asarray(value))

    def matmul(self, a: str, b: str) -> str:
        return self._node("MatMul", [a, b])

    def add(self, a: str, b: str) -> str:
        return self._node("Add", [a, b])

    def linear(self, x: str, w: str, b: str) -> str:
        return self.add(self.matmul(x, w), b)

    def sub(self, a: str, b: str) -> str:
        return self._node("Sub", [a, b])

    def mul(self, a: str, b: str) -> str:
        return self._node("Mul", [a, b])

    def div(self, a: str, b: str) -> str:
        return self._node("Div", [a, b])

    def maximum(self, a: str, b: str) -> str:
        return self._node("Max", [a, b])

    def relu(self, x: str) -> str:
        return self._node("Relu", [x])

    def softmax(self, x: str) -> str:
        return self._node("Softmax", [x], axis=-1)

    def log_softmax(self, x: str) -> str:
        return self._node("LogSoftmax", [x], axis=-1)

    def layer_norm(self, x: str, gamma: str, beta: str, eps: float = 1e-5) -> str:
        return self._node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=eps)

    def gather(self, table: str, ids: str) -> str:
        return self._node("Gather", [table, ids], axis=0)

    def transpose(self, x: str, perm: tuple[int, ...]) -> str:
        return self._node("Transpose", [x], perm=list(perm))

    def split_heads(self, x: str, n_heads: int) -> str:  # [B, T, D] -> [B, H, T, D/H]
        shape = self.const(np.array([0, 0, n_heads, -1], dtype=np.int64))
        return self.transpose(self._node("Reshape", [x, shape]), (0, 2, 1, 3))

    def merge_heads(self, x: str, d_model: int) -> str:  # [B, H, T, dh] -> [B, T, D]
        shape = self.const(np.array([0, 0, d_model], dtype=np.int64))
        return self._node("Reshape", [self.transpose(x, (0, 2, 1, 3)), shape])

    def equal(self, ids: str, value: int) -> str:
        flag = self._node("Equal", [ids, self.const(np.array(value, dtype=np.int64))])
        return self._node("Cast", [flag], to=1)  # 1 = FLOAT

    def one_hot(self, ids: str, depth: int) -> str:
        expanded = self.unsqueeze(ids, (-1,))
        flag = self._node("Equal", [expanded, self.const(np.arange(depth, dtype=np.int64))])
        return self._node("Cast", [flag], to=1)

    def unsqueeze(self, x: str, axes: tuple[int, ...]) -> str:
        return self._node("Unsqueeze", [x, self.const(np.array(axes, dtype=np.int64))])

    def reduce_sum(self, x: str, axis: int, keepdims: bool = False) -> str:
        axes = self.const(np.array([axis], dtype=np.int64))
        return self._node("ReduceSum", [x, axes], keepdims=int(keepdims))

    def reduce_max(self, x: str, axis: int) -> str:
        return self._node("ReduceMax", [x], axes=[axis], keepdims=0)  # opset 17: axes is an attribute

    def last_step(self, x: str) -> str:  # [B, T, D] -> [B, D]
        return self._node("Gather", [x, self.const(np.array(-1, dtype=np.int64))], axis=1)

    def every_nth(self, x: str, start: int, step: int) -> str:  # [B, T, ...] -> [B, T/step, ...]
        bounds = [self.const(np.array([v], dtype=np.int64)) for v in (start, 2**62, 1, step)]
        return self._node("Slice", [x, *bounds])

    def dropout(self, x: str) -> str:  # inference graph: identity
        return x


def xavier_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> NDArray[np.float64]:
    """Glorot/Xavier uniform initialisation, [fan_in, fan_out] (PyTorch's Transformer default)."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


type Ops = ArrayOps | NumpyOps | OnnxGraphOps
