"""Identity across frames: which face in this frame is which face of the last one.

Each track carries its face's :class:`~edge_emojify.types.Verdict`, updated by the
:class:`~edge_emojify.decision.Decider` with the frame's timestamp (what the face shows is
decided there). A face that goes undetected keeps its track, and its emoji, for
``expire_seconds`` of frame time, so a missed detection does not make the emoji blink, and a
Pi at 10 fps keeps a face as long as a desktop at 30 fps. A face found on one frame only keeps
it for ``single_expire_seconds``: on a stage, detections of one frame (a shadow, a face seen
for a moment) showed an emoji for 0.4 s a few times in ten seconds, and cost a crop on every
frame of it. Meanwhile the face moves on at the
velocity it had (at most half its width), so the emoji stays over a face that walks on while
the detector misses it: for a recording shared with faces hidden, a bare frame is a leak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edge_emojify.config import TrackingConfig
from edge_emojify.decision import Decider
from edge_emojify.types import Face, Track, iou

VELOCITY_SMOOTHING = 0.5  # weight of the newest box motion in a track's velocity
MAX_SHIFT = 0.5  # the farthest a missed face is predicted to move, as a fraction of its width


def _similarity(track_face: Face, faces: list[Face], boxes: np.ndarray, match_iou: float) -> list[float]:
    """How well each of ``faces`` (their ``boxes``, (N, 4)) continues ``track_face``; 0 = not at all."""
    overlaps = iou(np.asarray(track_face.box), boxes)
    (ax, ay), width = track_face.center, track_face.width
    out = []
    for overlap, face in zip(overlaps.tolist(), faces, strict=True):
        if overlap >= match_iou:
            out.append(overlap)
            continue
        # A fast move can drop the overlap; a nearby centre of a similar-sized face still matches.
        (bx, by) = face.center
        size = max(width, face.width)
        ratio = min(width, face.width) / max(size, 1e-6)
        out.append(1e-3 if math.hypot(ax - bx, ay - by) < 0.5 * size and ratio > 0.6 else 0.0)
    return out


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

    def match(self, faces: list[Face]) -> list[Track | None]:
        """The live track each of ``faces`` continues (None: a new face), the most similar pairs first."""
        if not faces or not self._tracks:
            return [None] * len(faces)
        boxes = np.array([f.box for f in faces], np.float32)
        pairs = sorted(((sim, ti, fi) for ti, t in enumerate(self._tracks)
                        for fi, sim in enumerate(_similarity(t.face, faces, boxes, self.cfg.match_iou))), reverse=True)
        matches: list[Track | None] = [None] * len(faces)
        used_tracks: set[int] = set()
        for sim, ti, fi in pairs:
            if sim > 0 and ti not in used_tracks and matches[fi] is None:
                used_tracks.add(ti)
                matches[fi] = self._tracks[ti]
        return matches

    def update(self, faces: list[Face], scores: Sequence[np.ndarray | None], timestamp: float,
               matches: list[Track | None] | None = None) -> list[Track]:
        """Match this frame's faces to tracks; returns the live tracks, largest face first.

        ``timestamp`` is the frame's time in seconds (camera or media time, not processing time).
        ``scores[i]`` is face ``i``'s emotion reading, or None where it was not read this frame
        (``cadence``): its track keeps its verdict. ``matches`` is what :meth:`match` returned for
        ``faces``, when the caller needed it first.
        """
        matches = self.match(faces) if matches is None else matches
        updated: list[Track] = []
        for face, reading, old in zip(faces, scores, matches, strict=True):
            if old is None:
                if reading is None:
                    raise ValueError("a new face needs its emotion reading")
                self._motion[self._next_id] = (face, np.zeros(2))
                updated.append(Track(self._next_id, face, self.decider.start(reading, timestamp), 1, 0, timestamp))
                self._next_id += 1
                continue
            verdict = old.verdict if reading is None else self.decider.update(old.verdict, reading, timestamp)
            self._moved(old.track_id, face, timestamp - old.seen)
            updated.append(Track(old.track_id, face, verdict, old.age + 1, 0, timestamp))
        continued = {t.track_id for t in matches if t is not None}
        for old in self._tracks:
            if old.track_id not in continued and timestamp - old.seen <= self._expiry(old) + 1e-9:
                face = self._predicted(old.track_id, timestamp - old.seen)
                updated.append(Track(old.track_id, face, old.verdict, old.age + 1, old.missed + 1, old.seen))
        updated.sort(key=lambda t: t.face.width * t.face.height, reverse=True)
        self._tracks = updated
        self._motion = {t.track_id: self._motion[t.track_id] for t in updated}
        return list(updated)

    def _expiry(self, track: Track) -> float:
        """How long ``track`` may go undetected: ``single_expire_seconds`` while it was found on its
        first frame only (its last detection was its first), ``expire_seconds`` once found again."""
        single = track.age - track.missed == 1
        return min(self.cfg.single_expire_seconds, self.cfg.expire_seconds) if single else self.cfg.expire_seconds

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
