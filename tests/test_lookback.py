"""Frames held back in a recording: which frames a face found late is covered in, and in what order
frames come out. The finder is a plain function over boxes drawn into the test's frames; the real
crop model behind it is checked in test_scheduler (``find_near``) and end to end in test_video."""

from __future__ import annotations

import numpy as np

from edge_emojify.labels import EMOTIONS
from edge_emojify.types import Face, Frame, Track, Verdict
from edge_emojify.video.lookback import MAX_WAITING_BYTES, LookBack, Waiting, frames_to_hold
from edge_emojify.video.media import Picture


def track(track_id: int, box) -> Track:
    scores = np.full(len(EMOTIONS), 1 / len(EMOTIONS), np.float32)
    verdict = Verdict("happy", scores, "happy", 0.0, 0.0, "test")
    return Track(track_id, Face(tuple(map(float, box)), np.zeros((6, 2), np.float32), 0.9), verdict, age=0)


def waiting(index: int, tracks=(), analysed: bool = True) -> Waiting:
    image = np.full((8, 8, 3), index, np.uint8)  # the frame's index, so the finder knows which frame it sees
    frame = Frame(image, image[..., 0], index / 30, index)
    return Waiting(Picture(image, index, index / 30, index), frame, list(tracks), analysed)


class Walker:
    """A face that walks in on frame ``first``, one pixel right per frame, found wherever it is."""

    def __init__(self, first: int) -> None:
        self.first, self.asked = first, []

    def box(self, index: int):
        return (10 + index, 10, 30 + index, 30)

    def __call__(self, image, near):
        index = int(image[0, 0, 0])
        self.asked.append(index)
        if index < self.first or abs(near[0] - self.box(index)[0]) > 2:
            return None
        return Face(self.box(index), np.zeros((6, 2), np.float32), 0.8)


def test_a_face_found_late_is_covered_back_to_the_frame_it_walked_in_on():
    walker = Walker(first=3)
    look = LookBack(5, walker)
    out = []
    for i in range(8):
        tracks = [track(7, walker.box(i))] if i == 6 else []  # found on frame 6
        out += look.add(waiting(i, tracks))
    out += look.drain()
    assert [w.frame.index for w in out] == list(range(8))  # every frame, in order
    assert walker.asked == [5, 4, 3, 2]  # newest first, until it is not there
    assert [[t.face.box for t in w.found_late] for w in out[3:6]] == [[walker.box(i)] for i in (3, 4, 5)]
    assert all(t.track_id == 7 and t.label == "happy" for w in out[3:6] for t in w.found_late)
    assert [len(w.covered) for w in out] == [0, 0, 0, 1, 1, 1, 1, 0] and look.found == 3


def test_frames_come_out_once_the_hold_is_full_and_a_seen_face_is_not_looked_back_for():
    walker = Walker(first=0)
    look = LookBack(2, walker)
    ready = [len(look.add(waiting(i, [track(1, walker.box(i))] if i else []))) for i in range(5)]
    assert ready == [0, 0, 1, 1, 1]
    assert walker.asked == [0]  # looked back once, when track 1 first came; frame 0 was the only one waiting


def test_looking_back_stops_at_a_frame_where_the_face_was_covered_or_not_analysed():
    walker = Walker(first=0)
    look = LookBack(6, walker)
    look.add(waiting(0))
    look.add(waiting(1, analysed=False))  # a bad frame: drawn as it came
    look.add(waiting(2, [track(1, walker.box(2))]))  # tracked here, then lost
    look.add(waiting(3))
    look.add(waiting(4, [track(2, walker.box(4))]))  # found again as a new track
    assert walker.asked == [3]  # frame 2 already covers it; frame 1 stops the first look back
    held = look.drain()
    assert [len(w.found_late) for w in held] == [0, 0, 0, 1, 0]


def test_without_a_finder_nothing_is_held():
    look = LookBack(8, None)
    assert [w.frame.index for w in look.add(waiting(0))] == [0]


def test_frames_to_hold_covers_the_longer_of_the_two_searches_within_the_memory_bound():
    assert frames_to_hold(30, 8, 1280 * 720 * 3) == 8
    assert frames_to_hold(60, 8, 1280 * 720 * 3) == 15  # the full-range pass: a quarter second
    assert frames_to_hold(30, 12, 100) == 12
    assert frames_to_hold(30, 8, MAX_WAITING_BYTES // 3) == 3
    assert frames_to_hold(30, 8, 2 * MAX_WAITING_BYTES) == 1
