"""Stand-ins for hardware libraries, shaped like the real ones so the app code cannot tell.

``FakePicamera2`` mirrors the parts of picamera2.Picamera2 (picamera2/picamera2.py) that the Pi
camera source uses, with picamera2's behaviour where it matters:

- a camera number past the end of ``global_camera_info()`` raises ``IndexError`` straight from
  the constructor (picamera2 indexes that list before its try block);
- every other open failure is ``RuntimeError("Camera __init__ sequence did not complete.")``
  with the cause as its context; a busy camera's cause is libcamera's
  ``RuntimeError("Failed to acquire camera: Device or resource busy")`` (no errno attribute);
- ``create_video_configuration`` returns what picamera2's does: main XBGR8888 1280x720, a
  ``raw`` stream in the sensor's format at the main size unless ``raw=None`` is passed (raw
  buffers cost the Pi's CMA memory), ``FrameDurationLimits`` (33333, 33333) and fast noise
  reduction merged under the caller's controls, ``ValueError`` for an unknown key in any stream;
- ``configure`` validates like libcamera: even sizes, lores YUV and no larger than main, and
  sizes above the sensor's (4608x2592 for the imx708) are adjusted down, so the app must read
  back ``camera_configuration()``;
- a YUV420 array of shape ``(h * 3 // 2, stride)`` with padded rows, an ``RGB888`` array of
  shape ``(h, w, 3)`` in B, G, R order, an ``XBGR8888`` array of shape ``(h, w, 4)`` in R, G, B,
  255 order, requests that must be released exactly once;
- ``capture_request`` before ``start`` never completes (the job waits for a frame that never
  comes), and ``wait(job, timeout)`` raises ``TimeoutError``;
- ``SensorTimestamp`` in CLOCK_MONOTONIC nanoseconds, with a few hundred microseconds of jitter.

Differences that remain: no real pixels (frame numbers instead of images), no preview, no
sensor modes or ``sensor`` selection, no ``align_configuration``, controls are stored but have
no effect, jobs complete at once rather than at the frame rate, and one process-wide camera
list instead of libcamera's camera manager.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class FakeTransform:
    """Like libcamera.Transform(hflip=..., vflip=...)."""

    hflip: bool = False
    vflip: bool = False
    transpose: bool = False


# What global_camera_info() reports for a Camera Module 3 on a Pi 4.
CAMERA_MODULE_3 = {"Model": "imx708", "Location": 2, "Rotation": 180,
                   "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a", "Num": 0}
SENSOR_SIZE = (4608, 2592)  # imx708 full resolution
SENSOR_FORMAT = "SRGGB10_CSI2P"


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


class FakeRequest:
    """Like picamera2's CompletedRequest: arrays are copies; release() exactly once."""

    def __init__(self, camera: FakePicamera2, n: int) -> None:
        self.camera = camera
        self.n = n
        self.released = False
        camera.outstanding += 1

    def _check(self) -> None:
        if self.released:
            raise RuntimeError("CompletedRequest: used after release")

    def make_array(self, name: str) -> np.ndarray:
        self._check()
        stream = self.camera.camera_config[name]
        if stream is None:
            raise RuntimeError(f"Stream {name!r} is not defined")
        w, h = stream["size"]
        value = self.n % 256
        if stream["format"] in ("RGB888", "BGR888"):
            image = np.zeros((h, w, 3), np.uint8)
            image[..., 0] = value  # blue channel carries the frame number
            image[..., 2] = 255 - value
            return image
        if stream["format"] == "XBGR8888":  # 32 bits a pixel: R, G, B, 255 in memory (picamera2's docs)
            image = np.full((h, w, 4), 255, np.uint8)
            image[..., 0] = 255 - value
            image[..., 1] = 0
            image[..., 2] = value
            return image
        if stream["format"] == "YUV420":
            stride = stream["stride"]
            array = np.full((h * 3 // 2, stride), 128, np.uint8)  # U, V planes and padding: 128
            array[:h, :w] = value  # Y plane: the frame number
            array[:h, w:] = 7  # stride padding, which a correct reader crops off
            return array
        raise RuntimeError(f"Format {stream['format']} not supported")

    def get_metadata(self) -> dict[str, Any]:
        self._check()
        jitter = int(self.camera.jitter.normal(0, 200_000))  # sensor timestamps wobble by ~0.2 ms
        return {"SensorTimestamp": self.camera.base_ns + self.n * self.camera.frame_ns + jitter,
                "ExposureTime": 10000, "FrameDuration": self.camera.frame_ns // 1000}

    def release(self) -> None:
        if self.released:
            raise RuntimeError("CompletedRequest: lock now has negative ref_count")
        self.released = True
        self.camera.outstanding -= 1


class FakeJob:
    """Like picamera2.job.Job: a Future the camera loop completes."""

    def __init__(self) -> None:
        self._future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._future.set_running_or_notify_cancel()

    def get_result(self, timeout: float | None = None) -> Any:
        return self._future.result(timeout=timeout)

    def cancel(self) -> None:
        if not self._future.done():
            self._future.set_exception(concurrent.futures.CancelledError())


RAW_DEFAULT: dict[str, Any] = {}  # picamera2's default: a raw stream unless raw=None


class FakePicamera2:
    """A Picamera2 look-alike. Class attributes set up the 'hardware' for a test.

    ``cameras``: what ``global_camera_info()`` lists. ``open_indexes``: cameras held open
    (opening one twice fails like a busy camera). Per instance, set ``hang = True`` to make
    captures never complete, or ``fail_start`` to an exception for ``start()``.
    """

    cameras: ClassVar[list[dict[str, Any]]] = [dict(CAMERA_MODULE_3)]
    open_indexes: ClassVar[set[int]] = set()
    instances: ClassVar[list[FakePicamera2]] = []
    fail_start: ClassVar[BaseException | None] = None
    hang_all: ClassVar[bool] = False

    @classmethod
    def reset(cls) -> None:
        cls.cameras = [dict(CAMERA_MODULE_3)]
        cls.open_indexes = set()
        cls.instances = []
        cls.fail_start = None
        cls.hang_all = False

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        return [dict(c) for c in FakePicamera2.cameras]

    def __init__(self, camera_num: int = 0, tuning: Any = None) -> None:
        if self.cameras:
            camera_num = self.global_camera_info()[camera_num]["Num"]  # IndexError, unwrapped, as picamera2
        try:
            if not self.cameras:
                raise RuntimeError("Camera(s) not found (Do not forget to disable legacy camera "
                                   "with raspi-config).")
            if camera_num in self.open_indexes:
                raise RuntimeError("Failed to acquire camera: Device or resource busy")  # libcamera's
        except Exception:
            raise RuntimeError("Camera __init__ sequence did not complete.")  # noqa: B904 - as picamera2
        self.camera_idx = camera_num
        self.open_indexes.add(camera_num)
        self.is_open = True
        self.started = False
        self.camera_config: dict[str, Any] | None = None
        self.hang = self.hang_all
        self.outstanding = 0
        self.frames = 0
        self.cancelled = 0
        self.calls: list[str] = []
        self.base_ns = time.monotonic_ns()
        self.frame_ns = 33_333_333
        self.jitter = np.random.default_rng(camera_num)
        self._lock = threading.Lock()
        self.instances.append(self)

    def create_video_configuration(self, main: dict | None = None, lores: dict | None = None,
                                   raw: dict | None = RAW_DEFAULT, transform: Any = None,
                                   colour_space: Any = None,
                                   buffer_count: int = 6, controls: dict | None = None,
                                   display: str | None = "main", encode: str | None = "main",
                                   queue: bool = True) -> dict[str, Any]:
        self.calls.append("create_video_configuration")

        def stream(defaults: dict[str, Any], updates: dict | None, ignore: tuple[str, ...] = ()) -> dict | None:
            # picamera2's _make_initial_stream_config: the same key check for every stream
            if updates is None:
                return None
            valid = ("format", "size")
            for key, value in updates.items():
                if key in valid:
                    defaults[key] = value
                elif key not in ignore:
                    raise ValueError(f"Bad key {key!r}: valid stream configuration keys are {valid}")
            return defaults

        main_cfg = stream({"format": "XBGR8888", "size": (1280, 720)}, main or {})
        main_cfg["size"] = (main_cfg["size"][0] - main_cfg["size"][0] % 2,
                            main_cfg["size"][1] - main_cfg["size"][1] % 2)
        lores_cfg = stream({"format": "YUV420", "size": main_cfg["size"]}, lores)
        raw_cfg = stream({"format": SENSOR_FORMAT, "size": main_cfg["size"]}, raw,
                         ("bit_depth", "crop_limits", "exposure_limits", "fps", "unpacked"))
        return {"use_case": "video", "transform": transform if transform is not None else FakeTransform(),
                "colour_space": colour_space, "buffer_count": buffer_count, "queue": queue,
                "main": main_cfg, "lores": lores_cfg, "raw": raw_cfg, "sensor": {},
                "controls": {"NoiseReductionMode": 1,
                             "FrameDurationLimits": (33333, 33333)} | (controls or {}),
                "display": display, "encode": encode}

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append("configure")
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
        for name in ("main", "lores"):
            stream = config.get(name)
            if stream is None:
                continue
            w, h = stream["size"]
            if not isinstance(stream["size"], tuple) or len(stream["size"]) != 2:
                raise RuntimeError(f"size in {name} stream should be (width, height)")
            if w % 2 or h % 2:
                raise RuntimeError("width and height should be even")
            # libcamera's validate(): an output larger than the sensor is adjusted down to it.
            w, h = min(w, SENSOR_SIZE[0]), min(h, SENSOR_SIZE[1])
            stream["size"] = (w, h)
            if stream["format"] in ("RGB888", "BGR888"):
                stream["stride"] = _align(w * 3, 64)
            elif stream["format"] == "YUV420":
                stream["stride"] = _align(w, 64)  # the ISP pads rows; readers must crop
            else:
                stream["stride"] = w * 4
        lores = config.get("lores")
        if lores is not None:
            if lores["size"][0] > config["main"]["size"][0] or lores["size"][1] > config["main"]["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if lores["format"] not in ("YUV420", "YVU420"):
                raise RuntimeError("lores stream must be YUV")
        self.camera_config = config

    def camera_configuration(self) -> dict[str, Any] | None:
        return self.camera_config

    def start(self, config: Any = None, show_preview: Any = False) -> None:
        self.calls.append("start")
        if self.fail_start is not None:
            raise self.fail_start
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def stop(self) -> None:
        self.calls.append("stop")
        self.started = False

    def close(self) -> None:
        self.calls.append("close")
        if not self.is_open:
            return
        self.stop()
        self.is_open = False
        self.open_indexes.discard(self.camera_idx)

    def capture_request(self, wait: Any = None, signal_function: Any = None, flush: Any = None) -> Any:
        job = FakeJob()
        if self.started and not self.hang:  # before start() no frame ever completes the job
            with self._lock:
                self.frames += 1
                job._future.set_result(FakeRequest(self, self.frames))
        if wait is False:
            return job
        timeout = None if wait in (None, True) else wait
        return job.get_result(timeout=timeout)

    def wait(self, job: FakeJob, timeout: float | None = None) -> Any:
        return job.get_result(timeout=timeout)

    def cancel_all_and_flush(self) -> None:
        self.cancelled += 1


class FlakySource:
    """A frame source that fails the way cameras do, for the app's recovery paths.

    ``script`` is a list of steps, one per ``read()``: ``"frame"`` (a real frame from
    ``images``), ``"error"`` (raise SourceError, like an unplugged USB camera), ``"hang"``
    (block until closed, like a stuck driver), ``"garbage"`` (a frame of the wrong shape and
    dtype). After the script, frames keep coming.
    """

    def __init__(self, images: list[np.ndarray], script: list[str] | None = None, name: str = "flaky",
                 fps: float = 100.0) -> None:
        self.images = images
        self.fps = fps
        self.period = 1.0 / fps  # a camera delivers at its frame rate, it does not spin
        self.script = list(script or [])
        self.name = name
        self.reads = 0
        self.closed = threading.Event()

    def read(self):
        from edge_emojify.sources.base import SourceError, frame_from_bgr
        from edge_emojify.types import Frame

        step = self.script.pop(0) if self.script else "frame"
        self.reads += 1
        time.sleep(self.period)  # the camera's frame period: how the fake behaves, not a test's wait
        if step == "error":
            raise SourceError(f"{self.name}: device disconnected")
        if step == "hang":
            self.closed.wait(30)
            raise SourceError(f"{self.name}: closed while hung")
        if step == "garbage":
            return Frame(np.zeros((7, 3), np.float64), np.zeros((7, 3), np.float64), time.monotonic(), self.reads)
        return frame_from_bgr(self.images[self.reads % len(self.images)], self.reads)

    def close(self) -> None:
        self.closed.set()


class RecordingSink:
    """A null sink that keeps what it was shown and can inject key events, like a window.

    ``polls`` counts the calls to :meth:`poll`: the app polls its sink once every turn of its
    loop, so a test can wait for the loop to come round instead of sleeping.
    """

    name = "recording"

    def __init__(self, size: tuple[int, int] = (320, 240), keep: int = 500) -> None:
        self.size = size
        self.shown: list[np.ndarray] = []
        self.keep = keep
        self.events: list[str] = []
        self.polls = 0
        self.closed = False

    def show(self, image: np.ndarray) -> None:
        assert image.shape == (self.size[1], self.size[0], 3)
        self.shown.append(image.copy())
        del self.shown[:-self.keep]

    def poll(self) -> list[str]:
        self.polls += 1
        events, self.events = self.events, []
        return events

    def close(self) -> None:
        self.closed = True
