"""Faces in a frame: BlazeFace at one or both ranges, weighted NMS, size and count limits.

Why two ranges: the short-range model misses faces narrower than about a tenth of the frame
(a group, people a few metres away) and the full-range model misses faces that fill the frame.
Called alone, ``auto`` runs short range every frame and adds full range every few frames (and
whenever short range sees nobody). The app runs ``auto`` through ``scheduler.ScheduledDetector``
instead, which keeps the full-range pass off the frame path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from edge_emojify.config import DetectorConfig
from edge_emojify.detection.blazeface import (
    FULL_RANGE,
    SHORT_RANGE,
    SHORT_RANGE_CROP,
    SHORT_RANGE_WIDE,
    WIDE_ASPECT,
    BlazeFace,
    RawDetections,
)
from edge_emojify.types import Face, iou

FULL_RANGE_EVERY = 4  # frames between full-range passes in auto mode


class FaceDetector(Protocol):
    """Finds faces; ``hints`` (where tracked faces are expected now) and ``timestamp`` (frame time in
    seconds) let a detector look where faces are and pace its slow passes; others ignore them."""

    def detect(self, image_bgr: np.ndarray, hints: Sequence[tuple[float, float, float, float]] = (),
               timestamp: float | None = None) -> list[Face]: ...


def weighted_nms(det: RawDetections, threshold: float) -> list[Face]:
    """MediaPipe-style weighted NMS: overlapping candidates are averaged, weighted by score.

    Averaging (rather than keeping the single best box) steadies the box from frame to frame,
    which keeps the emoji from jittering.
    """
    order = np.argsort(-det.scores)
    remaining = order
    faces: list[Face] = []
    while remaining.size:
        best = remaining[0]
        overlaps = iou(det.boxes[best], det.boxes[remaining])
        cluster = remaining[overlaps > threshold]
        remaining = remaining[overlaps <= threshold]
        w = det.scores[cluster][:, None]
        box = (det.boxes[cluster] * w).sum(0) / w.sum()
        kps = (det.keypoints[cluster] * w[:, :, None]).sum(0) / w.sum()
        faces.append(Face(tuple(float(v) for v in box), kps, float(det.scores[best])))
    return faces


def square_tiles(width: int, height: int, smallest: int = 0) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles (x0, y0, x1, y1) covering a frame; one tile if it is near square.

    Letterboxing a 16:9 frame into the full-range model's square input wastes 44 % of it and
    shrinks far faces below what the model finds; square tiles keep them about twice as large.
    ``smallest`` (pixels, 0: none): where the frame's short side is longer, smaller tiles follow,
    in rows and columns, of ``smallest`` and of each double of it still shorter than the frame.
    Every tile is read at the model's input size, so the smallest find the smallest faces; a face
    larger than their overlap is cut by each of them and whole in a larger one (a 12-megapixel
    group photo lost faces 400 px wide to 768-px tiles alone, and one to those and the frame's own).
    """
    side = min(width, height)
    if max(width, height) <= side * 1.5:  # 4:3 letterboxes well enough; 16:9 does not
        tiles = [(0, 0, width, height)]
    else:
        tiles = _grid(width, height, side)
    smaller = smallest
    while 0 < smaller < side:
        tiles += _grid(width, height, smaller)
        smaller *= 2
    return tiles


def _grid(width: int, height: int, side: int) -> list[tuple[int, int, int, int]]:
    """Square tiles of ``side`` spread evenly over the frame, overlapping, row by row."""
    xs = np.linspace(0, width - side, int(np.ceil(width / side))).round().astype(int)
    ys = np.linspace(0, height - side, int(np.ceil(height / side))).round().astype(int)
    return [(int(x), int(y), int(x) + side, int(y) + side) for y in ys for x in xs]


CUT_MARGIN = 0.02  # of a tile's side: a box this near an edge of a smaller tile inside the frame is cut there


def read_tiles(model: BlazeFace, image_bgr: np.ndarray, tiles: Sequence[tuple[int, int, int, int]],
               min_score: float) -> list[RawDetections]:
    """``model`` on each of ``square_tiles``, in the frame's coordinates.

    A tile smaller than the frame's short side drops what reaches one of its edges inside the
    frame: a face it cuts, whole in a larger tile (a 400-px face in a 12-megapixel photo read
    twice, cut and whole, was two emojis). The frame-high tiles keep all they find, as they
    always have: no larger tile holds what they cut.
    """
    h, w = image_bgr.shape[:2]
    parts = []
    for x0, y0, x1, y1 in tiles:
        found = model.detect(image_bgr[y0:y1, x0:x1], min_score)
        if min(x1 - x0, y1 - y0) < min(w, h):
            box, margin = found.boxes, CUT_MARGIN * (x1 - x0)
            cut = (((box[:, 0] < margin) & (x0 > 0)) | ((box[:, 1] < margin) & (y0 > 0))
                   | ((box[:, 2] > x1 - x0 - margin) & (x1 < w)) | ((box[:, 3] > y1 - y0 - margin) & (y1 < h)))
            found = found.where(~cut)
        parts.append(shift(found, x0, y0))
    return parts


def shift(det: RawDetections, dx: float, dy: float) -> RawDetections:
    """Candidates found in a crop, moved to the coordinates of the frame the crop starts at (dx, dy)."""
    return RawDetections(det.boxes + np.array([dx, dy, dx, dy], np.float32),
                         det.keypoints + np.array([dx, dy], np.float32), det.scores)


def concat(parts: list[RawDetections]) -> RawDetections:
    if not parts:
        return RawDetections(np.zeros((0, 4), np.float32), np.zeros((0, 6, 2), np.float32), np.zeros(0, np.float32))
    return RawDetections(np.concatenate([p.boxes for p in parts]),
                         np.concatenate([p.keypoints for p in parts]),
                         np.concatenate([p.scores for p in parts]))


def finish(parts: list[RawDetections], cfg: DetectorConfig) -> list[Face]:
    """Every pass's candidates merged into faces: weighted NMS, then size and count limits, largest first."""
    faces = weighted_nms(concat(parts), cfg.nms_iou)
    faces = [f for f in faces if f.width >= cfg.min_face]
    faces.sort(key=lambda f: f.width * f.height, reverse=True)
    return faces[: cfg.max_faces]


class BlazeFaceDetector:
    """The shipped detector: see the module docstring for how the two ranges are combined."""

    def __init__(self, cfg: DetectorConfig, model_dir: Path, threads: int = 1) -> None:
        self.cfg, self.model_dir, self.threads = cfg, model_dir, threads
        self.short = BlazeFace(SHORT_RANGE, model_dir, threads) if cfg.range != "full" else None
        self.wide = BlazeFace(SHORT_RANGE_WIDE, model_dir, threads) if cfg.range != "full" else None
        self.full = BlazeFace(FULL_RANGE, model_dir, threads) if cfg.range != "short" else None
        # Only the scheduled ``auto`` range reads crops around tracked faces (scheduler.py).
        self.crop = BlazeFace(SHORT_RANGE_CROP, model_dir, threads) if cfg.range == "auto" else None
        self._frame = 0

    def short_range(self, image_bgr: np.ndarray) -> BlazeFace:
        """The short-range model for this whole frame: the 128×80 input for a wide one (a 16:9 frame
        fills 128×72 of it, as of the square 128×128, for 62 % of the work)."""
        h, w = image_bgr.shape[:2]
        return self.wide if w >= WIDE_ASPECT * h else self.short  # type: ignore[return-value]

    def _full_range_due(self, found_by_short: int) -> bool:
        if self.full is None:
            return False
        if self.cfg.range in ("full", "both"):
            return True
        return found_by_short == 0 or self._frame % FULL_RANGE_EVERY == 0

    def detect(self, image_bgr: np.ndarray, hints: Sequence[tuple[float, float, float, float]] = (),
               timestamp: float | None = None) -> list[Face]:
        """Faces in ``image_bgr``, largest first, at most ``max_faces`` (every pass on this frame)."""
        self._frame += 1
        parts = []
        if self.short is not None:
            parts.append(self.short_range(image_bgr).detect(image_bgr, self.cfg.min_score))
        if self._full_range_due(len(parts[0].scores) if parts else 0):
            h, w = image_bgr.shape[:2]
            parts += read_tiles(self.full, image_bgr, square_tiles(w, h, self.cfg.small_tile),  # type: ignore[arg-type]
                                self.cfg.min_score)
        return finish(parts, self.cfg)
