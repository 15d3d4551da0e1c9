"""A synthetic camera: the bundled portraits gliding over a wall, for soak runs and tests.

Deterministic (seeded), endless, and cheap to produce, so a 100,000-frame soak measures the
pipeline and not a video decoder. The faces are real photographs, so the detector and the
emotion model do their full work on every frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_emojify.resources import DATA_DIR
from edge_emojify.sources.base import frame_from_bgr
from edge_emojify.types import Frame

# The face box (x0, y0, x1, y1) in each bundled portrait, checked by hand.
PORTRAITS = {"hopper.jpg": (166, 140, 366, 345), "astronaut.jpg": (178, 78, 272, 178)}


def head_crop(image: np.ndarray, box: tuple[int, int, int, int], pad: float) -> np.ndarray:
    """The face box grown by ``pad`` of its size on every side (hair, ears, neck)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    return image[max(0, int(y0 - pad * h)):int(y1 + pad * h), max(0, int(x0 - pad * w)):int(x1 + pad * w)]


class MovingFacesSource:
    """``faces`` heads, faces about ``face_px`` wide, moving on smooth Lissajous paths."""

    def __init__(self, faces: int = 2, size: tuple[int, int] = (640, 480), face_px: int = 80,
                 detect_width: int = 640, seed: int = 0, appear: tuple[int, ...] = (),
                 wall: tuple[int, int, int] = (110, 110, 110)) -> None:
        self.name = f"synthetic {faces} face(s)"
        self.fps = 30.0  # its own clock: the motion is defined per frame, whatever the CPU's speed
        self.size = size
        self.detect_width = detect_width
        heads, in_head = [], []
        for name, box in PORTRAITS.items():
            image = cv2.imread(str(DATA_DIR / name))
            head = head_crop(image, box, 0.5)
            scale = face_px / (box[2] - box[0])
            heads.append(cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
            left, top = max(0, int(box[0] - 0.5 * (box[2] - box[0]))), max(0, int(box[1] - 0.5 * (box[3] - box[1])))
            in_head.append(tuple(v * scale for v in (box[0] - left, box[1] - top, box[2] - left, box[3] - top)))
        rng = np.random.default_rng(seed)
        self._heads = [heads[i % len(heads)] for i in range(faces)]
        self._in_head = [in_head[i % len(heads)] for i in range(faces)]
        self.boxes: list[tuple[float, float, float, float]] = []  # the true face boxes of the last frame
        self._phase = rng.uniform(0, 2 * np.pi, (faces, 2))
        self._speed = rng.uniform(0.01, 0.03, (faces, 2))
        self._appear = (*appear, *[0] * (faces - len(appear)))  # the frame each face walks in on (counted from 0)
        self._wall = np.empty((size[1], size[0], 3), np.uint8)
        self._wall[:] = wall  # BGR
        self._index = 0

    def read(self) -> Frame:
        w, h = self.size
        image = self._wall.copy()
        t = self._index
        self.boxes = []
        for head, box, phase, speed, appear in zip(self._heads, self._in_head, self._phase, self._speed,
                                                   self._appear, strict=True):
            if t < appear:
                continue
            hh, hw = head.shape[:2]
            x = int((np.sin(phase[0] + speed[0] * t) + 1) / 2 * max(0, w - hw))
            y = int((np.sin(phase[1] + speed[1] * t) + 1) / 2 * max(0, h - hh))
            image[y:y + hh, x:x + hw] = head[:h - y, :w - x]
            self.boxes.append((x + box[0], y + box[1], x + box[2], y + box[3]))
        self._index += 1
        return frame_from_bgr(image, self._index, self.detect_width, timestamp=t / self.fps)

    def close(self) -> None:
        pass
