"""The display-sink interface: one small class per output, like picamera2's previews."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


class SinkError(Exception):
    """The output cannot be opened or written (no display, device busy, disk full)."""


@runtime_checkable
class Sink(Protocol):
    """Shows finished images. ``size`` is what the renderer should draw (width, height).

    ``show`` takes a BGR uint8 image of exactly ``size``. ``poll`` returns the control
    events that arrived since the last call ("next", "quit"); sinks without input return [].
    """

    name: str
    size: tuple[int, int]

    def show(self, image: np.ndarray) -> None: ...

    def poll(self) -> list[str]: ...

    def close(self) -> None: ...
