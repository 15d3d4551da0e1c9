"""Capture: the newest frame from a thread of its own, and a supervisor that keeps the source open.

A slow frame (many faces, a slow screen) must never make the camera queue frames: the reader
overwrites its single slot, so the loop always gets the newest frame and the number of frames
dropped is counted. A read that does not arrive within the timeout surfaces as SourceError, so
a hung camera is noticed instead of freezing the mirror.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge_emojify.backoff import Backoff
from edge_emojify.errors import UserError
from edge_emojify.sources.base import FrameSource, SourceError
from edge_emojify.types import Frame

log = logging.getLogger(__name__)


class LatestFrameReader:
    """Runs ``source.read()`` in a daemon thread; ``get()`` returns the newest unseen frame."""

    def __init__(self, source: FrameSource, timeout: float) -> None:
        self.source = source
        self.timeout = timeout
        self.dropped = 0
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._error: BaseException | None = None
        self._ended = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                frame = self.source.read()
            except BaseException as exc:  # noqa: BLE001 - handed to the loop thread to decide
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                if frame is None:
                    self._ended = True
                    self._cond.notify_all()
                    return
                if self._frame is not None:
                    self.dropped += 1
                self._frame = frame
                self._cond.notify_all()

    def get(self) -> Frame | None:
        """The newest frame; None at the end of a finite stream; SourceError on failure or timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._frame is not None or self._error or self._ended,
                                       self.timeout):
                raise SourceError(f"{self.source.name}: no frame within {self.timeout:.1f} s")
            if self._frame is not None:
                frame, self._frame = self._frame, None
                return frame
            if self._error is not None:
                if isinstance(self._error, SourceError):
                    raise self._error
                raise SourceError(f"{self.source.name} failed: {self._error!r}")
            return None

    def close(self) -> None:
        """Stop the thread and close the source; a thread stuck in a hung read is abandoned."""
        self._stop = True
        self._thread.join(timeout=1.0)
        try:
            self.source.close()
        except Exception as exc:  # noqa: BLE001 - closing a broken camera must not stop the app
            log.debug("closing %s: %r", self.source.name, exc)


RETRYING = "retrying"  # what SourceSupervisor.read returns while a failed camera waits for its retry


class SourceSupervisor:
    """Keeps a source open: opens it, reads it, and on failure closes it and retries with back-off.

    Only a camera is retried: a file that cannot be opened or read stays broken, so that is a
    one-line UserError. ``read`` returns a frame, None at the end of a finite source, or
    :data:`RETRYING` while a failed camera waits for its next attempt (the app shows a message).
    """

    def __init__(self, open_source: Callable[[], FrameSource], *, is_file: bool, threaded: bool,
                 timeout: float, clock: Callable[[], float] = time.monotonic,
                 on_close: Callable[[], None] = lambda: None) -> None:
        self.open_source = open_source
        self.is_file = is_file
        self.threaded = threaded
        self.timeout = timeout
        self.on_close = on_close  # what depends on the stream starts over (the tracker)
        self.retry = Backoff(clock)
        self.losses = 0  # times an open camera failed
        self.dropped = 0  # frames overwritten before they were read (the loop was busy)
        self.source: FrameSource | None = None
        self._reader: LatestFrameReader | None = None

    @property
    def fps(self) -> float | None:
        return self.source.fps if self.source is not None else None

    def read(self) -> Frame | None | str:
        if self.source is None and not self._open():
            return RETRYING
        try:
            return self._reader.get() if self._reader else self.source.read()  # type: ignore[union-attr]
        except SourceError as exc:
            if self.is_file:
                raise UserError(str(exc)) from None  # a damaged file stays damaged
            self.losses += 1
            log.warning("camera lost: %s; retrying", exc)
            self.close()
            self.retry.failed()
            return RETRYING

    def _open(self) -> bool:
        if not self.retry.due():
            return False
        try:
            self.source = self.open_source()
        except SourceError as exc:
            if self.is_file:
                raise UserError(str(exc)) from None  # a missing file will not come back
            delay = self.retry.failed()
            log.warning("camera: %s (retry %d in %g s)", exc, self.retry.failures, delay)
            return False
        log.info("source: %s", self.source.name)
        self.retry.succeeded()
        if self.threaded:
            self._reader = LatestFrameReader(self.source, self.timeout)
        return True

    def close(self) -> None:
        """Release the source (privacy, a reload, a loss, the end); the next read opens it again."""
        if self._reader is not None:
            self.dropped += self._reader.dropped
            self._reader.close()
        elif self.source is not None:
            self.source.close()
        self._reader, self.source = None, None
        self.on_close()
