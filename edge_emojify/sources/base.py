"""The frame-source interface: every camera, file and fake yields :class:`Frame` the same way."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from edge_emojify.types import Frame


class SourceError(Exception):
    """The source failed (camera unplugged, read timed out, device busy). The app retries it."""


@runtime_checkable
class FrameSource(Protocol):
    """Yields frames until the stream ends.

    ``read`` returns the next frame, or None at the end of a finite stream (a video without
    looping). It raises :class:`SourceError` when the device fails; the caller closes the
    source and opens a fresh one with back-off.
    """

    name: str
    fps: float  # frames per second it delivers (a file's own rate): the video sink writes at it

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


# Video luma spans 16-235 (limited range); this maps it onto the 0-255 grey that converting the
# decoded picture to grey gives (OpenCV decodes 4:2:0 with the limited-range coefficients).
LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def frame_from_bgr(image: np.ndarray, index: int, detect_width: int = 0,
                   timestamp: float | None = None, cut: bool = False, luma: np.ndarray | None = None) -> Frame:
    """Make a Frame from a BGR image, with a grayscale copy at most ``detect_width`` wide.

    ``timestamp`` defaults to the clock (a live camera); files pass their own media time so what
    a face shows follows the clip, not how fast this machine reads it. ``luma`` is the image's
    limited-range Y plane where a video decoder gave one: shrunk first and then mapped to full
    range, it is the same grey (under a level on average, a few levels in saturated colours) for
    a third of the cost of converting the image (0.17 against 0.45 ms at 720p).
    """
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if luma is None else luma
    scale = 1.0
    if detect_width and gray.shape[1] > detect_width:
        scale = gray.shape[1] / detect_width
        h = round(gray.shape[0] / scale)
        gray = cv2.resize(gray, (detect_width, h), interpolation=cv2.INTER_AREA)
    if luma is not None:
        gray = cv2.LUT(gray, LIMITED_TO_FULL)
    ts = time.monotonic() if timestamp is None else timestamp
    return Frame(image=image, gray=gray, timestamp=ts, index=index, scale=scale, cut=cut)
