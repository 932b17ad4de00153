"""What TransAE and SASRec share: executors, ONNX export, save and load with checks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
from numpy.typing import NDArray

from ..datasets import Vocabulary
from .encoding import FieldSizes
from .ops import ONNX_OPSET
from .serving import (
    Executor,
    GraphFn,
    ModelFileError,
    NumpyExecutor,
    OrtExecutor,
    build_onnx,
    check_param_shapes,
    load_model_file,
    onnxruntime_available,
    save_model_file,
)

type Backend = Literal["auto", "onnxruntime", "numpy"]
SCORING_CHUNK = 256  # rows per executor call, bounds inference memory


class NotFittedError(RuntimeError):
    """The model has no weights yet: call ``fit`` or ``load`` first."""


class NetworkModel:
    """Base of the two estimators: weights in ``params_``, served by numpy or ONNX Runtime."""

    kind: ClassVar[str]
    input_name: ClassVar[str]
    output_name: ClassVar[str]

    def __init__(self, sizes: FieldSizes) -> None:
        self.sizes = sizes
        self.params_: dict[str, NDArray[np.float32]] | None = None
        self.vocabulary: dict[str, Any] | None = None  # names of the ids, carried in the file
        self.metadata: dict[str, Any] = {}  # free-form facts (data, metrics) carried in the file
        self._onnx: bytes | None = None
        self._executors: dict[str, Executor] = {}

    # --- what subclasses provide -------------------------------------------------------------------
    def _graph(self) -> GraphFn:
        raise NotImplementedError

    def _n_inputs(self) -> int:
        raise NotImplementedError

    def _fresh_params(self) -> dict[str, NDArray[np.floating]]:
        raise NotImplementedError

    def _output_dims(self) -> list[int | str]:
        raise NotImplementedError

    def _config_meta(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _from_meta(cls, meta: Mapping[str, Any]) -> Self:
        raise NotImplementedError

    # --- weights and executors ---------------------------------------------------------------------
    def _set_params(self, params: Mapping[str, NDArray[np.floating]]) -> None:
        self.params_ = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
        self._onnx = None
        self._executors = {}

    def _require_params(self) -> dict[str, NDArray[np.float32]]:
        if self.params_ is None:
            raise NotFittedError(f"{self.kind}: not fitted")
        return self.params_

    def to_onnx(self) -> bytes:
        """The serialized ONNX model (opset ``ONNX_OPSET``) with its metadata in ``metadata_props``."""
        if self._onnx is None:
            props = {"habitus": self._json_meta()}
            self._onnx = build_onnx(
                self._graph(),
                self._require_params(),
                input_name=self.input_name,
                n_inputs=self._n_inputs(),
                output_name=self.output_name,
                output_dims=self._output_dims(),
                metadata=props,
            )
        return self._onnx

    def export_onnx(self, path: Path) -> None:
        """Write a standalone ``.onnx`` file (metadata_props key ``habitus`` holds the JSON metadata)."""
        path.write_bytes(self.to_onnx())

    def executor(self, backend: Backend = "auto") -> Executor:
        """An executor for the current weights; "auto" is ONNX Runtime where it imports, else numpy."""
        if backend == "auto":
            backend = "onnxruntime" if onnxruntime_available() and self._onnx_obtainable() else "numpy"
        if backend not in self._executors:
            params = self._require_params()
            if backend == "onnxruntime":
                self._executors[backend] = OrtExecutor(self.to_onnx())  # ModelFileError if the graph is bad
            else:
                self._executors[backend] = NumpyExecutor(self._graph(), params)
        return self._executors[backend]

    def _onnx_obtainable(self) -> bool:
        if self._onnx is not None:
            return True
        try:
            import onnx  # noqa: F401, PLC0415
        except ImportError:
            return False
        return True

    def _run(self, inputs: NDArray[np.int64], backend: Backend) -> NDArray[np.float32]:
        """Run the network over ``inputs`` [N, T] in chunks of ``SCORING_CHUNK`` rows."""
        runner = self.executor(backend)
        if len(inputs) == 0:
            return runner.run(np.zeros((1, self._n_inputs()), np.int64))[:0]
        parts = [runner.run(inputs[i : i + SCORING_CHUNK]) for i in range(0, len(inputs), SCORING_CHUNK)]
        return np.concatenate(parts, axis=0)

    # --- files -------------------------------------------------------------------------------------
    def _json_meta(self) -> str:
        import json  # noqa: PLC0415

        return json.dumps(self._file_meta(), sort_keys=True)

    def _file_meta(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "config": self._config_meta(),
            "sizes": {
                "n_devices": self.sizes.n_devices,
                "n_actions": self.sizes.n_actions,
                "n_days": self.sizes.n_days,
                "n_buckets": self.sizes.n_buckets,
            },
            "vocabulary": self.vocabulary,
            "metadata": self.metadata,
            "onnx_opset": ONNX_OPSET,
        }

    def set_vocabulary(self, vocab: Vocabulary) -> None:
        """Record the id names (devices, actions) this model was trained with; sizes must agree."""
        if (len(vocab.devices), len(vocab.actions)) != (self.sizes.n_devices, self.sizes.n_actions):
            raise ValueError(
                f"vocabulary {vocab.name} has {len(vocab.devices)} devices / {len(vocab.actions)} "
                f"actions, the model {self.sizes.n_devices} / {self.sizes.n_actions}"
            )
        self.vocabulary = {"name": vocab.name, "devices": list(vocab.devices), "actions": list(vocab.actions)}

    def save(self, path: Path, *, include_onnx: bool = True) -> None:
        """Write the model file (weights, metadata, and the ONNX graph if ``onnx`` is installed)."""
        onnx_bytes = self.to_onnx() if include_onnx and self._onnx_obtainable() else None
        save_model_file(path, self._file_meta(), self._require_params(), onnx_bytes)

    @classmethod
    def load(cls, path: Path, *, vocabulary: Vocabulary | None = None) -> Self:
        """Read a model file; ``vocabulary``, if given, must be the one the model was trained with."""
        content = load_model_file(path, cls.kind)
        try:
            model = cls._from_meta(content.meta)
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFileError(f"{path}: bad model config ({type(err).__name__}: {err})") from err
        check_param_shapes(path, content.params, model._fresh_params())
        stored = content.meta.get("vocabulary")
        if vocabulary is not None:
            wanted = {"devices": list(vocabulary.devices), "actions": list(vocabulary.actions)}
            if not isinstance(stored, dict) or {k: stored.get(k) for k in wanted} != wanted:
                raise ModelFileError(f"{path}: trained for another vocabulary than {vocabulary.name!r}")
        model._set_params(content.params)
        model.vocabulary = stored if isinstance(stored, dict) else None
        model.metadata = dict(content.meta.get("metadata") or {})
        model._onnx = content.onnx_bytes
        return model
