"""A sink that shows nothing: for benchmarks, soak runs and headless tests."""

from __future__ import annotations

import numpy as np


class NullSink:
    name = "null"

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.frames = 0

    def show(self, image: np.ndarray) -> None:
        self.frames += 1

    def poll(self) -> list[str]:
        return []

    def close(self) -> None:
        pass
