"""Serving: the numpy executor, ONNX export, ONNX Runtime sessions, and the model file format.

* ``NumpyExecutor`` runs a network function with ``NumpyOps`` (plain numpy) on float32 weights. It needs
  only numpy, so it runs on musl hubs where ONNX Runtime does not install.
* ``build_onnx`` traces the same network function through ``OnnxGraphOps`` (opset ``ONNX_OPSET``),
  with the model's metadata in ``metadata_props``.
* ``OrtExecutor`` runs that graph with ONNX Runtime: one intra-op thread, spinning off, so a hub's
  CPU is not kept busy between calls.
* **Model file**: one ``.npz`` container (``np.load(allow_pickle=False)``, so loading never runs
  code) holding ``param/<name>`` float32 arrays, ``__meta__`` (UTF-8 JSON: format, version, kind,
  config, vocabulary, threshold, metrics, opset) and, when ``onnx`` was available at save time,
  ``__onnx__`` (the serialized ONNX model). Any defect raises ``ModelFileError`` naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .ops import ONNX_OPSET, NumpyOps, OnnxGraphOps, Tensor

FORMAT_NAME = "habitus-model"
FORMAT_VERSION = 1
type GraphFn = Callable[[Any, Mapping[str, Tensor], Tensor], Tensor]


class ModelFileError(ValueError):
    """A model file is missing, corrupt, of another kind or built for another vocabulary/shape."""


class Executor(Protocol):
    """Runs a network on an int64 input batch and returns float32 outputs."""

    backend: str

    def run(self, inputs: NDArray[np.int64]) -> NDArray[np.float32]:
        """[B, T] int64 -> the network's output (TransAE: [B] scores; SASRec: [B, N+1])."""
        ...


class NumpyExecutor:
    """The plain-numpy executor: the network function on float32 arrays, replayed from a tape.

    A per-behaviour call is ~200 tiny ops, so Python overhead, not FLOPs, decides its latency. The
    first ``run`` executes the network function through ``TracingOps`` (a real run) and records a
    *tape*: the ``NumpyOps`` calls that depend on the input, in order. Every op whose arguments are all
    weights or constants (transposed embeddings, scales, the causal mask, ...) is computed once then
    and kept as a constant. Later calls replay the tape: no network-level Python, no parameter-name
    lookups, no constant re-creation, and each intermediate is released after its last use. The
    tape holds ``NumpyOps`` calls, which read their shapes at run time, so it serves any batch size;
    results are identical to running the function directly (same ops on the same values).
    """

    backend = "numpy"

    def __init__(self, graph: GraphFn, params: Mapping[str, NDArray[np.floating]]) -> None:
        self._graph = graph
        self._params = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
        self._ops = NumpyOps(dtype=np.float32)
        self._tape: Tape | None = None

    def run(self, inputs: NDArray[np.int64]) -> NDArray[np.float32]:
        tokens = np.asarray(inputs, dtype=np.int64)
        if self._tape is None:
            tracer = TracingOps(self._ops, tokens)
            out = self._graph(tracer, self._params, tokens)
            self._tape = tracer.tape(out)
            return np.asarray(out, np.float32)
        return np.asarray(self._tape.replay(tokens), np.float32)


type Step = tuple[Callable[..., Any], tuple[Any, ...], tuple[int, ...], int, tuple[int, ...]]


class Tape:
    """A recorded forward pass, compiled into one Python function of the input.

    ``steps`` are ``(op, args, slot positions in args, output slot, slots freed)``: slot 0 is the
    input; an argument listed in the slot positions is read from that slot, any other is a constant
    fixed at trace time. The steps become straight-line code (``s5 = op3(s0, c3_1)``; ``del`` after a
    slot's last read), so a replay costs one Python call per op. Only slot numbers and generated
    names enter the source; ops and constants are passed in the function's namespace.
    """

    def __init__(self, steps: list[Step], output: int) -> None:
        namespace: dict[str, Any] = {}
        lines = ["def replay(s0):"]
        for index, (op, args, reads, out, frees) in enumerate(steps):
            names = []
            for position, arg in enumerate(args):
                if position in reads:
                    names.append(f"s{arg}")
                else:
                    namespace[f"c{index}_{position}"] = arg
                    names.append(f"c{index}_{position}")
            namespace[f"op{index}"] = op
            lines.append(f"    s{out} = op{index}({', '.join(names)})")
            if frees:
                lines.append(f"    del {', '.join(f's{slot}' for slot in frees)}")
        lines.append(f"    return s{output}")
        exec(compile("\n".join(lines), "<habitus numpy tape>", "exec"), namespace)
        self.replay: Callable[[NDArray[np.int64]], Any] = namespace["replay"]
        self.steps = len(steps)


class TracingOps:
    """``NumpyOps`` that also records a ``Tape``: every call runs for real and, if it depends on the
    input, is appended to the tape; calls on weights and constants only are folded (run once)."""

    def __init__(self, ops: NumpyOps, tokens: NDArray[np.int64]) -> None:
        self._ops = ops
        self._slot_of: dict[int, int] = {id(tokens): 0}
        self._alive: list[Any] = [tokens]  # keeps traced arrays alive, so ids stay unique
        self._steps: list[tuple[Callable[..., Any], tuple[Any, ...], tuple[int, ...], int]] = []
        self.training = False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._ops, name)
        if not callable(method):
            return method

        def traced(*args: Any) -> Any:
            result = method(*args)
            reads = tuple(i for i, a in enumerate(args) if id(a) in self._slot_of and a is self._alive_at(a))
            if not reads:
                self._alive.append(result)  # folded: a constant from here on
                return result
            if any(result is args[i] for i in reads):  # identity (dropout at inference)
                return result
            baked = tuple(self._slot_of[id(a)] if i in reads else a for i, a in enumerate(args))
            out = len(self._alive)
            self._slot_of[id(result)] = out
            self._alive.append(result)
            self._steps.append((method, baked, reads, out))
            return result

        return traced

    def _alive_at(self, array: Any) -> Any:
        return self._alive[self._slot_of[id(array)]]

    def tape(self, output: Any) -> Tape:
        """The recorded steps, with each slot freed right after its last read."""
        if id(output) not in self._slot_of or output is not self._alive_at(output):
            raise ValueError("the network's output does not depend on its input")
        result = self._slot_of[id(output)]
        last_read: dict[int, int] = {}
        for index, (_, args, reads, _) in enumerate(self._steps):
            for position in reads:
                last_read[args[position]] = index
        frees: dict[int, list[int]] = {}
        for slot, index in last_read.items():
            if slot != result:
                frees.setdefault(index, []).append(slot)
        steps: list[Step] = [
            (op, args, reads, out, tuple(frees.get(index, ())))
            for index, (op, args, reads, out) in enumerate(self._steps)
        ]
        return Tape(steps, result)


class OrtExecutor:
    """ONNX Runtime executor: intra_op_num_threads=1, inter-op 1, spinning off."""

    backend = "onnxruntime"

    def __init__(self, onnx_bytes: bytes) -> None:
        import onnxruntime as ort  # noqa: PLC0415  (optional: glibc hosts only)

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors  # noqa: PLC0415

        load_errors = (
            ort_errors.InvalidProtobuf,
            ort_errors.InvalidGraph,
            ort_errors.InvalidArgument,
            ort_errors.Fail,
            ort_errors.NotImplemented,
        )
        try:
            self._session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        except load_errors as err:
            raise ModelFileError(f"the ONNX graph does not load in ONNX Runtime ({err})") from err
        self._input = self._session.get_inputs()[0].name

    def run(self, inputs: NDArray[np.int64]) -> NDArray[np.float32]:
        (out,) = self._session.run(None, {self._input: np.asarray(inputs, dtype=np.int64)})
        return np.asarray(out, dtype=np.float32)


def onnxruntime_available() -> bool:
    """Can ONNX Runtime be imported here?"""
    try:
        import onnxruntime  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def build_onnx(
    graph: GraphFn,
    params: Mapping[str, NDArray[np.floating]],
    *,
    input_name: str,
    n_inputs: int,
    output_name: str,
    output_dims: list[int | str],
    metadata: Mapping[str, str],
) -> bytes:
    """Trace ``graph`` into an ONNX model (opset ``ONNX_OPSET``): int64 [batch, n_inputs] -> output."""
    import onnx  # noqa: PLC0415  (optional dependency)
    from onnx import TensorProto, helper  # noqa: PLC0415

    ops = OnnxGraphOps()
    names = {name: ops.initializer(name, np.asarray(value, np.float32)) for name, value in params.items()}
    result = graph(ops, names, input_name)
    ops.nodes.append(helper.make_node("Identity", [result], [output_name]))
    model = helper.make_model(
        helper.make_graph(
            ops.nodes,
            "habitus",
            [helper.make_tensor_value_info(input_name, TensorProto.INT64, ["batch", n_inputs])],
            [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, output_dims)],
            initializer=ops.initializers,
        ),
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="habitus",
    )
    model.ir_version = 8
    helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


@dataclass(frozen=True, slots=True)
class ModelFile:
    """The parsed content of a model file."""

    meta: dict[str, Any]
    params: dict[str, NDArray[np.float32]]
    onnx_bytes: bytes | None


def save_model_file(
    path: Path, meta: Mapping[str, Any], params: Mapping[str, NDArray[np.floating]], onnx_bytes: bytes | None
) -> None:
    """Write a model file atomically (temporary file + rename), so a crash never leaves half a model."""
    arrays: dict[str, NDArray[Any]] = {f"param/{k}": np.asarray(v, np.float32) for k, v in params.items()}
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **meta}
    arrays["__meta__"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    if onnx_bytes is not None:
        arrays["__onnx__"] = np.frombuffer(onnx_bytes, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a model file is shipped and read by other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_model_file(path: Path, kind: str) -> ModelFile:
    """Read and check a model file of ``kind`` ("transae" / "sasrec"); raises ``ModelFileError``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {name: archive[name] for name in archive.files}
        meta = json.loads(bytes(contents.pop("__meta__")).decode("utf-8"))
    except FileNotFoundError as err:
        raise ModelFileError(f"{path}: no such model file") from err
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        UnicodeDecodeError,
    ) as err:
        raise ModelFileError(f"{path}: not a Habitus model file ({type(err).__name__}: {err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not a Habitus model file (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {meta.get('format_version')} is not {FORMAT_VERSION}")
    if meta.get("kind") != kind:
        raise ModelFileError(f"{path}: holds a {meta.get('kind')!r} model, expected {kind!r}")
    onnx_array = contents.pop("__onnx__", None)
    params = {
        k.removeprefix("param/"): np.asarray(v, np.float32)
        for k, v in contents.items()
        if k.startswith("param/")
    }
    return ModelFile(meta, params, None if onnx_array is None else bytes(onnx_array))


def check_param_shapes(
    path: Path, loaded: Mapping[str, NDArray[Any]], expected: Mapping[str, NDArray[Any]]
) -> None:
    """Raise ``ModelFileError`` unless ``loaded`` has exactly the expected names and shapes."""
    missing = sorted(set(expected) - set(loaded))
    extra = sorted(set(loaded) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f"{path}: parameters do not match the config (missing {missing}, unexpected {extra})"
        )
    for name, value in expected.items():
        if loaded[name].shape != value.shape:
            raise ModelFileError(
                f"{path}: parameter {name} has shape {loaded[name].shape}, expected {value.shape}"
            )
        if not np.all(np.isfinite(loaded[name])):
            raise ModelFileError(f"{path}: parameter {name} holds NaN or infinity")
