"""The live view: the frame loop drops the screen into one slot; the web thread encodes it.

The frame loop's side (:meth:`FrameSlot.publish`) is O(1) and never blocks: with nobody
watching, or within the stream's frame period, it returns at once; otherwise it keeps a copy of
the image (the renderer reuses its canvas) in a single newest-frame slot, replacing whatever was
there. Scaling to ``web.stream_width`` and the JPEG encoding happen on the web thread, once per
new frame however many clients watch, and each client is sent the newest frame when it is ready
for one: a slow client skips frames, it never makes the loop wait.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

JPEG_QUALITY = 75


class FrameSlot:
    """The newest frame for the stream, at most ``fps`` a second, only while someone watches."""

    def __init__(self, fps: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = 1.0 / fps
        self.clock = clock
        self.watchers = 0  # live streams, set by the web thread (a plain int: one writer)
        self.published = 0  # frames the loop handed over (taken or not), for tests and the load script
        self.sent = 0  # frames written to stream clients, all together (web thread)
        self._taken_at = -math.inf
        self._latest: tuple[int, np.ndarray] | None = None
        self._seq = 0

    def publish(self, image: np.ndarray) -> bool:
        """Offer the frame on screen; True if it was kept. Called by the frame loop every frame."""
        self.published += 1
        if self.watchers <= 0:
            return False
        now = self.clock()
        if now - self._taken_at < self.period:
            return False
        self._taken_at = now
        self._seq += 1
        self._latest = (self._seq, image.copy())  # one tuple assignment: readers see old or new, whole
        return True

    def latest(self) -> tuple[int, np.ndarray] | None:
        """(sequence number, image) of the newest kept frame, or None before the first."""
        return self._latest


def encode(image: np.ndarray, max_width: int, quality: int = JPEG_QUALITY) -> bytes:
    """The frame as a JPEG no wider than ``max_width`` (area-averaged, so text stays legible)."""
    h, w = image.shape[:2]
    if w > max_width:
        image = cv2.resize(image, (max_width, max(1, round(h * max_width / w))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


class JpegCache:
    """The newest frame as JPEG, encoded once per frame for every client (web thread only)."""

    def __init__(self, slot: FrameSlot, max_width: int) -> None:
        self.slot = slot
        self.max_width = max_width
        self._lock = threading.Lock()  # encodes may run in worker threads
        self._cached: tuple[int, bytes] | None = None

    def cached(self, seq: int) -> bytes | None:
        """The JPEG of frame ``seq`` if another client already had it encoded (no thread hop)."""
        cached = self._cached
        return cached[1] if cached is not None and cached[0] == seq else None

    def newest(self) -> tuple[int, bytes] | None:
        latest = self.slot.latest()
        if latest is None:
            return None
        with self._lock:
            if self._cached is None or self._cached[0] != latest[0]:
                self._cached = (latest[0], encode(latest[1], self.max_width))
            return self._cached


def multipart_part(jpeg: bytes, boundary: str) -> bytes:
    """One part of a multipart/x-mixed-replace (MJPEG) stream."""
    head = f"--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
    return head + jpeg + b"\r\n"
