"""Frame sources behind one interface (see base.FrameSource), chosen by ``open_source``."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from pathlib import Path

from edge_emojify.config import SourceConfig
from edge_emojify.resources import SAMPLE_VIDEO
from edge_emojify.sources.base import FrameSource, SourceError
from edge_emojify.sources.images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

FILE_SOURCES = ("video", "image", "sample")  # sources that end, rather than fail, at their last frame

__all__ = ["FILE_SOURCES", "FrameSource", "SourceError", "choose_auto", "from_argument", "open_source"]


def from_argument(cfg: SourceConfig, argument: str | None) -> SourceConfig:
    """Fold a ``--source`` value into the config: a camera number, ``picamera``, ``sample`` or a path."""
    if not argument:
        return cfg
    if argument.isdigit():
        return dataclasses.replace(cfg, kind="camera", camera_index=int(argument))
    if argument in ("picamera", "sample", "camera", "auto"):
        return dataclasses.replace(cfg, kind=argument)
    path = Path(argument)
    kind = "image" if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES else "video"
    return dataclasses.replace(cfg, kind=kind, path=argument)


def open_source(cfg: SourceConfig, realtime: bool = True, picamera2_factory=None) -> FrameSource:
    """Open the configured source. ``realtime`` paces files at their frame rate (off for bench)."""
    kind = choose_auto(cfg, picamera2_factory).kind
    if kind == "picamera":
        from edge_emojify.sources.picamera import PiCameraSource

        return PiCameraSource(cfg, picamera2_factory)
    if kind == "camera":
        from edge_emojify.sources.opencv import CameraSource

        return CameraSource(cfg)
    if kind == "image":
        from edge_emojify.sources.images import ImageSource

        return ImageSource(Path(cfg.path), cfg, realtime)
    from edge_emojify.sources.opencv import VideoFileSource

    if kind == "sample":
        return VideoFileSource(SAMPLE_VIDEO, cfg, realtime)
    if not cfg.path:
        raise SourceError("source.kind is video but source.path is empty; set it or pass --source FILE")
    return VideoFileSource(Path(cfg.path), cfg, realtime)


def choose_auto(cfg: SourceConfig, picamera2_factory=None) -> SourceConfig:
    """What ``auto`` means on this machine: the Pi camera, else a USB camera, else the bundled sample.

    Decided by which cameras *exist*, never by whether one opens: a camera that is busy or
    failing now is still the source, and the app retries it with back-off. The sample is only
    for a machine with no camera at all (a desk), so the caller decides once, at start-up; a
    mirror in a hall must say "camera lost" rather than quietly play the sample for ever.
    """
    if cfg.kind != "auto":
        return cfg
    if _pi_camera_attached(cfg.camera_index, picamera2_factory):
        kind = "picamera"
    elif Path(f"/dev/video{cfg.camera_index}").exists():
        kind = "camera"
    else:
        kind = "sample"
    return dataclasses.replace(cfg, kind=kind)


def _pi_camera_attached(index: int, picamera2_factory=None) -> bool:
    """Whether libcamera lists camera ``index`` (asked without opening it, so a busy one counts)."""
    factory = picamera2_factory
    if factory is None:
        if importlib.util.find_spec("picamera2") is None:
            return False
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except Exception as exc:  # noqa: BLE001 - a broken install is reported when it is opened
            log.info("picamera2 cannot be imported (%s): not using the Pi camera", exc)
            return False
        factory = Picamera2
    try:
        return len(factory.global_camera_info()) > index
    except Exception as exc:  # noqa: BLE001 - libcamera without cameras or without a running stack
        log.info("cannot list Pi cameras (%s)", exc)
        return False
