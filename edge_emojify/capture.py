"""Capture in its own thread, keeping only the newest frame.

A slow frame (many faces, a slow screen) must never make the camera queue frames: the reader
overwrites its single slot, so the loop always gets the newest frame and the number of frames
dropped is counted. A read that does not arrive within the timeout surfaces as SourceError, so
a hung camera is noticed instead of freezing the mirror.
"""

from __future__ import annotations

import logging
import threading

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
