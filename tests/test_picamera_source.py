"""PiCameraSource against a fake Picamera2 that behaves like the real one (see tests/fakes.py)."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_emojify.config import SourceConfig
from edge_emojify.sources.base import FrameSource, SourceError
from edge_emojify.sources.picamera import BUFFER_COUNT, PiCameraSource, _chain, describe_open_failure, lores_size
from tests import fakes
from tests.fakes import FakePicamera2, FakeTransform


@pytest.fixture(autouse=True)
def fresh_camera():
    FakePicamera2.reset()
    yield
    FakePicamera2.reset()


def make(**changes) -> PiCameraSource:
    cfg = dataclasses.replace(SourceConfig(kind="picamera"), **changes)
    return PiCameraSource(cfg, picamera2_factory=FakePicamera2, transform_factory=FakeTransform)


def within(seconds: float, call):
    """``call()``'s result or exception, failing instead of hanging if it blocks for ``seconds``."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still blocked after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_configures_main_rgb888_and_even_lores_yuv420() -> None:
    src = make(width=1280, height=720, fps=30, detect_width=640)
    cam = FakePicamera2.instances[-1]
    config = cam.camera_configuration()
    assert config["main"]["format"] == "RGB888" and config["main"]["size"] == (1280, 720)
    assert config["lores"]["format"] == "YUV420" and config["lores"]["size"] == (640, 360)
    assert config["controls"]["FrameDurationLimits"] == (33333, 33333)
    assert config["buffer_count"] == BUFFER_COUNT
    assert config["raw"] is None  # no raw stream: its buffers would only cost CMA memory
    assert config["transform"] == FakeTransform(hflip=False, vflip=False)
    assert cam.calls[:3] == ["create_video_configuration", "configure", "start"]
    assert isinstance(src, FrameSource)
    src.close()


@pytest.mark.parametrize(("rotation", "hflip", "vflip", "expected"), [
    (0, False, False, (False, False)),
    (180, False, False, (True, True)),
    (0, True, False, (True, False)),
    (180, True, False, (False, True)),  # a half turn then a mirror is a vertical flip
    (0, False, True, (False, True)),
])
def test_rotation_and_flips_become_one_transform(rotation, hflip, vflip, expected) -> None:
    src = make(rotation=rotation, hflip=hflip, vflip=vflip)
    transform = FakePicamera2.instances[-1].camera_configuration()["transform"]
    assert (transform.hflip, transform.vflip) == expected
    src.close()


def test_read_gives_bgr_image_cropped_y_plane_timestamp_and_scale() -> None:
    src = make(width=1280, height=720, detect_width=600)  # 600 wide: stride pads the Y rows to 640
    cam = FakePicamera2.instances[-1]
    before = time.monotonic()
    frames = [src.read() for _ in range(3)]
    for n, frame in enumerate(frames):
        assert frame.image.shape == (720, 1280, 3) and frame.image.dtype == np.uint8
        assert frame.gray.shape == (338, 600) and frame.gray.dtype == np.uint8
        assert frame.gray.flags["C_CONTIGUOUS"]
        assert np.all(frame.gray == n + 1)  # the Y plane only: no padding, no U/V rows
        assert np.all(frame.image[..., 0] == n + 1)  # blue first: OpenCV's BGR order
        assert frame.index == n
        assert frame.scale == pytest.approx(1280 / 600)
    assert frames[0].timestamp == pytest.approx(before, abs=0.5)  # same clock as time.monotonic
    assert frames[1].timestamp - frames[0].timestamp == pytest.approx(1 / 30, abs=1e-3)  # the sensor's clock
    assert cam.outstanding == 0  # every request went back to the camera
    src.close()


@given(st.integers(64, 4096), st.integers(48, 3072), st.integers(64, 1920))
def test_lores_size_is_even_within_bounds_and_keeps_aspect(main_w, main_h, detect_w) -> None:
    main_w -= main_w % 2
    main_h -= main_h % 2
    w, h = lores_size(main_w, main_h, detect_w)
    assert w % 2 == 0 and h % 2 == 0
    assert 2 <= w <= main_w and 2 <= h <= main_h
    assert w <= max(detect_w, 2)
    assert abs(h - w * main_h / main_w) <= 2


def test_hung_camera_times_out_with_source_error_and_cancels_the_job() -> None:
    src = make(timeout=0.2)
    cam = FakePicamera2.instances[-1]
    cam.hang = True
    start = time.monotonic()
    with pytest.raises(SourceError, match="no frame from the Pi camera within 0.2 s") as info:
        within(10, src.read)  # a wait without the timeout would hang the mirror for good
    assert "ribbon cable" in str(info.value) and "timeout" in str(info.value)  # what to check, what to raise
    assert 0.15 < time.monotonic() - start < 1.0
    assert cam.cancelled == 1
    src.close()


def test_second_open_of_a_busy_camera_names_the_other_program() -> None:
    first = make()
    with pytest.raises(SourceError, match="in use by another program") as info:
        make()
    assert "rpicam-hello" in str(info.value) and "\n" not in str(info.value)
    first.close()
    make().close()  # released: opens again


def test_no_camera_attached() -> None:
    FakePicamera2.cameras = []
    with pytest.raises(SourceError, match="no Pi camera found; check the ribbon cable"):
        make()


def test_camera_index_past_the_end_names_the_key() -> None:
    with pytest.raises(SourceError, match="camera_index"):
        make(camera_index=1)


def test_open_failure_without_camera_list_is_still_explained() -> None:
    # A factory without global_camera_info: the IndexError inside picamera2's wrapper decides.
    with pytest.raises(SourceError, match="no Pi camera found"):
        PiCameraSource(dataclasses.replace(SourceConfig(), camera_index=3),
                       picamera2_factory=lambda n: FakePicamera2(n), transform_factory=FakeTransform)


def test_describe_open_failure_for_an_unknown_cause() -> None:
    try:
        try:
            raise ValueError("something odd")
        except ValueError:
            raise RuntimeError("Camera __init__ sequence did not complete.")  # noqa: B904
    except RuntimeError as exc:
        message = describe_open_failure(exc)
    assert "something odd" in message and "rpicam-hello --list-cameras" in message


def test_start_failure_closes_the_camera_and_raises_source_error() -> None:
    FakePicamera2.fail_start = RuntimeError("Failed to allocate buffers.")
    with pytest.raises(SourceError, match="refused 1280x720"):
        make()
    assert FakePicamera2.open_indexes == set()
    assert "close" in FakePicamera2.instances[-1].calls and not FakePicamera2.instances[-1].is_open


def test_close_is_idempotent_and_read_after_close_fails() -> None:
    src = make()
    cam = FakePicamera2.instances[-1]
    src.close()
    src.close()
    assert cam.calls.count("close") == 1 and not cam.is_open
    with pytest.raises(SourceError, match="closed"):
        src.read()


def test_context_manager_closes() -> None:
    with make() as src:
        assert src.read() is not None
    assert FakePicamera2.open_indexes == set()


def test_older_picamera2_without_wait_timeout_falls_back_to_job_timeout() -> None:
    class OldPicamera2(FakePicamera2):
        def wait(self, job):  # picamera2 < 0.3.17 had no timeout argument
            return job.get_result()

    src = PiCameraSource(dataclasses.replace(SourceConfig(), timeout=0.2), picamera2_factory=OldPicamera2,
                         transform_factory=FakeTransform)
    assert src.read().index == 0
    FakePicamera2.instances[-1].hang = True
    with pytest.raises(SourceError, match="no frame"):
        within(10, src.read)
    src.close()


def test_injected_backend_without_libcamera_gets_a_plain_transform(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "libcamera", None)
    src = PiCameraSource(dataclasses.replace(SourceConfig(), rotation=180), FakePicamera2)
    transform = FakePicamera2.instances[-1].camera_configuration()["transform"]
    assert (transform.hflip, transform.vflip) == (True, True)
    src.close()


def test_missing_picamera2_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails like on a PC
    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        PiCameraSource(SourceConfig(), transform_factory=FakeTransform)


@pytest.mark.parametrize("fps,frame_us", [(15, 66667), (50, 20000), (120, 8333)])
def test_the_frame_rate_reaches_the_camera_as_frame_duration_limits(fps, frame_us) -> None:
    src = make(fps=fps)
    controls = FakePicamera2.instances[-1].camera_configuration()["controls"]
    assert controls["FrameDurationLimits"] == (frame_us, frame_us)  # min = max: a fixed rate
    src.close()


def test_the_fake_behaves_like_picamera2_where_the_source_relies_on_it() -> None:
    """The fake's own contract, from picamera2's source: if these drift, the tests above prove less."""
    cam = FakePicamera2(0)
    assert cam.create_video_configuration()["raw"] == {"format": "SRGGB10_CSI2P", "size": (1280, 720)}
    assert cam.create_video_configuration(raw=None)["raw"] is None
    with pytest.raises(ValueError, match="Bad key"):
        cam.create_video_configuration(main={"sise": (640, 480)})
    job = cam.capture_request(wait=False)  # configured nothing, started nothing: no frame ever comes
    with pytest.raises(TimeoutError):
        cam.wait(job, timeout=0.05)
    with pytest.raises(RuntimeError, match="did not complete") as busy:
        FakePicamera2(0)
    assert "busy" in str(busy.value.__context__) and not hasattr(busy.value.__context__, "errno")
    with pytest.raises(IndexError):
        FakePicamera2(3)  # picamera2 indexes the camera list before its try block
    cam.close()


def test_sizes_adjusted_by_the_camera_are_the_ones_read() -> None:
    src = make(width=4096, height=3072, detect_width=640)  # taller than the imx708's 2592 rows
    frame = src.read()
    assert frame.image.shape[:2] == (2592, 4096)  # what libcamera configured, not what was asked
    # Boxes found in lores are mapped to main with one scale: lores follows main's new shape.
    assert frame.gray.shape == (404, 640) and frame.scale == pytest.approx(4096 / 640)
    src.close()


def test_a_camera_whose_lores_stream_is_adjusted_is_cropped_to_what_it_delivers() -> None:
    # A portrait 1000x3072 capture: libcamera cuts both streams to the sensor's 2592 rows.
    src = make(width=1000, height=3072, detect_width=1000)
    frame = src.read()
    assert frame.gray.shape == (2592, 1000) and frame.image.shape[:2] == (2592, 1000)
    assert np.all(frame.gray == 1)  # the Y plane only: no U/V rows read as picture
    src.close()


def test_the_source_reports_the_frame_rate_it_pinned() -> None:
    """The video sink writes at ``fps``: it must be the rate the camera was told to deliver."""
    src = make(fps=50)
    assert src.fps == 50
    src.close()


def test_a_backend_that_ignores_rgb888_still_gives_three_channel_images() -> None:
    class IgnoresRgb888(FakePicamera2):
        def configure(self, config):
            config["main"] = {**config["main"], "format": "XBGR8888"}
            super().configure(config)

    def first_image(factory) -> np.ndarray:
        src = PiCameraSource(SourceConfig(width=320, height=240), picamera2_factory=factory,
                             transform_factory=FakeTransform)
        image = src.read().image
        src.close()
        return image

    image = first_image(IgnoresRgb888)
    assert image.shape == (240, 320, 3) and image.flags["C_CONTIGUOUS"]
    # The same scene in the same colours: XBGR8888 is R, G, B, X in memory, not OpenCV's B, G, R.
    assert np.array_equal(image, first_image(FakePicamera2))


def test_a_frame_without_a_sensor_timestamp_gets_the_clock(monkeypatch) -> None:
    class NoTimestamp(fakes.FakeRequest):
        def get_metadata(self):
            return {k: v for k, v in super().get_metadata().items() if k != "SensorTimestamp"}

    monkeypatch.setattr(fakes, "FakeRequest", NoTimestamp)
    src = make()
    before = time.monotonic()
    frame = src.read()
    assert before <= frame.timestamp <= time.monotonic()
    src.close()


def test_a_picamera2_without_cancel_all_and_flush_still_reports_the_lost_camera() -> None:
    class WithoutCancel(FakePicamera2):
        @property
        def cancel_all_and_flush(self):
            raise AttributeError("cancel_all_and_flush")  # older picamera2 releases lack it

    src = PiCameraSource(dataclasses.replace(SourceConfig(), timeout=0.1), picamera2_factory=WithoutCancel,
                         transform_factory=FakeTransform)
    FakePicamera2.instances[-1].hang = True
    with pytest.raises(SourceError, match="no frame"):
        within(10, src.read)
    src.close()


def test_closing_a_healthy_camera_releases_it_without_warnings(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="edge_emojify")
    make().close()
    assert FakePicamera2.open_indexes == set()
    assert not caplog.records  # a warning in the journal on every stop would cry wolf


def test_a_cyclic_exception_chain_is_walked_once() -> None:
    # Through _chain itself: describe_open_failure would loop for ever, eating memory, if this broke.
    first, second = RuntimeError("Camera __init__ sequence did not complete."), RuntimeError("sensor timeout")
    first.__cause__, second.__cause__ = second, first
    assert list(itertools.islice(_chain(first), 5)) == [first, second]
    assert "sensor timeout" in describe_open_failure(first)


def test_an_empty_cause_leaves_no_gap_in_the_description() -> None:
    try:
        try:
            raise RuntimeError()
        except RuntimeError:
            raise RuntimeError("Camera __init__ sequence did not complete.")  # noqa: B904
    except RuntimeError as exc:
        message = describe_open_failure(exc)
    assert "(Camera __init__ sequence did not complete.)" in message


def test_an_odd_size_is_asked_for_one_pixel_smaller_never_larger() -> None:
    frame = make(width=1281, height=725, detect_width=640).read()
    assert frame.image.shape[:2] == (724, 1280)


def test_the_fake_checks_the_keys_of_every_stream_like_picamera2() -> None:
    cam = FakePicamera2(0)
    for stream in ("main", "lores", "raw"):
        with pytest.raises(ValueError, match="Bad key 'fmt'"):
            cam.create_video_configuration(**{stream: {"fmt": "YUV420"}})
    cam.close()


def test_the_journal_names_the_sizes_and_rate_the_camera_really_runs_at(caplog) -> None:
    # How someone at the Pi learns that libcamera cut the asked 4096x3072 to the sensor's 2592 rows.
    caplog.set_level(logging.INFO, logger="edge_emojify")
    make(width=4096, height=3072, detect_width=640, fps=15).close()
    (started,) = [r.getMessage() for r in caplog.records if "started" in r.msg]
    assert "Pi camera 0" in started and "4096x2592" in started and "640x404" in started and "15 fps" in started
