"""Find a TFLite interpreter: LiteRT first, then tflite_runtime, then TensorFlow's.

LiteRT (``ai-edge-litert``) is the maintained runtime with aarch64 wheels and XNNPACK; the
fallbacks keep older Pi images (Bookworm with tflite-runtime) and developer machines working.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

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
