"""Display sinks behind one interface (see base.Sink), chosen from the config by ``open_sink``."""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from edge_emojify.config import DisplayConfig
from edge_emojify.sinks.base import Sink, SinkError

log = logging.getLogger(__name__)

__all__ = ["FILE_SINKS", "SCREEN_SINKS", "Sink", "SinkError", "kms_available", "open_sink", "resolve_auto",
           "resolve_sink"]


def kms_available() -> bool:
    """Whether this user may drive a KMS display (/dev/dri/card*): full screen on the bare console."""
    return any(os.access(card, os.R_OK | os.W_OK) for card in Path("/dev/dri").glob("card*"))


def resolve_auto(cfg: DisplayConfig) -> str:
    """auto: a window on a desktop, full screen on a KMS console, the framebuffer, else a file."""
    has_pygame = importlib.util.find_spec("pygame") is not None
    if has_pygame and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "window"
    if has_pygame and kms_available():
        return "fullscreen"
    if os.access(cfg.fbdev, os.W_OK):
        return "framebuffer"
    return "video"


FILE_SINKS = ("video", "png")  # sinks that write files rather than show a screen
SCREEN_SINKS = ("window", "fullscreen", "framebuffer")  # sinks that show a screen (and may drop a frame)


def resolve_sink(cfg: DisplayConfig) -> str:
    """The sink this config means on this machine (``auto`` resolved)."""
    return resolve_auto(cfg) if cfg.sink == "auto" else cfg.sink


def open_sink(cfg: DisplayConfig, frame_size: tuple[int, int], fps: float, threaded: bool = False) -> Sink:
    """Open the configured sink; ``frame_size`` is the default size for windows and files.

    ``threaded`` (the live mirror) runs a screen in a thread of its own (``threaded.DisplayThread``),
    so that showing a frame overlaps analysing the next; files are always written in the loop.
    """
    kind = resolve_sink(cfg)
    if threaded and kind in SCREEN_SINKS:
        from edge_emojify.sinks.threaded import DisplayThread

        return DisplayThread(lambda: open_sink(cfg, frame_size, fps))
    size = (cfg.width or frame_size[0], cfg.height or frame_size[1])
    if kind in ("window", "fullscreen"):
        from edge_emojify.sinks.pygame_sink import PygameSink

        return PygameSink(size, fullscreen=kind == "fullscreen", scaled=cfg.scaling == "sdl")
    if kind == "framebuffer":
        from edge_emojify.sinks.framebuffer import FramebufferSink

        return FramebufferSink(Path(cfg.fbdev))
    if kind == "video":
        from edge_emojify.sinks.files import VideoSink

        return VideoSink(Path(cfg.output), size, fps)
    if kind == "png":
        from edge_emojify.sinks.files import PngSink

        return PngSink(Path(cfg.output), size)
    from edge_emojify.sinks.null import NullSink

    return NullSink(size)
