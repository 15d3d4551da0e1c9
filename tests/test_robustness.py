"""Bad frames, bad files, overload and a hung stage: skipped, bounded, reported, never a crash."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from fakes import FlakySource, RecordingSink
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from photos import group, hopper

from edge_emojify.capture import LatestFrameReader
from edge_emojify.config import Config, DecisionConfig, DetectorConfig, DisplayConfig, SourceConfig, TrackingConfig
from edge_emojify.decision import Decider
from edge_emojify.detection.detector import BlazeFaceDetector
from edge_emojify.emotion import crop_face
from edge_emojify.errors import UserError
from edge_emojify.labels import EMOJI_CODEPOINTS
from edge_emojify.notify import Notifier
from edge_emojify.pipeline import build_pipeline
from edge_emojify.render.draw import EmojiAtlas, blend
from edge_emojify.render.modes import FrameStats, Renderer
from edge_emojify.resources import emoji_dir
from edge_emojify.tracking import Tracker
from edge_emojify.types import Face, Frame

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = build_pipeline(Config())
ATLAS = EmojiAtlas(emoji_dir())
# How many examples: the profile in conftest.py. Older hypothesis (Debian's) flags large draws.
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

dtypes = st.sampled_from([np.uint8, np.float32, np.int16, np.bool_])
shapes = st.one_of(st.tuples(st.integers(0, 90), st.integers(0, 90)),
                   st.tuples(st.integers(0, 90), st.integers(0, 90), st.integers(1, 5)))


@SETTINGS
@given(image=arrays(dtypes, shapes), gray=arrays(dtypes, shapes), scale=st.floats(-2, 4))
def test_any_frame_is_processed_or_skipped_never_a_crash(image, gray, scale):
    before = PIPELINE.bad_frames
    analysis = PIPELINE.process(Frame(image, gray, 0.0, 1, scale))
    if analysis is None:
        assert PIPELINE.bad_frames == before + 1
    else:
        assert all(len(t.scores) == 7 for t in analysis.tracks) and set(analysis.stage_ms) == {
            "detect", "emotion", "track"}


@SETTINGS
@given(image=arrays(np.uint8, st.tuples(st.integers(16, 120), st.integers(16, 160), st.just(3))))
def test_valid_frames_of_any_size_and_content_go_through(image):
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert PIPELINE.process(Frame(image, gray, 0.0)) is not None


boxes = st.tuples(st.floats(-500, 500), st.floats(-500, 500), st.floats(1, 400), st.floats(1, 400))


def make_face(b, roll=0.0) -> Face:
    x, y, w, h = b
    kps = np.array([[x + 0.3 * w, y + 0.4 * h], [x + 0.7 * w, y + 0.4 * h + np.tan(np.radians(roll)) * 0.4 * w]]
                   + [[x + w / 2, y + h / 2]] * 4)
    return Face((x, y, x + w, y + h), kps, 0.9)


@SETTINGS
@given(b=boxes, roll=st.floats(-80, 80), scale=st.floats(0.25, 4))
def test_crops_anywhere_in_or_out_of_the_image(b, roll, scale):
    crop = crop_face(np.full((120, 160), 77, np.uint8), make_face(b, roll), 48, 0.15, True, scale)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8


@SETTINGS
@given(frames=st.lists(st.lists(boxes, max_size=6), min_size=1, max_size=12), data=st.data())
def test_tracker_and_renderer_take_any_face_sequence(frames, data):
    tracker = Tracker(TrackingConfig(), Decider(DecisionConfig()))
    renderer = Renderer(ATLAS, DisplayConfig(mode=data.draw(st.sampled_from(["mirror", "panel", "emoji", "debug"]))))
    canvas = np.zeros((90, 160, 3), np.uint8)
    image = np.zeros((120, 160, 3), np.uint8)
    for t, face_boxes in enumerate(frames):
        faces = [make_face(b) for b in face_boxes]
        scores = np.random.default_rng(len(faces)).dirichlet(np.ones(7), len(faces)).astype(np.float32)
        tracks = tracker.update(faces, scores.reshape(len(faces), 7), t / 30)
        assert len({t.track_id for t in tracks}) == len(tracks)
        renderer.render(Frame(image, image[..., 0], 0.0), tracks, canvas, FrameStats())


@SETTINGS
@given(size=st.integers(1, 200), cx=st.floats(-300, 500), cy=st.floats(-300, 500), angle=st.floats(-180, 180))
def test_sprites_blend_anywhere(size, cx, cy, angle):
    canvas = np.zeros((120, 160, 3), np.uint8)
    blend(canvas, ATLAS.sprite("happy", size, angle), cx, cy)


def test_corrupt_emoji_png_is_a_one_line_error(tmp_path):
    for name in EMOJI_CODEPOINTS:
        shutil.copy(emoji_dir() / f"{name}.png", tmp_path / f"{name}.png")
    (tmp_path / "sad.png").write_bytes((emoji_dir() / "sad.png").read_bytes()[:200])
    with pytest.raises(UserError, match=r"sad.png is missing or not an RGBA PNG; rebuild") as err:
        EmojiAtlas(tmp_path)
    assert "\n" not in str(err.value)


def test_twenty_faces_are_capped_at_max_faces_largest_first():
    image, _ = group(20, frame=(1280, 1024), face_px=180, pad=0.15)  # a class photo, 20 faces
    everyone = BlazeFaceDetector(DetectorConfig(range="both", max_faces=50), ROOT / "models").detect(image)
    assert len(everyone) == 20
    capped = BlazeFaceDetector(DetectorConfig(range="both", max_faces=6), ROOT / "models").detect(image)
    assert len(capped) == 6
    assert [f.box for f in capped] == [f.box for f in everyone[:6]]
    assert capped[0].width == max(f.width for f in everyone)


def test_a_slow_consumer_gets_the_newest_frame_and_old_ones_are_dropped():
    source = FlakySource([np.zeros((48, 64, 3), np.uint8)], fps=500)
    reader = LatestFrameReader(source, timeout=1.0)
    try:
        seen = []
        for _ in range(5):
            time.sleep(0.1)  # a slow screen: 10 fps against a 500 fps camera (margin for a loaded machine)
            seen.append(reader.get().index)
        assert reader.dropped > 20
        assert all(b - a > 5 for a, b in zip(seen, seen[1:], strict=False))  # no backlog: always fresh
    finally:
        reader.close()


class BlockingDetector:
    """Wraps the real detector; blocks once on frame ``block_at`` (a hung model or driver)."""

    def __init__(self, inner, block_at: int, seconds: float) -> None:
        self.inner, self.block_at, self.seconds, self.calls = inner, block_at, seconds, 0
        self.blocked = threading.Event()
        self.hung: tuple[float, float] | None = None  # (start, end), time.monotonic()

    def detect(self, image, *where):
        self.calls += 1
        if self.calls == self.block_at:
            self.blocked.set()
            start = time.monotonic()
            time.sleep(self.seconds)
            self.hung = (start, time.monotonic())
        return self.inner.detect(image, *where)


def test_a_hung_stage_stops_the_watchdog_pings(tmp_path):
    from edge_emojify.app import App

    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(0.05)
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})  # 100 ms watchdog
    sink = RecordingSink()
    images = [cv2.resize(hopper(), (320, 376))]
    app = App(Config(source=SourceConfig(timeout=5)), source_factory=lambda c: FlakySource(images, fps=50),
              sink_factory=lambda c, size, fps: sink, notifier=notifier)
    blocking = BlockingDetector(app.pipeline.detector, block_at=10, seconds=2.0)
    app.pipeline.detector = blocking
    received: list[tuple[float, str]] = []

    def listen():
        while not done.is_set():
            try:
                received.append((time.monotonic(), server.recv(4096).decode()))
            except TimeoutError:
                pass

    done = threading.Event()
    listener = threading.Thread(target=listen)
    listener.start()
    app.run(max_frames=20)  # ten frames either side of the hang
    done.set()
    listener.join()
    server.close()
    pings = [t for t, m in received if m == "WATCHDOG=1"]
    start, end = blocking.hung
    # Silence for (nearly) the whole hang (systemd, 100 ms limit, would restart us), pings on either
    # side. Measured against the hang itself, so it holds on a slow or emulated CPU too; a ping sent
    # just before the hang may be read late by a busy listener thread.
    last_before = max(t for t in pings if t <= start + 0.5)
    first_after = min(t for t in pings if t > last_before)
    assert first_after - last_before >= 0.75 * (end - start)
    assert pings[-1] >= end


GOOD = np.full((64, 64, 3), 90, np.uint8)


@pytest.mark.parametrize("image,gray,scale,cause", [
    (None, GOOD[..., 0], 1.0, "not an array"),
    (GOOD.astype(np.float32), GOOD[..., 0], 1.0, "float32"),
    (np.full((64, 64, 4), 90, np.uint8), GOOD[..., 0], 1.0, "(64, 64, 4)"),
    (GOOD, GOOD, 1.0, "(64, 64, 3)"),
    (GOOD[:8, :8], GOOD[..., 0], 1.0, "(8, 8)"),
    (GOOD, GOOD[..., 0], 0.0, "scale 0"),
], ids=["no-image", "float-image", "four-channels", "colour-gray", "tiny-image", "scale-0"])
def test_each_kind_of_bad_frame_is_skipped_and_its_cause_logged_once(caplog, image, gray, scale, cause):
    from edge_emojify.pipeline import Pipeline

    pipeline = Pipeline(PIPELINE.detector, PIPELINE.emotion, PIPELINE.tracker)
    with caplog.at_level("WARNING", logger="edge_emojify.pipeline"):
        for i in range(3):
            assert pipeline.process(Frame(image, gray, 0.0, i, scale)) is None
    assert pipeline.bad_frames == 3
    (record,) = caplog.records  # the journal says why, once, not once per frame
    assert cause in record.getMessage()
