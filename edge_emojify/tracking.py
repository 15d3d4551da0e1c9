"""Identity across frames, smoothed scores and a label that only changes with hysteresis.

A per-frame classifier flips between neighbouring classes on a face that has not changed; the
screen would flicker. Each track keeps an exponential moving average of its scores, and its
label moves to a new class only when that class beats the current one by ``hysteresis``.
A face that goes undetected for a few frames keeps its track (and its emoji) so a single
missed detection does not make the emoji blink.
"""

from __future__ import annotations

import numpy as np

from edge_emojify.config import TrackingConfig
from edge_emojify.detection.detector import iou
from edge_emojify.types import Face, Track


def _similarity(track_face: Face, face: Face, match_iou: float) -> float:
    box_a, box_b = np.array(track_face.box), np.array([face.box])
    overlap = float(iou(box_a, box_b)[0])
    if overlap >= match_iou:
        return overlap
    # A fast move can drop the overlap; a nearby centre of a similar-sized face still matches.
    (ax, ay), (bx, by) = track_face.center, face.center
    size = max(track_face.width, face.width)
    ratio = min(track_face.width, face.width) / max(size, 1e-6)
    if np.hypot(ax - bx, ay - by) < 0.5 * size and ratio > 0.6:
        return 1e-3
    return 0.0


class Tracker:
    """Turns each frame's faces and scores into tracks with stable ids and labels."""

    def __init__(self, cfg: TrackingConfig) -> None:
        self.cfg = cfg
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def _relabel(self, label: int, scores: np.ndarray) -> int:
        best = int(np.argmax(scores))
        if best != label and scores[best] - scores[label] > self.cfg.hysteresis:
            return best
        return label

    def update(self, faces: list[Face], scores: np.ndarray) -> list[Track]:
        """Match this frame's faces to tracks; returns the live tracks, largest face first."""
        pairs = sorted(((_similarity(t.face, f, self.cfg.match_iou), ti, fi)
                        for ti, t in enumerate(self._tracks) for fi, f in enumerate(faces)), reverse=True)
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        updated: list[Track] = []
        alpha = self.cfg.smoothing
        for sim, ti, fi in pairs:
            if sim <= 0 or ti in used_tracks or fi in used_faces:
                continue
            used_tracks.add(ti)
            used_faces.add(fi)
            old = self._tracks[ti]
            smoothed = (1 - alpha) * old.scores + alpha * scores[fi]
            updated.append(Track(old.track_id, faces[fi], smoothed, self._relabel(old.label, smoothed),
                                 old.age + 1, 0))
        for ti, old in enumerate(self._tracks):
            if ti not in used_tracks and old.missed < self.cfg.max_missed:
                updated.append(Track(old.track_id, old.face, old.scores, old.label, old.age + 1,
                                     old.missed + 1))
        for fi, face in enumerate(faces):
            if fi not in used_faces:
                s = np.asarray(scores[fi], np.float32)
                updated.append(Track(self._next_id, face, s, int(np.argmax(s)), 1, 0))
                self._next_id += 1
        updated.sort(key=lambda t: t.face.width * t.face.height, reverse=True)
        self._tracks = updated
        return list(updated)

    def reset(self) -> None:
        self._tracks = []
