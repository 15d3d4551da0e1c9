"""The steadiness benchmark's figures, checked on hand-made sequences (the benchmark itself needs FER2013)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from convert.bench_steady import HOLD_SECONDS, Clip, choose_holds, figures, make_clip
from convert.fer_data import FerSet
from edge_emojify.labels import EMOTIONS, UNSURE

HAPPY, SAD, ANGRY = 3, 4, 0


def test_figures_count_flicker_response_and_settled_labels_as_defined():
    fps, holds = 10, [HAPPY, SAD, ANGRY]
    frames = int(HOLD_SECONDS * fps) * len(holds)
    times = np.arange(frames) / fps
    hold = (times // HOLD_SECONDS).astype(int)
    local = times - hold * HOLD_SECONDS
    shown = np.array(["happy"] * frames, object)
    in1, in2 = hold == 1, hold == 2
    shown[in1 & (local >= 0.5)] = "sad"  # responds after 0.5 s …
    shown[in1 & (local >= 2.0) & (local < 2.2)] = "angry"  # … then flickers away and back (2 changes)
    shown[in2 & (local >= 0.3)] = "angry"
    shown[in2 & (local >= 3.0)] = UNSURE  # ends unsure (1 change)
    probs = np.full((frames, 7), 0.1 / 6)
    probs[np.arange(frames), np.array(holds)[hold]] = 0.9
    clip = Clip(fps, np.zeros((frames, 48, 48), np.uint8), times, hold, np.zeros(frames, bool), np.array(holds))
    f = figures(list(shown), probs, clip)
    assert f["flicker"] == pytest.approx(3 / (3 * (HOLD_SECONDS - 1.0)))  # 3 changes in 3 settled windows
    assert f["response"] == pytest.approx(0.4) and f["clear_changes"] == 2  # median of 0.5 s and 0.3 s
    assert f["settled"] == 1.0 and f["settled_unsure"] == pytest.approx(1 / 3)
    assert f["settled_unsure_as_wrong"] == pytest.approx(2 / 3) and f["per_frame"] == 1.0


def test_holds_alternate_classes_and_the_motion_is_the_same_clip_at_every_frame_rate():
    rng = np.random.default_rng(0)
    blobs = np.stack([cv2.GaussianBlur(rng.random((48, 48)), (0, 0), 4) for _ in range(70)])  # face-like: smooth
    images = ((blobs - blobs.min((1, 2), keepdims=True)) / np.ptp(blobs, (1, 2), keepdims=True) * 255).astype(np.uint8)
    faces = FerSet(images, np.repeat(np.arange(7), 10), np.array(["Training"] * 70))
    order = choose_holds(faces, 3, seed=1)
    labels = faces.labels[order]
    assert sorted(labels.tolist()) == sorted(list(range(7)) * 3) and all(labels[1:] != labels[:-1])
    slow, fast = (make_clip(faces.images[order[:2]], labels[:2], fps, seed=2) for fps in (10, 30))
    assert len(slow.crops) == 2 * HOLD_SECONDS * 10 and len(fast.crops) == 2 * HOLD_SECONDS * 30
    same_time = np.corrcoef(slow.crops[15].ravel(), fast.crops[45].ravel())[0, 1]  # both at 1.5 s
    other_face = np.corrcoef(slow.crops[15].ravel(), slow.crops[55].ravel())[0, 1]  # 5.5 s: the next hold
    assert same_time > 0.6 > other_face
    assert [EMOTIONS[i] for i in fast.labels] == [EMOTIONS[i] for i in labels[:2]]


def test_the_app_row_feeds_the_decision_only_the_frames_the_cadence_reads():
    # At 30 fps and 15 readings a second the app reads frames 0, 2, 4, ...: scores on the odd frames
    # (here a confident "sad") never reach the decision; fed every frame, they win.
    from convert.bench_steady import decided
    from edge_emojify.config import DecisionConfig

    fps, frames = 30, 60
    times = np.arange(frames) / fps
    probs = np.full((frames, 7), 0.02)
    probs[0::2, HAPPY], probs[1::2, SAD] = 0.6, 0.99
    clip = Clip(fps, np.zeros((frames, 48, 48), np.uint8), times, np.zeros(frames, int), np.zeros(frames, bool),
                np.array([HAPPY]))
    assert set(decided(probs, clip, DecisionConfig(), max_rate=15)) == {"happy"}
    assert decided(probs, clip, DecisionConfig())[-1] == "sad"
