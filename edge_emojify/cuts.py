"""Where a video cuts to another shot, so the faces of the last shot do not carry over.

Edited footage (a TV scene, a vlog, a phone's highlight reel) cuts from shot to shot. A face
tracked when the picture cut away kept its track, and its emoji, where the tracker predicted it
until the track expired (``tracking.expire_seconds``): an emoji over a table or a wall for a
third of a second after a cut, or a face of the new shot taking over an old face's track and
expression; and a recording looked back for a face first found after a cut in the frames before
it (``video/lookback.py``). ``Pipeline.process`` forgets every face on a frame marked ``cut``;
this finds those frames, for a recording (``video/job.py``) and for a video file the live mirror
plays (``sources/opencv.py``). A camera does not cut.

The rule is PySceneDetect's adaptive detector with its published defaults: a frame's change from
the one before (the mean absolute difference of hue, saturation and value, hue taken around its
circle) marks a cut when it is at least ``MIN_CHANGE`` and at least ``RATIO`` times the mean change
of the ``WINDOW`` frames on either side of it. A camera pan or a dancer changes every frame alike;
a cut changes one. The change is measured on a 64-px thumbnail (``resample.thumbnail``), so a
verdict costs about 0.1 ms of a 720p frame. Looking at the frames after a cut needs them decoded
first, so each verdict comes ``WINDOW`` frames late; a recording holds its frames back anyway.

Measured on two real clips not in this repository and the bundled sample: a TV dinner scene
(1280×720, 82 s) has 38 cuts, each checked by eye, and all 38 are found; a stage clip has 3, the
sample 3 (where it jumps to the next portrait), all found; no other frame of the three is marked,
among them a fast pan in the dark (a change of 19-21 on three frames in a row) and the sample's
zooms (24-32 for a dozen frames). With the frames before it alone (no look ahead) the TV scene
lost a cut that came after a second of camera movement.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from edge_emojify.resample import thumbnail

THUMB_WIDTH = 64
MIN_CHANGE = 15.0  # mean absolute HSV difference (0-255 scale; hue 0-179 as OpenCV keeps it)
RATIO = 3.0
WINDOW = 2  # frames on either side of a frame that its change is compared with
HUE_TURN = 180  # OpenCV's 8-bit hue goes once around the colour circle in 0-179


def change(before: np.ndarray, after: np.ndarray) -> float:
    """How much the picture changed between two HSV thumbnails: the mean absolute difference of
    hue (around its circle), saturation and value, averaged over the three."""
    diff = cv2.absdiff(before, after).astype(np.float32)
    diff[..., 0] = np.minimum(diff[..., 0], HUE_TURN - diff[..., 0])
    return float(diff.mean())


class CutFinder:
    """Says for each frame of a clip, ``WINDOW`` frames after it came, whether it starts a new shot."""

    def __init__(self) -> None:
        self._last: np.ndarray | None = None
        self._changes: deque[float | None] = deque(maxlen=2 * WINDOW + 1)  # None: a clip's first frame

    def push(self, image_bgr: np.ndarray) -> bool | None:
        """Take the next frame; return the verdict on the frame ``WINDOW`` frames before it (None
        while fewer have come)."""
        thumb = cv2.cvtColor(thumbnail(image_bgr, THUMB_WIDTH), cv2.COLOR_BGR2HSV)
        same_size = self._last is not None and self._last.shape == thumb.shape
        self._changes.append(change(self._last, thumb) if same_size else None)  # type: ignore[arg-type]
        self._last = thumb
        ready = len(self._changes) - 1 - WINDOW
        return self._verdict(ready) if ready >= 0 else None

    def drain(self) -> list[bool]:
        """The verdicts not yet given (the clip ended), oldest first; then start afresh."""
        first = max(0, len(self._changes) - WINDOW)
        verdicts = [self._verdict(i) for i in range(first, len(self._changes))]
        self._last = None
        self._changes.clear()
        return verdicts

    def _verdict(self, i: int) -> bool:
        changes = list(self._changes)
        own = changes[i]
        if own is None or own < MIN_CHANGE:
            return False
        around = [c for c in changes[max(0, i - WINDOW):i] + changes[i + 1:i + 1 + WINDOW] if c is not None]
        return not around or own >= RATIO * float(np.mean(around))
