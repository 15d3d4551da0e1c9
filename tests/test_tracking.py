"""Identity, smoothing and hysteresis: the emoji must follow a face and never flicker."""

from __future__ import annotations

import numpy as np

from edge_emojify.config import TrackingConfig
from edge_emojify.tracking import Tracker
from edge_emojify.types import Face

HAPPY, SAD, NEUTRAL = 3, 4, 6


def face(x: float, y: float, size: float = 100) -> Face:
    kps = np.array([[x + 0.3 * size, y + 0.4 * size], [x + 0.7 * size, y + 0.4 * size]] + [[x, y]] * 4)
    return Face((x, y, x + size, y + size), kps, 0.9)


def scores(label: int, p: float = 0.8) -> np.ndarray:
    s = np.full(7, (1 - p) / 6, np.float32)
    s[label] = p
    return s


def test_identities_stay_stable_while_two_faces_move_and_cross_paths():
    tracker = Tracker(TrackingConfig())
    ids_a, ids_b = set(), set()
    for t in range(60):
        a = face(50 + 6 * t, 100)  # moves right
        b = face(450 - 6 * t, 130)  # moves left, passes near a around t=33
        tracks = tracker.update([a, b], np.stack([scores(HAPPY), scores(SAD)]))
        assert len(tracks) == 2
        for tr in tracks:
            (ids_a if tr.face is a else ids_b).add(tr.track_id)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_a_fast_move_keeps_identity():
    tracker = Tracker(TrackingConfig())
    first = tracker.update([face(100, 100)], scores(HAPPY)[None])[0].track_id
    moved = tracker.update([face(140, 110)], scores(HAPPY)[None])[0]  # 40 % of the face: IoU < 0.5
    assert moved.track_id == first


def test_smoothing_removes_one_and_two_frame_flips():
    tracker = Tracker(TrackingConfig())
    labels = []
    for t in range(40):
        s = scores(SAD, 0.9) if t in (10, 20, 21) else scores(HAPPY, 0.7)
        labels.append(tracker.update([face(100, 100)], s[None])[0].label)
    assert set(labels) == {HAPPY}


def test_a_lasting_change_gets_through_after_a_few_frames():
    tracker = Tracker(TrackingConfig())
    for _ in range(10):
        tracker.update([face(100, 100)], scores(HAPPY)[None])
    labels = [tracker.update([face(100, 100)], scores(SAD)[None])[0].label for _ in range(15)]
    switch = labels.index(SAD)
    assert 1 <= switch <= 6
    assert all(label == SAD for label in labels[switch:])


def test_hysteresis_holds_the_label_when_two_classes_are_close():
    tracker = Tracker(TrackingConfig(hysteresis=0.12))
    tracker.update([face(0, 0)], scores(NEUTRAL, 0.5)[None])
    close = np.full(7, 0.02, np.float32)
    close[NEUTRAL], close[HAPPY] = 0.41, 0.49  # happy leads by 0.08 < hysteresis
    labels = {tracker.update([face(0, 0)], close[None])[0].label for _ in range(30)}
    assert labels == {NEUTRAL}


def test_tracks_survive_short_gaps_and_expire_when_the_face_leaves():
    tracker = Tracker(TrackingConfig(max_missed=3))
    tid = tracker.update([face(100, 100)], scores(HAPPY)[None])[0].track_id
    for missed in (1, 2, 3):
        (track,) = tracker.update([], np.zeros((0, 7)))
        assert track.track_id == tid and track.missed == missed
    assert tracker.update([], np.zeros((0, 7))) == []
    assert tracker.update([face(100, 100)], scores(HAPPY)[None])[0].track_id != tid


def test_largest_face_comes_first():
    tracker = Tracker(TrackingConfig())
    tracks = tracker.update([face(0, 0, 50), face(300, 0, 150)], np.stack([scores(SAD), scores(HAPPY)]))
    assert tracks[0].face.width == 150
