"""Plain value types that flow one way through the pipeline: Frame → Face → Verdict → Track.

They are frozen so no stage can change what an earlier stage produced; numpy arrays inside
are treated as read-only by convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_emojify.labels import EMOTIONS

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in whole pixels, x1 and y1 excluded


@dataclass(frozen=True)
class Frame:
    """One camera frame: the colour image that is shown and a grayscale image for analysis.

    ``gray`` may be smaller than ``image`` (the Pi camera's lores stream); ``scale`` maps gray
    coordinates to image coordinates (image = gray * scale).
    """

    image: np.ndarray  # (H, W, 3) uint8 BGR
    gray: np.ndarray  # (h, w) uint8
    timestamp: float  # seconds: camera time, or the position in a file (never processing time)
    index: int = 0
    scale: float = 1.0
    cut: bool = False  # a new scene (another photo, a clip restarting, its next shot): faces do not carry over


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box ``a`` (4,) against boxes ``b`` (N, 4), all x0y0x1y1."""
    x0 = np.maximum(a[0], b[:, 0])
    y0 = np.maximum(a[1], b[:, 1])
    x1 = np.minimum(a[2], b[:, 2])
    y1 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


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
class Verdict:
    """The decision state of one face after its latest frame."""

    label: str  # what is shown: an EMOTIONS name or UNSURE
    scores: np.ndarray  # (7,) smoothed probabilities in EMOTIONS order
    wanted: str  # what the evidence asks to show now; replaces ``label`` after dwelling
    since: float  # timestamp from which ``wanted`` has been asked for without a break
    time: float  # timestamp of the latest scores
    why: str  # the reason for ``wanted``, for the debug screen

    @property
    def confidence(self) -> float:
        """The smoothed score of the shown emotion, or of the leading one while unsure."""
        index = EMOTIONS.index(self.label) if self.label in EMOTIONS else int(np.argmax(self.scores))
        return float(self.scores[index])

    @property
    def leader(self) -> str:
        """The emotion with the highest smoothed score (what an unsure face would guess)."""
        return EMOTIONS[int(np.argmax(self.scores))]


@dataclass(frozen=True)
class Track:
    """A face followed across frames, with what it shows (its verdict) and when it was last seen."""

    track_id: int
    face: Face
    verdict: Verdict
    age: int  # frames since the track started
    missed: int = 0  # consecutive frames without a matching detection
    seen: float = 0.0  # timestamp of the last frame the face was detected in

    @property
    def label(self) -> str:
        """What the face shows: an emotion name, or ``unsure``."""
        return self.verdict.label

    @property
    def scores(self) -> np.ndarray:
        """Smoothed probabilities in EMOTIONS order."""
        return self.verdict.scores

    @property
    def confidence(self) -> float:
        return self.verdict.confidence
