"""The source supervisor: a camera is retried on its schedule, a file fails once, the tracker starts over."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FlakySource

from edge_emojify.capture import RETRYING, SourceSupervisor
from edge_emojify.errors import UserError
from edge_emojify.sources.base import SourceError

IMAGES = [np.full((48, 64, 3), 90, np.uint8)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def supervisor(opens: list, *, is_file: bool = False, clock=None, closed=None) -> SourceSupervisor:
    queue = list(opens)

    def open_source():
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return SourceSupervisor(open_source, is_file=is_file, threaded=False, timeout=1.0, clock=clock or Clock(),
                            on_close=(lambda: closed.append(True)) if closed is not None else (lambda: None))


def test_a_camera_that_fails_to_open_is_retried_on_the_backoff_schedule():
    clock, closed = Clock(), []
    camera = FlakySource(IMAGES)
    sup = supervisor([SourceError("busy"), SourceError("busy"), camera], clock=clock, closed=closed)
    assert sup.read() is RETRYING and sup.retry.failures == 1
    clock.now = 0.49
    assert sup.read() is RETRYING and sup.retry.failures == 1  # not due yet: no attempt made
    clock.now = 0.5
    assert sup.read() is RETRYING and sup.retry.failures == 2  # second attempt, now 1 s to wait
    clock.now = 1.5
    frame = sup.read()
    assert frame is not RETRYING and frame.image.shape == (48, 64, 3) and sup.source is camera
    assert sup.retry.failures == 0 and sup.fps == camera.fps and closed == []


def test_a_lost_camera_is_closed_counted_and_reopened_and_the_tracker_told():
    clock, closed = Clock(), []
    first, second = FlakySource(IMAGES, ["frame", "error"]), FlakySource(IMAGES)
    sup = supervisor([first, second], clock=clock, closed=closed)
    assert sup.read() is not RETRYING
    assert sup.read() is RETRYING and sup.losses == 1 and first.closed.is_set() and closed == [True]
    assert sup.source is None and sup.fps is None
    clock.now = 0.5
    assert sup.read() is not RETRYING and sup.source is second


@pytest.mark.parametrize("failure", ["open", "read"])
def test_a_file_that_fails_is_a_one_line_error_not_a_retry(failure):
    opens = [SourceError("cannot decode video x.mp4")] if failure == "open" else [FlakySource(IMAGES, ["error"])]
    sup = supervisor(opens, is_file=True)
    with pytest.raises(UserError, match="device disconnected|cannot decode"):
        sup.read()


def test_the_end_of_a_file_is_none_and_close_is_safe_twice():
    class OneFrame(FlakySource):
        def read(self):
            return None if self.reads else super().read()

    closed = []
    sup = supervisor([OneFrame(IMAGES)], is_file=True, closed=closed)
    assert sup.read() is not None and sup.read() is None
    sup.close()
    sup.close()
    assert closed == [True, True] and sup.source is None
