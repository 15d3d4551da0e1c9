"""Where a recording cuts to another shot (``video/cuts.py``): on real photographs moving the way
footage moves (a pan, faces walking, a fade) no frame is a cut; where the picture jumps to
another photograph, that frame is, and only it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_emojify.cuts import HUE_TURN, MIN_CHANGE, THUMB_WIDTH, WINDOW, CutFinder, change
from edge_emojify.resample import thumbnail
from edge_emojify.resources import DATA_DIR
from edge_emojify.sources.synthetic import MovingFacesSource

SIZE = (320, 180)


def photo(name: str, width: int = 640) -> np.ndarray:
    image = cv2.imread(str(DATA_DIR / name))
    return cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1])), interpolation=cv2.INTER_AREA)


def pan(name: str, frames: int, step: int) -> list[np.ndarray]:
    """A camera sweeping across ``name`` by ``step`` pixels a frame."""
    image = photo(name)
    return [image[40:40 + SIZE[1], x:x + SIZE[0]] for x in range(0, frames * step, step)]


def verdicts(images: list[np.ndarray]) -> list[bool]:
    """Every frame's verdict, in order, as a recording gets them: ``WINDOW`` frames late, the rest at the end."""
    finder, out = CutFinder(), []
    for i, image in enumerate(images):
        verdict = finder.push(image)
        assert (verdict is None) == (i < WINDOW)
        if verdict is not None:
            out.append(verdict)
    return out + finder.drain()


def test_a_jump_to_another_photograph_is_the_one_cut():
    shots = pan("hopper.jpg", 12, 4) + pan("astronaut.jpg", 12, 4)
    assert [i for i, cut in enumerate(verdicts(shots)) if cut] == [12]


@pytest.mark.parametrize("step", [6, 24])  # a slow and a fast pan: a fast one changes every frame a lot
def test_a_pan_is_no_cut(step):
    frames = pan("hopper.jpg", 12, step)
    changes = [change(*(cv2.cvtColor(thumbnail(f, THUMB_WIDTH), cv2.COLOR_BGR2HSV) for f in pair))
               for pair in zip(frames, frames[1:], strict=False)]
    assert step < 24 or min(changes) > MIN_CHANGE  # the fast pan changes each frame more than a cut must
    assert not any(verdicts(frames))


def test_faces_walking_and_a_fade_out_are_no_cut():
    source = MovingFacesSource(faces=3, size=SIZE, face_px=60)
    walking = [source.read().image for _ in range(30)]
    fade = [(walking[-1] * (1 - k / 16)).astype(np.uint8) for k in range(1, 15)]  # down to an eighth
    assert not any(verdicts(walking + fade))


def test_each_clip_starts_afresh_and_a_clip_shorter_than_the_window_gets_its_verdicts():
    finder = CutFinder()
    for image in pan("hopper.jpg", 6, 4):
        finder.push(image)
    assert len(finder.drain()) == WINDOW
    first = finder.push(photo("astronaut.jpg")[:SIZE[1], :SIZE[0]])  # another clip: not a cut of the last one
    assert first is None and finder.drain() == [False]


def test_hue_is_taken_around_its_circle():
    red = np.full((4, 4, 3), (0, 200, 200), np.uint8)
    also_red = np.full((4, 4, 3), (HUE_TURN - 2, 200, 200), np.uint8)
    assert change(red, also_red) == pytest.approx(2 / 3)
