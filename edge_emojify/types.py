"""Plain value types that flow one way through the pipeline: Frame → Face → Track.

They are frozen so no stage can change what an earlier stage produced; numpy arrays inside
are treated as read-only by convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One camera frame: the colour image that is shown and a grayscale image for analysis.

    ``gray`` may be smaller than ``image`` (the Pi camera's lores stream); ``scale`` maps gray
    coordinates to image coordinates (image = gray * scale).
    """

    image: np.ndarray  # (H, W, 3) uint8 BGR
    gray: np.ndarray  # (h, w) uint8
    timestamp: float  # seconds, monotonic
    index: int = 0
    scale: float = 1.0


@dataclass(frozen=True)
class Face:
    """A detected face in image coordinates of ``Frame.image``.

    ``keypoints`` is (6, 2): right eye, left eye, nose tip, mouth centre, right ear, left ear
    (the subject's right/left, as BlazeFace orders them).
    """

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    keypoints: np.ndarray
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    @property
    def roll(self) -> float:
        """Head roll in degrees from the eye line (positive = clockwise in image coordinates)."""
        (rx, ry), (lx, ly) = self.keypoints[0], self.keypoints[1]
        return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


@dataclass(frozen=True)
class Track:
    """A face followed across frames, with smoothed class scores and a stable label."""

    track_id: int
    face: Face
    scores: np.ndarray  # (7,) smoothed probabilities in EMOTIONS order
    label: int  # index into EMOTIONS, changed only with hysteresis
    age: int  # frames since the track started
    missed: int = 0  # consecutive frames without a matching detection

    @property
    def confidence(self) -> float:
        return float(self.scores[self.label])
