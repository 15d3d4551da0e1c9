"""Identity across frames and track expiry in seconds: the emoji follows a face and never blinks."""

from __future__ import annotations

import numpy as np
import pytest

from edge_emojify.config import DecisionConfig, TrackingConfig
from edge_emojify.decision import Decider
from edge_emojify.tracking import Tracker
from edge_emojify.types import Face

HAPPY, SAD = 3, 4


def face(x: float, y: float, size: float = 100) -> Face:
    kps = np.array([[x + 0.3 * size, y + 0.4 * size], [x + 0.7 * size, y + 0.4 * size]] + [[x, y]] * 4)
    return Face((x, y, x + size, y + size), kps, 0.9)


def scores(label: int, p: float = 0.8) -> np.ndarray:
    s = np.full(7, (1 - p) / 6, np.float32)
    s[label] = p
    return s


def tracker(**kw) -> Tracker:
    return Tracker(TrackingConfig(**kw), Decider(DecisionConfig()))


def test_identities_stay_stable_while_two_faces_move_and_cross_paths():
    tr = tracker()
    ids_a, ids_b = set(), set()
    for t in range(60):
        a = face(50 + 6 * t, 100)  # moves right
        b = face(450 - 6 * t, 130)  # moves left, passes near a around t=33
        tracks = tr.update([a, b], np.stack([scores(HAPPY), scores(SAD)]), t / 30)
        assert len(tracks) == 2
        for track in tracks:
            (ids_a if track.face is a else ids_b).add(track.track_id)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_a_fast_move_keeps_identity():
    tr = tracker()
    first = tr.update([face(100, 100)], scores(HAPPY)[None], 0.0)[0].track_id
    moved = tr.update([face(140, 110)], scores(HAPPY)[None], 0.033)[0]  # 40 % of the face: IoU < 0.5
    assert moved.track_id == first


def test_each_track_carries_its_own_verdict():
    tr = tracker()
    for t in range(30):
        tracks = tr.update([face(0, 0), face(300, 0, 90)], np.stack([scores(HAPPY), scores(SAD)]), t / 30)
    assert [t.label for t in tracks] == ["happy", "sad"]


@pytest.mark.parametrize("sightings,expire", [(2, 0.4), (1, 0.1)])
def test_tracks_survive_gaps_shorter_than_expire_seconds_at_any_frame_rate(sightings, expire):
    # A face found on two frames keeps its emoji expire_seconds; one found on a single frame (a
    # shadow, a poster, a face that has moved on) single_expire_seconds.
    for fps in (10, 30):
        tr = tracker(expire_seconds=0.4, single_expire_seconds=0.1)
        for i in range(sightings):
            tid = tr.update([face(100, 100)], scores(HAPPY)[None], i / fps)[0].track_id
        seen, t, missed = (sightings - 1) / fps, 0.0, 0
        while True:
            missed += 1
            t = seen + missed / fps
            tracks = tr.update([], np.zeros((0, 7)), t)
            if t - seen > expire + 1e-9:
                assert tracks == [], fps
                break
            assert [(k.track_id, k.missed, k.label) for k in tracks] == [(tid, missed, "happy")]
        assert tr.update([face(100, 100)], scores(HAPPY)[None], t + 0.01)[0].track_id != tid


def test_a_face_found_once_and_again_after_a_gap_keeps_the_longer_expiry():
    tr = tracker(expire_seconds=0.4, single_expire_seconds=0.1)
    tid = tr.update([face(100, 100)], scores(HAPPY)[None], 0.0)[0].track_id
    tr.update([], np.zeros((0, 7)), 1 / 30)
    tr.update([face(101, 100)], scores(HAPPY)[None], 2 / 30)  # found again: no longer a single sighting
    assert [t.track_id for t in tr.update([], np.zeros((0, 7)), 2 / 30 + 0.3)] == [tid]


def test_a_returning_face_keeps_its_emoji_through_a_dropped_detection():
    tr = tracker()
    for t in range(20):
        tr.update([face(100, 100)], scores(HAPPY)[None], t / 30)
    tr.update([], np.zeros((0, 7)), 20 / 30)
    (track,) = tr.update([face(102, 101)], scores(HAPPY)[None], 21 / 30)
    assert track.label == "happy" and track.age == 22 and track.missed == 0


def test_largest_face_comes_first():
    tr = tracker()
    tracks = tr.update([face(0, 0, 50), face(300, 0, 150)], np.stack([scores(SAD), scores(HAPPY)]), 0.0)
    assert tracks[0].face.width == 150


def test_a_fast_move_without_enough_overlap_keeps_identity_by_its_centre():
    tr = tracker(match_iou=0.5)
    first = tr.update([face(100, 100)], scores(HAPPY)[None], 0.0)[0].track_id
    tracks = tr.update([face(140, 110)], scores(HAPPY)[None], 0.1)  # IoU 0.37, centre 41 px away
    assert [(t.track_id, t.missed) for t in tracks] == [(first, 0)]


def test_someone_else_appearing_as_a_face_is_lost_gets_a_new_track():
    # One person leaves and another, elsewhere or of another size, enters: a new emoji, not the old one moved.
    for new in (face(400, 100), face(200, 100), face(130, 130, 40)):  # far, a face-width away, much smaller
        tr = tracker()
        tr.update([face(100, 100)], scores(HAPPY)[None], -0.05)
        first = tr.update([face(100, 100)], scores(HAPPY)[None], 0.0)[0].track_id
        ids = [t.track_id for t in tr.update([new], scores(SAD)[None], 0.1)]
        assert len(ids) == 2 and first in ids, new.box  # the old track waits out expire_seconds


def test_a_face_keeps_the_track_it_overlaps_not_a_neighbour_whose_centre_is_near():
    tr = tracker()
    adult, child = face(100, 100), face(167, 129, 62)  # side by side, boxes touching
    ids = {t.face.box: t.track_id for t in tr.update([adult, child], np.stack([scores(HAPPY), scores(SAD)]), 0.0)}
    tracks = tr.update([face(104, 102)], scores(HAPPY)[None], 0.1)  # the child is missed this frame
    assert {t.track_id: t.missed for t in tracks} == {ids[adult.box]: 0, ids[child.box]: 1}


def test_a_missed_face_moves_on_at_its_velocity_and_no_farther_than_half_its_width():
    tr = tracker(expire_seconds=1.0)
    for i in range(10):  # 3 px right and 1 px down a frame at 30 fps: 90 and 30 px/s
        tr.update([face(100 + 3 * i, 50 + i)], scores(HAPPY)[None], i / 30)
    last = face(127, 59)
    missed = tr.update([], np.zeros((0, 7)), 12 / 30)[0]  # three frames on, nothing detected
    assert missed.missed == 1 and missed.seen == 9 / 30
    np.testing.assert_allclose(missed.face.box, np.array(last.box) + [9, 3, 9, 3], atol=0.3)
    np.testing.assert_allclose(missed.face.keypoints, last.keypoints + [9, 3], atol=0.3)
    assert (missed.face.width, missed.face.height) == (100, 100)  # the size is not extrapolated
    far = tr.update([], np.zeros((0, 7)), 1.2)[0]  # 0.9 s later it would be 85 px away: held at 50
    shift = np.array(far.face.box[:2]) - last.box[:2]
    assert np.hypot(*shift) == pytest.approx(50)
    assert shift[0] / shift[1] == pytest.approx(3, abs=0.05)  # on its heading
    back = tr.update([face(200, 80)], scores(HAPPY)[None], 1.25)[0]  # found again where it really is
    assert back.track_id == missed.track_id and back.face.box == (200, 80, 300, 180)


def test_the_detector_looks_for_a_moving_face_where_it_should_be_now():
    # The hint for the next frame's crop: the last detection moved on at its velocity for the time since.
    tr = tracker()
    for i in range(10):  # 3 px right and 1 px down a frame at 30 fps
        tr.update([face(100 + 3 * i, 50 + i)], scores(HAPPY)[None], i / 30)
    (hint,) = tr.expected(11 / 30)  # two frames after the last detection
    np.testing.assert_allclose(hint, np.array(face(127, 59).box) + [6, 2, 6, 2], atol=0.3)


def test_a_new_or_still_face_is_not_predicted_to_move():
    tr = tracker()
    tr.update([face(100, 100)], scores(HAPPY)[None], 0.0)
    assert tr.update([], np.zeros((0, 7)), 0.1)[0].face.box == (100, 100, 200, 200)
    tr = tracker()
    for i in range(5):
        tr.update([face(100, 100)], scores(HAPPY)[None], i / 30)
    assert tr.update([], np.zeros((0, 7)), 0.3)[0].face.box == (100, 100, 200, 200)


def test_two_frames_with_one_timestamp_do_not_break_the_prediction():
    tr = tracker()
    tr.update([face(100, 100)], scores(HAPPY)[None], 0.5)
    tr.update([face(110, 100)], scores(HAPPY)[None], 0.5)  # a source that stamps two frames alike
    missed = tr.update([], np.zeros((0, 7)), 0.6)[0]
    assert np.isfinite(missed.face.box).all() and missed.face.box == (110, 100, 210, 200)


def test_a_face_not_read_this_frame_keeps_its_verdict_and_follows_its_box():
    tr = tracker()
    (first,) = tr.update([face(100, 100)], scores(HAPPY)[None], 0.0)
    (later,) = tr.update([face(104, 100)], [None], 1 / 30)
    assert later.track_id == first.track_id and later.verdict is first.verdict
    assert later.face.box[0] == 104 and later.missed == 0 and later.seen == 1 / 30


def test_a_new_face_without_a_reading_is_refused():
    with pytest.raises(ValueError, match="new face"):
        tracker().update([face(100, 100)], [None], 0.0)


def test_match_names_the_track_each_face_continues_and_update_uses_it():
    tr = tracker()
    (a,) = tr.update([face(0, 0)], scores(HAPPY)[None], 0.0)
    matches = tr.match([face(300, 0), face(3, 2)])
    assert matches[0] is None and matches[1].track_id == a.track_id
    tracks = tr.update([face(300, 0), face(3, 2)], [scores(SAD), None], 0.1, matches)
    assert {t.track_id for t in tracks} == {a.track_id, a.track_id + 1}
