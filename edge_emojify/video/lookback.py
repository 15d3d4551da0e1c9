"""Frames held back before they are drawn, so a face found late is covered from its first frame.

Why: searching a 720p frame for newcomers (short range on the whole frame) on every frame was a
tenth of a recording's time, and the full-range pass that finds far faces runs only four times a
second anyway, so a far face walking in showed bare for up to a quarter of a second. A recording
is not live: its frames can wait. So the whole frame is searched only as often as the full-range
pass runs, tracked faces are read from crops around them in between, and each analysed frame
waits here for as many frames as a search may come late. When a face appears that no earlier
frame had, the crop model looks for it in the waiting frames, newest first, each time around
where it was a frame later, until it is not there or already covered, or its shot began (a cut,
``cuts.py``); every frame it is found in gets it covered with the emoji of its first
reading. Then the frames are drawn, oldest first.

Holding frames also lets a recording read its tracked faces less often than every frame
(``detector.track_rate``): a face the detector did not read on a frame, skipped or missed, is
placed there between its readings before and after, by their times, instead of where the
tracker predicted it from the readings before alone. Reading tracked faces 15 times a second
instead of 30 saved 2-4 ms of a 720p frame with three faces (a crop pass each).
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_emojify.detection.scheduler import FRESH_IOU, FULL_RANGE_SECONDS
from edge_emojify.types import Face, Frame, Track, iou
from edge_emojify.video.media import Picture

Box = tuple[float, float, float, float]
FindNear = Callable[[np.ndarray, Box], Face | None]
MAX_WAITING_BYTES = 256 * 2**20  # frames held back at most: 41 at 1080p, 10 at 4K


@dataclass
class Waiting:
    """One analysed frame not yet drawn."""

    picture: Picture
    frame: Frame
    tracks: list[Track]  # as the pipeline left them
    analysed: bool = True  # False for a frame the pipeline refused (drawn as it came)
    found_late: list[Track] = field(default_factory=list)  # faces found in it by looking back
    bridged: set[int] = field(default_factory=set)  # track ids placed between two readings

    @property
    def covered(self) -> list[Track]:
        """Every face to cover in this frame (and in the mood timeline, which says what was shown)."""
        return [*self.tracks, *self.found_late]


def frames_to_hold(rate: float, search_every: int, frame_bytes: int) -> int:
    """How many frames a search may come late: the newcomer search's period or the full-range
    pass's in frames at ``rate``, whichever is longer, within ``MAX_WAITING_BYTES``."""
    frames = max(search_every, math.ceil(FULL_RANGE_SECONDS * rate))
    return max(1, min(frames, MAX_WAITING_BYTES // max(1, frame_bytes)))


class LookBack:
    """Holds ``frames`` analysed frames; ``add`` returns those ready to draw, ``drain`` the rest."""

    def __init__(self, frames: int, find_near: FindNear | None) -> None:
        self._frames = frames if find_near is not None else 0
        self._find_near = find_near
        self._waiting: deque[Waiting] = deque()
        self._seen: set[int] = set()
        self._read: dict[int, Face] = {}  # each live track's latest reading, as of its time ``seen``
        self.found = 0  # faces covered in a frame only by looking back

    def add(self, waiting: Waiting) -> list[Waiting]:
        """Take the newest analysed frame; return the frames that can be drawn now, oldest first."""
        for track in waiting.tracks:
            if track.track_id not in self._seen:
                self._seen.add(track.track_id)
                if not waiting.frame.cut:  # the frames before a cut show another shot
                    self._look_back(track)
            if not track.missed:
                self._bridge(track)
        if waiting.analysed:
            self._read = {t.track_id: self._read[t.track_id] if t.missed else t.face
                          for t in waiting.tracks if not t.missed or t.track_id in self._read}
        self._waiting.append(waiting)
        ready = []
        while len(self._waiting) > self._frames:
            ready.append(self._waiting.popleft())
        return ready

    def drain(self) -> list[Waiting]:
        """Every frame still waiting (the clip ended), oldest first."""
        ready, self._waiting = list(self._waiting), deque()
        return ready

    def _bridge(self, track: Track) -> None:
        """Place ``track``'s face, freshly read, in the waiting frames since its last reading:
        between the two readings, in proportion to the frames' times."""
        before = self._read.get(track.track_id)
        if before is None:
            return
        for earlier in reversed(self._waiting):
            for i, held in enumerate(earlier.tracks):
                if held.track_id != track.track_id:
                    continue
                if not held.missed or held.seen >= track.seen:
                    return  # back at the reading before
                share = (earlier.frame.timestamp - held.seen) / (track.seen - held.seen)
                earlier.tracks[i] = dataclasses.replace(held, face=_between(before, track.face, share))
                earlier.bridged.add(track.track_id)
                break
            else:
                return  # the track had not begun yet

    def _look_back(self, track: Track) -> None:
        box = track.face.box
        for earlier in reversed(self._waiting):
            if not earlier.analysed or _overlaps(box, earlier.covered):
                return  # the face was covered there already (a track lost and found again)
            face = self._find_near(earlier.frame.image, box)  # type: ignore[misc]
            if face is None:
                return
            earlier.found_late.append(dataclasses.replace(track, face=face, missed=0, seen=earlier.frame.timestamp))
            self.found += 1
            box = face.box
            if earlier.frame.cut:
                return  # its shot starts here


def _between(a: Face, b: Face, share: float) -> Face:
    """The face ``share`` of the way from ``a`` to ``b`` (0: ``a``, 1: ``b``): box and keypoints."""
    box = tuple(float(x) for x in np.add(a.box, share * np.subtract(b.box, a.box)))
    return Face(box, a.keypoints + share * (b.keypoints - a.keypoints), min(a.score, b.score))  # type: ignore[arg-type]


def _overlaps(box: Box, tracks: list[Track]) -> bool:
    if not tracks:
        return False
    return bool(iou(np.asarray(box, np.float32), np.array([t.face.box for t in tracks], np.float32)).max() > FRESH_IOU)
