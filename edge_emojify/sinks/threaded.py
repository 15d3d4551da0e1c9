"""A screen in a thread of its own, so that showing one frame overlaps analysing the next.

On the Pi, showing a frame is SDL's texture upload and a page flip that waits for the screen's
vertical blank: milliseconds in which the next frame's analysis could run on another core. The
loop hands each finished image over (copied into one of the thread's own buffers, so the
renderer can reuse its canvas at once; the newest image wins, as with the camera's
``LatestFrameReader``) and goes on; the thread shows it and pumps the window's events. The sink
is opened, used and closed in that one thread, because SDL wants its video calls and its event
pump on the thread that opened the display.

Only screens are wrapped: a file sink must write every frame, in order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from edge_emojify.sinks.base import Sink, SinkError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05  # with no new frame (a message screen), window events are still read this often
SPARES = 2  # buffers kept for the next images: one being filled while one waits and one is shown
OPEN_SECONDS = 10.0  # a display that takes longer to open counts as failed


class DisplayThread:
    """A :class:`~edge_emojify.sinks.base.Sink` whose ``show`` returns without waiting for the screen.

    An error of the screen (closed window, lost display) is raised by the next ``show`` or
    ``poll``, in the loop's thread, as the unwrapped sink would have raised it.
    """

    def __init__(self, open_sink: Callable[[], Sink], open_seconds: float = OPEN_SECONDS) -> None:
        self.shown = 0  # images the screen showed
        self.dropped = 0  # images replaced by a newer one before the screen was ready for them
        self._cond = threading.Condition()
        self._pending: np.ndarray | None = None  # the newest image, not yet shown
        self._spares: list[np.ndarray] = []  # buffers to copy the next images into
        self._events: list[str] = []
        self._error: BaseException | None = None
        self._closing = False
        self._sink: Sink | None = None
        opened = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(open_sink, opened), name="display", daemon=True)
        self._thread.start()
        if not opened.wait(open_seconds):
            self._closing = True
            raise SinkError(f"the display did not open within {open_seconds:g} s; check the screen and "
                            "its cable, or use display.sink = \"framebuffer\"")
        if self._sink is None:
            raise self._error  # type: ignore[misc] - the opening error, as the sink raised it
        self.name, self.size = self._sink.name, self._sink.size

    def show(self, image: np.ndarray) -> None:
        with self._cond:
            self._raise_error()
            spare = next((b for b in self._spares if b.shape == image.shape and b.dtype == image.dtype), None)
            if spare is not None:
                self._spares.remove(spare)
        buffer = spare if spare is not None else np.empty_like(image)
        np.copyto(buffer, image)  # outside the lock: the screen thread may be taking the last one
        with self._cond:
            if self._pending is not None:
                self.dropped += 1
                self._keep(self._pending)
            self._pending = buffer
            self._cond.notify_all()

    def poll(self) -> list[str]:
        with self._cond:
            self._raise_error()
            events, self._events = self._events, []
        return events

    def close(self) -> None:
        """Stop the thread, which closes the sink; a screen stuck in a flip is abandoned (a daemon)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=2.0)

    def _keep(self, buffer: np.ndarray) -> None:
        """Reuse ``buffer`` for a later image (bounded: after a change of size the old ones go)."""
        self._spares = [buffer, *self._spares][:SPARES]

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self, open_sink: Callable[[], Sink], opened: threading.Event) -> None:
        try:
            self._sink = open_sink()
        except BaseException as exc:  # noqa: BLE001 - handed to the opening thread to raise
            self._error = exc
            return
        finally:
            opened.set()
        try:
            self._show_until_closed(self._sink)
        except BaseException as exc:  # noqa: BLE001 - handed to the loop's thread to raise
            with self._cond:
                self._error = exc
        finally:
            try:
                self._sink.close()
            except Exception as exc:  # noqa: BLE001 - closing a broken screen must not stop the app
                log.debug("closing %s: %r", self._sink.name, exc)

    def _show_until_closed(self, sink: Sink) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closing, POLL_SECONDS)
                if self._closing:
                    return
                image, self._pending = self._pending, None
            if image is not None:
                sink.show(image)
            events = sink.poll()
            with self._cond:
                if image is not None:
                    self.shown += 1
                    self._keep(image)
                self._events += events
