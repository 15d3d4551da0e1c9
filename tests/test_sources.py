"""Frame sources: what --source means, frame rates, pacing, stills, loops and the Pi camera's errors."""

from __future__ import annotations

import errno

import cv2
import numpy as np
import pytest

from edge_emojify.config import SourceConfig
from edge_emojify.resources import SAMPLE_VIDEO
from edge_emojify.sources import from_argument
from edge_emojify.sources.images import ImageSource
from edge_emojify.sources.opencv import VideoFileSource, _frame_rate
from edge_emojify.sources.picamera import CAMERA_BUSY, NO_CAMERA, describe_open_failure


@pytest.mark.parametrize("argument,kind,extra", [
    ("0", "camera", {"camera_index": 0}), ("2", "camera", {"camera_index": 2}),
    ("picamera", "picamera", {}), ("sample", "sample", {}), ("camera", "camera", {}), ("auto", "auto", {}),
    ("clip.mp4", "video", {"path": "clip.mp4"}), ("face.JPG", "image", {"path": "face.JPG"}),
])
def test_what_a_source_argument_means(argument, kind, extra):
    cfg = from_argument(SourceConfig(kind="sample", camera_index=5), argument)
    assert cfg.kind == kind and all(getattr(cfg, k) == v for k, v in extra.items())
    assert from_argument(cfg, None) is cfg and from_argument(cfg, "") is cfg


def test_a_folder_argument_is_a_folder_of_images(tmp_path):
    assert from_argument(SourceConfig(), str(tmp_path)).kind == "image"


class FakeCapture:
    def __init__(self, fps: float) -> None:
        self.fps = fps

    def get(self, prop: int) -> float:
        assert prop == cv2.CAP_PROP_FPS
        return self.fps


@pytest.mark.parametrize("reported,expected", [(30.0, 30.0), (1.0, 1.0), (240.0, 240.0), (0.0, 12.5),
                                               (0.99, 12.5), (240.5, 12.5), (90000.0, 12.5)])
def test_a_reported_frame_rate_is_used_only_when_it_makes_sense(reported, expected):
    assert _frame_rate(FakeCapture(reported), 12.5) == expected


class FakeTime:
    """Stands in for the source module's ``time``: a clock that moves only by the sleeps asked for."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("realtime", [True, False])
def test_a_video_plays_at_its_own_rate_only_when_realtime(monkeypatch, realtime):
    fake = FakeTime()
    monkeypatch.setattr("edge_emojify.sources.opencv.time", fake)
    video = VideoFileSource(SAMPLE_VIDEO, SourceConfig(), realtime=realtime)
    for _ in range(5):
        video.read()
    assert fake.sleeps == (pytest.approx([1 / 15] * 5) if realtime else [])
    video.close()


def test_a_late_video_frame_is_not_followed_by_a_burst(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr("edge_emojify.sources.opencv.time", fake)
    video = VideoFileSource(SAMPLE_VIDEO, SourceConfig(), realtime=True)
    video.read()
    fake.now += 1.0  # the loop was busy for a second
    video.read()  # late: no sleep, and the schedule starts again from now …
    video.read()
    assert fake.sleeps == pytest.approx([1 / 15, 1 / 15])  # … rather than catching up frame after frame
    video.close()


def test_a_looping_video_starts_again_at_its_first_frame():
    video = VideoFileSource(SAMPLE_VIDEO, SourceConfig(loop=True, detect_width=320))
    frames = [video.read() for _ in range(91)]
    assert np.array_equal(frames[90].image, frames[0].image) and frames[90].cut
    assert frames[0].gray.shape == (240, 320) and frames[0].scale == 2.0  # detect_width reaches the frame
    assert [f.index for f in frames[:3]] == [1, 2, 3]
    video.close()


def test_a_single_still_is_decoded_once_and_paced_when_realtime(tmp_path, monkeypatch):
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), np.full((30, 40, 3), 77, np.uint8))
    reads = []
    real_imread = cv2.imread
    monkeypatch.setattr("edge_emojify.sources.images.cv2.imread",
                        lambda p, flags: reads.append(p) or real_imread(p, flags))
    fake = FakeTime()
    monkeypatch.setattr("edge_emojify.sources.images.time", fake)
    still = ImageSource(path, SourceConfig(fps=4, loop=True), realtime=True)
    frames = [still.read() for _ in range(3)]
    assert len(reads) == 1 and fake.sleeps == [0.25, 0.25, 0.25]
    assert [f.index for f in frames] == [1, 2, 3] and frames[0].image.shape == (30, 40, 3)
    assert still.name == "images still.png" and still.fps == 4
    unpaced = ImageSource(path, SourceConfig(fps=4), realtime=False)
    unpaced.read()
    assert fake.sleeps == [0.25, 0.25, 0.25]


def test_a_grayscale_image_is_read_as_colour(tmp_path):
    path = tmp_path / "gray.png"
    cv2.imwrite(str(path), np.full((30, 40), 77, np.uint8))
    frame = ImageSource(path, SourceConfig(detect_width=20)).read()
    assert frame.image.shape == (30, 40, 3) and frame.gray.shape == (15, 20)


@pytest.mark.parametrize("cause,expected", [
    (RuntimeError("Failed to acquire camera: Device or resource busy"), CAMERA_BUSY),
    (OSError(errno.EBUSY, "in use"), CAMERA_BUSY),
    (IndexError("list index out of range"), NO_CAMERA),
    (RuntimeError("Camera(s) NOT FOUND (Do not forget to disable legacy camera with raspi-config)."), NO_CAMERA),
])
def test_picamera2_failures_become_a_cause_and_a_fix(cause, expected):
    try:
        try:
            raise cause
        except Exception as inner:
            raise RuntimeError("Camera __init__ sequence did not complete.") from inner
    except RuntimeError as exc:
        assert describe_open_failure(exc) == expected


def test_an_unknown_picamera2_failure_quotes_every_cause():
    try:
        try:
            raise ValueError("sensor timeout")
        except ValueError as inner:
            raise RuntimeError("Camera __init__ sequence did not complete.") from inner
    except RuntimeError as exc:
        text = describe_open_failure(exc)
    assert text.startswith("could not open the Pi camera (Camera __init__ sequence did not complete. / sensor "
                           "timeout); check `rpicam-hello --list-cameras`")
    assert describe_open_failure(RuntimeError()).startswith("could not open the Pi camera (RuntimeError)")
