"""Frame sources behind one interface (see base.FrameSource), chosen by ``open_source``."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from pathlib import Path

from edge_emojify.config import PACKAGE_DIR, SourceConfig
from edge_emojify.sources.base import FrameSource, SourceError
from edge_emojify.sources.images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

SAMPLE_VIDEO = PACKAGE_DIR / "data" / "sample.mp4"

__all__ = ["FrameSource", "SourceError", "SAMPLE_VIDEO", "from_argument", "open_source"]


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
    if cfg.kind == "auto":
        return _open_auto(cfg, realtime, picamera2_factory)
    kind = cfg.kind
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


def _open_auto(cfg: SourceConfig, realtime: bool, picamera2_factory) -> FrameSource:
    """The Pi camera if there is one, else a USB camera, else the bundled sample."""
    candidates = []
    if picamera2_factory is not None or importlib.util.find_spec("picamera2") is not None:
        candidates.append("picamera")
    if Path(f"/dev/video{cfg.camera_index}").exists():
        candidates.append("camera")
    for kind in candidates:
        try:
            return open_source(dataclasses.replace(cfg, kind=kind), realtime, picamera2_factory)
        except SourceError as exc:
            log.info("no %s: %s", kind, exc)
    log.warning("no camera found: playing the bundled sample (pass --source to choose)")
    return open_source(dataclasses.replace(cfg, kind="sample"), realtime)
