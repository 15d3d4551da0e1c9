"""Frames from a Raspberry Pi camera through picamera2 (libcamera).

Two streams come from the ISP at once, so nothing is resized or converted in Python:

* ``main``, ``RGB888`` at the configured size: what is shown. picamera2's ``RGB888`` is
  stored B, G, R in memory (libcamera names formats by their little-endian word), which is
  exactly OpenCV's BGR order.
* ``lores``, ``YUV420`` about ``detect_width`` wide with the main stream's aspect ratio: its
  Y plane is a free grayscale image for face detection.

picamera2 and libcamera only exist on a Pi (from apt, not pip), so they are imported inside
the default factories; tests pass a fake class with the same methods.
"""

from __future__ import annotations

import concurrent.futures
import errno
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge_emojify.config import SourceConfig
from edge_emojify.sources.base import SourceError
from edge_emojify.types import Frame

log = logging.getLogger(__name__)

# One buffer being filled, one queued by picamera2 (``queue=True`` keeps the latest finished
# frame so a read returns at once), one held by us while copying: four leave one spare. More
# only costs CMA memory, which a Pi 4 shares with the display.
# picamera2's RGB888 is B, G, R in memory: OpenCV's order, with nothing to convert.
MAIN_FORMAT = "RGB888"
BUFFER_COUNT = 4

CAMERA_BUSY = ("camera is in use by another program (e.g. another edge-emojify or rpicam-hello); "
               "stop it (`sudo systemctl stop edge-emojify`, or close the other program) and retry")
NO_CAMERA = ("no Pi camera found; check the ribbon cable (contacts facing the right way, latch "
             "closed) and `rpicam-hello --list-cameras`")
NO_PICAMERA2 = ("picamera2 is not installed; on Raspberry Pi OS run `sudo apt install python3-picamera2` "
                "and create the venv with --system-site-packages (pip's picamera2 does not work)")


def lores_size(main_w: int, main_h: int, detect_w: int) -> tuple[int, int]:
    """The detection stream's size: at most ``detect_w`` wide, the main aspect ratio, both even.

    Even sizes because libcamera rejects odd YUV420 sizes (picamera2 checks it too); the same
    aspect ratio because the app maps boxes back with one scale factor.
    """
    w = max(2, min(detect_w, main_w))
    w -= w % 2
    h = max(2, round(w * main_h / main_w))
    h -= h % 2
    return w, h


def _default_picamera2() -> Callable[..., Any]:
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found]
    except ImportError as exc:
        raise SourceError(NO_PICAMERA2) from exc
    return Picamera2


@dataclass(frozen=True)
class PlainTransform:
    """Stands in for libcamera.Transform when an injected (fake) picamera2 runs without libcamera."""

    hflip: bool = False
    vflip: bool = False


def _default_transform(injected_backend: bool) -> Callable[..., Any]:
    try:
        from libcamera import Transform  # type: ignore[import-not-found]
    except ImportError as exc:
        if injected_backend:  # real picamera2 always brings libcamera; a fake may not
            return PlainTransform
        raise SourceError(NO_PICAMERA2) from exc
    return Transform


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from or during (picamera2 wraps the cause)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_open_failure(exc: BaseException) -> str:
    """Turn picamera2's "Camera __init__ sequence did not complete." into a cause and a fix.

    picamera2 raises that one RuntimeError for every failure and keeps the real reason as
    the exception's context: libcamera's acquire() fails with EBUSY when another process
    holds the camera; a camera number past the end of the list is an IndexError.
    """
    causes = list(_chain(exc))
    text = " / ".join(str(c) for c in causes if str(c))
    if any(getattr(c, "errno", None) == errno.EBUSY or "busy" in str(c).lower() for c in causes):
        return CAMERA_BUSY
    if any(isinstance(c, IndexError) or "not found" in str(c).lower() for c in causes):
        return NO_CAMERA
    return (f"could not open the Pi camera ({text or exc.__class__.__name__}); check "
            "`rpicam-hello --list-cameras` and that no other program is using the camera")


class PiCameraSource:
    """A :class:`~edge_emojify.sources.base.FrameSource` over picamera2's main + lores streams.

    The camera is opened and started in the constructor so that a missing or busy camera is
    reported at once (as :class:`SourceError`); the app's retry loop simply builds a new one.
    """

    name = "picamera"

    def __init__(self, cfg: SourceConfig, picamera2_factory: Callable[..., Any] | None = None,
                 transform_factory: Callable[..., Any] | None = None) -> None:
        self.cfg = cfg
        self.fps = cfg.fps  # pinned by FrameDurationLimits below
        self._index = 0
        self._cam: Any = None
        factory = picamera2_factory if picamera2_factory is not None else _default_picamera2()
        transform_cls = transform_factory
        if transform_cls is None:
            transform_cls = _default_transform(injected_backend=picamera2_factory is not None)

        cameras = self._camera_list(factory)
        if cameras is not None and len(cameras) <= cfg.camera_index:
            if cameras:
                raise SourceError(f"Pi camera {cfg.camera_index} not found ({len(cameras)} attached, "
                                  f"numbered from 0); fix [source] camera_index")
            raise SourceError(NO_CAMERA)
        try:
            cam = factory(cfg.camera_index)
        except SourceError:
            raise
        except Exception as exc:  # picamera2 raises RuntimeError; be broad, it is hardware
            raise SourceError(describe_open_failure(exc)) from exc

        flip = cfg.rotation == 180  # a half turn is both flips, done by the ISP for free
        self._main_size = (cfg.width - cfg.width % 2, cfg.height - cfg.height % 2)
        self._lores_size = lores_size(*self._main_size, cfg.detect_width)
        self._main_format = MAIN_FORMAT
        frame_us = int(round(1_000_000 / cfg.fps))
        try:
            config = cam.create_video_configuration(
                main={"size": self._main_size, "format": MAIN_FORMAT},
                lores={"size": self._lores_size, "format": "YUV420"},
                raw=None,  # picamera2 adds a raw stream by default; its buffers would only cost CMA memory
                transform=transform_cls(hflip=bool(cfg.hflip) != flip, vflip=bool(cfg.vflip) != flip),
                # FrameDurationLimits (min, max) in µs pins the rate; picamera2's "FrameRate"
                # shorthand maps to it but is missing from older picamera2 releases.
                controls={"FrameDurationLimits": (frame_us, frame_us)},
                buffer_count=BUFFER_COUNT,
            )
            cam.configure(config)
            self._cam = cam
            self._read_back_sizes()
            if lores_size(*self._main_size, cfg.detect_width) != self._lores_size:
                # libcamera cut the main stream (larger than the sensor, say): boxes are mapped back
                # with one scale, so the lores stream must keep main's new aspect ratio.
                config["lores"]["size"] = lores_size(*self._main_size, cfg.detect_width)
                cam.configure(config)
                self._read_back_sizes()
            cam.start()
        except Exception as exc:
            self._cam = cam
            self.close()
            raise SourceError(f"the Pi camera refused {self._main_size[0]}x{self._main_size[1]} at "
                              f"{cfg.fps:g} fps ({exc}); try a smaller [source] width/height or fps") from exc
        self._cam = cam
        log.info("Pi camera %d started: main %dx%d %s, lores %dx%d YUV420, %g fps",
                 cfg.camera_index, *self._main_size, self._main_format, *self._lores_size, cfg.fps)

    @staticmethod
    def _camera_list(factory: Callable[..., Any]) -> list[Any] | None:
        """The attached cameras, or None when the backend cannot say (then opening decides)."""
        info = getattr(factory, "global_camera_info", None)
        if info is None:
            return None
        try:
            return list(info())
        except Exception as exc:  # noqa: BLE001 - only a hint; the open below reports properly
            log.debug("global_camera_info failed: %s", exc)
            return None

    def _read_back_sizes(self) -> None:
        """libcamera may adjust sizes while validating; use what it actually configured."""
        try:
            actual = self._cam.camera_configuration()
            self._main_size = tuple(actual["main"]["size"])
            self._lores_size = tuple(actual["lores"]["size"])
            self._main_format = str(actual["main"].get("format", self._main_format))
        except Exception as exc:  # noqa: BLE001 - older picamera2 or a fake without it
            log.debug("could not read back the camera configuration: %s", exc)

    def _wait(self, job: Any) -> Any:
        timeout = self.cfg.timeout
        try:
            return self._cam.wait(job, timeout=timeout)
        except TypeError:
            # picamera2 releases before the timeout argument existed: the job is a Future-backed Job.
            return job.get_result(timeout=timeout)

    def read(self) -> Frame | None:
        """The next frame; raises SourceError when none arrives within ``cfg.timeout`` seconds."""
        cam = self._cam
        if cam is None:
            raise SourceError("the Pi camera is closed")
        try:
            job = cam.capture_request(wait=False)
            request = self._wait(job)
        except (TimeoutError, concurrent.futures.TimeoutError) as exc:
            # The job stays queued in picamera2; cancel it so it cannot grab (and leak) a buffer.
            cancel = getattr(cam, "cancel_all_and_flush", None)
            if cancel is not None:
                try:
                    cancel()
                except Exception as cancel_exc:  # noqa: BLE001
                    log.debug("cancel_all_and_flush failed: %s", cancel_exc)
            raise SourceError(f"no frame from the Pi camera within {self.cfg.timeout:g} s; check the "
                              "ribbon cable and power, or raise [source] timeout") from exc
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"the Pi camera failed while capturing ({exc}); check the ribbon "
                              "cable") from exc
        try:
            image = request.make_array("main")
            yuv = request.make_array("lores")
            metadata = request.get_metadata()
        except Exception as exc:
            raise SourceError(f"could not read the Pi camera frame ({exc})") from exc
        finally:
            request.release()  # back to libcamera at once; make_array returned copies
        lores_w, lores_h = self._lores_size
        # YUV420 comes as (h * 3 / 2, stride): Y rows first, then U and V; stride may pad the width.
        gray = np.ascontiguousarray(yuv[:lores_h, :lores_w])
        if image.ndim == 3 and image.shape[2] == 4:  # a backend ignored RGB888: 32 bits a pixel
            # picamera2's XBGR8888 is R, G, B, X in memory; XRGB8888 is B, G, R, X.
            if self._main_format == "XBGR8888":
                image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGR)
            else:
                image = np.ascontiguousarray(image[:, :, :3])
        stamp_ns = metadata.get("SensorTimestamp") if isinstance(metadata, dict) else None
        # SensorTimestamp is CLOCK_MONOTONIC in ns (picamera2's flush compares it to monotonic_ns).
        timestamp = stamp_ns / 1e9 if stamp_ns else time.monotonic()
        frame = Frame(image=image, gray=gray, timestamp=timestamp, index=self._index,
                      scale=image.shape[1] / gray.shape[1])
        self._index += 1
        return frame

    def close(self) -> None:
        """Stop and release the camera so another program (or a retry) can open it. Idempotent."""
        cam, self._cam = self._cam, None
        if cam is None:
            return
        for step in ("stop", "close"):
            try:
                getattr(cam, step)()
            except Exception as exc:  # noqa: BLE001 - closing must not raise; the camera may be gone
                log.warning("Pi camera %s failed: %s", step, exc)

    def __enter__(self) -> PiCameraSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
