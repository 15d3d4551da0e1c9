"""Frame sources: what --source means, frame rates, pacing, stills, loops and the Pi camera's errors."""

from __future__ import annotations

import errno
import sys

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


def test_a_video_marks_the_first_frame_of_each_shot_and_of_each_pass_as_a_cut(tmp_path):
    # Each frame goes out two frames after it is decoded (the cut finder looks at the frames after
    # it too), with its own media time; the end of the clip comes out too.
    from clips import make_clip

    shots = make_clip(tmp_path / "cut.mp4", frames=30, audio=False, keep_images=True, cut=12)
    video = VideoFileSource(shots.path, SourceConfig(loop=True))
    frames = [video.read() for _ in range(65)]
    assert [f.index for f in frames if f.cut] == [13, 31, 43, 61]  # frame 12, the start over, 12 again ...
    assert [f.timestamp for f in frames[:3]] == pytest.approx([0, 1 / 30, 2 / 30])
    assert np.abs(frames[29].image.astype(int) - shots.images[29]).mean() < 8  # the last frame, then the first
    assert np.abs(frames[30].image.astype(int) - shots.images[0]).mean() < 8
    video.close()
    once = VideoFileSource(shots.path, SourceConfig(loop=False))
    assert sum(1 for _ in iter(once.read, None)) == 30
    once.close()


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


# ---------------------------------------------------------------- the synthetic camera


def test_synthetic_source_moves_real_faces_of_the_asked_size_smoothly_and_repeatably():
    from edge_emojify.config import DetectorConfig
    from edge_emojify.detection.detector import BlazeFaceDetector
    from edge_emojify.resources import models_dir
    from edge_emojify.sources.synthetic import MovingFacesSource

    def make(seed: int = 1) -> MovingFacesSource:
        return MovingFacesSource(faces=2, size=(960, 540), face_px=100, detect_width=480, seed=seed)

    source = make()
    detector = BlazeFaceDetector(DetectorConfig(range="both"), models_dir())
    frames = [source.read() for _ in range(31)]
    assert [f.index for f in frames] == list(range(1, 32))
    assert [f.timestamp for f in frames] == pytest.approx([i / 30.0 for i in range(31)])
    assert frames[0].image.shape == (540, 960, 3) and frames[0].gray.shape == (270, 480)
    assert (frames[0].image[0:40, 0:40] == 110).all()  # the wall: no head is in that corner at first
    boxes = []
    for frame in (frames[0], frames[30]):
        faces = sorted(detector.detect(frame.image), key=lambda f: f.box[0])
        assert len(faces) == 2
        # BlazeFace's box is a little larger than the hand-drawn one the size is set by.
        assert all(95 <= f.width <= 140 for f in faces), [f.width for f in faces]
        boxes.append([f.box for f in faces])
    # Both move, smoothly: tens of pixels in a second, not jumps across the frame.
    moved = [abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in zip(*boxes, strict=True)]
    assert all(20 < m < 300 for m in moved), moved
    # The same seed gives the same frames; another seed another path.
    assert np.array_equal(make().read().image, frames[0].image)
    assert not np.array_equal(make(seed=2).read().image, frames[0].image)


def test_synthetic_heads_wander_over_the_whole_frame():
    """Soak runs see faces at every edge (where boxes get clipped), not only in the middle."""
    from edge_emojify.sources.synthetic import MovingFacesSource

    source = MovingFacesSource(faces=1, size=(320, 240), face_px=40, detect_width=0)
    seen = np.zeros((240, 320), bool)
    for _ in range(700):  # the slowest path (0.01 rad a frame) swings edge to edge in about 314 frames
        seen |= (source.read().image != 110).any(axis=2)
    ys, xs = np.nonzero(seen)
    assert (xs.min(), ys.min()) == (0, 0) and xs.max() >= 316 and ys.max() >= 236


def test_head_crop_grows_the_box_and_stops_at_the_image_edge():
    from edge_emojify.sources.synthetic import head_crop

    image = np.arange(100 * 100, dtype=np.int32).reshape(100, 100)
    assert np.array_equal(head_crop(image, (40, 40, 60, 60), 0.5), image[30:70, 30:70])
    assert np.array_equal(head_crop(image, (0, 5, 20, 25), 0.5), image[0:35, 0:30])  # a face at the corner


# ---------------------------------------------------------------- opening a source


def test_open_source_paces_files_for_the_live_mirror_unless_told_not_to(tmp_path, monkeypatch):
    from edge_emojify.sources import open_source

    fake = FakeTime()
    monkeypatch.setattr("edge_emojify.sources.opencv.time", fake)
    monkeypatch.setattr("edge_emojify.sources.images.time", fake)
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), np.full((30, 40, 3), 77, np.uint8))
    for cfg, period in ((SourceConfig(kind="sample"), 1 / 15),
                        (SourceConfig(kind="video", path=str(SAMPLE_VIDEO)), 1 / 15),
                        (SourceConfig(kind="image", path=str(still), fps=4), 0.25)):
        live, offline = open_source(cfg), open_source(cfg, realtime=False)  # the app's default, and bench's
        fake.sleeps.clear()
        offline.read()
        assert fake.sleeps == [], cfg.kind
        live.read()
        live.read()
        assert fake.sleeps == pytest.approx([period, period]), cfg.kind
        live.close()
        offline.close()


def test_open_source_reads_a_folder_of_images_in_name_order(tmp_path):
    from edge_emojify.sources import open_source

    for name, value in (("b.png", 20), ("a.png", 10)):
        cv2.imwrite(str(tmp_path / name), np.full((30, 40, 3), value, np.uint8))
    source = open_source(SourceConfig(kind="image", path=str(tmp_path), loop=False), realtime=False)
    assert [int(source.read().image[0, 0, 0]) for _ in range(2)] == [10, 20] and source.read() is None


def test_open_source_names_a_usb_camera_that_is_not_there():
    from edge_emojify.sources import SourceError, open_source

    with pytest.raises(SourceError, match="cannot open camera 15; check it is plugged in"):
        open_source(SourceConfig(kind="camera", camera_index=15))


def test_open_source_auto_opens_the_pi_camera_it_was_given():
    from edge_emojify.sources import open_source
    from tests.fakes import FakePicamera2

    FakePicamera2.reset()
    try:
        source = open_source(SourceConfig(kind="auto"), picamera2_factory=FakePicamera2)
        assert source.name == "picamera" and source.read().index == 0
        source.close()
    finally:
        FakePicamera2.reset()


def test_a_video_that_claims_an_absurd_frame_rate_plays_at_the_configured_one(tmp_path):
    path = tmp_path / "odd.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 1000, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), 100, np.uint8))
    writer.release()
    video = VideoFileSource(path, SourceConfig(fps=12))
    assert video.fps == 12  # the video sink writes at it, and realtime playback paces by it
    assert video.read().timestamp == 0 and video.read().timestamp == pytest.approx(1 / 12)
    video.close()


def test_sources_say_what_they_are():
    """The journal's "source: ..." line and `doctor` tell which file or fake camera plays."""
    from edge_emojify.sources.synthetic import MovingFacesSource

    video = VideoFileSource(SAMPLE_VIDEO, SourceConfig())
    assert SAMPLE_VIDEO.name in video.name
    video.close()
    name = MovingFacesSource(faces=3).name
    assert "synthetic" in name and "3" in name


@pytest.mark.parametrize("width", [320, 640, 1280, 1920])
def test_the_gray_image_maps_back_onto_the_picture_at_any_camera_width(width):
    # Faces found in ``gray`` are drawn at gray * scale on the picture: a 640-px webcam (no downscale)
    # as much as a 1920-px one (a third), else the emoji lands beside the face.
    from edge_emojify.sources.base import frame_from_bgr

    image = np.zeros((width * 3 // 4, width, 3), np.uint8)
    image[:, ::3] = 255  # fine stripes: the small gray image keeps the picture's brightness (area average)
    frame = frame_from_bgr(image, 1, detect_width=640)
    assert frame.gray.shape[1] == min(width, 640)
    assert frame.gray.shape[1] * frame.scale == pytest.approx(width)
    assert frame.gray.shape[0] * frame.scale == pytest.approx(image.shape[0], abs=frame.scale)
    assert abs(float(frame.gray.mean()) - float(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).mean())) < 3


def test_a_picture_with_an_alpha_channel_becomes_plain_colour():
    from edge_emojify.sources.base import frame_from_bgr

    bgra = np.dstack([np.full((48, 64, 3), 200, np.uint8), np.zeros((48, 64), np.uint8)])
    frame = frame_from_bgr(bgra, 1, detect_width=640)
    assert frame.image.shape == (48, 64, 3) and frame.image.max() == 200


def test_auto_asks_an_installed_picamera2_which_cameras_exist(tmp_path, monkeypatch):
    # The choice is made by importing picamera2 as the app does; here a package of that name that is the fake.
    from fakes import FakePicamera2

    from edge_emojify.sources import choose_auto

    auto = SourceConfig(kind="auto")
    (tmp_path / "picamera2").mkdir()
    (tmp_path / "picamera2" / "__init__.py").write_text("from fakes import FakePicamera2 as Picamera2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "picamera2", None)  # not installed, as on a PC
    assert choose_auto(auto).kind != "picamera"
    monkeypatch.delitem(sys.modules, "picamera2")  # installed
    FakePicamera2.reset()
    try:
        assert choose_auto(auto).kind == "picamera"  # one camera listed
        FakePicamera2.cameras = []
        assert choose_auto(auto).kind != "picamera"  # libcamera lists none
    finally:
        FakePicamera2.reset()
