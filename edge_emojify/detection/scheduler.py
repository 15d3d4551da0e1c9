"""``detector.range = "auto"`` without hitches: what runs on the frame path and what runs beside it.

Measured on this project's CI machine (640×360, one thread): short range on the whole frame
1.8 ms, one full-range tile 6 ms. Running the full range model on the frame path (every fourth
frame, and on every frame in which short range sees nobody) made those frames three times as
long as the rest: a visible hitch on a Pi. So:

- **On the frame path**, every tracked face is read from a crop around it by the short-range
  network rebuilt for a 64-px input (``SHORT_RANGE_CROP``). In a crop 1.6 faces wide the face is
  40 px, as large to the network as a near face in the whole frame; the crop costs a quarter of
  a 128-px pass (0.41 against 1.74 ms on one core of a 2-core Xeon), and reads box, size and
  tilt about as well as the 128-px pass on a crop 2.5 faces wide did (``python -m
  convert.rebuild_detector`` measures both). Each face is read by the same pass on every frame:
  a still near face read from the whole frame one frame in three and from its crop on the
  others moved by 1.4 % of its width and 2.2 degrees from frame to frame, against 0.13 % and
  0.15 by the whole frame alone and 0.07 % and 0.07 by its held crop alone.
- **At most ``detector.max_crops`` crops a frame** (3), the faces read longest ago first: on a
  stage clip with one to five faces, frames with four or five crops were the slowest twentieth, at
  three times the median frame. A face waiting for its turn (a frame or two in a crowd) stays
  where the tracker predicts it, as a face the detector missed does; one not held in its crop
  (new, or moved on) goes first. A recording reads every face (``max_crops = 0``).
- **A crop is held in place** while its face stays within ``ROI_HOLD`` of where it was: placed
  anew on each frame's reading, a crop fed that reading's noise into the next, and a still far
  face's box trembled by 1 % of its width and 1 degree from frame to frame (0.1-0.2 % and
  0.1-0.4 degrees held).
- **Beside it**, in a worker thread on another core when ``background``: short range on the
  whole frame (``BlazeFaceDetector.short_range``) searches for newcomers every ``search_every``
  frames (``detector.search_every``), and the full-range pass (square tiles) looks for new far
  faces a few times a second. They are queued with a frame and start once it is shown
  (``frame_done``), in the time until the next frame, not beside the rest of it (``PassWorker``).
  Their faces are merged when they land, only where no fresh detection already is (they are a
  few frames old), and tracked from then on. A newcomer found
  a few frames late is not seen on a mirror, and the frame path, without the whole-frame pass,
  keeps an even pace (its p95 rose to 1.5-1.7 times its p50 with the search in line one frame
  in three).
- **With nobody there**, the frame path runs short range on the whole frame only when the picture
  moved (a 64-px thumbnail compared with the last), at most every ``IDLE_SEARCH_EVERY`` frames, and
  every ``IDLE_EVERY`` frames anyway: an empty hall costs almost nothing, a busy one (a stage, a
  street behind the mirror) half as much as a frame that searches, and a person walking in is
  found on the frame they appear or the next. The full-range pass runs then only on the tiles
  in which the picture changed since their last run (``FAR_CHANGE``): on the same pixels it
  would find the same nothing. In the live mirror it runs then at most once in
  ``FULL_RANGE_IDLE_LIVE_SECONDS``: on a stage, where both tiles always change, the passes every
  quarter second were half of an idle frame's CPU time in all threads; a far face in an empty
  room is found within a second, one that walks up by short range the frame it is near.

Without ``background`` (recorded videos, tests) the passes run in line on their schedule, so the
result depends only on the frames, never on this machine's speed. A recording searches as often
as the full-range pass runs (``video.job.VIDEO_SEARCH_EVERY``) and holds its frames back until
then, so a face found late is looked for in them with ``find_near`` and covered from its first
frame (``video/lookback.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from functools import partial

import cv2
import numpy as np

from edge_emojify.detection.blazeface import RawDetections
from edge_emojify.detection.detector import BlazeFaceDetector, concat, finish, read_tiles, shift, square_tiles
from edge_emojify.resample import thumbnail
from edge_emojify.types import Face, iou

log = logging.getLogger(__name__)

FULL_RANGE_SECONDS = 0.25  # between full-range passes: a new far face is found within about this
ROI_SCALE = 1.6  # a crop around a tracked face, in face sizes: room for the tracker's prediction error
MIN_ROI = 24  # px: a smaller crop is upscaled noise for the 64-px crop model
ROI_HOLD = 0.08  # of a crop's side: how far its face may drift, or its size change, before it moves
# A face narrower than this in the whole-frame pass's 128-px input is found there but read
# coarsely: at 720p its box jumps by 8 % and its tilt by 9 degrees from frame to frame, against
# 2 % and 1.5 in a crop around it. Such a face is read from its crop, as a far face is.
COARSE_INPUT_PX = 32
FRESH_IOU = 0.3  # a late face overlapping a fresh detection (or one frame's face the next) by more is the same face
# ``track_rate``: a frame this fraction of the period after the last reading is read, so timestamps
# rounded by the container (30 fps in milliseconds) still read every other frame, not every third.
TRACK_SLACK = 0.9
THUMB_WIDTH = 64
MOTION = 3.0  # mean grey change (0-255) of the thumbnail that counts as the picture moving
IDLE_EVERY = 15  # frames: with nobody there and nothing moving, short range still runs this often
IDLE_SEARCH_EVERY = 2  # frames: with nobody there and the picture moving, short range runs this often
# With nobody there, the full-range pass runs only when this many cells of the thumbnail changed by
# more than FAR_CHANGE grey levels since its last run (a far face walking in fills a few; sensor
# noise, averaged in a cell, changes one by at most a few levels), or FULL_RANGE_IDLE_SECONDS passed.
FAR_CHANGE = 12.0
FAR_CELLS = 2
FULL_RANGE_IDLE_SECONDS = 2.0
# The live mirror with nobody there: the full-range pass at most this often. A recording keeps
# FULL_RANGE_SECONDS, since it looks back only that far for a face found late.
FULL_RANGE_IDLE_LIVE_SECONDS = 1.0

NEVER_READ = -1  # a crop's last reading before it was ever read: it goes first

Box = tuple[float, float, float, float]
Roi = tuple[int, int, int, int]  # a crop: x0, y0, x1, y1 in whole pixels
Passes = Callable[[np.ndarray], RawDetections]


class PassWorker:
    """Runs the passes submitted with a frame, in a thread (``background``) or in line.

    ``submit`` hands over a frame and what to run on it unless a run is queued or going; ``start``
    lets the queued run begin, once the frame path is done with its frame; ``take`` returns a
    finished run's candidates once. A busy worker never makes the frame path wait. ``forget``
    drops what was found in earlier frames, even by a run still going, and a run queued but not
    begun: after a cut (the next photo, a clip starting over) those faces are not in the picture.

    Why a run waits for ``start``: begun at once, it shared the rest of its frame (reading,
    tracking, drawing) with the frame path, which then waited for Python's interpreter lock
    and the memory bus. Frames handed over at the camera's rate (``bench --paced``, the bundled
    sample) took 5.4-5.6 ms when they submitted a run and 3.1-3.2 when they did not; started
    after the frame, in the time until the next one, 3.5 against 3.3.
    """

    def __init__(self, background: bool) -> None:
        self._background = background
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: tuple[np.ndarray, Passes, int] | None = None
        self._generation = 0  # counts forget(); a run's result is kept only if none came since it started
        self._busy = False
        self._result: RawDetections | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="detector-passes", daemon=True)
            self._thread.start()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._busy

    def submit(self, image: np.ndarray, passes: Passes) -> bool:
        """Queue ``passes`` on ``image`` (in line: run them now); False (nothing done) while a run is
        queued or going."""
        if not self._background:
            self._result = passes(image)
            return True
        with self._lock:
            if self._busy:
                return False
            self._busy, self._pending = True, (image.copy(), passes, self._generation)  # the caller reuses its buffers
        return True

    def start(self) -> None:
        """Let the queued run begin (nothing when none is queued)."""
        with self._lock:
            queued = self._pending is not None
        if queued:
            self._wake.set()

    def take(self) -> RawDetections | None:
        with self._lock:
            result, self._result = self._result, None
        return result

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._result = None
            if self._pending is not None:  # queued, not begun: it would look at the last picture for nothing
                self._pending, self._busy = None, False

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                pending, self._pending = self._pending, None
            if pending is None:
                continue
            try:
                result = pending[1](pending[0])
            except Exception:  # noqa: BLE001 - a failed pass must not kill the thread; the next one runs
                log.exception("background face detection failed")
                result = None
            with self._lock:
                self._busy = False
                if pending[2] == self._generation:
                    self._result = result

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


class ScheduledDetector:
    """BlazeFace in ``auto`` range, scheduled as the module docstring says."""

    def __init__(self, inner: BlazeFaceDetector, background: bool) -> None:
        if inner.short is None or inner.full is None or inner.crop is None:
            raise ValueError("the scheduled detector needs the short-range, crop and full-range BlazeFace models")
        self.inner = inner
        self.cfg = inner.cfg
        self.worker = PassWorker(background)
        self._live = background
        # The background search has short-range interpreters of its own: one interpreter must not
        # run on two threads, and the frame path searches with the inner ones when nobody is tracked.
        self._searcher = BlazeFaceDetector(dataclasses.replace(inner.cfg, range="short"), inner.model_dir,
                                           inner.threads) if background else inner
        self._last_pass: float | None = None
        self._thumb: np.ndarray | None = None
        self._thumb_at_pass: np.ndarray | None = None  # the thumbnail when full range last ran with nobody there
        self._idle_frames = IDLE_EVERY  # frames since short range last ran with nobody there
        self._motion_pending = False  # the picture moved since then
        self._since_search = 0  # frames since the whole frame was searched while faces were tracked
        self._last_tracked: float | None = None  # when tracked faces were last read from their crops
        self._rois: list[Roi] = []  # the crops placed on the last frame that placed any
        self._read_at: dict[Roi, int] = {}  # when each of them was last read, in calls of _crops
        self._crop_round = 0
        self.skipped = 0  # idle frames that ran no detector at all (for bench and tests)

    def _passes(self, image: np.ndarray, search: bool, tiles: Sequence[Roi], known: RawDetections | None = None,
                ) -> RawDetections:
        """Beside the frame path: short range on the whole frame (a search for newcomers while
        faces are tracked) and the full-range pass on the square ``tiles``, as asked; without the
        faces the frame path already found in ``image`` (``known``). By the time they land, those
        faces may have moved on from there, and kept, they would start a second track where the face was."""
        parts = [self._searcher.short_range(image).detect(image, self.cfg.min_score)] if search else []
        parts += read_tiles(self.inner.full, image, tiles, self.cfg.min_score)  # type: ignore[arg-type]
        return _new_only(concat(parts), known)

    def _moved(self, image: np.ndarray) -> bool:
        thumb = thumbnail(image, THUMB_WIDTH)
        previous, self._thumb = self._thumb, thumb
        if previous is None or previous.shape != thumb.shape:
            return True
        return float(cv2.absdiff(thumb, previous).mean()) > MOTION

    def frame_done(self) -> None:
        """The frame path is done with the frame (it is shown): the passes queued with it start
        now, in the time until the next frame (``PassWorker``). A caller that never says so still
        gets them run, from the start of its next frame."""
        self.worker.start()

    def detect(self, image_bgr: np.ndarray, hints: Sequence[Box] = (), timestamp: float | None = None) -> list[Face]:
        """Faces in ``image_bgr``; ``hints`` are where tracked faces are expected in this frame."""
        self.worker.start()
        parts: list[RawDetections] = []
        search = False
        if hints:
            # With nobody tracked any more, the first frame is searched, and compared with the next.
            self._thumb = self._thumb_at_pass = None
            self._idle_frames = IDLE_EVERY
        if hints and self.cfg.search_every > 1:
            if self._tracked_due(timestamp):
                parts += self._crops(image_bgr, hints)  # every tracked face from its crop
            self._since_search += 1
            search = self._since_search >= self.cfg.search_every
        elif hints or self._idle_search_due(image_bgr):
            self._idle_frames = 0
            self._since_search = 0
            self._last_tracked = timestamp
            parts += self._whole_and_crops(image_bgr, hints)
        else:
            self._idle_frames += 1
            self.skipped += 1
        tiles = self._full_range_tiles(image_bgr.shape, timestamp, bool(hints))
        known = concat(parts) if parts else None
        if (tiles or search) and self.worker.submit(image_bgr, partial(self._passes, search=search, tiles=tiles,
                                                                       known=known)):
            if tiles:
                self._last_pass = timestamp
                self._passed(tiles, image_bgr.shape, tracking=bool(hints))
            if search:
                self._since_search = 0
        late = self.worker.take()
        if late is not None and late.scores.size:
            parts.append(_new_only(late, known))
        return finish(parts, self.cfg)

    def _idle_search_due(self, image_bgr: np.ndarray) -> bool:
        """With nobody tracked: whether short range searches this frame (module docstring)."""
        self._motion_pending |= self._moved(image_bgr)
        if self._idle_frames >= IDLE_EVERY or (self._motion_pending and self._idle_frames >= IDLE_SEARCH_EVERY - 1):
            self._motion_pending = False
            return True
        return False

    def _full_range_tiles(self, shape: tuple[int, ...], timestamp: float | None, tracking: bool) -> list[Roi]:
        """The square tiles the full-range pass runs on in this frame: none until ``FULL_RANGE_SECONDS``
        after the last pass (live with nobody tracked, ``FULL_RANGE_IDLE_LIVE_SECONDS``); then every
        tile, but with nobody tracked only those in which the picture changed since their last run
        (every tile ``FULL_RANGE_IDLE_SECONDS`` after the last pass)."""
        since = None if timestamp is None or self._last_pass is None else timestamp - self._last_pass
        least = FULL_RANGE_SECONDS if tracking or not self._live else FULL_RANGE_IDLE_LIVE_SECONDS
        if since is not None and since < least:
            return []
        tiles = square_tiles(shape[1], shape[0], self.cfg.small_tile)
        if since is None or tracking or since >= FULL_RANGE_IDLE_SECONDS or self._thumb_at_pass is None \
                or self._thumb is None or self._thumb.shape != self._thumb_at_pass.shape:
            return tiles
        changed = cv2.absdiff(self._thumb, self._thumb_at_pass).max(axis=2) > FAR_CHANGE
        return [t for t in tiles if int(np.count_nonzero(changed[_cells(t, shape, changed.shape)])) >= FAR_CELLS]

    def _passed(self, tiles: Sequence[Roi], shape: tuple[int, ...], tracking: bool) -> None:
        """Remember the thumbnail where ``tiles`` were passed, so a tile is passed again when its part changes."""
        if tracking or self._thumb is None:
            self._thumb_at_pass = None
            return
        if self._thumb_at_pass is None or self._thumb_at_pass.shape != self._thumb.shape:
            self._thumb_at_pass = self._thumb.copy()
            return
        for tile in tiles:
            cells = _cells(tile, shape, self._thumb.shape)
            self._thumb_at_pass[cells] = self._thumb[cells]

    def _tracked_due(self, timestamp: float | None) -> bool:
        """Whether tracked faces are read from their crops on this frame: on every frame, or about
        ``track_rate`` times a second (a recording, which holds its frames back and places each face
        between two readings on the frames between, ``video/lookback.py``)."""
        rate = self.cfg.track_rate
        if rate > 0 and timestamp is not None and self._last_tracked is not None \
                and timestamp - self._last_tracked < TRACK_SLACK / rate:
            return False
        self._last_tracked = timestamp
        return True

    def _whole_and_crops(self, image_bgr: np.ndarray, hints: Sequence[Box]) -> list[RawDetections]:
        """Short range on the whole frame, and a crop around each tracked face it missed or saw too small."""
        short = self.inner.short_range(image_bgr)
        whole = short.detect(image_bgr, self.cfg.min_score)
        h, w = image_bgr.shape[:2]
        pixels_per_input_px = max(w / short.spec.input_size, h / short.spec.height)
        fine, coarse = _split_by_width(whole, COARSE_INPUT_PX * pixels_per_input_px)
        crops = self._crops(image_bgr, [box for box in hints if not (
            fine.scores.size and iou(np.asarray(box, np.float32), fine.boxes).max() > FRESH_IOU)])
        # A small face the crops did not read (a new one, or too small to crop) is kept as it is.
        return [fine, *crops, _new_only(coarse, concat(crops) if crops else None)]

    def _crops(self, image_bgr: np.ndarray, boxes: Sequence[Box]) -> list[RawDetections]:
        """The crop model on a crop around each of ``boxes``, held in place while its face stays near;
        on at most ``max_crops`` of them, those read longest ago first (a crop not held, new or moved
        on, before any), so a crowd costs a frame no more than that many faces."""
        last = list(self._rois)
        rois = [_held(roi, last) for roi in (_roi(box, image_bgr.shape) for box in boxes) if roi is not None]
        by_age = sorted(range(len(rois)), key=lambda i: self._read_at.get(rois[i], NEVER_READ))
        chosen = sorted(by_age[:self.cfg.max_crops or len(rois)])
        self._crop_round += 1
        self._read_at = {roi: self._read_at.get(roi, NEVER_READ) for roi in rois}
        self._read_at.update((rois[i], self._crop_round) for i in chosen)
        self._rois = rois
        return [self._crop_pass(image_bgr, rois[i]) for i in chosen]

    def _crop_pass(self, image_bgr: np.ndarray, roi: Roi) -> RawDetections:
        """The crop model on ``roi`` of the image, in image coordinates."""
        x0, y0, x1, y1 = roi
        return shift(self.inner.crop.detect(image_bgr[y0:y1, x0:x1], self.cfg.min_score), x0, y0)  # type: ignore[union-attr]

    def find_near(self, image_bgr: np.ndarray, box: Box) -> Face | None:
        """The face the crop model finds in a crop around ``box``, if it overlaps ``box`` as one face
        does from one frame to the next; else None. The held crops stay as they are: this looks at
        frames other than the one being tracked (a recording looking back, ``video/lookback.py``)."""
        roi = _roi(box, image_bgr.shape)
        if roi is None:
            return None
        faces = finish([self._crop_pass(image_bgr, roi)], self.cfg)
        if not faces:
            return None
        overlap = iou(np.asarray(box, np.float32), np.array([f.box for f in faces], np.float32))
        best = int(np.argmax(overlap))
        return faces[best] if overlap[best] > FRESH_IOU else None

    def reset(self) -> None:
        """A cut: the next frame is another picture, so nothing found or placed before carries over."""
        self.worker.forget()
        self._last_pass = None
        self._thumb = self._thumb_at_pass = None
        self._idle_frames, self._motion_pending = IDLE_EVERY, False
        self._since_search = 0
        self._last_tracked = None
        self._rois, self._read_at = [], {}

    def close(self) -> None:
        self.worker.close()


def _roi(box: Box, shape: tuple[int, ...], scale: float = ROI_SCALE) -> Roi | None:
    """A square crop ``scale`` times the face around ``box``, inside the frame; None if too small."""
    h, w = shape[:2]
    side = scale * max(box[2] - box[0], box[3] - box[1])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
    x1, y1 = min(w, int(cx + side / 2)), min(h, int(cy + side / 2))
    return (x0, y0, x1, y1) if min(x1 - x0, y1 - y0) >= MIN_ROI else None


def _cells(tile: Roi, shape: tuple[int, ...], thumb_shape: tuple[int, ...]) -> tuple[slice, slice]:
    """The thumbnail cells (rows, columns) that a tile of a frame of ``shape`` covers, partly or wholly."""
    h, w = shape[:2]
    rows, cols = thumb_shape[:2]
    x0, y0, x1, y1 = tile
    return (slice(y0 * rows // h, -(-y1 * rows // h)), slice(x0 * cols // w, -(-x1 * cols // w)))


def _held(roi: Roi, last: list[Roi]) -> Roi:
    """The crop of the last frame that ``roi`` is within ``ROI_HOLD`` of (centre and side), taken out
    of ``last`` so no two faces share it; else ``roi``."""
    side = max(roi[2] - roi[0], roi[3] - roi[1])
    cx, cy = (roi[0] + roi[2]) / 2, (roi[1] + roi[3]) / 2
    for old in last:
        reach = ROI_HOLD * max(old[2] - old[0], old[3] - old[1])
        if (abs((old[0] + old[2]) / 2 - cx) <= reach and abs((old[1] + old[3]) / 2 - cy) <= reach
                and abs(max(old[2] - old[0], old[3] - old[1]) - side) <= reach):
            last.remove(old)
            return old
    return roi


def _split_by_width(found: RawDetections, min_width: float) -> tuple[RawDetections, RawDetections]:
    """(faces at least ``min_width`` px wide, the narrower ones)."""
    wide = (found.boxes[:, 2] - found.boxes[:, 0]) >= min_width
    return found.where(wide), found.where(~wide)


def _new_only(late: RawDetections, fresh: RawDetections | None) -> RawDetections:
    """The late full-range candidates that are not where a fresh detection already is."""
    if fresh is None or not fresh.scores.size:
        return late
    keep = np.array([iou(b, fresh.boxes).max() <= FRESH_IOU for b in late.boxes], bool)
    return late.where(keep)
