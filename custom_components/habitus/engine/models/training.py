"""Mini-batch training with ``autograd`` (no PyTorch): Adam, early stopping, progress, cancellation.

The loss functions differentiate the very network functions the executors run (``network.py``
through ``ArrayOps(autograd.numpy)``). ``autograd`` is imported inside ``fit_params``, so serving never
needs it. Memory stays bounded: only one mini-batch of activations exists at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
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
    max_grad_norm: float | None = 5.0  # global gradient clipping (None: none, as PyTorch's default loop)
    # Wall-clock budget per fit (seconds; None = unbounded). When it runs out mid-epoch, the epoch
    # ends there, is validated like any other, and the best-validation weights are returned. 25 s
    # each keeps both product models on 10k sequences within the 60 s target on a 2-core box
    # (docs/BENCHMARKS.md). A fit cut short by it depends on the machine's speed, so seeded runs are
    # reproducible only when they end before the budget (always the case for small homes).
    max_seconds: float | None = 25.0
    # True: return the best validation epoch's weights (early stopping); False: the last epoch's, as
    # a fixed-schedule reference run does (SmartGen's BP loads its epoch-50 checkpoint).
    restore_best: bool = True
    # True: a fresh random batch order every epoch; False: the rows' own order every epoch, as
    # SmartGen's ``baseline1.py`` (``DataLoader(shuffle=False)``).
    shuffle: bool = True


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
# After every epoch: its progress and that epoch's weights (benchmarks judge several epoch caps from
# one run: a run capped at N returns the best-validation weights among epochs <= N).
type EpochFn = Callable[[TrainProgress, Params], None]


@dataclass(slots=True)
class TrainHistory:
    """Per-epoch losses and where early stopping picked the weights."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    out_of_time: bool = False  # the ``max_seconds`` budget ended training


class _Adam:
    """Adam (Kingma & Ba) on one flat parameter vector [P], global-norm clipping, decoupled decay."""

    def __init__(self, size: int, config: TrainConfig) -> None:
        self.m: NDArray[np.floating] = np.zeros(size, dtype=np.float32)
        self.v: NDArray[np.floating] = np.zeros(size, dtype=np.float32)
        self.config = config
        self.step_count = 0

    def step(self, theta: NDArray[np.float32], grad: NDArray[np.float32]) -> NDArray[np.float32]:
        """[P], [P] -> the updated [P] (a new array; snapshots of the old one stay valid)."""
        c = self.config
        b1, b2 = c.betas
        self.step_count += 1
        g = grad
        if c.max_grad_norm is not None:
            g = grad * min(1.0, c.max_grad_norm / (float(np.sqrt(np.dot(grad, grad))) + 1e-12))
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        m_hat = self.m / (1 - b1**self.step_count)
        v_hat = self.v / (1 - b2**self.step_count)
        update = m_hat / (np.sqrt(v_hat) + 1e-8) + c.weight_decay * theta
        updated: NDArray[np.float32] = (theta - c.learning_rate * update).astype(np.float32)
        return updated


type Layout = list[tuple[str, int, int, tuple[int, ...]]]  # name, start, stop, shape in the flat vector


def flatten_params(params: Params) -> tuple[NDArray[np.float32], Layout]:
    """A parameter dict -> one float32 vector [P] and where each parameter sits in it."""
    layout: Layout = []
    start = 0
    for name, value in params.items():
        layout.append((name, start, start + value.size, tuple(value.shape)))
        start += value.size
    flat = np.concatenate([np.ravel(v) for v in params.values()]).astype(np.float32)
    return flat, layout


def unflatten_params(theta: NDArray[np.float32], layout: Layout) -> Params:
    """Inverse of ``flatten_params`` (copies)."""
    return {name: theta[a:b].reshape(shape).copy() for name, a, b, shape in layout}


def _param_view() -> Callable[[Any, int, int, tuple[int, ...]], Any]:
    """``theta[start:stop].reshape(shape)`` as an autograd primitive whose backward writes one slice.

    Differentiating through a dict costs O(#params) zero arrays per access in autograd (its container
    backward), O(#params^2) per step; a flat vector with sliced views keeps the backward linear.
    """
    from autograd.extend import defvjp, primitive  # noqa: PLC0415

    @primitive  # type: ignore[untyped-decorator]
    def view(
        theta: NDArray[np.float32], start: int, stop: int, shape: tuple[int, ...]
    ) -> NDArray[np.float32]:
        return theta[start:stop].reshape(shape)

    def view_vjp(_ans: Any, theta: NDArray[np.float32], start: int, stop: int, shape: tuple[int, ...]) -> Any:
        def vjp(g: NDArray[np.float32]) -> NDArray[np.float32]:
            out = np.zeros(theta.shape, dtype=g.dtype)
            out[start:stop] = np.ravel(g)
            return out

        return vjp

    defvjp(view, view_vjp)
    return view  # type: ignore[no-any-return]


def fast_primitives() -> FastPrimitives:
    """Indexing as autograd primitives with cheap backward passes (no ``np.add.at``).

    * ``gather``: ``table[ids]``, [V, D], int [...] -> [..., D]; backward sums the gradient rows of
      each id (sort + ``np.add.reduceat``) -> [V, D].
    * ``every_nth``: ``x[:, start::step]``; backward writes the gradient into a zero array (the
      selected positions never overlap, so assignment is exact).
    """
    from autograd.extend import defvjp, primitive  # noqa: PLC0415

    @primitive  # type: ignore[untyped-decorator]
    def gather(table: NDArray[np.floating], ids: NDArray[np.int64]) -> NDArray[np.floating]:
        return table[ids]

    def gather_vjp(_ans: Any, table: NDArray[np.floating], ids: NDArray[np.int64]) -> Any:
        def vjp(g: NDArray[np.floating]) -> NDArray[np.floating]:
            flat_ids = np.asarray(ids).reshape(-1)  # [n]
            rows = g.reshape(len(flat_ids), -1)  # [n, D]
            order = np.argsort(flat_ids, kind="stable")
            sorted_ids = flat_ids[order]
            starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])  # first row of each id
            grad = np.zeros(np.shape(table), dtype=g.dtype)  # [V, D]
            grad[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)  # segment sums
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


def split_validation_grouped(
    groups: Sequence[Hashable], fraction: float, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Seeded train/validation index split of ``groups`` [n] (a key per row) with every group on one side.

    Groups are drawn in a seeded order and a drawn group joins validation while it fits in the
    ``split_validation`` share (one that would overshoot stays in training), so validation holds rows
    whose key training never saw. Fewer than two groups cannot be split so: ``split_validation``.
    """
    members: dict[Hashable, list[int]] = {}
    for i, key in enumerate(groups):
        members.setdefault(key, []).append(i)
    n, sides = len(groups), list(members.values())
    if len(sides) < 2:
        return split_validation(n, fraction, seed)
    target = min(max(1, round(n * fraction)), n - 1)
    val: list[int] = []
    for g in np.random.default_rng(seed).permutation(len(sides)):
        if len(val) + len(sides[g]) <= target:
            val.extend(sides[g])
    if not val:  # every group is larger than the share: the smallest one (training keeps the others)
        val = min(sides, key=len)
    held = np.zeros(n, dtype=bool)
    held[val] = True
    return np.flatnonzero(~held).astype(np.int64), np.flatnonzero(held).astype(np.int64)


def fit_params(
    params: Params,
    loss_fn: LossFn,
    train_rows: NDArray[np.int64],
    validation_loss: Callable[[Params], float],
    config: TrainConfig,
    *,
    progress: ProgressFn | None = None,
    should_cancel: CancelFn | None = None,
    on_epoch: EpochFn | None = None,
) -> tuple[Params, TrainHistory]:
    """Train ``params`` on mini-batches of ``train_rows`` [n, ...]; returns the best-validation weights.

    ``loss_fn(params, batch_rows, rng)`` is differentiated with autograd. Early stopping keeps the
    weights of the best validation epoch; ``should_cancel`` is polled before every batch and raises
    ``TrainingCancelledError``. ``config.max_seconds`` is checked after every batch: once spent, the
    current (possibly partial) epoch is validated and training stops with the best weights so far.
    ``on_epoch`` receives every epoch's progress and weights (copies; read-only use).
    """
    from autograd import value_and_grad  # noqa: PLC0415  (training-only dependency)

    theta, layout = flatten_params(params)  # float32: ~3x faster than float64
    view = _param_view()

    def flat_loss(flat: Any, rows: NDArray[np.int64], rng: np.random.Generator) -> Any:
        return loss_fn({name: view(flat, a, b, shape) for name, a, b, shape in layout}, rows, rng)

    grad_fn = value_and_grad(flat_loss)
    rng = np.random.default_rng(config.seed)
    optimiser = _Adam(theta.size, config)
    history = TrainHistory()
    best, best_loss, started = theta, float("inf"), time.monotonic()
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(len(train_rows)) if config.shuffle else np.arange(len(train_rows))
        losses: list[float] = []
        for start in range(0, len(order), config.batch_size):
            if should_cancel is not None and should_cancel():
                raise TrainingCancelledError(f"training cancelled in epoch {epoch}")
            loss, grad = grad_fn(theta, train_rows[order[start : start + config.batch_size]], rng)
            theta = optimiser.step(theta, grad)
            losses.append(float(loss))
            if config.max_seconds is not None and time.monotonic() - started >= config.max_seconds:
                history.out_of_time = True
                break
        params = unflatten_params(theta, layout)
        val = validation_loss(params)
        history.train_loss.append(float(np.mean(losses)) if losses else float("nan"))
        history.validation_loss.append(val)
        if val < best_loss - config.min_delta:
            best, best_loss, history.best_epoch = theta, val, epoch
        if progress is not None or on_epoch is not None:
            report = TrainProgress(
                epoch,
                config.epochs,
                history.train_loss[-1],
                val,
                history.best_epoch,
                time.monotonic() - started,
            )
            if progress is not None:
                progress(report)
            if on_epoch is not None:
                on_epoch(report, params)
        if epoch - history.best_epoch >= config.patience:
            history.stopped_early = True
            break
        if history.out_of_time:
            break
    history.seconds = time.monotonic() - started
    return unflatten_params(best if config.restore_best else theta, layout), history
