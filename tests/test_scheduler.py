"""The scheduled auto detector: what runs on the frame path, what runs beside it, and when nothing runs.

Passes are counted by wrapping the real BlazeFace models (they still run); the background worker
is driven by events, never by timing.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from photos import close_up, group
from waits import wait_for

from edge_emojify.config import Config, DetectorConfig
from edge_emojify.detection.blazeface import RawDetections
from edge_emojify.detection.detector import BlazeFaceDetector, concat, finish
from edge_emojify.detection.scheduler import (
    FULL_RANGE_IDLE_LIVE_SECONDS,
    FULL_RANGE_IDLE_SECONDS,
    FULL_RANGE_SECONDS,
    IDLE_EVERY,
    IDLE_SEARCH_EVERY,
    ROI_HOLD,
    PassWorker,
    ScheduledDetector,
    _held,
    _new_only,
    _roi,
)
from edge_emojify.pipeline import build_pipeline
from edge_emojify.sources.base import frame_from_bgr
from edge_emojify.types import iou
from edge_emojify.video.job import video_config

MODELS = Path(__file__).resolve().parent.parent / "models"
SEARCH_EVERY = DetectorConfig().search_every


class Counted:
    """A real BlazeFace model that counts its passes (on ``same_as``'s count, if given)."""

    def __init__(self, model, same_as: Counted | None = None) -> None:
        self.model, self.spec, self.calls, self.counter = model, model.spec, 0, same_as or self

    def detect(self, image, min_score):
        self.counter.calls += 1
        return self.model.detect(image, min_score)


def scheduled(background: bool = False) -> tuple[ScheduledDetector, Counted, Counted]:
    det, short, full, _ = scheduled_with_crops(background)
    return det, short, full


def scheduled_with_crops(background: bool = False, search_every: int = SEARCH_EVERY, track_rate: float = 0.0,
                         max_crops: int = DetectorConfig().max_crops,
                         ) -> tuple[ScheduledDetector, Counted, Counted, Counted]:
    """The detector, and its whole-frame, full-range and crop passes counted; the whole-frame count
    takes the square input (4:3 frames) and the wide one (16:9) alike."""
    inner = BlazeFaceDetector(DetectorConfig(search_every=search_every, track_rate=track_rate, max_crops=max_crops),
                              MODELS)
    inner.short, inner.full, inner.crop = Counted(inner.short), Counted(inner.full), Counted(inner.crop)
    inner.wide = Counted(inner.wide, same_as=inner.short)
    return ScheduledDetector(inner, background), inner.short, inner.full, inner.crop


def test_an_empty_still_scene_runs_almost_nothing_and_a_face_is_found_within_a_frame_of_appearing():
    det, short, full = scheduled()
    empty = np.full((480, 640, 3), 90, np.uint8)
    still = 2 * (IDLE_EVERY + 1) + 1
    ran = []
    for i in range(still):
        calls = short.calls
        assert det.detect(empty, (), i / 30) == []
        if short.calls > calls:
            ran.append(i)
    assert ran == [0, IDLE_EVERY + 1, 2 * (IDLE_EVERY + 1)]  # the first frame, then after every IDLE_EVERY still ones
    assert det.skipped == 2 * IDLE_EVERY
    assert full.calls == 1  # on the same pixels full range would find the same nothing
    # Someone steps in on the frame after a search: short range waits a frame, full range sees the change.
    face, box = close_up()
    full_range_found = det.detect(face, (), still / 30)
    assert short.calls == 3 and full.calls == 2
    found = det.detect(face, (), (still + 1) / 30)
    assert short.calls == 4
    for faces in (full_range_found, found):
        assert len(faces) == 1 and iou(np.array(box), np.array([faces[0].box]))[0] > 0.7


def test_a_busy_empty_scene_is_searched_every_other_frame_and_full_range_runs_when_it_changes():
    det, short, full = scheduled()
    searched, full_ran = [], []
    for i in range(20):  # a stage with nobody near: the lights change on every frame
        calls = short.calls, full.calls
        det.detect(np.full((480, 640, 3), 40 + (53 * i) % 160, np.uint8), (), i / 30)
        searched += [i] if short.calls > calls[0] else []
        full_ran += [i] if full.calls > calls[1] else []
    every = math.ceil(FULL_RANGE_SECONDS * 30)
    assert searched == list(range(0, 20, IDLE_SEARCH_EVERY))
    assert full_ran == list(range(0, 20, every))  # the picture changed since each pass
    # The lights stop changing: full range runs on the change, then only as a safety net.
    wall = np.full((480, 640, 3), 150, np.uint8)
    still_ran = []
    for i in range(20, 100):
        calls = full.calls
        det.detect(wall, (), i / 30)
        still_ran += [i] if full.calls > calls else []
    first = full_ran[-1] + every
    net = next(i for i in range(first, 100) if i / 30 - first / 30 >= FULL_RANGE_IDLE_SECONDS)
    assert still_ran == [first, net]
    # A far face (24 px wide) walks onto the same wall: a few thumbnail cells change, full range runs.
    image, _ = group(1, frame=(640, 480), face_px=24)
    assert (image != wall).any(axis=2).mean() < 0.02
    calls = full.calls
    det.detect(image, (), (net + every) / 30)
    assert full.calls == calls + 1


def test_the_live_mirror_with_nobody_there_runs_full_range_once_a_second_on_a_busy_scene():
    # A recording keeps a pass every FULL_RANGE_SECONDS (it looks back only that far); the live
    # mirror, with nobody tracked, spends less on far faces that are not there.
    det, short, full = scheduled(background=True)
    ran, searched = [], 0
    for i in range(61):  # the lights change on every frame
        calls = short.calls
        det.detect(np.full((480, 640, 3), (40 + 53 * i) % 256, np.uint8), (), i / 30)
        searched += short.calls > calls
        det.frame_done()
        wait_for(lambda: not det.worker.busy)
        if full.calls > len(ran):
            ran.append(i)
    det.close()
    every = round(FULL_RANGE_IDLE_LIVE_SECONDS * 30)
    assert ran == list(range(0, 61, every)) and every > math.ceil(FULL_RANGE_SECONDS * 30)
    assert searched == len(range(0, 61, IDLE_SEARCH_EVERY))  # near faces are searched for as often as before


def test_with_nobody_there_full_range_runs_only_on_the_tiles_where_the_picture_changed():
    det, _, full = scheduled()
    tiles = []
    for i in range(16):  # a 16:9 stage, two square tiles: the lights change on its left only
        image = np.full((360, 640, 3), 150, np.uint8)
        image[:, :200] = 40 + (53 * i) % 160
        calls = full.calls
        det.detect(image, (), i / 30)
        tiles.append(full.calls - calls)
    every = math.ceil(FULL_RANGE_SECONDS * 30)
    assert tiles == [2 if i == 0 else 1 if i % every == 0 else 0 for i in range(16)]
    image[:, 500:] = 0  # now the right side changes too
    calls = full.calls
    det.detect(image, (), 16 / 30)
    assert full.calls == calls + 2


@pytest.mark.parametrize("fps", [30, 24])  # at 24 fps a pass falls due exactly FULL_RANGE_SECONDS after the last
def test_far_faces_stay_fresh_every_frame_from_crops_and_full_range_runs_a_few_times_a_second(fps):
    image, boxes = group(3, frame=(1280, 720), face_px=60)  # too small for short range on the whole frame
    cfg = Config()
    pipeline = build_pipeline(cfg)
    det, short, full, crop = scheduled_with_crops()
    pipeline.detector = det
    frames = 45
    fresh = []
    for i in range(frames):
        tracks = pipeline.process(frame_from_bgr(image, i, 640, timestamp=i / fps)).tracks
        fresh.append(sum(1 for t in tracks if t.missed == 0))
    assert fresh == [3] * frames  # found on the first frame by full range, then by crops around them
    passes = full.calls / 2  # two square tiles per pass on a 16:9 frame
    every = math.ceil(FULL_RANGE_SECONDS * fps)  # frames from one pass to the next
    assert passes == math.ceil(frames / every)
    assert short.calls == math.ceil(frames / SEARCH_EVERY)  # the whole frame searched for newcomers
    assert crop.calls == (frames - 1) * 3  # from the second frame on, one 64-px crop per far face
    for box in boxes:
        assert max(iou(np.array(box), np.array([t.face.box for t in tracks]))) > 0.5


@pytest.mark.parametrize(("max_crops", "turn"), [(2, 3), (4, 2), (0, 1)])
def test_a_crowd_is_read_a_few_faces_a_frame_in_turn_and_keeps_every_track(max_crops, turn):
    image, boxes = group(5, frame=(1280, 720), face_px=60)
    pipeline = build_pipeline(Config())
    det, _, _, crop = scheduled_with_crops(max_crops=max_crops)
    pipeline.detector = det
    last_fresh: dict[int, int] = {}
    gaps, per_frame = [], []
    for i in range(30):
        before = crop.calls
        tracks = pipeline.process(frame_from_bgr(image, i, 640, timestamp=i / 30)).tracks
        per_frame.append(crop.calls - before)
        for t in tracks:
            if t.missed == 0:
                gaps.append(i - last_fresh.get(t.track_id, i))
                last_fresh[t.track_id] = i
        assert len(tracks) == 5  # a face waiting for its turn keeps its track and its emoji
    assert max(per_frame[1:]) == (max_crops or 5) and min(per_frame[1:]) == (max_crops or 5)
    assert max(gaps) == turn  # each face read again within ceil(5 / max_crops) frames, the oldest first
    for box in boxes:
        assert max(iou(np.array(box), np.array([t.face.box for t in tracks]))) > 0.5


def test_a_recording_reads_every_face_of_a_crowd_on_each_reading():
    # A recording covers each face from its own readings (video/lookback.py): none waits its turn.
    image, _ = group(5, frame=(1280, 720), face_px=60)
    cfg = video_config(Config())
    inner = BlazeFaceDetector(cfg.detector, MODELS)
    inner.crop = crop = Counted(inner.crop)
    pipeline = build_pipeline(cfg)
    pipeline.detector = ScheduledDetector(inner, background=False)
    for i in range(9):
        tracks = pipeline.process(frame_from_bgr(image, i, 640, timestamp=i / 30)).tracks
    assert crop.calls == 4 * 5 and len(tracks) == 5  # frames 2, 4, 6 and 8 read every face (15 a second)


def test_a_near_face_needs_no_crop_where_the_whole_frame_is_searched_on_every_frame():
    face, box = close_up()
    pipeline = build_pipeline(Config())
    det, short, _, crop = scheduled_with_crops(search_every=1)
    pipeline.detector = det
    for i in range(10):
        pipeline.process(frame_from_bgr(face, i, 640, timestamp=i / 30))
    assert short.calls == 10 and crop.calls == 0  # the whole-frame pass found it well every time


def test_a_tracked_face_is_read_from_its_crop_every_frame_and_the_whole_frame_searched_every_few():
    face, box = close_up()
    pipeline = build_pipeline(Config())
    det, short, _, crop = scheduled_with_crops()
    pipeline.detector = det
    for i in range(10):
        (track,) = pipeline.process(frame_from_bgr(face, i, 640, timestamp=i / 30)).tracks
        assert track.missed == 0 and iou(np.array(box), np.array([track.face.box]))[0] > 0.7
    assert short.calls == math.ceil(10 / SEARCH_EVERY)  # the first frame, then every SEARCH_EVERY-th
    assert crop.calls == 9  # tracked from the second frame on: one pass reads it, every frame


@pytest.mark.parametrize(("fps", "read_on"), [
    (30, [0, 2, 4, 6, 8, 10]),  # every other frame (the whole-frame pass read the first)
    (29.97, [0, 2, 4, 6, 8, 10]),
    (60, [0, 4, 8]),  # every fourth
    (15, list(range(12))),  # every frame: a reading is due on each
])
def test_a_track_rate_reads_tracked_faces_that_often_by_the_frames_times(fps, read_on):
    face, _ = close_up()
    pipeline = build_pipeline(Config())
    det, _, _, crop = scheduled_with_crops(search_every=30, track_rate=15)
    pipeline.detector = det
    read = []
    for i in range(12):
        before = crop.calls
        timestamp = round(i / fps, 3)  # as a container stores them, in milliseconds
        (track,) = pipeline.process(frame_from_bgr(face, i, 640, timestamp=timestamp)).tracks
        if crop.calls > before or i == 0:
            read.append(i)
            assert track.missed == 0
        else:
            assert track.missed == i - read[-1]  # between two readings: where the tracker expects it
    assert read == read_on


def test_a_newcomer_beside_a_tracked_face_is_found_by_the_next_search():
    near, box = close_up()
    alone = np.full((720, 1280, 3), 90, np.uint8)
    alone[120:600, :640] = near
    both = alone.copy()
    both[120:600, 640:] = near  # someone else steps in on the right
    pipeline = build_pipeline(Config())
    det, short, _, _ = scheduled_with_crops()
    pipeline.detector = det
    pipeline.process(frame_from_bgr(alone, 0, 640, timestamp=0.0))  # found by a search, then tracked
    counts = [len(pipeline.process(frame_from_bgr(both, i, 640, timestamp=i / 30)).tracks)
              for i in range(1, 1 + SEARCH_EVERY)]
    assert counts == [1] * (SEARCH_EVERY - 1) + [2]  # read from crops, then found by the next search
    assert short.calls == 2


def raw(*boxes) -> RawDetections:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    return RawDetections(b, np.zeros((len(b), 6, 2), np.float32), np.full(len(b), 0.9, np.float32))


def test_a_late_full_range_face_is_merged_only_where_no_fresh_detection_is():
    late = raw((100, 100, 150, 150), (400, 100, 450, 150))
    fresh = raw((104, 102, 154, 152))  # the first has moved a little since the late frame
    kept = _new_only(late, fresh)
    assert kept.boxes.tolist() == [[400, 100, 450, 150]]
    assert _new_only(late, None) is late and _new_only(late, concat([])) is late


def test_a_pass_beside_the_frame_path_hands_back_only_faces_its_frame_had_not_found():
    # By the time a pass beside the frame path lands, a face it shares with the frame path may have
    # moved on; handed back, it would start a second track (a second emoji) where the face was.
    image, boxes = group(2, frame=(1280, 720), face_px=200)
    det, _, _ = scheduled()
    both = det._passes(image, search=True, tiles=())
    assert len(finish([both], det.cfg)) == 2
    first = raw(boxes[0])
    (left,) = finish([det._passes(image, search=True, tiles=(), known=first)], det.cfg)
    assert iou(np.array(boxes[1]), np.array([left.box]))[0] > 0.7


def test_the_background_worker_never_makes_the_frame_path_wait():
    release, started = threading.Event(), threading.Event()
    seen = []

    def slow_full_range(image):  # a full-range pass that takes as long as the test says
        started.set()
        release.wait()
        seen.append(image[0, 0, 0])
        return raw((10, 10, 60, 60))

    worker = PassWorker(background=True)
    try:
        image = np.zeros((8, 8, 3), np.uint8)
        assert worker.submit(image, slow_full_range)
        image[:] = 7  # the caller reuses its buffer: the worker has its own copy
        worker.start()
        assert started.wait(5)
        assert worker.busy and worker.take() is None
        assert not worker.submit(image, slow_full_range)  # still busy: the frame goes on without a new pass
        release.set()
        for _ in range(500):
            result = worker.take()
            if result is not None:
                break
            threading.Event().wait(0.01)
        assert result is not None and result.boxes.tolist() == [[10, 10, 60, 60]]
        assert seen == [0] and worker.take() is None  # a result is handed over once
        assert worker.submit(image, slow_full_range)
    finally:
        release.set()
        worker.close()
    assert not worker._thread.is_alive()


def test_a_pass_queued_with_a_frame_starts_once_the_frame_is_done_or_at_the_next_frame():
    # Begun at once, a pass competed with the rest of its frame for the interpreter lock (PassWorker).
    det, _, full = scheduled(background=True)
    image = np.full((480, 640, 3), 90, np.uint8)
    started = threading.Event()
    counted = full.detect

    def full_range(tile, min_score):
        started.set()
        return counted(tile, min_score)

    full.detect = full_range
    try:
        det.detect(image, (), 0.0)  # the first frame queues a full-range pass
        assert det.worker.busy  # queued: the next frame submits nothing more
        assert not started.wait(0.3)  # not begun while the frame is still being read, tracked and drawn
        det.frame_done()
        assert started.wait(5)
        wait_for(lambda: not det.worker.busy)
        started.clear()
        det.detect(image, (), 1 + FULL_RANGE_IDLE_SECONDS)  # due again; the caller never says the frame is done
        assert not started.wait(0.3)
        det.detect(image, (), 1.1 + FULL_RANGE_IDLE_SECONDS)  # … so it begins with the next frame
        assert started.wait(5)
    finally:
        det.close()


def test_after_a_cut_a_run_started_on_the_old_picture_hands_over_nothing():
    release, started = threading.Event(), threading.Event()

    def slow_pass(image):
        started.set()
        release.wait()
        return raw((10, 10, 60, 60))

    worker = PassWorker(background=True)
    try:
        image = np.zeros((8, 8, 3), np.uint8)
        assert worker.submit(image, slow_pass)
        worker.start()
        assert started.wait(5)
        worker.forget()  # the next photo: the run still going looked at the last one
        release.set()
        wait_for(lambda: not worker.busy)
        assert worker.take() is None
        assert worker.submit(image, lambda im: raw((1, 1, 9, 9)))
        worker.start()
        wait_for(lambda: not worker.busy)
        worker.forget()  # a finished run not taken yet is dropped as well
        assert worker.take() is None
        assert worker.submit(image, lambda im: raw((1, 1, 9, 9)))
        worker.forget()  # a run queued but not begun is dropped unrun: the next frame may queue its own
        assert not worker.busy and worker.submit(image, lambda im: raw((2, 2, 9, 9)))
        worker.start()
        wait_for(lambda: not worker.busy)
        assert worker.take().boxes.tolist() == [[2, 2, 9, 9]]
    finally:
        release.set()
        worker.close()


def test_the_next_photo_shows_no_face_of_the_last_one():
    # A folder slideshow in the live mirror: the full-range pass on the group photo finishes beside
    # the frame path; the blank photo after the cut must not get its faces.
    photo, _ = group(3, frame=(1280, 720), face_px=60)
    blank = np.full_like(photo, 128)
    pipeline = build_pipeline(Config(), background=True)
    try:
        pipeline.process(frame_from_bgr(photo, 0, timestamp=0.0))
        pipeline.frame_done()
        wait_for(lambda: not pipeline.detector.worker.busy)
        analysis = pipeline.process(frame_from_bgr(blank, 1, timestamp=0.1, cut=True))
        assert analysis.tracks == []
    finally:
        pipeline.close()


def test_the_live_mirror_runs_full_range_in_the_background_and_files_in_line():
    live, offline = build_pipeline(Config(), background=True), build_pipeline(Config())
    try:
        assert isinstance(live.detector, ScheduledDetector) and live.detector.worker._thread is not None
        assert isinstance(offline.detector, ScheduledDetector) and offline.detector.worker._thread is None
        assert isinstance(build_pipeline(Config(detector=DetectorConfig(range="both"))).detector, BlazeFaceDetector)
    finally:
        live.close()
        offline.close()
    assert not live.detector.worker._thread.is_alive()


def test_a_crop_is_1_6_faces_square_around_the_face_and_stays_in_the_frame():
    shape = (480, 640, 3)
    assert _roi((100, 100, 140, 160), shape) == (72, 82, 168, 178)  # 1.6 × the face's longer side, centred
    assert _roi((0, 0, 40, 40), shape) == (0, 0, 52, 52)  # cut at the top-left corner
    assert _roi((610, 450, 650, 490), shape) == (598, 438, 640, 480)  # … and at the bottom-right
    assert _roi((100, 100, 115, 115), shape) == (95, 95, 119, 119)  # exactly MIN_ROI (24 px) wide: still used
    assert _roi((10, 10, 24, 24), shape) is None  # a 23-px crop is too small even for the 64-px model
    assert _roi((630, 200, 660, 230), shape) is None  # cut off at the right: 19 px wide
    assert _roi((200, 470, 230, 500), shape) is None  # … at the bottom: 19 px high


def test_the_live_mirror_searches_for_newcomers_beside_the_frame_path():
    near, box = close_up()
    alone = np.full((720, 1280, 3), 90, np.uint8)
    alone[120:600, :640] = near
    both = alone.copy()
    both[120:600, 640:] = near
    det, short, _, crop = scheduled_with_crops(background=True)
    try:
        # Its own interpreters: one interpreter must never run on two threads at once.
        assert det._searcher.short is not det.inner.short.model and det._searcher.wide is not det.inner.wide.model
        (first,) = det.detect(alone, (), 0.0)  # nobody tracked: the frame path searches, and finds them
        assert short.calls == 1
        frame = iter(range(1, 10_000))
        found = wait_for(lambda: (faces := det.detect(both, [first.box], next(frame) / 30)) and len(faces) == 2
                         and faces, what="the newcomer from the background search")
        assert short.calls == 1 and crop.calls > 0  # the frame path read the tracked face from its crop only
        assert max(iou(np.array([640 + box[0], 120 + box[1], 640 + box[2], 120 + box[3]], np.float32),
                       np.array([f.box for f in found], np.float32))) > 0.7
    finally:
        det.close()


def test_a_late_face_counts_as_new_up_to_the_overlap_limit():
    fresh = raw((0, 0, 10, 10))
    # Just either side of FRESH_IOU (0.3): exactly 0.3 rounds differently with each numpy and CPU.
    assert _new_only(raw((0, 0, 10, 2.9)), fresh).scores.size == 1  # overlap 0.29: another face
    assert _new_only(raw((0, 0, 10, 3.1)), fresh).scores.size == 0  # 0.31: the same face, seen late


def test_closing_gives_up_on_a_hung_full_range_pass():
    hung = threading.Event()

    def never_returns(image):
        hung.set()
        threading.Event().wait()  # a model that never comes back

    worker = PassWorker(background=True)
    worker.submit(np.zeros((8, 8, 3), np.uint8), never_returns)
    worker.start()
    assert hung.wait(5)
    closer = threading.Thread(target=worker.close)
    closer.start()
    closer.join(30)  # the app's shutdown must not hang on it (the thread is a daemon)
    assert not closer.is_alive()


def test_sensor_noise_on_a_still_dim_scene_is_not_movement():
    # A dim, empty room: every frame carries fresh sensor noise (σ 10 grey levels) over the same wall.
    # The thumbnail averages it away, so the room still costs almost nothing.
    det, short, _ = scheduled()
    rng = np.random.default_rng(1)
    wall = np.full((480, 640, 3), 90.0)
    for i in range(IDLE_EVERY + 1):
        det.detect(np.clip(wall + rng.normal(0, 10, wall.shape), 0, 255).astype(np.uint8), (), i / 30)
    assert short.calls == 1 and det.skipped == IDLE_EVERY


def test_a_picture_moving_straight_up_or_down_is_movement_too():
    # Someone on a plain wall sits down: every column of the picture holds what it held, only higher or lower.
    det, short, _ = scheduled()
    image, box = close_up()
    x0, y0, x1, y1 = (int(v) for v in box)
    head = cv2.resize(image[y0:y1, x0:x1], (200, 200))
    standing, sitting = np.full((480, 640, 3), 90, np.uint8), np.full((480, 640, 3), 90, np.uint8)
    standing[20:220, 220:420] = head
    sitting[260:460, 220:420] = head
    det.detect(standing, (), 0.0)
    det.detect(sitting, (), 1 / 30)  # too soon after the last search
    det.detect(sitting, (), 2 / 30)  # the move is still to be looked at, though nothing moved since
    assert short.calls == 2 and det.skipped == 1


def test_a_far_face_gets_its_crop_also_when_a_near_face_before_it_needs_none():
    image, boxes = group(2, frame=(1280, 720), face_px=60)  # the far face on the right
    near, box = close_up()
    image[120:600, :640] = near  # and a near one on the left, which short range finds on the whole frame
    hints = [(box[0], box[1] + 120, box[2], box[3] + 120), boxes[1]]  # where the tracker expects them
    det, short, full, crop = scheduled_with_crops(search_every=1)
    det.detect(image, (), 0.0)  # the first frame: the full-range pass finds the far face
    calls = short.calls, full.calls, crop.calls
    faces = det.detect(image, hints, 1 / 30)  # the next one has no full-range pass: crops must find it
    assert (short.calls - calls[0], full.calls - calls[1], crop.calls - calls[2]) == (1, 0, 1)  # whole frame, one crop
    assert len(faces) == 2
    for hint in hints:
        assert max(iou(np.array(hint), np.array([f.box for f in faces]))) > 0.5


def _readings(det: ScheduledDetector) -> tuple[np.ndarray, np.ndarray]:
    """A still 160-px face in 720p tracked over 12 noisy frames: its true width, and each frame's (width, tilt)."""
    image, (box,) = group(1, face_px=160)
    rng = np.random.default_rng(1)
    readings, hints = [], [box]
    for i in range(12):
        noisy = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
        (face,) = det.detect(noisy, hints, i / 30)
        readings.append((face.width, face.roll))
        hints = [face.box]
    return np.float32(box[2] - box[0]), np.array(readings)


def test_a_face_too_small_to_read_well_in_the_whole_frame_is_read_from_its_crop(monkeypatch):
    # 160 px in 720p is 16 px in the short-range model's 128-px input: found there, but read a quarter
    # too wide and tilted. A tracked face that small is read from a crop around it, where it is true;
    # mixing the two readings made a 720p clip's emojis jump by 8 % and 9 degrees from frame to frame.
    det, short, _, crop = scheduled_with_crops(search_every=1)
    true, readings = _readings(det)
    assert short.calls == crop.calls == 12  # the whole frame and the crop, every frame
    assert (np.abs(readings[:, 0] / true - 1) < 0.06).all() and (np.abs(readings[:, 1]) < 6).all()
    monkeypatch.setattr("edge_emojify.detection.scheduler.COARSE_INPUT_PX", 0)  # the whole-frame reading instead
    _, coarse = _readings(scheduled_with_crops(search_every=1)[0])
    assert (np.abs(coarse[:, 0] / true - 1) > 0.15).all()


def test_a_crop_stays_put_while_its_face_is_near_and_two_faces_never_share_one():
    last = [(100, 100, 200, 200), (300, 100, 400, 200)]
    step = int(ROI_HOLD * 100)
    assert _held((100 + step, 100 - step, 200 + step, 200 - step), list(last)) == last[0]  # within reach
    assert _held((100 + step + 1, 100, 200 + step + 1, 200), list(last)) == (101 + step, 100, 201 + step, 200)
    assert _held((100, 100, 200 + 2 * step, 200 + 2 * step), list(last)) == (100, 100, 200 + 2 * step, 200 + 2 * step)
    taken = list(last)
    assert _held((101, 100, 201, 200), taken) == last[0] and _held((99, 100, 199, 200), taken) == (99, 100, 199, 200)


@pytest.mark.parametrize("search_every", [1, SEARCH_EVERY])
def test_a_still_far_face_under_sensor_noise_keeps_its_box_and_tilt(search_every, monkeypatch):
    # Its crop is placed by the last reading; moved with every reading, the noise of one reading fed
    # the next and the box trembled by 1.3 % of the face and 1 degree from frame to frame.
    image, (box,) = group(1, frame=(1280, 720), face_px=60)
    det = scheduled_with_crops(search_every=search_every)[0]
    rng = np.random.default_rng(1)
    readings, hints = [], [box]
    for i in range(20):
        noisy = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
        (face,) = det.detect(noisy, hints, i / 30)
        readings.append(((face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2, face.roll))
        hints = [face.box]
    steps = np.abs(np.diff(np.array(readings), axis=0)).mean(axis=0)
    assert np.hypot(steps[0], steps[1]) < 0.006 * 60 and steps[2] < 0.7


def test_find_near_reads_the_face_around_a_box_of_another_frame_and_leaves_the_held_crops():
    det, short, full, crop = scheduled_with_crops()
    face, box = close_up()
    det.detect(face, (), 0.0)
    det.detect(face, (box,), 1 / 30)
    held = list(det._rois)
    moved = (box[0] + 6, box[1] + 4, box[2] + 6, box[3] + 4)  # where it was a frame later
    found = det.find_near(face, moved)
    assert found is not None and iou(np.array(box, np.float32), np.array([found.box], np.float32))[0] > 0.7
    assert det._rois == held and crop.calls >= 2
    wall = np.full_like(face, 90)
    assert det.find_near(wall, box) is None  # nobody there
    w = box[2] - box[0]
    aside = (box[0] + 0.9 * w, box[1], box[2] + 0.9 * w, box[3])
    found_aside = det.find_near(face, aside)  # the face is in the crop, but not where a face a frame away would be
    assert found_aside is None
