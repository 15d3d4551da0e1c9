"""A synthetic camera: the bundled portraits gliding over a wall, for soak runs and tests.

Deterministic (seeded), endless, and cheap to produce, so a 100,000-frame soak measures the
pipeline and not a video decoder. The faces are real photographs, so the detector and the
emotion model do their full work on every frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_emojify.config import PACKAGE_DIR
from edge_emojify.sources.base import frame_from_bgr
from edge_emojify.types import Frame

PORTRAITS = ("hopper.jpg", "astronaut.jpg")


class MovingFacesSource:
    """``faces`` heads moving on smooth Lissajous paths across a ``size`` frame."""

    def __init__(self, faces: int = 2, size: tuple[int, int] = (640, 480), head_px: int = 150,
                 detect_width: int = 640, seed: int = 0) -> None:
        self.name = f"synthetic {faces} face(s)"
        self.size = size
        self.detect_width = detect_width
        heads = []
        for name in PORTRAITS:
            image = cv2.imread(str(PACKAGE_DIR / "data" / name))
            scale = head_px / image.shape[1]
            heads.append(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
        rng = np.random.default_rng(seed)
        self._heads = [heads[i % len(heads)] for i in range(faces)]
        self._phase = rng.uniform(0, 2 * np.pi, (faces, 2))
        self._speed = rng.uniform(0.01, 0.03, (faces, 2))
        self._wall = np.full((size[1], size[0], 3), 110, np.uint8)
        self._index = 0

    def read(self) -> Frame:
        w, h = self.size
        image = self._wall.copy()
        t = self._index
        for head, phase, speed in zip(self._heads, self._phase, self._speed, strict=True):
            hh, hw = head.shape[:2]
            x = int((np.sin(phase[0] + speed[0] * t) + 1) / 2 * max(0, w - hw))
            y = int((np.sin(phase[1] + speed[1] * t) + 1) / 2 * max(0, h - hh))
            image[y:y + hh, x:x + hw] = head[:h - y, :w - x]
        self._index += 1
        return frame_from_bgr(image, self._index, self.detect_width)

    def close(self) -> None:
        pass
