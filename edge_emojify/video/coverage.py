"""How well a video's faces stayed covered: the frames held by prediction and the longest such gap.

A face the detector misses for a few frames stays covered where the tracker predicts it; this
counts how often that happened, so a user who shares the result knows how much rested on it.
A face placed between two readings of it (``video/lookback.py``) is counted apart: it rests on
where the face was before and after, not on a guess.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from edge_emojify.types import Track


@dataclass
class Coverage:
    frames: int = 0
    face_frames: int = 0  # frames with at least one face covered
    predicted_frames: int = 0  # frames in which a covered face was only guessed: no detection, not placed
    bridged_frames: int = 0  # frames in which a covered face was placed between two readings of it
    longest_gap: int = 0  # the most consecutive frames one face was covered without a detection
    longest_gap_seconds: float = 0.0
    found_late: int = 0  # faces covered in a frame only because a later frame found them (lookback.py)
    _seen: set[int] = field(default_factory=set)

    def add(self, tracks: list[Track], time: float, late: int = 0, bridged: Collection[int] = ()) -> None:
        self.frames += 1
        self.found_late += late
        self._seen.update(t.track_id for t in tracks)
        if tracks:
            self.face_frames += 1
        if any(t.missed and t.track_id in bridged for t in tracks):
            self.bridged_frames += 1
        missed = [t for t in tracks if t.missed and t.track_id not in bridged]
        if missed:
            self.predicted_frames += 1
        for t in missed:
            if t.missed > self.longest_gap:
                self.longest_gap = t.missed
                self.longest_gap_seconds = time - t.seen

    @property
    def faces(self) -> int:
        return len(self._seen)

    def summary(self) -> str:
        share = self.predicted_frames / self.frames if self.frames else 0.0
        return (f"coverage: {self.face_frames} of {self.frames} frames had faces ({self.faces} tracked); "
                f"{self.predicted_frames} frames ({share:.1%}) covered a face by prediction, without a fresh "
                f"detection; longest gap {self.longest_gap} frames ({self.longest_gap_seconds:.2f} s); "
                f"{self.bridged_frames} frames placed a face between two readings of it; "
                f"{self.found_late} face-frames covered by looking back from a later frame")
