"""Habitus models: TransAE (anomaly detection) and SASRec (next action), trained without PyTorch.

Each network is defined once (``network.py``) against a small ops interface (``ops.py``) that has
three backends: ``autograd.numpy`` for training, plain numpy for the hub's fallback executor, and an
ONNX graph builder for ONNX Runtime. See ``serving.py`` for the model file format.
"""

from .base import Backend, NetworkModel, NotFittedError
from .encoding import ALL_FIELDS, EncodingError, FieldSizes
from .sasrec import SASRec, SASRecConfig
from .serving import ModelFileError, onnxruntime_available
from .training import TrainConfig, TrainHistory, TrainingCancelledError, TrainProgress
from .transae import TransAE, TransAEConfig

__all__ = [
    "ALL_FIELDS",
    "Backend",
    "EncodingError",
    "FieldSizes",
    "ModelFileError",
    "NetworkModel",
    "NotFittedError",
    "SASRec",
    "SASRecConfig",
    "TrainConfig",
    "TrainHistory",
    "TrainProgress",
    "TrainingCancelledError",
    "TransAE",
    "TransAEConfig",
    "onnxruntime_available",
]
