"""Heavy jobs run in the Habitus worker process (issue 5, "off the event loop"), and that process's loop.

A job is a plain function ``job(params, progress, cancelled) -> result``:

* ``params`` and the returned ``result`` are JSON-able dicts (they cross a process boundary);
* ``progress(fraction, message)`` streams ``fraction`` in [0, 1] and a short text back to HA;
* ``cancelled()`` is polled between units of work; a job that sees it True raises
  ``JobCancelledError`` (the worker then reports "cancelled" instead of a result).

``JOBS`` is the one registry of job names. ``train_models`` trains TransAE + SASRec on given sequences;
``synthesize`` runs SmartGen's synthesis pipeline (``adapt_pipeline``: TSS, SSC, GSS, LLM, TOF) for a
context shift;
``sleep_steps``, ``burn_cpu``, ``allocate``, ``fail``, ``crash_native`` and ``describe`` are diagnostic
jobs the worker's tests (and the loop-lag benchmark) use to exercise progress, cancellation, CPU load,
the memory limit, job errors, a native crash (``os.abort``) and the worker's own settings.

``serve`` is the worker process's main loop (pure: stdlib + this package). Commands arrive on one pipe
(``("run", job_id, name, params)``, ``("cancel", job_id)``, ``("stop",)``) and events leave on another
(``("ready", pid)``, ``("progress", job_id, fraction, message)``, ``("result", job_id, result)``,
``("error", job_id, error_type, message)``, ``("cancelled", job_id)``).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from .adapt_pipeline import LLMSettings, SynthesisConfig
    from .datasets import RawBehaviour
    from .models import TransAE, TransAEConfig
    from .models.base import Backend
    from .shifts import ContextShift, ShiftKind

type ProgressFn = Callable[[float, str], None]
type CancelledFn = Callable[[], bool]
type JobFn = Callable[[dict[str, Any], ProgressFn, CancelledFn], dict[str, Any]]

# What the hub's TransAE trains on (``train_models``' ``transae_train_on``): "whole" stored sequences, or
# "live-windows", the readings live scoring makes of each (``calibration.live_windows``: its prefixes,
# ``transae_rows``). Default live-windows: trained as the hub trains on SP, FR and AN (3 seeds,
# served prefix-max threshold) the prefixes are in-distribution, the threshold sits lower and detection
# of injected anomalies rises on all three homes (AN's rarest device action 44.6 -> 100 %, bursts 40.8
# -> 69.3 %) with live false alarms within the seed spread (SP 7.4 -> 5.2, FR 10.8 -> 10.8, AN 4.8 ->
# 7.2 %): ``habitus bench threshold --train-on``, docs/BENCHMARKS.md "TransAE trained on live windows".
type TransAETrainOn = Literal["whole", "live-windows"]
TRANSAE_TRAIN_ONS: Final[tuple[TransAETrainOn, ...]] = ("whole", "live-windows")
TRANSAE_TRAIN_ON: Final[TransAETrainOn] = "live-windows"
# Live windows TransAE trains on at most (a seeded sample beyond; validation gets its split's share):
# a stored sequence gives up to ``max_behaviours`` of them, and the 25 s budget binds anyway.
MAX_LIVE_WINDOWS: Final = 20_000
# The stored sequences the hub's TransAE holds out (``transae_split``, param ``transae_holdout``):
# "random", a seeded permutation (``split_validation``, as ``TransAE.fit`` splits), so a sequence stored
# several times mostly has copies on both sides; "grouped", by content (``split_validation_grouped``: every
# copy of a sequence on one side), so every validation sequence is new to the model; "unseen", the random
# split, the served threshold set on its validation sequences that training lacks (all of them if none).
# Default random: on SP and FR half its validation sequences repeat a training one, so its 95th percentile
# bounds the share of all normal sequences that alert, repeats included, as a home repeats its routines
# (held-out 20 % of trn, two draws: SP 5.7 / 8.3, FR 6.4 / 4.9, AN 4.8 / 5.6 %); grouped and unseen bound
# the share of new sequences instead and cost detection (FR bursts 80 -> 35 / 67 %), and that share swings
# more with the held-out draw (3.5-16.2 %) than between the three: ``habitus bench threshold --holdout``,
# docs/BENCHMARKS.md "TransAE's held-out split".
type TransAEHoldout = Literal["random", "grouped", "unseen"]
TRANSAE_HOLDOUTS: Final[tuple[TransAEHoldout, ...]] = ("random", "grouped", "unseen")
TRANSAE_HOLDOUT: Final[TransAEHoldout] = "random"

# ``train_models`` without a ``max_seconds`` param: each model keeps its config's wall-clock budget.
_DEFAULT_BUDGET: Final = object()

# When the parent disappears (EOF on the command pipe), a job that ignores cancellation gets this long.
ORPHAN_GRACE_SECONDS = 10.0


class JobCancelledError(Exception):
    """The job saw ``cancelled()`` return True and stopped; it has no result."""


class JobParamsError(ValueError):
    """A job's name or parameters are not valid (the message says which and why)."""


class JobError(RuntimeError):
    """The job cannot run for a reason outside its parameters (a missing library or model file, an
    unreachable server); the message says what to fix."""


# --------------------------------------------------------------------------------------------- jobs


def sleep_steps(params: dict[str, Any], progress: ProgressFn, cancelled: CancelledFn) -> dict[str, Any]:
    """Diagnostic: ``steps`` sleeps of ``seconds`` each, one progress report per step.

    ``honour_cancel`` (default True) False makes the job ignore cancellation (to test the hard stop).
    """
    steps, seconds = int(params.get("steps", 10)), float(params.get("seconds", 0.05))
    honour_cancel = bool(params.get("honour_cancel", True))
    for step in range(1, steps + 1):
        if honour_cancel and cancelled():
            raise JobCancelledError(f"cancelled before step {step}/{steps}")
        time.sleep(seconds)
        progress(step / steps, f"step {step}/{steps}")
    return {"steps": steps}


def burn_cpu(params: dict[str, Any], progress: ProgressFn, cancelled: CancelledFn) -> dict[str, Any]:
    """Diagnostic: keep one CPU busy with pure-Python arithmetic for ``seconds``; progress every 0.1 s."""
    seconds = float(params.get("seconds", 1.0))
    started = last_report = time.monotonic()
    iterations, value = 0, 0
    while (elapsed := time.monotonic() - started) < seconds:
        if cancelled():
            raise JobCancelledError(f"cancelled after {elapsed:.1f} s")
        for i in range(10_000):
            value = (value * 31 + i) % 1_000_003
        iterations += 1
        if time.monotonic() - last_report >= 0.1:
            last_report = time.monotonic()
            progress(min(elapsed / seconds, 1.0), f"{elapsed:.1f} s")
    return {"iterations": iterations, "value": value}


def allocate(params: dict[str, Any], progress: ProgressFn, cancelled: CancelledFn) -> dict[str, Any]:
    """Diagnostic: allocate and touch ``mb`` MiB (the worker's memory limit turns too much into an error)."""
    mb = int(params.get("mb", 16))
    block = bytearray(mb * 1024 * 1024)  # zero-filled: the pages are really committed
    progress(1.0, f"allocated {mb} MiB")
    return {"allocated_mb": len(block) // (1024 * 1024)}


def fail(params: dict[str, Any], progress: ProgressFn, cancelled: CancelledFn) -> dict[str, Any]:
    """Diagnostic: raise ``ValueError(message)`` (a job error the worker reports, not a crash)."""
    raise ValueError(str(params.get("message", "this job always fails")))


def crash_native(params: dict[str, Any], progress: ProgressFn, cancelled: CancelledFn) -> dict[str, Any]:
    """Diagnostic: die the way a native library does (``os.abort`` = SIGABRT), after one progress report."""
    progress(0.0, "about to abort")
    os.abort()


def describe(params: dict[str, Any], progress: ProgressFn, cancelled: CancelledFn) -> dict[str, Any]:
    """Diagnostic: the worker process's pid, niceness, address-space limit and whether HA is imported."""
    import resource  # noqa: PLC0415  (POSIX only)
    import sys  # noqa: PLC0415

    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return {
        "pid": os.getpid(),
        "niceness": os.nice(0),
        "memory_limit_mb": None if soft == resource.RLIM_INFINITY else soft // (1024 * 1024),
        "homeassistant_imported": "homeassistant" in sys.modules,
    }


def _parse_sequences(
    raw: object, n_devices: int, n_actions: int, job: str = "train_models"
) -> list[list[tuple[int, int, int, int]]]:
    """``[[[day, bucket, device, action], ...], ...]`` -> ``RawSequence`` list, every id range-checked."""
    if not isinstance(raw, list) or not raw:
        raise JobParamsError(f"{job} needs 'sequences': a non-empty list of behaviour lists")
    limits = (7, 8, n_devices, n_actions)
    sequences: list[list[tuple[int, int, int, int]]] = []
    for i, seq in enumerate(raw):
        if not isinstance(seq, list) or not seq:
            raise JobParamsError(f"sequence {i} must be a non-empty list of [day, bucket, device, action]")
        parsed: list[tuple[int, int, int, int]] = []
        for behaviour in seq:
            if (
                not isinstance(behaviour, list | tuple)
                or len(behaviour) != 4
                or not all(
                    isinstance(v, int) and 0 <= v < lim for v, lim in zip(behaviour, limits, strict=True)
                )
            ):
                raise JobParamsError(
                    f"sequence {i}: {behaviour!r} is not "
                    f"[day<7, bucket<8, device<{n_devices}, action<{n_actions}]"
                )
            parsed.append((behaviour[0], behaviour[1], behaviour[2], behaviour[3]))
        sequences.append(parsed)
    return sequences


def _config[C](
    default: C, overrides: object, epochs: int | None, seed: int | None, budget: object = _DEFAULT_BUDGET
) -> C:
    """``default`` (a TransAE/SASRec config dataclass) with ``overrides`` and the shared epochs / seed /
    wall-clock budget (``budget``: seconds, None = unbounded, ``_DEFAULT_BUDGET`` = the config's)."""
    if not isinstance(overrides, Mapping):
        raise JobParamsError(f"model overrides must be an object, got {overrides!r}")
    train = default.train  # type: ignore[attr-defined]
    train = dataclasses.replace(
        train,
        epochs=train.epochs if epochs is None else int(epochs),
        seed=train.seed if seed is None else int(seed),
        max_seconds=train.max_seconds if budget is _DEFAULT_BUDGET else budget,
    )
    try:
        return dataclasses.replace(default, **{**overrides, "train": train})  # type: ignore[type-var]
    except TypeError as err:
        raise JobParamsError(f"bad model setting: {err}") from err


def _scaled(progress: ProgressFn, start: float, span: float, name: str) -> Callable[[Any], None]:
    """A ``TrainProgress`` callback reporting into ``[start, start + span]`` of the job's progress."""

    def report(p: Any) -> None:
        progress(
            start + span * p.epoch / p.epochs,
            f"{name} epoch {p.epoch}/{p.epochs}: validation loss {p.validation_loss:.4f}",
        )

    return report


def _history(model: Any) -> dict[str, Any]:
    """A trained model's ``TrainHistory`` as JSON-able numbers."""
    history = model.history_
    return {
        "epochs_run": len(history.validation_loss),
        "best_epoch": history.best_epoch,
        "best_validation_loss": min(history.validation_loss),
        "stopped_early": history.stopped_early,
        "out_of_time": history.out_of_time,
        "seconds": round(history.seconds, 3),
    }


def _budget(params: Mapping[str, Any]) -> object:
    """``params["max_seconds"]``: each fit's wall-clock budget (a number >= 0, or None = unbounded);
    absent = the model config's (``TrainConfig.max_seconds``, 25 s)."""
    if "max_seconds" not in params:
        return _DEFAULT_BUDGET
    value = params["max_seconds"]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise JobParamsError(f"max_seconds must be a number >= 0 or null, got {value!r}")
    return float(value)


def train_models(params: dict[str, Any], progress: ProgressFn, cancelled: CancelledFn) -> dict[str, Any]:
    """Train TransAE (anomaly autoencoder) then SASRec (next action) on ``params["sequences"]``.

    Params: ``sequences`` (``[[[day, bucket, device, action], ...], ...]``), ``n_devices``,
    ``n_actions``; optional ``sasrec_sequences`` (SASRec's own set, e.g. TOF's next-action set when
    synthesis filtered per task; default ``sequences``), ``transae_train_on`` (``TransAETrainOn``,
    default ``TRANSAE_TRAIN_ON``: see ``transae_rows``), ``transae_holdout`` (``TransAEHoldout``,
    default ``TRANSAE_HOLDOUT``: see ``transae_split``), ``epochs``, ``seed`` and ``max_seconds`` (both
    models; ``max_seconds``: each fit's wall-clock budget, null = none, absent = the config's 25 s),
    ``transae`` / ``sasrec`` (config field overrides, e.g. ``{"d_model": 16}``) and ``output_dir``
    (writes ``transae.npz`` and ``sasrec.npz`` there; the caller deploys them). Progress: TransAE
    fills [0, 0.5], SASRec [0.5, 1].
    """
    from .models import SASRec, SASRecConfig, TrainingCancelledError, TransAE, TransAEConfig  # noqa: PLC0415
    from .models.encoding import FieldSizes  # noqa: PLC0415

    try:
        sizes = FieldSizes(n_devices=int(params["n_devices"]), n_actions=int(params["n_actions"]))
    except (KeyError, TypeError, ValueError) as err:
        raise JobParamsError("train_models needs integer 'n_devices' and 'n_actions'") from err
    sequences = _parse_sequences(params.get("sequences"), sizes.n_devices, sizes.n_actions)
    sasrec_sequences = (
        sequences
        if params.get("sasrec_sequences") is None
        else _parse_sequences(params["sasrec_sequences"], sizes.n_devices, sizes.n_actions)
    )
    train_on = params.get("transae_train_on", TRANSAE_TRAIN_ON)
    if train_on not in TRANSAE_TRAIN_ONS:
        raise JobParamsError(f"transae_train_on must be one of {TRANSAE_TRAIN_ONS}, got {train_on!r}")
    holdout = params.get("transae_holdout", TRANSAE_HOLDOUT)
    if holdout not in TRANSAE_HOLDOUTS:
        raise JobParamsError(f"transae_holdout must be one of {TRANSAE_HOLDOUTS}, got {holdout!r}")
    epochs, seed, budget = params.get("epochs"), params.get("seed"), _budget(params)
    transae = TransAE(sizes, _config(TransAEConfig(), params.get("transae", {}), epochs, seed, budget))
    sasrec = SASRec(sizes, _config(SASRecConfig(), params.get("sasrec", {}), epochs, seed, budget))
    try:
        split, n_rows = fit_transae(
            transae,
            sequences,
            train_on,
            holdout,
            progress=_scaled(progress, 0.0, 0.5, "TransAE"),
            should_cancel=cancelled,
        )
        sasrec.fit(sasrec_sequences, progress=_scaled(progress, 0.5, 0.5, "SASRec"), should_cancel=cancelled)
    except TrainingCancelledError as err:
        raise JobCancelledError(str(err)) from err
    result: dict[str, Any] = {
        "n_sequences": len(sequences),
        "n_sequences_sasrec": len(sasrec_sequences),
        "max_seconds": transae.config.train.max_seconds,
        "transae": {
            **_history(transae),
            "threshold": transae.threshold_,
            "train_on": train_on,
            "n_train_rows": n_rows,
            "holdout": holdout,
            "n_validation_sequences": len(split.validation),
            "n_calibration_sequences": len(split.calibration),
        },
        "sasrec": _history(sasrec),
    }
    if params.get("output_dir"):
        out = Path(str(params["output_dir"]))
        transae.save(out / "transae.npz")
        sasrec.save(out / "sasrec.npz")
        result["transae"]["path"], result["sasrec"]["path"] = (
            str(out / "transae.npz"),
            str(out / "sasrec.npz"),
        )
    return result


class TransAESplit(NamedTuple):
    """Indices into the stored sequences: TransAE's training side [n_train], its validation side [n_val]
    (early stopping) and the sequences the served threshold is set on [n_cal] (``calibrate_as_live``)."""

    train: NDArray[np.int64]
    validation: NDArray[np.int64]
    calibration: NDArray[np.int64]


def transae_split(
    sequences: list[list[tuple[int, int, int, int]]],
    config: TransAEConfig,
    holdout: TransAEHoldout = TRANSAE_HOLDOUT,
) -> TransAESplit:
    """The hub's TransAE split of ``sequences`` (``TransAEHoldout``), seeded by ``config.train``."""
    import numpy as np  # noqa: PLC0415

    from .models.training import split_validation, split_validation_grouped  # noqa: PLC0415

    fraction, seed = config.train.validation_fraction, config.train.seed
    if holdout == "grouped":
        train_idx, val_idx = split_validation_grouped([tuple(s) for s in sequences], fraction, seed)
    else:
        train_idx, val_idx = split_validation(len(sequences), fraction, seed)
    calibration = val_idx
    if holdout == "unseen":
        seen = {tuple(sequences[int(i)]) for i in train_idx}
        unseen = np.array([i for i in val_idx if tuple(sequences[int(i)]) not in seen], dtype=np.int64)
        calibration = unseen if len(unseen) else val_idx
    return TransAESplit(train_idx, val_idx, calibration)


def transae_rows(
    transae: TransAE,
    sequences: list[list[tuple[int, int, int, int]]],
    train_on: TransAETrainOn = TRANSAE_TRAIN_ON,
    max_windows: int = MAX_LIVE_WINDOWS,
    *,
    split: TransAESplit | None = None,
) -> tuple[list[list[tuple[int, int, int, int]]], list[list[tuple[int, int, int, int]]]]:
    """TransAE's (train, validation) rows from ``split`` (default: ``transae_split`` with the default
    holdout); "whole" keeps the two sides as they are, "live-windows" expands each side into its
    sequences' live windows (``calibration.live_windows``, one reading after each behaviour), so no
    sequence's prefixes sit on both sides. Every reading is kept, repeats too (live scoring reads them
    that often); a side beyond its share of ``max_windows`` is a seeded sample of it."""
    import numpy as np  # noqa: PLC0415

    from .calibration import live_windows  # noqa: PLC0415

    cfg = transae.config
    train_idx, val_idx, _ = transae_split(sequences, cfg) if split is None else split
    if train_on == "whole":
        return [sequences[int(i)] for i in train_idx], [sequences[int(i)] for i in val_idx]
    n = cfg.max_behaviours  # every behaviour of a stored sequence is in the vocabulary
    rng = np.random.default_rng(cfg.train.seed)
    sides: list[list[list[tuple[int, int, int, int]]]] = []
    for idx, share in (
        (train_idx, 1.0 - cfg.train.validation_fraction),
        (val_idx, cfg.train.validation_fraction),
    ):
        windows = [w for i in idx for w in live_windows(sequences[int(i)], n, n)]
        cap = max(1, round(max_windows * share))
        if len(windows) > cap:
            windows = [windows[int(j)] for j in np.sort(rng.choice(len(windows), cap, replace=False))]
        sides.append(windows)
    return sides[0], sides[1]


def fit_transae(
    transae: TransAE,
    sequences: list[list[tuple[int, int, int, int]]],
    train_on: TransAETrainOn = TRANSAE_TRAIN_ON,
    holdout: TransAEHoldout = TRANSAE_HOLDOUT,
    *,
    progress: Callable[[Any], None] | None = None,
    should_cancel: CancelledFn | None = None,
) -> tuple[TransAESplit, int]:
    """Fit TransAE on a home's stored ``sequences`` as the hub does: ``transae_split``, the rows of
    ``transae_rows``, ``fit`` (early stopping on the validation side), then ``calibrate_as_live`` on the
    calibration side. Returns the split and the number of training rows."""
    split = transae_split(sequences, transae.config, holdout)  # training, early stopping and threshold
    rows, validation = transae_rows(transae, sequences, train_on, split=split)
    transae.fit(rows, validation, progress=progress, should_cancel=should_cancel)
    calibrate_as_live(transae, [sequences[int(i)] for i in split.calibration])
    return split, len(rows)


def live_max_scores(
    transae: TransAE, sequences: Sequence[Sequence[RawBehaviour | None]], backend: Backend = "auto"
) -> NDArray[np.float64]:
    """[N] each sequence's highest score over the readings live scoring makes of it
    (``calibration.max_prefix_scores`` with ``transae``'s score): live scoring alerts on a sequence
    exactly when this is above the threshold."""
    from .calibration import max_prefix_scores  # noqa: PLC0415

    n = transae.config.max_behaviours  # every behaviour of a stored sequence is in the vocabulary
    return max_prefix_scores(lambda reads: transae.score(reads, backend), sequences, n, n)


def calibrate_as_live(transae: TransAE, validation: list[list[tuple[int, int, int, int]]]) -> None:
    """Reset the fitted TransAE's threshold to its percentile of held-out ``validation`` sequences'
    highest prefix scores (``live_max_scores``): live scoring reads the open sequence after each
    behaviour and alerts on any reading, so the whole-sequence percentile ``fit`` sets would flag
    more than its nominal share of normal sequences (``transae_split``'s calibration side)."""
    from .calibration import home_threshold  # noqa: PLC0415

    # scored as the hub serves ("auto": ONNX Runtime where it imports): a sequence identical to the one at
    # the percentile must score the same live, not a rounding above it
    scores = live_max_scores(transae, validation, "auto")
    threshold = home_threshold(scores, transae.config.threshold_percentile, minimum=1)
    if threshold is not None:
        transae.threshold_ = threshold


# Contract A's shift kinds -> ``ContextShift.kind`` (the paper's ST / TT / NT are accepted as well).
_SHIFT_KINDS: dict[str, ShiftKind] = {
    "seasonal": "ST",
    "schedule": "TT",
    "occupancy": "NT",
    "custom": "custom",
    "ST": "ST",
    "TT": "TT",
    "NT": "NT",
}
_PREVIOUS_ROUTINE = "the household's usual routine"


def _names(params: Mapping[str, Any], key: str) -> list[str]:
    """A required non-empty list of strings (``devices`` / ``actions``)."""
    value = params.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise JobParamsError(f"synthesize needs '{key}': a non-empty list of names")
    return value


def _int_list(value: object, key: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, int) for v in value):
        raise JobParamsError(f"'{key}' must be a list of integers")
    return tuple(value)


def _shift(raw: object) -> ContextShift:
    """``params["shift"]`` -> ``ContextShift``; an empty ``original`` means the usual routine."""
    from .shifts import ContextShift  # noqa: PLC0415

    if not isinstance(raw, Mapping):
        raise JobParamsError("synthesize needs 'shift': {kind, original, new, ...}")
    kind = _SHIFT_KINDS.get(str(raw.get("kind", "custom")))
    if kind is None:
        raise JobParamsError(f"shift kind must be one of {', '.join(_SHIFT_KINDS)}, not {raw.get('kind')!r}")
    emphasis = raw.get("emphasis_devices") or []
    if not isinstance(emphasis, list | tuple) or not all(isinstance(d, str) for d in emphasis):
        raise JobParamsError("'emphasis_devices' must be a list of names")
    try:
        return ContextShift(
            kind=kind,
            original=str(raw.get("original") or _PREVIOUS_ROUTINE),
            new=str(raw.get("new") or ""),
            emphasis_devices=tuple(emphasis),
            active_hours=_int_list(raw.get("active_hours") or [], "active_hours"),
        )
    except ValueError as err:
        raise JobParamsError(f"bad shift: {err}") from err


def _llm_settings(raw: object) -> LLMSettings:
    """``params["llm"]`` -> ``LLMSettings`` (missing = the packaged Gemma 3 270M in process)."""
    from .adapt_pipeline import LLMSettings  # noqa: PLC0415

    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise JobParamsError("'llm' must be an object")
    defaults = LLMSettings()
    try:
        model = raw.get("model_path")
        return LLMSettings(
            backend=raw.get("backend", defaults.backend),
            model_path=Path(str(model)) if model else None,
            server_url=raw.get("server_url") or None,
            server_model=raw.get("server_model") or None,
            n_threads=int(raw.get("n_threads") or defaults.n_threads),
            n_ctx=int(raw.get("n_ctx") or defaults.n_ctx),
        )
    except (TypeError, ValueError) as err:
        raise JobParamsError(f"bad llm settings: {err}") from err


def _synthesis_config(params: Mapping[str, Any]) -> SynthesisConfig:
    """The pipeline's configuration from the job's params (contract A, plus optional budgets)."""
    from .adapt_pipeline import SynthesisConfig  # noqa: PLC0415

    optional: dict[str, Any] = {
        key: int(params[key])
        for key in ("weeks", "max_prompts", "seed", "max_new_tokens", "max_codes", "sequences_per_response")
        if params.get(key) is not None
    }
    ablate = params.get("ablate") or []
    if not isinstance(ablate, list | tuple) or not all(isinstance(s, str) for s in ablate):
        raise JobParamsError("'ablate' must be a list of stage names")
    try:
        return SynthesisConfig(
            shift=_shift(params.get("shift")),
            llm=_llm_settings(params.get("llm")),
            ablate=frozenset(ablate),
            **optional,
        )
    except ValueError as err:
        if isinstance(err, JobParamsError):
            raise
        raise JobParamsError(f"bad synthesis settings: {err}") from err


def synthesize(params: dict[str, Any], progress: ProgressFn, cancelled: CancelledFn) -> dict[str, Any]:
    """SmartGen synthesis for a context shift (``adapt_pipeline``: TSS, SSC, GSS hints, LLM, TOF).

    Params (contract A): ``sequences`` (``[[[day, bucket, device, action], ...], ...]``), ``devices``
    and ``actions`` (the home's names, index = id), ``shift`` ({kind: seasonal|schedule|occupancy|
    custom, original, new, emphasis_devices, active_hours}), ``llm`` ({backend: local|server,
    model_path, server_url, server_model, n_threads, n_ctx}); optional ``weeks``, ``max_prompts``,
    ``ablate``, ``seed`` (and ``max_new_tokens``, ``max_codes``, ``sequences_per_response``).
    Returns ``{"sequences": kept synthetic sequences in the same raw form (TOF's set for the anomaly
    model), "sequences_bp": TOF's set for the next-action model, "report": {...}}``.
    Bad LLM output only lowers Pass@1; no LLM (library, model file, server) is a ``JobError``.
    """
    from .adapt_pipeline import (  # noqa: PLC0415
        SynthesisCancelledError,
        SynthesisError,
        home_vocabulary,
        synthesize_raw,
    )

    devices, actions = _names(params, "devices"), _names(params, "actions")
    sequences = _parse_sequences(params.get("sequences"), len(devices), len(actions), "synthesize")
    config = _synthesis_config(params)
    try:
        kept, kept_bp, report = synthesize_raw(
            sequences,
            home_vocabulary(devices, actions),
            config,
            progress=progress,
            cancelled=cancelled,
        )
    except SynthesisCancelledError as err:
        raise JobCancelledError(str(err)) from err
    except SynthesisError as err:
        raise JobError(str(err)) from err
    return {
        "sequences": [[list(b) for b in seq] for seq in kept],
        "sequences_bp": [[list(b) for b in seq] for seq in kept_bp],
        "report": report,
    }


JOBS: dict[str, JobFn] = {
    "train_models": train_models,
    "synthesize": synthesize,
    "sleep_steps": sleep_steps,
    "burn_cpu": burn_cpu,
    "allocate": allocate,
    "fail": fail,
    "crash_native": crash_native,
    "describe": describe,
}


def run_job(
    name: str, params: dict[str, Any], progress: ProgressFn, cancelled: CancelledFn
) -> dict[str, Any]:
    """Run the registered job ``name``; raises ``JobParamsError`` for an unknown name."""
    job = JOBS.get(name)
    if job is None:
        raise JobParamsError(f"unknown job {name!r}; known: {', '.join(sorted(JOBS))}")
    return job(params, progress, cancelled)


# ------------------------------------------------------------------------------- worker process loop


class Connection(Protocol):
    """The part of ``multiprocessing.connection.Connection`` the loop uses."""

    def send(self, obj: Any) -> None: ...

    def recv(self) -> Any: ...


@dataclasses.dataclass(slots=True)
class _ChildState:
    """What the command reader thread shares with the job loop."""

    jobs: queue.SimpleQueue[tuple[int, str, dict[str, Any]] | None] = dataclasses.field(
        default_factory=queue.SimpleQueue
    )
    cancelled_ids: set[int] = dataclasses.field(default_factory=set)  # may arrive before the job starts
    stopping: threading.Event = dataclasses.field(default_factory=threading.Event)

    def cancelled(self, job_id: int) -> bool:
        """Whether job ``job_id`` should stop (cancelled, or the worker is stopping)."""
        return self.stopping.is_set() or job_id in self.cancelled_ids


def apply_limits(nice: int, memory_limit_mb: int | None) -> None:
    """Lower this process's priority by ``nice`` and cap its address space (``RLIMIT_AS``), if possible."""
    if nice:
        os.nice(nice)
    if memory_limit_mb:
        import resource  # noqa: PLC0415  (POSIX only)

        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _read_commands(commands: Connection, state: _ChildState) -> None:
    """Command reader thread: queue jobs, flag cancellation; on stop or parent exit, end the loop."""
    while True:
        try:
            message = commands.recv()
        except (EOFError, OSError):  # the parent is gone: stop, and do not outlive it for long
            state.stopping.set()
            state.jobs.put(None)
            time.sleep(ORPHAN_GRACE_SECONDS)
            os._exit(0)
        if message[0] == "run":
            state.jobs.put((message[1], message[2], message[3]))
        elif message[0] == "cancel":
            state.cancelled_ids.add(message[1])
        elif message[0] == "stop":
            state.stopping.set()
            state.jobs.put(None)
            return


def _outcome(
    job_id: int, name: str, params: dict[str, Any], events: Connection, state: _ChildState
) -> tuple[Any, ...]:
    """Run one job and turn its end into the event to send."""

    def progress(fraction: float, message: str) -> None:
        events.send(("progress", job_id, float(fraction), str(message)))

    try:
        return ("result", job_id, run_job(name, params, progress, lambda: state.cancelled(job_id)))
    except JobCancelledError:
        return ("cancelled", job_id)
    except Exception as err:  # reported to HA; the worker keeps serving
        return ("error", job_id, type(err).__name__, str(err))


def serve(
    commands: Connection, events: Connection, nice: int = 10, memory_limit_mb: int | None = None
) -> None:
    """The worker process: apply the limits, say "ready", then run queued jobs one at a time until stop."""
    apply_limits(nice, memory_limit_mb)
    state = _ChildState()
    threading.Thread(
        target=_read_commands, args=(commands, state), name="habitus-commands", daemon=True
    ).start()
    events.send(("ready", os.getpid()))
    while (item := state.jobs.get()) is not None:
        job_id, name, params = item
        events.send(_outcome(job_id, name, params, events, state))
        state.cancelled_ids.discard(job_id)
