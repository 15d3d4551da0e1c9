"""The App's side of the web page: the one object the frame loop talks to.

Everything here that the loop calls is O(1) or O(faces) and never blocks: the rendered image
goes into a single slot (:mod:`stream`), the status is one reference swap, the mood tally an
in-memory count, and the page's actions come back through a bounded thread-safe queue that the
loop drains between frames, like button presses. The HTTP server runs on its own thread.
"""

from __future__ import annotations

import collections
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge_emojify.config import Config
from edge_emojify.render.draw import message_screen
from edge_emojify.render.modes import MODE_NAMES
from edge_emojify.types import Track
from edge_emojify.web.auth import csrf_value
from edge_emojify.web.history import MoodHistory
from edge_emojify.web.status import RecentErrors, model_summary
from edge_emojify.web.stream import FrameSlot

log = logging.getLogger(__name__)

ACTIONS = ("next", "privacy_on", "privacy_off", "snapshot", "reload", *(f"mode:{m}" for m in MODE_NAMES))
DEBUG_NOT_STREAMED = ["debug view not streamed", "(web.allow_debug_stream = false)"]


class Remote:
    """Frame, status and mood history out to the page; the page's actions in."""

    def __init__(self, cfg: Config, snapshots: bool = False) -> None:
        self.cfg = cfg.web
        self.slot = FrameSlot(cfg.web.stream_fps)
        self.history = MoodHistory(Path(cfg.web.history_path), cfg.web.history_days)
        self.errors = RecentErrors()
        self.model = model_summary(cfg.emotion_model)
        self.snapshot_folder = Path(cfg.snapshots.folder) if snapshots else None
        self.csrf = csrf_value(cfg.web.token)
        self._status: dict[str, Any] = {}
        self._actions: collections.deque[str] = collections.deque(maxlen=32)  # append/popleft are thread-safe
        self._blank: np.ndarray | None = None
        from edge_emojify.web.server import ServerThread

        self.server = ServerThread(self)

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        logging.getLogger("edge_emojify").addHandler(self.errors)
        try:
            self.server.start()
        except Exception:
            self.close()
            raise
        log.info("web page on http://%s:%d/ (token required)", self.cfg.bind, self.port)

    def close(self) -> None:
        self.server.stop()
        self.history.close()
        logging.getLogger("edge_emojify").removeHandler(self.errors)

    # -- the frame loop's side -------------------------------------------------------------------

    def publish_frame(self, image: np.ndarray, mode: str) -> None:
        """The screen as shown, except the debug mode's bare faces unless the config allows them."""
        if mode == "debug" and not self.cfg.allow_debug_stream:
            # Always the stand-in, watched or not: a viewer arriving mid-call must never get a bare face.
            if self._blank is None or self._blank.shape != image.shape:
                self._blank = message_screen(np.zeros_like(image), DEBUG_NOT_STREAMED)
            image = self._blank
        self.slot.publish(image)

    def publish_status(self, status: dict[str, Any]) -> None:
        self._status = status  # a new dict each time: the web thread reads whole values only

    @property
    def status_value(self) -> dict[str, Any]:
        return self._status

    def observe(self, tracks: list[Track]) -> None:
        self.history.observe(tracks)

    def poll_actions(self) -> list[str]:
        actions = []
        while self._actions:
            actions.append(self._actions.popleft())
        return actions

    # -- the web thread's side -------------------------------------------------------------------

    def queue(self, action: str) -> None:
        if action not in ACTIONS:
            raise ValueError(action)
        self._actions.append(action)

    def status(self) -> dict[str, Any]:
        return {**self._status, "model": self.model, "errors": self.errors.lines(), "modes": list(MODE_NAMES),
                "streams": self.slot.watchers, "max_streams": self.cfg.max_clients,
                "snapshots": self.snapshot_folder is not None, "csrf": self.csrf}
