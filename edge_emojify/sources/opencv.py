"""Frames from OpenCV: a USB/V4L2 camera by index, or a video file."""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from edge_emojify.config import SourceConfig
from edge_emojify.cuts import CutFinder
from edge_emojify.sources.base import SourceError, frame_from_bgr
from edge_emojify.types import Frame

log = logging.getLogger(__name__)


def flip_code(cfg: SourceConfig) -> int | None:
    """cv2.flip code for the configured rotation and flips (a 180° turn is both flips), or None."""
    turned = cfg.rotation == 180
    h, v = cfg.hflip != turned, cfg.vflip != turned
    return -1 if h and v else 1 if h else 0 if v else None


def _frame_rate(cap: cv2.VideoCapture, fallback: float) -> float:
    """The rate OpenCV reports for a camera or file, or ``fallback`` where it reports none or nonsense."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    return fps if 1 <= fps <= 240 else fallback


class CameraSource:
    """A V4L2 camera through OpenCV. A failed read means the camera is gone: raise, let the app retry."""

    def __init__(self, cfg: SourceConfig) -> None:
        self.cfg = cfg
        self.name = f"camera {cfg.camera_index}"
        self._cap = cv2.VideoCapture(cfg.camera_index)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"cannot open camera {cfg.camera_index}; check it is plugged in and not "
                              "used by another program (source.camera_index selects another)")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        self._cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # always the newest frame, never a backlog
        self.fps = _frame_rate(self._cap, cfg.fps)
        self._index = 0
        self._flip = flip_code(cfg)

    def read(self) -> Frame | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(f"{self.name} stopped delivering frames (unplugged?)")
        if self._flip is not None:
            image = cv2.flip(image, self._flip)
        self._index += 1
        return frame_from_bgr(image, self._index, self.cfg.detect_width)

    def close(self) -> None:
        self._cap.release()


class VideoFileSource:
    """A video file, played at its own frame rate when ``realtime`` (else as fast as read).

    Each frame goes out two frames after it is decoded, marked ``cut`` where the clip cuts to
    another shot (``cuts.py``) or starts over, so the faces of one shot do not carry over
    into the next.
    """

    def __init__(self, path: Path, cfg: SourceConfig, realtime: bool = False) -> None:
        if not path.is_file():
            raise SourceError(f"video {path} does not exist; fix --source or source.path")
        self.path = path
        self.cfg = cfg
        self.name = f"video {path.name}"
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise SourceError(f"cannot decode video {path}; convert it to mp4 (H.264) or avi (MJPG)")
        self.fps = _frame_rate(self._cap, cfg.fps)
        self._period = 1.0 / self.fps if realtime else 0.0
        self._next = time.monotonic()
        self._index = 0
        self._cuts = CutFinder()
        self._undecided: deque[tuple[np.ndarray, float, bool]] = deque()  # image, media time, restarted
        self._ready: deque[tuple[np.ndarray, float, bool]] = deque()  # the same, and whether a cut

    def read(self) -> Frame | None:
        while not self._ready and self._decode():
            pass
        if not self._ready:
            return None
        image, timestamp, cut = self._ready.popleft()
        if self._period:
            self._next += self._period
            delay = self._next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                self._next = time.monotonic()
        self._index += 1
        return frame_from_bgr(image, self._index, self.cfg.detect_width, timestamp, cut=cut)

    def _decode(self) -> bool:
        """Decode the next frame and hand on the frames whose verdicts are in; False at the end."""
        ok, image = self._cap.read()
        decoded = self._index + len(self._ready) + len(self._undecided)
        restarted = False
        if not ok and self.cfg.loop and decoded > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
            restarted = True
        if restarted or not ok:  # the frames of the last pass get their verdicts now
            self._decided(self._cuts.drain())
        if not ok:
            return False
        # Media time (frames played / fps, across loops), so the emoji follows the clip, not the CPU.
        self._undecided.append((image, decoded / self.fps, restarted))
        verdict = self._cuts.push(image)
        if verdict is not None:
            self._decided([verdict])
        return True

    def _decided(self, verdicts: list[bool]) -> None:
        for verdict in verdicts:
            image, timestamp, restarted = self._undecided.popleft()
            self._ready.append((image, timestamp, restarted or verdict))

    def close(self) -> None:
        self._cap.release()
