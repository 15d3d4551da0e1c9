"""Frames from a still image or a folder of images (sorted by name), looping if asked."""

from __future__ import annotations

import time
from pathlib import Path

import cv2

from edge_emojify.config import SourceConfig
from edge_emojify.sources.base import SourceError, frame_from_bgr
from edge_emojify.types import Frame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class ImageSource:
    def __init__(self, path: Path, cfg: SourceConfig, realtime: bool = False) -> None:
        if path.is_dir():
            self.paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.paths:
                raise SourceError(f"folder {path} has no images ({', '.join(IMAGE_SUFFIXES)})")
        elif path.is_file():
            self.paths = [path]
        else:
            raise SourceError(f"image {path} does not exist; fix --source or source.path")
        self.cfg = cfg
        self.name = f"images {path.name}"
        self.fps = cfg.fps
        self._period = 1.0 / cfg.fps if realtime else 0.0
        self._index = 0
        self._still = None

    def read(self) -> Frame | None:
        if self._index >= len(self.paths) and not self.cfg.loop:
            return None
        path = self.paths[self._index % len(self.paths)]
        image = self._still  # a single still is decoded once
        if image is None:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if len(self.paths) == 1:
                self._still = image
        if image is None:
            raise SourceError(f"cannot read image {path}; it is damaged or not an image")
        if self._period:
            time.sleep(self._period)
        # Each photo of a folder is a scene of its own (no face carries over from the last photo);
        # a single still is one scene, shown for 1/fps seconds a frame.
        timestamp = self._index / self.cfg.fps
        self._index += 1
        return frame_from_bgr(image, self._index, self.cfg.detect_width, timestamp, cut=len(self.paths) > 1)

    def close(self) -> None:
        pass
