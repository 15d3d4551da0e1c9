"""TFLite models: find an interpreter (LiteRT first, then tflite_runtime, then TensorFlow's), and
run a model behind its int8 contract (:class:`Runner`).

LiteRT (``ai-edge-litert``) is the maintained runtime with aarch64 wheels and XNNPACK; the
fallbacks keep older Pi images (Bookworm with tflite-runtime) and developer machines working.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge_emojify.errors import UserError

log = logging.getLogger(__name__)

_CANDIDATES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")


def interpreter_class() -> tuple[type, str]:
    """Return the first importable ``Interpreter`` class and the module it came from."""
    for module_name in _CANDIDATES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        return module.Interpreter, module_name.split(".")[0]
    raise UserError("no TFLite runtime found; install one with: pip install ai-edge-litert")


def load_interpreter(path: Path, threads: int = 1, what: str = "model") -> Any:
    """Load and allocate a .tflite file, turning every failure into a one-line UserError."""
    if not path.is_file():
        raise UserError(f"{what} {path} is missing; reinstall edge-emojify or set its path in the config")
    cls, runtime = interpreter_class()
    try:
        interpreter = cls(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise UserError(f"{what} {path} cannot be loaded ({first}); the file is damaged or not a "
                        "TFLite model: reinstall it") from None
    log.debug("loaded %s with %s (%d thread(s))", path, runtime, threads)
    return interpreter


class Runner:
    """One TFLite model behind its int8 contract, written once for the app and for convert/.

    The contract of ``models/emotion.tflite`` (and of any quantised model here): inputs are
    quantised with the input tensor's *own* scale and zero point (never a hard-coded offset, so a
    re-calibrated model still gets the right values), the batch dimension is resized to the
    number of samples when the model allows it (one invoke for every face of a frame), and the
    outputs are dequantised with the output tensor's parameters. A float model passes through.
    """

    def __init__(self, path: Path, threads: int = 1, what: str = "model") -> None:
        self.interpreter = load_interpreter(path, threads, what)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batched = int(self.input.get("shape_signature", self.input["shape"])[0]) == -1
        self._batch = int(self.input["shape"][0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape (without the batch dimension)."""
        return tuple(int(d) for d in self.input["shape"][1:])

    def quantise(self, x: np.ndarray) -> np.ndarray:
        """Real values (e.g. raw pixels 0..255) as the input tensor's dtype."""
        dtype = self.input["dtype"]
        scale, zero = self.input["quantization"]
        x = np.asarray(x, np.float32)
        if np.issubdtype(dtype, np.integer) and scale:
            info = np.iinfo(dtype)
            return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        return x.astype(dtype)

    def dequantise(self, y: np.ndarray) -> np.ndarray:
        scale, zero = self.output["quantization"]
        if np.issubdtype(y.dtype, np.integer) and scale:
            return (y.astype(np.float32) - zero) * np.float32(scale)
        return y.astype(np.float32)

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """Run already quantised inputs ``(N, ...)`` in one invoke; returns the raw output tensor."""
        if self._batch != len(x):
            self.interpreter.resize_tensor_input(self.input["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self._batch = len(x)
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"]).copy()

    def run(self, x: np.ndarray) -> np.ndarray:
        """Real-valued inputs ``(N, ...)`` to real-valued outputs: one invoke if batched, else one each."""
        q = self.quantise(x)
        if self.batched:
            return self.dequantise(self.invoke(q))
        return np.concatenate([self.dequantise(self.invoke(q[i:i + 1])) for i in range(len(q))])
