"""The live mirror: one loop that owns the frame, from camera to screen.

The loop never blocks for long: capture runs in its own thread with a timeout, a lost camera
shows a message and is reopened with back-off while the screen and the controls stay alive,
and systemd's watchdog is pinged only after a finished frame, so a hung stage gets the
service restarted. SIGTERM/SIGINT stop cleanly, SIGHUP reloads the config.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_emojify import config as config_mod
from edge_emojify.capture import RETRYING, SourceSupervisor
from edge_emojify.config import Config, SnapshotConfig, SourceConfig
from edge_emojify.controls import HOLD, NEXT, QUIT
from edge_emojify.errors import UserError
from edge_emojify.notify import Notifier, Watchdog
from edge_emojify.pipeline import build_pipeline
from edge_emojify.render.draw import EmojiAtlas, message_screen
from edge_emojify.render.modes import FrameStats, Renderer
from edge_emojify.resources import emoji_dir
from edge_emojify.sinks import FILE_SINKS, Sink, SinkError, open_sink, resolve_sink
from edge_emojify.sources import FILE_SOURCES, FrameSource, choose_auto, open_source
from edge_emojify.thermal import ThermalWatch

log = logging.getLogger(__name__)

STATUS_EVERY = 5.0  # seconds between STATUS= updates to systemd
REMOTE_STATUS_EVERY = 0.25  # seconds between status values handed to the web page
NO_CAMERA_NOTICE = "no camera found - playing the sample"


def apply_run_policy(cfg: Config, frames: int = 0) -> Config:
    """What a run does with its source, decided in one place for start-up and every reload.

    Into a file (video or PNG sink), a video or the sample plays once unless ``frames`` asks for
    more; anything live loops as configured.
    """
    if resolve_sink(cfg.display) in FILE_SINKS:
        return dataclasses.replace(cfg, source=dataclasses.replace(cfg.source, loop=bool(frames)))
    return cfg


def is_offline(cfg: Config) -> bool:
    """A file rendered to a file keeps every frame, unpaced; anything live is paced and drops stale frames."""
    return resolve_sink(cfg.display) in FILE_SINKS and cfg.source.kind in FILE_SOURCES


class App:
    """Wires source → pipeline → renderer → sink with controls, signals and systemd notify.

    Factories are injected so tests run the real loop with fake cameras, sinks and buttons.
    """

    def __init__(self, cfg: Config, *, reload_config: Callable[[], Config] | None = None,
                 source_factory: Callable[[Config], FrameSource] | None = None,
                 sink_factory: Callable[[Config, tuple[int, int], float], Sink] | None = None,
                 button: Any = None, notifier: Notifier | None = None, threaded: bool = True,
                 snapshot: Callable[[np.ndarray, SnapshotConfig], Any] | None = None,
                 choose_source: Callable[[SourceConfig], SourceConfig] = choose_auto,
                 clock: Callable[[], float] = time.monotonic, thermal: ThermalWatch | None = None,
                 remote: Any = None) -> None:
        self.cfg = cfg
        # SIGHUP re-reads the file and re-applies the command line's overrides through this.
        self.reload_config = reload_config or (lambda: config_mod.load(None)[0])
        self.source_factory = source_factory or (lambda c: open_source(c.source))
        self.sink_factory = sink_factory or (lambda c, size, fps: open_sink(c.display, size, fps, threaded))
        self.button = button
        self.notifier = notifier or Notifier()
        self.watchdog = Watchdog(self.notifier)
        self.threaded = threaded
        self.snapshot = snapshot
        self.pipeline = build_pipeline(cfg, background=threaded)
        self.renderer = Renderer(EmojiAtlas(emoji_dir(), background=threaded), cfg.display)
        self.frames = 0  # frames shown
        self.stats = FrameStats()
        self.choose_source = choose_source
        self.clock = clock  # the retry schedule and STATUS updates (injected in tests)
        self.thermal = thermal or ThermalWatch()  # read with each STATUS update, not every frame
        self._source_cfg = self._choose_source(cfg.source)
        self.privacy = False
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.camera = self._supervisor()
        self._sink: Sink | None = None
        self._canvas: np.ndarray | None = None
        self._last_shown: float | None = None
        # The web page (edge_emojify.web.Remote): injected, or built by run() when [web] is enabled.
        self.remote = remote
        self._own_remote = False
        self._started = self.clock()
        self._remote_at = -REMOTE_STATUS_EVERY
        self._camera_state = "starting"
        self._faces = 0

    # -- public controls ---------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    def handle(self, event: str) -> None:
        """The one handler that keyboard, button and web page events share.

        The page's actions (edge_emojify.web.remote.ACTIONS) arrive here too, drained from its
        queue between frames, so they take the very path a press, a hold or SIGHUP takes.
        """
        if event == NEXT:
            log.info("mode: %s", self.renderer.next_mode())
        elif event == QUIT:
            self.stop()
        elif event == HOLD:
            action = self.cfg.button.hold_action
            if action == "privacy":
                self.set_privacy(not self.privacy)
            elif action == "snapshot":
                self.take_snapshot()
        elif event.startswith("mode:"):
            try:
                log.info("mode: %s", self.renderer.set_mode(event.partition(":")[2]))
            except ValueError as exc:
                log.warning("%s", exc)
        elif event in ("privacy_on", "privacy_off"):
            self.set_privacy(event == "privacy_on")
        elif event == "snapshot":
            if self.renderer.mode == "debug" and not self.cfg.web.allow_debug_stream:
                log.warning("snapshot from the web page refused: the debug mode shows bare faces")
            else:
                self.take_snapshot()
        elif event == "reload":
            self.request_reload()

    def set_privacy(self, on: bool) -> None:
        """Blank the screen and release the camera (on), or resume (off): the hold's privacy action."""
        if on == self.privacy:
            return
        self.privacy = on
        log.info("privacy %s", "on: screen blank, camera paused" if on else "off")
        if on:
            self.camera.close()

    def take_snapshot(self) -> None:
        """Save what is on screen, emojis included (so faces stay covered), never the raw camera."""
        if self.frames and self.snapshot is not None:
            try:
                log.info("snapshot saved: %s", self.snapshot(self._canvas.copy(), self.cfg.snapshots))
            except UserError as exc:
                log.error("%s", exc)

    # -- the loop ------------------------------------------------------------------------------

    def run(self, max_frames: int = 0) -> int:
        """Run until stopped, the stream ends, or ``max_frames`` frames were shown. Returns 0."""
        restore = self._install_signals()
        self._started = self.clock()
        try:
            if self.remote is None and self.cfg.web.enabled:
                from edge_emojify.web import build_remote  # aiohttp only when the page is on

                self.remote = build_remote(self.cfg, snapshots=self.snapshot is not None)
                self._own_remote = True
            self._loop(max_frames)
        finally:
            self._shutdown()
            restore()
        return 0

    def _loop(self, max_frames: int) -> None:
        last_status = self.clock()
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                self._apply_reload()
            for event in self._poll_events():
                self.handle(event)
            self._publish_status()
            if self.privacy:
                self._camera_state, self._faces = "paused", 0
                self._show_message(["privacy mode", "hold the button to resume"])
                self._stop.wait(0.1)
                continue
            frame = self.camera.read()
            if frame is RETRYING:
                self._camera_state, self._faces = "lost", 0
                self._show_message(["camera lost - retrying", f"attempt {self.camera.retry.failures}"])
                self._stop.wait(0.1)
                continue
            if frame is None:
                log.info("end of %s", self.camera.source.name if self.camera.source else "the source")
                return
            t0 = time.perf_counter()
            analysis = self.pipeline.process(frame)
            if analysis is None:
                continue
            tracks = analysis.tracks
            sink = self._ensure_sink(frame.image.shape[1], frame.image.shape[0])
            t1 = time.perf_counter()
            image = self.renderer.render(frame, tracks, self._canvas, self.stats)
            t2 = time.perf_counter()
            sink.show(image)
            self.pipeline.frame_done()  # work beside the frame path starts now, in the time until the next frame
            self.renderer.frame_done()
            if self.remote is not None:  # O(1): a slot and a tally; the web thread does the rest
                self.remote.publish_frame(image, self.renderer.mode)
                self.remote.observe(tracks)
                self._camera_state, self._faces = "ok", len(tracks)
            t3 = time.perf_counter()
            self._frame_done(t0, {**analysis.stage_ms, "render": (t2 - t1) * 1e3,
                                  "show": (t3 - t2) * 1e3})
            if self.clock() - last_status > STATUS_EVERY:
                last_status = self.clock()
                heat = self.thermal.poll().describe()
                self.notifier.status(f"{self.stats.fps:.1f} fps, {len(tracks)} face(s), mode {self.renderer.mode}"
                                     + (f", {heat}" if heat else ""))
            if max_frames and self.frames >= max_frames:
                return

    def _frame_done(self, t0: float, stage_ms: dict[str, float]) -> None:
        self.frames += 1
        if self.frames == 1:
            self.notifier.ready()
            log.info("first frame on screen")
        # fps is frames shown per second of wall time (paced by the camera), not 1 / processing time.
        now = time.perf_counter()
        if self._last_shown is not None:
            instant = 1.0 / max(now - self._last_shown, 1e-6)
            self.stats.fps = instant if self.stats.fps == 0 else 0.9 * self.stats.fps + 0.1 * instant
        self._last_shown = now
        self.stats.stage_ms = {**stage_ms, "frame": (now - t0) * 1e3}
        self.watchdog.frame_done()

    # -- helpers -------------------------------------------------------------------------------

    def _poll_events(self) -> list[str]:
        events = self._sink.poll() if self._sink else []
        if self.button is not None:
            events += self.button.poll()
        if self.remote is not None:
            events += self.remote.poll_actions()
        return events

    def _publish_status(self) -> None:
        """A plain value for the web page's status, a few times a second (never per request)."""
        if self.remote is None or self.clock() - self._remote_at < REMOTE_STATUS_EVERY:
            return
        self._remote_at = self.clock()
        heat = self.thermal.latest
        self.remote.publish_status({
            "fps": round(self.stats.fps, 2), "faces": self._faces, "mode": self.renderer.mode,
            "privacy": self.privacy, "frames": self.frames, "uptime_s": round(self.clock() - self._started),
            "camera": {"state": self._camera_state, "losses": self.camera.losses,
                       "retries": self.camera.retry.failures},
            "heat": {"celsius": heat.celsius, "throttled": heat.now, "throttled_since_boot": heat.since_boot},
            "notice": self.stats.notice})

    def _choose_source(self, cfg: SourceConfig) -> SourceConfig:
        """Settle ``auto`` once (at start-up, or when a reload changes [source]), and say what it chose."""
        chosen = self.choose_source(cfg)
        self.stats.notice = ""
        if cfg.kind == "auto":
            if chosen.kind == "sample":
                log.warning("%s: connect a camera and restart, or pass --source", NO_CAMERA_NOTICE)
                self.stats.notice = NO_CAMERA_NOTICE
            else:
                log.info("source auto: %s", chosen.kind)
        return chosen

    def _supervisor(self) -> SourceSupervisor:
        cfg = dataclasses.replace(self.cfg, source=self._source_cfg)
        return SourceSupervisor(lambda: self.source_factory(cfg), is_file=self._source_cfg.kind in FILE_SOURCES,
                                threaded=self.threaded, timeout=self.cfg.source.timeout, clock=self.clock,
                                on_close=lambda: self.pipeline.reset())

    def _ensure_sink(self, width: int, height: int) -> Sink:
        if self._sink is None:
            fps = self.camera.fps or self.cfg.source.fps
            self._sink = self.sink_factory(self.cfg, (width, height), fps)
            w, h = self._sink.size
            self._canvas = np.zeros((h, w, 3), np.uint8)
        return self._sink

    def _show_message(self, lines: list[str]) -> None:
        if self._sink is None:
            w = self.cfg.display.width or self.cfg.source.width
            h = self.cfg.display.height or self.cfg.source.height
            try:
                self._ensure_sink(w, h)
            except SinkError as exc:
                log.error("%s", exc)
                return
        screen = message_screen(self._canvas, lines)
        self._sink.show(screen)
        if self.remote is not None:  # privacy and camera-lost screens stream as they are shown
            self.remote.publish_frame(screen, "message")
        self.watchdog.frame_done()  # the loop is alive; a lost camera is not a hung service

    def _apply_reload(self) -> None:
        self.notifier.reloading()
        try:
            cfg = self.reload_config()
            pipeline = build_pipeline(cfg, background=self.threaded)
        except UserError as exc:
            log.error("reload failed, keeping the old config: %s", exc)
            self.notifier.ready()
            return
        new_source = cfg.source != self.cfg.source
        web_changed = cfg.web != self.cfg.web
        if new_source:
            self.camera.close()
            self._source_cfg = self._choose_source(cfg.source)
        if cfg.display != self.cfg.display and self._sink is not None:
            self._sink.close()
            self._sink = None
        self.pipeline.close()
        self.cfg, self.pipeline = cfg, pipeline
        if new_source:
            self.camera = self._supervisor()
        self.renderer = Renderer(self.renderer.atlas, cfg.display)
        if web_changed and self.remote is not None:
            log.warning("[web] changes take effect at the next restart: sudo systemctl restart edge-emojify")
        log.info("config reloaded")
        self.notifier.ready()

    def _shutdown(self) -> None:
        self.notifier.stopping()
        self.camera.close()
        self.pipeline.close()
        self.renderer.atlas.close()
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self.button is not None:
            self.button.close()
        if self._own_remote and self.remote is not None:
            self.remote.close()
            self.remote, self._own_remote = None, False
        log.info("stopped after %d frames (%d camera frames dropped as stale, %d bad frames skipped, "
                 "%d camera losses)", self.frames, self.camera.dropped, self.pipeline.bad_frames, self.camera.losses)

    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        handlers = {signal.SIGTERM: lambda *_: self.stop(), signal.SIGINT: lambda *_: self.stop(),
                    signal.SIGHUP: lambda *_: self.request_reload()}
        previous = {sig: signal.signal(sig, h) for sig, h in handlers.items()}
        return lambda: [signal.signal(sig, h) for sig, h in previous.items()]  # type: ignore[func-returns-value]
