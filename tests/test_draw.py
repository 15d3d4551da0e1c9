"""Drawing primitives on their own: where a letterboxed picture lands, what an emoji leaves untouched, sprite sizes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from waits import SCALE, wait_for

from edge_emojify.render.draw import EmojiAtlas, Placement, blend, letterbox
from edge_emojify.resources import emoji_dir


@pytest.fixture(scope="module")
def atlas() -> EmojiAtlas:
    return EmojiAtlas(emoji_dir())


def test_a_picture_letterboxed_from_a_corner_fills_the_rest_of_the_canvas_and_says_where_it_landed():
    image = np.full((100, 200, 3), 200, np.uint8)
    canvas = np.zeros((300, 500, 3), np.uint8)
    place = letterbox(image, canvas, x0=100, y0=50)  # the region right of x=100 and below y=50: 400 x 250
    drawn = canvas.any(axis=2)
    rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    assert (cols[0], cols[-1] + 1, rows[0], rows[-1] + 1) == (100, 500, 75, 275)  # twice as large, centred
    assert place == Placement(2.0, 100, 75, 400, 200)  # the rectangle it was drawn into, for placing the emojis


@pytest.mark.parametrize("angle", [0, 30])
def test_an_emojis_transparent_surroundings_leave_the_picture_exactly_as_it_was(atlas, angle):
    # No faint square around the emoji, upright or turned: even a white wall stays exactly white there.
    sprite = atlas.sprite("happy", 100, angle)
    canvas = np.full((300, 300, 3), 255, np.uint8)
    blend(canvas, sprite, 150, 150)
    ys, xs = np.mgrid[:300, :300]
    outside = np.hypot(ys + 0.5 - 150, xs + 0.5 - 150) > 0.6 * 100  # the face disc reaches about 0.53 of the size
    assert (canvas[outside] == 255).all()
    assert (canvas[~outside] != 255).any(axis=1).sum() > 0.5 * np.pi * 50**2  # the emoji itself was drawn


def test_a_sprite_is_never_smaller_than_asked_and_at_most_a_sixteenth_or_4_px_larger(atlas):
    for size in np.arange(20, 420, 1.37):
        px = atlas.sprite("happy", size).shape[0]
        assert size <= px < size + max(4, size / 16), size


def test_a_steady_emoji_larger_than_the_whole_cache_is_still_reused_frame_after_frame():
    # A full-screen emoji can outgrow a small cache; it is still kept (alone), not resampled every frame.
    atlas = EmojiAtlas(emoji_dir(), cache_mb=0.1)
    big = atlas.sprite("happy", 300, 30)
    assert big.nbytes > 0.1 * 2**20
    assert atlas.sprite("happy", 300, 30) is big


@pytest.mark.parametrize("broken", ["missing", "no-alpha", "grey"])
def test_a_missing_or_flat_emoji_image_is_one_clear_error(tmp_path, capfd, broken):
    # The atlas refuses artwork without an alpha channel (it would crash mid-frame) and says how to rebuild it,
    # without OpenCV's own warning about an unreadable file ahead of it in the journal.
    import shutil

    import cv2

    from edge_emojify.errors import UserError

    for png in emoji_dir().glob("*.png"):
        shutil.copy(png, tmp_path)
    happy = tmp_path / "happy.png"
    if broken == "missing":
        happy.unlink()
    else:
        image = cv2.imread(str(happy), cv2.IMREAD_COLOR if broken == "no-alpha" else cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(happy), image)
    with pytest.raises(UserError, match="happy.png.*convert.make_emojis"):
        EmojiAtlas(tmp_path)
    assert "WARN" not in capfd.readouterr().err


@pytest.mark.parametrize("thickness", [1, 2])
def test_text_has_a_thin_dark_outline_that_keeps_it_readable_even_on_a_white_wall(thickness):
    import cv2

    from edge_emojify.render.draw import FONT, text

    s, x, y, scale = "happy 88%", 20, 50, 0.8
    on_black, on_white = np.zeros((100, 300, 3), np.uint8), np.full((100, 300, 3), 255, np.uint8)
    text(on_black, s, x, y, scale, thickness=thickness)
    text(on_white, s, x, y, scale, thickness=thickness)
    letters = on_black.min(axis=2) > 128  # white letters; their outline does not show on black
    outline = on_white.max(axis=2) < 128  # and on white only the outline shows
    (tw, th), baseline = cv2.getTextSize(s, FONT, scale, thickness)
    rows, cols = np.flatnonzero(letters.any(axis=1)), np.flatnonzero(letters.any(axis=0))
    # Letters of the asked size and weight, where asked: within the box OpenCV gives for that text.
    assert x - 3 <= cols[0] and cols[-1] <= x + tw + 3 and y - th - 3 <= rows[0] and rows[-1] <= y + baseline + 3
    near = cv2.dilate(letters.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert outline.sum() > 0.5 * letters.sum()  # an outline all along the letters ...
    assert not (outline & ~near).any()  # ... hugging them, within 2 px


def test_a_tilt_jittering_across_a_rounding_boundary_keeps_its_sprite(atlas):
    # 1.4 degrees rounds to 0 and 1.6 to 3: a face wobbling between them must not resample every frame.
    first = atlas.sprite("happy", 200, 1.4)
    assert atlas.sprite("happy", 200, 1.6) is first
    assert atlas.sprite("happy", 200, 4.6) is not first  # more than 3 degrees away: turned anew
    assert atlas.sprite("sad", 200, 1.6) is not first  # never another emoji's sprite
    assert atlas.sprite("happy", 150, 1.4) is not first  # nor one more than a size step larger


class GatedAtlas(EmojiAtlas):
    """The real atlas, whose background maker waits at a gate: a sprite asked for while the gate is
    shut can only be on screen if it was not made on the caller's thread."""

    def __init__(self) -> None:
        super().__init__(emoji_dir(), background=True)
        self.gate = threading.Event()
        self.made_on: list[str] = []

    def _make(self, name: str, px: int, angle: int):  # noqa: ANN202 - the parent's Sprite
        self.made_on.append(threading.current_thread().name)
        if threading.current_thread() is not threading.main_thread():
            assert self.gate.wait(10 * SCALE)
        return super()._make(name, px, angle)


def test_a_live_mirror_shows_the_nearest_cached_emoji_while_the_right_one_is_made_beside_the_frame():
    atlas = GatedAtlas()
    try:
        first = atlas.sprite("happy", 200, 0)  # nothing cached yet: made at once, on this thread
        assert atlas.made_on == ["MainThread"]
        stand_in = atlas.sprite("happy", 225, 6)  # a step larger and turned: the gate is shut, yet it returns
        assert stand_in is first
        assert atlas.sprite("sad", 225, 6).shape[0] >= 225  # another emoji has no stand-in: made at once
        atlas.gate.set()
        time.sleep(0.3 * SCALE)
        assert atlas.sprite("happy", 225, 6) is first  # not begun while the frame is being drawn …
        atlas.frame_done()  # … but once it is shown
        right = wait_for(lambda: (s := atlas.sprite("happy", 225, 6)) is not first and s, what="the made sprite")
        assert 225 <= right.shape[0] and right.shape != first.shape
        assert atlas.made_on.count("MainThread") == 2 and len(atlas.made_on) == 3
    finally:
        atlas.gate.set()
        atlas.close()


def test_a_stand_in_for_an_emoji_that_hides_a_face_is_never_smaller_than_asked():
    atlas = GatedAtlas()
    try:
        small = atlas.sprite("happy", 200, 0)
        assert atlas.sprite("happy", 220, 0) is small  # decoration: a step smaller for a frame or two
        hiding = atlas.sprite("happy", 220, 0, hides=True)  # must hide the face: made at once, full size
        assert hiding.shape[0] >= 220 and atlas.made_on.count("MainThread") == 2
        assert atlas.sprite("happy", 300, 0) is not small  # beyond STAND_IN: made at once
    finally:
        atlas.gate.set()
        atlas.close()
