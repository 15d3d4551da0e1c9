"""One frame through the analysis stages: check → detect → match → classify → track, timed per stage.

Rendering and display stay outside so the same pipeline serves the live app, ``bench`` and
the soak test.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from edge_emojify.cadence import Cadence
from edge_emojify.config import Config
from edge_emojify.decision import Decider
from edge_emojify.detection.detector import BlazeFaceDetector, FaceDetector
from edge_emojify.detection.scheduler import ScheduledDetector
from edge_emojify.emotion import EmotionModel
from edge_emojify.errors import UserError
from edge_emojify.tracking import Tracker
from edge_emojify.types import Frame, Track

log = logging.getLogger(__name__)


class BadFrame(ValueError):
    """A frame the pipeline cannot use (empty, wrong shape or dtype); it is skipped and counted."""


def check_frame(frame: Frame) -> None:
    """Reject frames that would crash a stage; the cause goes to the log once per kind."""
    image, gray = frame.image, frame.gray
    if not isinstance(image, np.ndarray) or not isinstance(gray, np.ndarray):
        raise BadFrame("image is not an array")
    if image.dtype != np.uint8 or gray.dtype != np.uint8:
        raise BadFrame(f"dtype {image.dtype}/{gray.dtype}, expected uint8")
    if image.ndim != 3 or image.shape[2] != 3:
        raise BadFrame(f"image shape {image.shape}, expected (H, W, 3)")
    if gray.ndim != 2:
        raise BadFrame(f"gray shape {gray.shape}, expected (H, W)")
    if min(image.shape[:2]) < 16 or min(gray.shape) < 16:
        raise BadFrame(f"image {image.shape[:2]} too small")
    if not frame.scale > 0:
        raise BadFrame(f"scale {frame.scale}")


@dataclass(frozen=True)
class Analysis:
    """What one frame's analysis found, and how long each stage took (for bench and the debug screen)."""

    tracks: list[Track]  # live tracks, largest face first
    stage_ms: dict[str, float]


@dataclass
class Pipeline:
    """The analysis stages of the frame flow (docs/design.md), wired together."""

    detector: FaceDetector
    emotion: EmotionModel
    tracker: Tracker
    cadence: Cadence = field(default_factory=lambda: Cadence(0.0))
    bad_frames: int = 0
    _bad_reasons: set[str] = field(default_factory=set)

    def reset(self) -> None:
        """Forget every face (a new scene, a reopened camera): nothing carries over."""
        self.tracker.reset()
        self.cadence.reset()
        reset = getattr(self.detector, "reset", None)  # a detector that keeps state between frames
        if reset is not None:
            reset()

    def frame_done(self) -> None:
        """The frame is shown: what the detector queued beside the frame path may start
        (``ScheduledDetector.frame_done``), in the time until the next frame."""
        done = getattr(self.detector, "frame_done", None)  # a detector with work beside the frame path
        if done is not None:
            done()

    def close(self) -> None:
        """Stop the detector's worker thread, if it has one."""
        close = getattr(self.detector, "close", None)
        if close is not None:
            close()

    def process(self, frame: Frame) -> Analysis | None:
        """This frame's tracks and stage times, or None when the frame was bad (skipped and counted)."""
        try:
            check_frame(frame)
        except BadFrame as exc:
            self.bad_frames += 1
            if str(exc) not in self._bad_reasons:
                self._bad_reasons.add(str(exc))
                log.warning("skipping bad frame %d: %s", frame.index, exc)
            return None
        if frame.cut:
            self.reset()
        t0 = time.perf_counter()
        faces = self.detector.detect(frame.image, self.tracker.expected(frame.timestamp), frame.timestamp)
        t1 = time.perf_counter()
        matches = self.tracker.match(faces)
        read = self.cadence.due([t.verdict.time if t else None for t in matches], frame.timestamp)
        t2 = time.perf_counter()
        scores: list[np.ndarray | None] = [None] * len(faces)
        for i, reading in zip(read, self.emotion.predict(frame.gray, [faces[i] for i in read], frame.scale),
                              strict=True):
            scores[i] = reading
        t3 = time.perf_counter()
        tracks = self.tracker.update(faces, scores, frame.timestamp, matches)
        t4 = time.perf_counter()
        return Analysis(tracks, {"detect": (t1 - t0) * 1e3, "emotion": (t3 - t2) * 1e3,
                                 "track": (t2 - t1 + t4 - t3) * 1e3})


def build_pipeline(cfg: Config, background: bool = False) -> Pipeline:
    """Load the models named by the config; every failure is a one-line UserError.

    ``background`` runs the auto range's full-range pass in a worker thread (the live mirror);
    without it the pass runs in line, so a file's result never depends on this machine's speed.
    """
    try:
        detector: FaceDetector = BlazeFaceDetector(cfg.detector, cfg.models_dir, cfg.emotion.threads)
    except ValueError as exc:
        raise UserError(f"face detector in {cfg.models_dir} does not match BlazeFace ({exc}); "
                        "re-extract it with python -m convert.extract_detector") from None
    if cfg.detector.range == "auto":
        detector = ScheduledDetector(detector, background)
    emotion = EmotionModel(cfg.emotion_model, cfg.emotion.threads, cfg.emotion.prior_correction,
                           cfg.emotion.lift_contrast)
    return Pipeline(detector, emotion, Tracker(cfg.tracking, Decider(cfg.decision)), Cadence(cfg.emotion.max_rate))
