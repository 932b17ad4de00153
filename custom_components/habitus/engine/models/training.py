"""Mini-batch training with ``autograd`` (no PyTorch): Adam, early stopping, progress, cancellation.

The loss functions differentiate the very network functions the executors run (``network.py``
through ``ArrayOps(autograd.numpy)``). ``autograd`` is imported inside ``fit_params``, so serving never
needs it. Memory stays bounded: only one mini-batch of activations exists at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .network import Params
from .ops import FastPrimitives

type LossFn = Callable[[Params, NDArray[np.int64], np.random.Generator], object]
type BatchMaker = Callable[[NDArray[np.int64], np.random.Generator], NDArray[np.int64]]


class TrainingCancelledError(RuntimeError):
    """Training stopped because its cancel check returned True; the caller keeps its old model."""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Optimisation settings shared by TransAE and SASRec."""

    epochs: int = 30  # upper bound; early stopping usually ends sooner
    batch_size: int = 64
    learning_rate: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)  # SASRec's Adam betas (pmixer)
    weight_decay: float = 0.0
    patience: int = 3  # epochs without validation improvement before stopping
    min_delta: float = 1e-4  # smaller validation gains do not count as improvement
    dropout: float = 0.1
    seed: int = 2024
    validation_fraction: float = 0.2  # used when no validation set is given
    max_grad_norm: float = 5.0  # global gradient clipping


def train_config_from(raw: Mapping[str, Any]) -> TrainConfig:
    """A ``TrainConfig`` from its ``dataclasses.asdict`` form (as stored in a model file)."""
    return TrainConfig(**{**raw, "betas": tuple(raw["betas"])})


@dataclass(frozen=True, slots=True)
class TrainProgress:
    """What a progress callback receives after every epoch."""

    epoch: int
    epochs: int
    train_loss: float
    validation_loss: float
    best_epoch: int
    seconds: float


type ProgressFn = Callable[[TrainProgress], None]
type CancelFn = Callable[[], bool]


@dataclass(slots=True)
class TrainHistory:
    """Per-epoch losses and where early stopping picked the weights."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    stopped_early: bool = False


class _Adam:
    """Adam (Kingma & Ba) on a dict of arrays, with optional decoupled weight decay."""

    def __init__(self, params: Params, config: TrainConfig) -> None:
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.config = config
        self.step_count = 0

    def step(self, params: Params, grads: Params) -> None:
        c = self.config
        b1, b2 = c.betas
        self.step_count += 1
        norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
        clip = min(1.0, c.max_grad_norm / (norm + 1e-12))
        for k, raw_grad in grads.items():
            g = raw_grad * clip
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1**self.step_count)
            v_hat = self.v[k] / (1 - b2**self.step_count)
            params[k] = params[k] - c.learning_rate * (
                m_hat / (np.sqrt(v_hat) + 1e-8) + c.weight_decay * params[k]
            )


def fast_primitives() -> FastPrimitives:
    """Indexing as autograd primitives with cheap backward passes (no ``np.add.at``).

    * ``gather``: ``table[ids]``, [V, D], int [...] -> [..., D]; backward is a one-hot matmul -> [V, D].
    * ``every_nth``: ``x[:, start::step]``; backward writes the gradient into a zero array (the
      selected positions never overlap, so assignment is exact).
    """
    from autograd.extend import defvjp, primitive  # noqa: PLC0415

    @primitive  # type: ignore[untyped-decorator]
    def gather(table: NDArray[np.floating], ids: NDArray[np.int64]) -> NDArray[np.floating]:
        return table[ids]

    def gather_vjp(_ans: Any, table: NDArray[np.floating], ids: NDArray[np.int64]) -> Any:
        def vjp(g: NDArray[np.floating]) -> NDArray[np.floating]:
            flat_ids = np.asarray(ids).reshape(-1)
            one_hot = (np.arange(table.shape[0])[:, None] == flat_ids[None, :]).astype(g.dtype)  # [V, n]
            grad: NDArray[np.floating] = one_hot @ g.reshape(len(flat_ids), -1)  # [V, D]
            return grad

        return vjp

    @primitive  # type: ignore[untyped-decorator]
    def every_nth(x: NDArray[np.floating], start: int, step: int) -> NDArray[np.floating]:
        return x[:, start::step]

    def every_nth_vjp(_ans: Any, x: NDArray[np.floating], start: int, step: int) -> Any:
        def vjp(g: NDArray[np.floating]) -> NDArray[np.floating]:
            out = np.zeros(np.shape(x), dtype=g.dtype)
            out[:, start::step] = g
            return out

        return vjp

    defvjp(gather, gather_vjp)
    defvjp(every_nth, every_nth_vjp)
    return FastPrimitives(gather=gather, every_nth=every_nth)


def split_validation(n: int, fraction: float, seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Seeded train/validation index split of ``n`` rows: ([n_train], [n_val]); both non-empty if n >= 2."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, round(n * fraction)), n - 1) if n >= 2 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def fit_params(
    params: Params,
    loss_fn: LossFn,
    train_rows: NDArray[np.int64],
    validation_loss: Callable[[Params], float],
    config: TrainConfig,
    *,
    progress: ProgressFn | None = None,
    should_cancel: CancelFn | None = None,
) -> tuple[Params, TrainHistory]:
    """Train ``params`` on mini-batches of ``train_rows`` [n, ...]; returns the best-validation weights.

    ``loss_fn(params, batch_rows, rng)`` is differentiated with autograd. Early stopping keeps the
    weights of the best validation epoch; ``should_cancel`` is polled before every batch and raises
    ``TrainingCancelledError``.
    """
    from autograd import value_and_grad  # noqa: PLC0415  (training-only dependency)

    grad_fn = value_and_grad(loss_fn)
    params = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}  # float32: ~3x faster than 64
    rng = np.random.default_rng(config.seed)
    optimiser = _Adam(params, config)
    history = TrainHistory()
    best, best_loss, started = dict(params), float("inf"), time.monotonic()
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(len(train_rows))
        losses: list[float] = []
        for start in range(0, len(order), config.batch_size):
            if should_cancel is not None and should_cancel():
                raise TrainingCancelledError(f"training cancelled in epoch {epoch}")
            loss, grads = grad_fn(params, train_rows[order[start : start + config.batch_size]], rng)
            optimiser.step(params, grads)
            losses.append(float(loss))
        val = validation_loss(params)
        history.train_loss.append(float(np.mean(losses)) if losses else float("nan"))
        history.validation_loss.append(val)
        if val < best_loss - config.min_delta:
            best, best_loss, history.best_epoch = dict(params), val, epoch
        if progress is not None:
            progress(
                TrainProgress(
                    epoch,
                    config.epochs,
                    history.train_loss[-1],
                    val,
                    history.best_epoch,
                    time.monotonic() - started,
                )
            )
        if epoch - history.best_epoch >= config.patience:
            history.stopped_early = True
            break
    history.seconds = time.monotonic() - started
    return best, history
