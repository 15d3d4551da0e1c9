"""Frames held back in a recording: which frames a face found late is covered in, and in what order
frames come out. The finder is a plain function over boxes drawn into the test's frames; the real
crop model behind it is checked in test_scheduler (``find_near``) and end to end in test_video."""

from __future__ import annotations

import numpy as np
import pytest

from edge_emojify.labels import EMOTIONS
from edge_emojify.types import Face, Frame, Track, Verdict
from edge_emojify.video.coverage import Coverage
from edge_emojify.video.lookback import MAX_WAITING_BYTES, LookBack, Waiting, frames_to_hold
from edge_emojify.video.media import Picture


def track(track_id: int, box, missed: int = 0, seen: float = 0.0) -> Track:
    scores = np.full(len(EMOTIONS), 1 / len(EMOTIONS), np.float32)
    verdict = Verdict("happy", scores, "happy", 0.0, 0.0, "test")
    keypoints = np.tile(np.float32(box[:2]), (6, 1))  # where the box is, so placing them shows too
    return Track(track_id, Face(tuple(map(float, box)), keypoints, 0.9), verdict, 0, missed, seen)


def read_on(index: int, track_id: int, box) -> Track:
    """A face read on frame ``index``."""
    return track(track_id, box, seen=index / 30)


def guessed_on(index: int, track_id: int, box, last_read: int) -> Track:
    """A face not read on frame ``index``, where the tracker guessed it; last read on ``last_read``."""
    return track(track_id, box, missed=index - last_read, seen=last_read / 30)


def waiting(index: int, tracks=(), analysed: bool = True, cut: bool = False) -> Waiting:
    image = np.full((8, 8, 3), index, np.uint8)  # the frame's index, so the finder knows which frame it sees
    frame = Frame(image, image[..., 0], index / 30, index, cut=cut)
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


def test_looking_back_stops_at_the_cut_that_began_the_faces_shot():
    # The finder would find a face at that place in every frame; frames before the cut on frame 3
    # show another shot, and a face found on a cut's own frame has no earlier frame of its shot.
    for found_on, asked in ((6, [5, 4, 3]), (3, [])):
        walker = Walker(first=0)
        look = LookBack(6, walker)
        out = []
        for i in range(8):
            out += look.add(waiting(i, [track(7, walker.box(i))] if i == found_on else [], cut=i == 3))
        out += look.drain()
        assert walker.asked == asked
        assert [len(w.covered) for w in out] == [int(3 <= i <= found_on) for i in range(8)]


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


def through(look: LookBack, frames: list[Waiting]) -> list[Waiting]:
    """Every frame through ``look``, in the order they come out."""
    return [w for f in frames for w in look.add(f)] + look.drain()


def counted(out: list[Waiting]) -> tuple[int, int, int]:
    """What the coverage line says of these frames: placed, guessed, longest guessed gap."""
    coverage = Coverage()
    for w in out:
        coverage.add(w.covered, w.frame.timestamp, bridged=w.bridged)
    return coverage.bridged_frames, coverage.predicted_frames, coverage.longest_gap


def test_a_face_not_read_on_some_frames_is_placed_between_its_readings_by_their_times():
    # Read on frames 0 and 3, guessed (far off) on 1 and 2; another face is read on every frame.
    look = LookBack(4, lambda image, near: None)
    a, b, guess, other = (10, 10, 30, 30), (16, 13, 40, 37), (60, 60, 80, 80), (100, 0, 120, 20)
    frames = [waiting(0, [read_on(0, 7, a), read_on(0, 8, other)]),
              waiting(1, [guessed_on(1, 7, guess, 0), read_on(1, 8, other)]),
              waiting(2, [guessed_on(2, 7, guess, 0), read_on(2, 8, other)]),
              waiting(3, [read_on(3, 7, b), read_on(3, 8, other)])]
    out = through(look, frames)
    placed = [w.tracks[0].face for w in out]
    for i, share in ((1, 1 / 3), (2, 2 / 3)):
        expected = np.add(a, share * np.subtract(b, a))
        assert placed[i].box == pytest.approx(tuple(expected))
        assert placed[i].keypoints[0] == pytest.approx(expected[:2])
        assert out[i].tracks[0].missed == i  # still not a reading of its own
    assert [placed[0].box, placed[3].box] == [a, b] and all(w.tracks[1].face.box == other for w in out)
    assert [w.bridged for w in out] == [set(), {7}, {7}, set()]

    assert counted(out) == (2, 0, 0)


def test_a_frame_drawn_before_the_face_was_read_again_keeps_the_guess():
    # Held two frames: frame 1 is drawn before the face is read again on frame 4, frames 2-3 are not.
    look = LookBack(2, lambda image, near: None)
    a, b, guess = (10, 10, 30, 30), (22, 10, 42, 30), (12, 10, 32, 30)
    frames = [waiting(0, [read_on(0, 7, a)])] + [waiting(i, [guessed_on(i, 7, guess, 0)]) for i in (1, 2, 3)] \
        + [waiting(4, [read_on(4, 7, b)])]
    out = through(look, frames)
    assert [w.tracks[0].face.box[0] for w in out] == pytest.approx([10, 12, 16, 19, 22])
    assert [w.bridged for w in out] == [set(), set(), {7}, {7}, set()]
    assert counted(out) == (2, 1, 1)


def test_placing_between_readings_stops_at_a_frame_that_was_not_analysed():
    look = LookBack(5, lambda image, near: None)
    a, b, guess = (10, 10, 30, 30), (20, 10, 40, 30), (11, 10, 31, 30)
    for f in (waiting(0, [read_on(0, 7, a)]), waiting(1, [guessed_on(1, 7, guess, 0)]), waiting(2, analysed=False),
              waiting(3, [guessed_on(3, 7, guess, 0)]), waiting(4, [read_on(4, 7, b)])):
        look.add(f)
    out = look.drain()
    assert [w.bridged for w in out] == [set(), set(), set(), {7}, set()]
    assert out[1].tracks[0].face.box == guess and out[3].tracks[0].face.box[0] == pytest.approx(17.5)
