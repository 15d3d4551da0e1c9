"""The analysis pipeline on its own: each stage's time, and the emotion read off the face at any gray resolution."""

from __future__ import annotations

import numpy as np
import pytest
from photos import hopper

from edge_emojify.config import Config, DetectorConfig, EmotionConfig
from edge_emojify.errors import UserError
from edge_emojify.labels import EMOTIONS
from edge_emojify.pipeline import Pipeline, build_pipeline
from edge_emojify.sources.base import frame_from_bgr


def test_a_smaller_gray_image_reads_the_same_face():
    # The Pi's lores stream gives a gray image smaller than the colour one; the emotion crop is scaled to it.
    image = hopper()
    full = build_pipeline(Config()).process(frame_from_bgr(image, 0, timestamp=0.0))
    half = build_pipeline(Config()).process(frame_from_bgr(image, 0, image.shape[1] // 2, timestamp=0.0))
    ((a,), (b,)) = full.tracks, half.tracks
    assert np.abs(a.scores - b.scores).max() < 0.15


def test_the_prior_correction_setting_reaches_the_emotion_model():
    # emotion.prior_correction = false in the config: the raw model's scores, not the corrected ones.
    frame = frame_from_bgr(hopper(), 0, timestamp=0.0)
    on, off = build_pipeline(Config()), build_pipeline(Config(emotion=EmotionConfig(prior_correction=False)))
    assert on.emotion.tau > 0 and off.emotion.tau == 0
    ((corrected,), (raw,)) = on.process(frame).tracks, off.process(frame).tracks
    disgust = EMOTIONS.index("disgust")
    assert corrected.scores[disgust] > 1.3 * raw.scores[disgust]  # the rarest class gains only when corrected


@pytest.mark.parametrize("range_", ["short", "full"])
def test_a_missing_face_detector_model_is_named_as_such(tmp_path, range_):
    # detector.model_dir pointing at a folder without the models: one line that says which part is missing.
    with pytest.raises(UserError, match=r"^face detector .*face_detection_\w+_range\.tflite is missing"):
        build_pipeline(Config(detector=DetectorConfig(range=range_, model_dir=str(tmp_path))))


class Clock:
    """``time`` for the pipeline: stands still except where a stage spends its time."""

    def __init__(self) -> None:
        self.now = 50.0

    def perf_counter(self) -> float:
        return self.now


class Stage:
    """A detector, emotion model and tracker at once, each call taking its time on the clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def detect(self, image, hints=(), timestamp=None):
        self.clock.now += 0.012
        return []

    def predict(self, gray, faces, gray_scale=1.0):
        self.clock.now += 0.020
        return np.zeros((0, 7), np.float32)

    def expected(self, timestamp):
        return []

    def match(self, faces):
        return [None] * len(faces)

    def update(self, faces, scores, timestamp, matches=None):
        self.clock.now += 0.003
        return []


def test_each_stage_is_timed_in_milliseconds_on_its_own(monkeypatch):
    # What the debug screen and bench show per stage: 12 ms detecting, 20 ms reading emotions, 3 ms tracking.
    import edge_emojify.pipeline as pipeline_module

    clock = Clock()
    monkeypatch.setattr(pipeline_module, "time", clock)
    stage = Stage(clock)
    analysis = Pipeline(stage, stage, stage).process(frame_from_bgr(hopper(), 0, timestamp=0.0))
    assert analysis.stage_ms == pytest.approx({"detect": 12.0, "emotion": 20.0, "track": 3.0})


def test_at_30_fps_one_face_is_read_on_every_other_frame_and_keeps_its_verdict_between():
    # emotion.max_rate = 15: the real model reads the face at 15 Hz; the frames between keep its verdict.
    image = hopper()
    pipeline = build_pipeline(Config())
    read_at = []
    for i in range(8):
        (track,) = pipeline.process(frame_from_bgr(image, i, timestamp=i / 30)).tracks
        read_at.append(round(track.verdict.time * 30))
    assert read_at == [0, 0, 2, 2, 4, 4, 6, 6]
    every_frame = build_pipeline(Config(emotion=EmotionConfig(max_rate=0)))
    for i in range(4):
        (track,) = every_frame.process(frame_from_bgr(image, i, timestamp=i / 30)).tracks
        assert track.verdict.time == i / 30
