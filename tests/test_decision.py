"""What a face shows: steady on a still face, quick on a real change, unsure when unsure, in seconds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge_emojify.config import DecisionConfig
from edge_emojify.decision import Decider
from edge_emojify.labels import EMOTIONS, UNSURE

ANGRY, FEAR, HAPPY, SAD, SURPRISE, NEUTRAL = 0, 2, 3, 4, 5, 6
RESPONSE_TARGET = 0.7  # seconds from a clear change of expression to the new emoji (issue: steadiness)


def scores(label: int, p: float = 0.8, second: int | None = None, q: float = 0.0) -> np.ndarray:
    s = np.full(7, 0.0, np.float32)
    s[label], rest = p, 1 - p
    if second is not None:
        s[second], rest = q, rest - q
    s[s == 0] = rest / np.count_nonzero(s == 0)
    return s


def play(stream, fps: float, cfg: DecisionConfig | None = None) -> list[tuple[float, str]]:
    """Feed ``stream(t)`` (scores at time t) at ``fps``; the (time, label) of every frame."""
    decider = Decider(cfg or DecisionConfig())
    verdict, shown = None, []
    for i in range(int(round(stream.duration * fps))):
        t = i / fps
        verdict = decider.start(stream(t), t) if verdict is None else decider.update(verdict, stream(t), t)
        shown.append((t, verdict.label))
    return shown


def changes(shown: list[tuple[float, str]]) -> list[tuple[float, str]]:
    return [(t, label) for (t, label), (_, before) in zip(shown[1:], shown, strict=False) if label != before]


class Segments:
    """Piecewise-constant scores: [(seconds, scores), …]."""

    def __init__(self, *segments: tuple[float, np.ndarray]) -> None:
        self.segments = segments
        self.duration = sum(d for d, _ in segments)

    def __call__(self, t: float) -> np.ndarray:
        for d, s in self.segments:
            if t < d - 1e-9:
                return s
            t -= d
        return self.segments[-1][1]


CLIP = Segments((2.0, scores(HAPPY, 0.75)), (1.5, scores(SAD, 0.6)), (2.0, scores(SAD, 0.22, NEUTRAL, 0.2)),
                (1.5, scores(SURPRISE, 0.9)), (2.0, scores(HAPPY, 0.45, NEUTRAL, 0.3)), (1.0, scores(ANGRY, 0.7)))


@pytest.mark.parametrize("fps", [10, 15])
def test_the_same_clip_at_10_15_and_30_fps_shows_the_same_labels_in_time_within_one_frame(fps):
    reference, other = changes(play(CLIP, 30)), changes(play(CLIP, fps))
    assert [label for _, label in reference] == ["sad", UNSURE, "surprise", "happy", "angry"]
    assert [label for _, label in other] == [label for _, label in reference]
    for (t30, _), (t, _) in zip(reference, other, strict=True):
        assert abs(t - t30) <= 1 / fps + 1e-6, (t30, t)


@pytest.mark.parametrize("fps", [10, 30])
def test_a_one_frame_flip_never_changes_the_emoji(fps):
    calm, flip = scores(HAPPY, 0.7), scores(SAD, 0.99)
    for at in (0.5, 1.0, 1.5):
        stream = Segments((at, calm), (1 / fps, flip), (2.0, calm))
        assert {label for _, label in play(stream, fps)} == {"happy"}


def test_a_flip_shorter_than_the_dwell_never_shows_even_unsmoothed():
    cfg = DecisionConfig(smoothing_seconds=0, dwell_seconds=0.25)
    short = Segments((1.0, scores(HAPPY)), (0.2, scores(SAD, 0.9)), (1.0, scores(HAPPY)))
    long = Segments((1.0, scores(HAPPY)), (0.3, scores(SAD, 0.9)), (1.0, scores(HAPPY)))
    assert {label for _, label in play(short, 30, cfg)} == {"happy"}
    assert [label for _, label in changes(play(long, 30, cfg))] == ["sad", "happy"]


@pytest.mark.parametrize("fps", [10, 30])
@pytest.mark.parametrize("before,after", [(HAPPY, SAD), (NEUTRAL, SURPRISE), (ANGRY, FEAR)])
def test_a_clear_lasting_change_shows_within_the_response_target(fps, before, after):
    shown = changes(play(Segments((2.0, scores(before, 0.8)), (2.0, scores(after, 0.8))), fps))
    assert shown[0][1] == EMOTIONS[after] and all(label != UNSURE for _, label in shown)
    assert 2.0 < shown[0][0] <= 2.0 + RESPONSE_TARGET


def test_hysteresis_holds_the_label_while_two_classes_are_close():
    close = Segments((1.0, scores(NEUTRAL, 0.6)), (3.0, scores(HAPPY, 0.46, NEUTRAL, 0.40)))
    assert {label for _, label in play(close, 30, DecisionConfig(hysteresis=0.1))} == {"neutral"}
    assert changes(play(close, 30, DecisionConfig(hysteresis=0.02)))[-1][1] == "happy"


def test_unsure_shows_below_the_threshold_and_says_why():
    cfg = DecisionConfig(unsure_below=0.4, unsure_margin=0.05)
    decider = Decider(cfg)
    low = decider.start(scores(HAPPY, 0.36), 0.0)
    assert low.label == UNSURE and low.why == "unsure: top 0.36 < 0.40" and low.leader == "happy"
    tie = decider.start(scores(HAPPY, 0.45, SAD, 0.42), 0.0)
    assert tie.label == UNSURE and tie.why.startswith("unsure: lead 0.03")
    assert decider.start(scores(HAPPY, 0.45, SAD, 0.30), 0.0).label == "happy"


@pytest.mark.parametrize("face,expected", [("thinking", UNSURE), ("neutral", "neutral"), ("keep", "happy")])
def test_the_unsure_face_is_configurable(face, expected):
    cfg = dataclasses.replace(DecisionConfig(), unsure_face=face)
    stream = Segments((1.0, scores(HAPPY, 0.8)), (2.0, scores(SAD, 0.25, HAPPY, 0.24)))
    assert play(stream, 30, cfg)[-1][1] == expected


def test_a_new_face_shows_its_first_scores_at_once_and_timestamps_never_run_backwards():
    decider = Decider(DecisionConfig())
    verdict = decider.start(scores(SURPRISE), 5.0)
    assert verdict.label == "surprise" and verdict.confidence == pytest.approx(0.8)
    same = decider.update(verdict, scores(SURPRISE), 4.0)  # a clock step back: no negative weights
    assert same.label == "surprise" and np.allclose(same.scores, verdict.scores)


@pytest.mark.parametrize("fps", [10, 20])
def test_the_dwell_is_exact_in_frame_time(fps):
    """Unsmoothed, a lasting change shows on the first frame at least dwell_seconds after it began."""
    cfg = DecisionConfig(smoothing_seconds=0, dwell_seconds=0.3, hysteresis=0.0)
    shown = changes(play(Segments((1.0, scores(HAPPY)), (1.0, scores(SAD))), fps, cfg))
    assert shown == [(pytest.approx(1.3), "sad")]


def test_leaving_unsure_needs_no_hysteresis_but_still_dwells():
    cfg = DecisionConfig(smoothing_seconds=0, dwell_seconds=0.2, hysteresis=0.5, unsure_below=0.3)
    stream = Segments((1.0, scores(HAPPY, 0.25)), (1.0, scores(SAD, 0.5, HAPPY, 0.2)))
    assert changes(play(stream, 10, cfg)) == [(pytest.approx(1.2), "sad")]  # from 🤔 straight to sad


def test_keep_shows_the_thinking_face_until_there_is_an_emotion_to_keep():
    cfg = DecisionConfig(smoothing_seconds=0, dwell_seconds=0.2, unsure_face="keep", unsure_below=0.3)
    stream = Segments((1.0, scores(HAPPY, 0.25)), (1.0, scores(HAPPY, 0.8)), (1.0, scores(SAD, 0.25)))
    assert changes(play(stream, 10, cfg)) == [(pytest.approx(1.2), "happy")]  # then kept through the unsure end


@pytest.mark.parametrize("fps", [10, 30])
def test_smoothing_alone_absorbs_a_one_frame_flip(fps):
    cfg = DecisionConfig(smoothing_seconds=0.25, dwell_seconds=0, hysteresis=0)
    stream = Segments((1.0, scores(HAPPY, 0.7)), (1 / fps, scores(SAD, 0.99)), (1.0, scores(HAPPY, 0.7)))
    assert {label for _, label in play(stream, fps, cfg)} == {"happy"}


@pytest.mark.parametrize("fps", [10, 30])
def test_the_smoothing_time_constant_is_in_seconds(fps):
    # Unheld, a step from happy to sad shows when the running average crosses half way:
    # 1 - exp(-t / T) = 1/2 at t = T ln 2 after the step, within a frame, at any frame rate.
    cfg = DecisionConfig(smoothing_seconds=0.6, dwell_seconds=0, hysteresis=0)
    shown = changes(play(Segments((3.0, scores(HAPPY)), (2.0, scores(SAD))), fps, cfg))
    assert [label for _, label in shown] == ["sad"]
    assert abs(shown[0][0] - (3.0 + 0.6 * np.log(2))) <= 1 / fps


def test_keep_shows_the_thinking_face_for_a_new_face_that_is_unsure_from_the_start():
    decider = Decider(DecisionConfig(unsure_face="keep", unsure_below=0.3))
    assert decider.start(scores(HAPPY, 0.25), 0.0).label == UNSURE  # nothing to keep yet


def test_keep_keeps_the_emotion_through_a_close_race_between_two_others():
    cfg = DecisionConfig(smoothing_seconds=0, dwell_seconds=0.2, unsure_face="keep", unsure_margin=0.05)
    race = np.array([0.40, 0.02, 0.02, 0.10, 0.38, 0.04, 0.04], np.float32)  # angry just ahead of sad
    shown = play(Segments((1.0, scores(HAPPY, 0.8)), (1.0, race)), 10, cfg)
    assert {label for _, label in shown} == {"happy"}


def test_the_debug_reason_is_current_on_every_frame():
    # The debug screen prints what the face shows, what it waits for and why, from each new verdict.
    decider = Decider(DecisionConfig(smoothing_seconds=0, dwell_seconds=0.5))
    first = decider.start(scores(HAPPY), 0.0)
    assert first.wanted == first.label == "happy" and first.why == "happy 0.80"
    later = decider.update(first, scores(SAD, 0.7), 0.1)
    assert (later.label, later.wanted, later.since) == ("happy", "sad", 0.1) and later.why == "sad 0.70"
