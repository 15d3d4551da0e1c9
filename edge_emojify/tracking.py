"""Identity across frames: which face in this frame is which face of the last one.

Each track carries its face's :class:`~edge_emojify.types.Verdict`, updated by the
:class:`~edge_emojify.decision.Decider` with the frame's timestamp (what the face shows is
decided there). A face that goes undetected keeps its track, and its emoji, for
``expire_seconds`` of frame time, so a missed detection does not make the emoji blink, and a
Pi at 10 fps keeps a face as long as a desktop at 30 fps. Meanwhile the face moves on at the
velocity it had (at most half its width), so the emoji stays over a face that walks on while
the detector misses it: for a recording shared with faces hidden, a bare frame is a leak.
"""

from __future__ import annotations

import numpy as np

from edge_emojify.config import TrackingConfig
from edge_emojify.decision import Decider
from edge_emojify.types import Face, Track, iou

VELOCITY_SMOOTHING = 0.5  # weight of the newest box motion in a track's velocity
MAX_SHIFT = 0.5  # the farthest a missed face is predicted to move, as a fraction of its width


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

    def __init__(self, cfg: TrackingConfig, decider: Decider) -> None:
        self.cfg = cfg
        self.decider = decider
        self._tracks: list[Track] = []
        self._next_id = 1
        # Per track id: the face as last detected and its centre's velocity (px/s).
        self._motion: dict[int, tuple[Face, np.ndarray]] = {}

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def update(self, faces: list[Face], scores: np.ndarray, timestamp: float) -> list[Track]:
        """Match this frame's faces to tracks; returns the live tracks, largest face first.

        ``timestamp`` is the frame's time in seconds (camera or media time, not processing time).
        """
        pairs = sorted(((_similarity(t.face, f, self.cfg.match_iou), ti, fi)
                        for ti, t in enumerate(self._tracks) for fi, f in enumerate(faces)), reverse=True)
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        updated: list[Track] = []
        for sim, ti, fi in pairs:
            if sim <= 0 or ti in used_tracks or fi in used_faces:
                continue
            used_tracks.add(ti)
            used_faces.add(fi)
            old = self._tracks[ti]
            verdict = self.decider.update(old.verdict, scores[fi], timestamp)
            self._moved(old.track_id, faces[fi], timestamp - old.seen)
            updated.append(Track(old.track_id, faces[fi], verdict, old.age + 1, 0, timestamp))
        for ti, old in enumerate(self._tracks):
            if ti not in used_tracks and timestamp - old.seen <= self.cfg.expire_seconds + 1e-9:
                face = self._predicted(old.track_id, timestamp - old.seen)
                updated.append(Track(old.track_id, face, old.verdict, old.age + 1, old.missed + 1, old.seen))
        for fi, face in enumerate(faces):
            if fi not in used_faces:
                verdict = self.decider.start(scores[fi], timestamp)
                self._motion[self._next_id] = (face, np.zeros(2))
                updated.append(Track(self._next_id, face, verdict, 1, 0, timestamp))
                self._next_id += 1
        updated.sort(key=lambda t: t.face.width * t.face.height, reverse=True)
        self._tracks = updated
        self._motion = {t.track_id: self._motion[t.track_id] for t in updated}
        return list(updated)

    def expected(self, timestamp: float) -> list[tuple[float, float, float, float]]:
        """Where each live track's face should be at ``timestamp``: where a detector looks first."""
        return [self._predicted(t.track_id, timestamp - t.seen).box for t in self._tracks]

    def _moved(self, track_id: int, face: Face, elapsed: float) -> None:
        """Record a fresh detection and fold its motion since the last one into the track's velocity."""
        last, velocity = self._motion[track_id]
        if elapsed > 0:
            step = (np.array(face.center) - np.array(last.center)) / elapsed
            velocity = VELOCITY_SMOOTHING * step + (1 - VELOCITY_SMOOTHING) * velocity
        self._motion[track_id] = (face, velocity)

    def _predicted(self, track_id: int, elapsed: float) -> Face:
        """Where a missed face is now: its last detection moved on at its velocity, by at most MAX_SHIFT.

        Only the place is predicted, not the size: a size extrapolated from jittery boxes could
        shrink the emoji off the face it must hide.
        """
        last, velocity = self._motion[track_id]
        shift = velocity * elapsed
        distance = float(np.hypot(*shift))
        limit = MAX_SHIFT * last.width
        if distance > limit:
            shift = shift * (limit / distance)
        dx, dy = float(shift[0]), float(shift[1])
        x0, y0, x1, y1 = last.box
        return Face((x0 + dx, y0 + dy, x1 + dx, y1 + dy), last.keypoints + shift, last.score)

    def reset(self) -> None:
        self._tracks = []
        self._motion = {}
