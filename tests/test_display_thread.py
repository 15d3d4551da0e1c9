"""The screen in a thread of its own: the loop never waits for it, and nothing of it is lost or raced.

Fakes behave like a screen whose flip waits for the display (it blocks until the test opens a
gate); every wait is for a condition (``waits.wait_for``), never for a time.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from waits import wait_for

from edge_emojify.config import DisplayConfig
from edge_emojify.controls import NEXT, QUIT
from edge_emojify.sinks import open_sink
from edge_emojify.sinks.base import SinkError
from edge_emojify.sinks.files import VideoSink
from edge_emojify.sinks.threaded import DisplayThread


class GatedScreen:
    """A screen whose ``show`` waits at a gate (a page flip waiting for the display), recording
    what it showed and on which thread each call came."""

    name = "gated"

    def __init__(self, events: list[str] | None = None, fail_on_show: int = 0) -> None:
        self.size = (4, 3)
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)
        self.shown: list[np.ndarray] = []
        self.events = list(events or [])
        self.fail_on_show = fail_on_show
        self.threads = {"open": threading.get_ident()}
        self.closed = False

    def show(self, image: np.ndarray) -> None:
        self.threads["show"] = threading.get_ident()
        self.entered.release()
        self.gate.wait()
        if self.fail_on_show and len(self.shown) + 1 == self.fail_on_show:
            raise SinkError("the window was closed")
        self.shown.append(image.copy())

    def poll(self) -> list[str]:
        self.threads["poll"] = threading.get_ident()
        events, self.events = self.events, []
        return events

    def close(self) -> None:
        self.threads["close"] = threading.get_ident()
        self.closed = True


def frame(value: int) -> np.ndarray:
    return np.full((3, 4, 3), value, np.uint8)


def test_the_loop_hands_frames_over_without_waiting_and_the_newest_wins():
    screen = GatedScreen()
    display = DisplayThread(lambda: screen)
    try:
        first = frame(1)
        display.show(first)
        assert screen.entered.acquire(timeout=10)  # the screen is busy with the first frame ...
        display.show(frame(2))  # ... and the loop goes on: these return at once, the gate still shut
        display.show(frame(3))  # a newer frame replaces the one that has not been shown
        first[:] = 9  # the renderer reuses its canvas: the screen has its own copy
        assert display.dropped == 1 and display.shown == 0
        screen.gate.set()
        wait_for(lambda: display.shown == 2)
        assert [int(s[0, 0, 0]) for s in screen.shown] == [1, 3]
    finally:
        screen.gate.set()
        display.close()
    assert screen.closed


def test_the_screen_is_opened_shown_polled_and_closed_on_one_thread_not_the_loops():
    # SDL wants its video calls and its event pump on the thread that opened the display.
    screen_box = []

    def open_screen():
        screen_box.append(GatedScreen())
        return screen_box[0]

    display = DisplayThread(open_screen)
    screen = screen_box[0]
    screen.gate.set()
    display.show(frame(1))
    wait_for(lambda: display.shown == 1 and "poll" in screen.threads)
    display.close()
    assert len(set(screen.threads.values())) == 1 and set(screen.threads) == {"open", "show", "poll", "close"}
    assert screen.threads["open"] != threading.get_ident()


def test_window_events_are_pumped_by_the_screen_thread_and_handed_to_the_loop_once():
    screen = GatedScreen(events=[NEXT, QUIT])
    display = DisplayThread(lambda: screen)  # no frame at all: events are still read
    try:
        assert wait_for(lambda: display.poll() or None) == [NEXT, QUIT]
        assert display.poll() == []
    finally:
        display.close()


def test_a_screen_error_is_raised_in_the_loop_by_the_next_call():
    screen = GatedScreen(fail_on_show=1)
    screen.gate.set()
    display = DisplayThread(lambda: screen)
    display.show(frame(1))
    with pytest.raises(SinkError, match="window was closed"):
        wait_for(lambda: display.poll() and False)  # poll raises once the thread has failed
    with pytest.raises(SinkError, match="window was closed"):
        display.show(frame(2))
    wait_for(lambda: screen.closed)  # the thread closed what it opened
    display.close()


def test_a_display_that_cannot_open_fails_as_it_would_without_the_thread():
    def no_display():
        raise SinkError("cannot open the display (no KMS)")

    with pytest.raises(SinkError, match="no KMS"):
        DisplayThread(no_display)


def test_the_live_mirror_shows_screens_from_their_own_thread_and_writes_files_in_the_loop(tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pytest.importorskip("pygame")
    window = open_sink(DisplayConfig(sink="window"), (64, 48), 30.0, threaded=True)
    try:
        assert isinstance(window, DisplayThread) and window.size == (64, 48)
        window.show(np.zeros((48, 64, 3), np.uint8))  # a real pygame window, SDL's dummy driver
        wait_for(lambda: window.shown == 1)
        assert window.poll() == []
    finally:
        window.close()
    video = open_sink(DisplayConfig(sink="video", output=str(tmp_path / "out.mp4")), (64, 48), 30.0, threaded=True)
    try:
        assert isinstance(video, VideoSink)  # every frame, in order
    finally:
        video.close()
    unthreaded = open_sink(DisplayConfig(sink="window"), (64, 48), 30.0)
    try:
        assert not isinstance(unthreaded, DisplayThread)
    finally:
        unthreaded.close()


def test_the_mirror_runs_with_its_window_in_a_thread_and_stops_it(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pytest.importorskip("pygame")
    from edge_emojify.app import App
    from edge_emojify.config import Config, SourceConfig

    shown = []
    real_show = DisplayThread.show
    monkeypatch.setattr(DisplayThread, "show", lambda self, image: (shown.append(self), real_show(self, image)))
    app = App(Config(source=SourceConfig(kind="sample"), display=DisplayConfig(sink="window")))
    assert app.run(max_frames=5) == 0
    assert app.frames == 5 and len(shown) >= 5 and isinstance(shown[0], DisplayThread)
    assert not any(t.name == "display" and t.is_alive() for t in threading.enumerate())
