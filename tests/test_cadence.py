"""Which faces the emotion model reads on a frame: at most ``max_rate`` a second each, shared evenly."""

from __future__ import annotations

import pytest

from edge_emojify.cadence import Cadence


def replay(cadence: Cadence, faces: int, fps: float, frames: int) -> list[list[int]]:
    """The faces read on each frame when ``faces`` faces stay in view from the first frame."""
    last: list[float | None] = [None] * faces
    read = []
    for i in range(frames):
        now = i / fps
        due = cadence.due(last, now)
        for f in due:
            last[f] = now
        read.append(due)
    return read


def test_two_faces_at_30_fps_are_read_one_on_each_frame_in_turn():
    read = replay(Cadence(15), faces=2, fps=30, frames=9)
    assert read[0] == [0, 1]  # both are new: read at once
    assert read[1:] == [[0], [1], [0], [1], [0], [1], [0], [1]]


def test_one_face_at_30_fps_is_read_on_every_other_frame():
    assert replay(Cadence(15), faces=1, fps=30, frames=7) == [[0], [], [0], [], [0], [], [0]]


@pytest.mark.parametrize("fps", [10, 15])
def test_a_camera_at_or_below_the_rate_reads_every_face_on_every_frame(fps):
    assert replay(Cadence(15), faces=3, fps=fps, frames=6) == [[0, 1, 2]] * 6


def test_three_faces_at_30_fps_share_one_and_a_half_readings_a_frame_fairly():
    read = replay(Cadence(15), faces=3, fps=30, frames=61)[1:]
    assert [len(r) for r in read[:4]] == [1, 2, 1, 2]
    per_face = [sum(f in r for r in read) for f in range(3)]
    assert per_face == [30, 30, 30]  # 15 a second each, over the 2 s after the first frame


def test_a_new_face_is_read_on_the_frame_it_appears_whatever_the_credit():
    cadence = Cadence(15)
    cadence.due([None], 0.0)
    assert cadence.due([0.0], 1 / 30) == []
    assert cadence.due([0.0, None], 2 / 30) == [0, 1]


def test_rate_zero_reads_every_face_on_every_frame():
    assert replay(Cadence(0), faces=2, fps=60, frames=3) == [[0, 1]] * 3


def test_a_pause_saves_up_no_more_than_one_reading_per_face():
    cadence = Cadence(15)
    cadence.due([None, None], 0.0)
    assert cadence.due([0.0, 0.0], 5.0) == [0, 1]  # five seconds later: each face once, not 75 times
    assert cadence.due([5.0, 5.0], 5.0 + 1 / 30) == [0]


def test_reset_forgets_the_clock_so_a_restarted_video_starts_even():
    cadence = Cadence(15)
    replay(cadence, faces=1, fps=30, frames=3)
    cadence.reset()
    assert cadence.due([None], 0.0) == [0]
    assert cadence.due([0.0], 1 / 30) == []


def test_a_face_detected_only_on_every_other_frame_is_read_each_time_it_is_there():
    # A recording reads tracked faces 15 times a second (detector.track_rate): the frames between
    # have no face, and must not use up the credit the next reading needs.
    cadence, last, read = Cadence(15), [None, None], []
    for i in range(9):
        now = i / 30
        due = cadence.due(last if i % 2 == 0 else [], now)
        for f in due:
            last[f] = now
        read.append(due)
    assert read == [[0, 1], [], [0, 1], [], [0, 1], [], [0, 1], [], [0, 1]]
