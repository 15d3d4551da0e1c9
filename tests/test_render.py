"""Rendering: the emoji lands on the face, mirrored and letterboxed correctly, in every mode."""

from __future__ import annotations

import itertools
import tracemalloc

import cv2
import numpy as np
import pytest

from edge_emojify.config import DecisionConfig, DisplayConfig
from edge_emojify.decision import Decider
from edge_emojify.render.draw import OPAQUE_RADIUS, EmojiAtlas, Sprite, blend, blur_box, message_screen
from edge_emojify.render.modes import MODE_NAMES, FrameStats, Renderer
from edge_emojify.resources import emoji_dir
from edge_emojify.types import Face, Frame, Track

HAPPY = 3


@pytest.fixture(scope="module")
def atlas() -> EmojiAtlas:
    return EmojiAtlas(emoji_dir())


def scene(box=(100, 120, 200, 220), size=(640, 480)) -> tuple[Frame, list[Track]]:
    image = np.full((size[1], size[0], 3), 128, np.uint8)
    x0, y0, x1, y1 = box
    kps = np.array([[x0 + 30, y0 + 40], [x1 - 30, y0 + 40], [(x0 + x1) / 2, y0 + 60]] + [[x0, y0]] * 3, float)
    scores = np.full(7, 0.02, np.float32)
    scores[HAPPY] = 0.88
    track = Track(1, Face(box, kps, 0.95), Decider(DecisionConfig()).start(scores, 0.0), 5)
    return Frame(image, image[..., 0], 0.0), [track]


def is_emoji_yellow(pixel: np.ndarray) -> bool:
    b, g, r = (int(v) for v in pixel)
    return r > 200 and g > 150 and b < 120


def render(atlas, mode, mirror, canvas_size=(640, 480), **kw):
    frame, tracks = scene(**kw)
    renderer = Renderer(atlas, DisplayConfig(mode=mode, mirror=mirror))
    canvas = np.zeros((canvas_size[1], canvas_size[0], 3), np.uint8)
    return renderer.render(frame, tracks, canvas, FrameStats(fps=30.0, stage_ms={"detect": 1.0}))


def test_emoji_covers_the_face_and_nothing_far_away(atlas):
    out = render(atlas, "mirror", mirror=False)
    assert is_emoji_yellow(out[150, 150])  # forehead/cheek area of the face box
    assert (out[400, 500] == 128).all()  # far from the face: camera image untouched


def test_mirror_mode_flips_image_and_emoji_together(atlas):
    out = render(atlas, "mirror", mirror=True)
    assert is_emoji_yellow(out[150, 640 - 150])
    assert not is_emoji_yellow(out[150, 150])


def test_letterboxed_on_a_wide_screen(atlas):
    out = render(atlas, "mirror", mirror=False, canvas_size=(1280, 480))
    assert (out[:, :300] == 0).all() and (out[:, -300:] == 0).all()  # black bars, image not stretched
    assert is_emoji_yellow(out[150, 320 + 150])


def test_emoji_tilts_with_the_head(atlas):
    upright = atlas.sprite("happy", 120, 0)
    tilted = atlas.sprite("happy", 120, 30)
    assert tilted.shape[0] > upright.shape[0]  # canvas grown to keep the corners
    opaque = tilted.inverse_alpha[..., 0] < 128
    assert not np.array_equal(opaque, np.rot90(opaque))


def test_blend_clips_at_the_border_and_respects_alpha():
    canvas = np.full((50, 50, 3), 10, np.uint8)
    sprite = np.zeros((20, 20, 4), np.uint8)
    sprite[..., 2] = 255
    sprite[:10, :, 3] = 255  # top half opaque red, bottom half transparent
    blend(canvas, Sprite.from_bgra(sprite), 0, 5)  # top-left corner cut off: sprite rows 5..19, columns 10..19 show
    assert (canvas[0:5, 0:10] == (0, 0, 255)).all()
    assert (canvas[5:15, 0:10] == 10).all()  # transparent part left alone
    assert (canvas[:, 10:] == 10).all() and (canvas[15:] == 10).all()


@pytest.mark.parametrize("mode", MODE_NAMES)
@pytest.mark.parametrize("canvas_size", [(320, 240), (800, 480), (1920, 1080)])
def test_every_mode_draws_at_any_size(atlas, mode, canvas_size):
    out = render(atlas, mode, mirror=True, canvas_size=canvas_size)
    assert out.shape == (canvas_size[1], canvas_size[0], 3)
    assert out.std() > 10  # something was drawn


@pytest.mark.parametrize("mode", MODE_NAMES)
@pytest.mark.parametrize("canvas_size", [(640, 480), (800, 480), (480, 640)])
def test_what_a_mode_draws_does_not_depend_on_what_the_canvas_held(atlas, mode, canvas_size):
    # The canvas is reused frame after frame and no longer cleared whole: every mode paints every pixel.
    frame, tracks = scene()
    renderer = Renderer(atlas, DisplayConfig(mode=mode, mirror=True))
    drawn = [renderer.render(frame, tracks, np.full((canvas_size[1], canvas_size[0], 3), fill, np.uint8),
                             FrameStats(fps=30.0)) for fill in (0, 255, 77)]
    assert np.array_equal(drawn[0], drawn[1]) and np.array_equal(drawn[0], drawn[2])


@pytest.mark.parametrize("mode", MODE_NAMES)
@pytest.mark.parametrize("cover", ["emoji", "full", "blur"])
def test_a_mode_that_draws_over_the_frame_itself_draws_what_it_draws_on_a_canvas_of_its_own(atlas, mode, cover):
    # A recording renders over each decoded frame instead of copying it into a canvas first.
    frame, tracks = scene()
    frame.image[:] = np.random.default_rng(0).integers(0, 256, frame.image.shape, np.uint8)  # a busy picture
    renderer = Renderer(atlas, DisplayConfig(mode=mode, mirror=False, cover=cover))
    apart = renderer.render(frame, tracks, np.zeros_like(frame.image), FrameStats(fps=30.0)).copy()
    assert renderer.draws_over_frame() == (mode != "panel")
    if renderer.draws_over_frame():
        assert renderer.render(frame, tracks, frame.image, FrameStats(fps=30.0)) is frame.image
        assert np.array_equal(frame.image, apart)
    assert not Renderer(atlas, DisplayConfig(mode=mode, mirror=True)).draws_over_frame()


@pytest.mark.parametrize("cover", ["emoji", "full", "blur"])
def test_the_mirror_drawing_the_picture_1_to_1_says_where_it_changed_it(atlas, cover):
    frame, tracks = scene(box=(580, 200, 680, 300))  # a face near the right edge: its emoji is clipped
    frame.image[:] = np.random.default_rng(0).integers(0, 256, frame.image.shape, np.uint8)
    renderer = Renderer(atlas, DisplayConfig(mode="mirror", mirror=False, cover=cover, show_fps=False))
    out = renderer.render(frame, tracks, np.zeros_like(frame.image), FrameStats())
    assert renderer.changed and len(renderer.changed) == 1
    outside = np.ones(frame.image.shape[:2], bool)
    for x0, y0, x1, y1 in renderer.changed:
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480
        outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], frame.image[outside])
    assert not np.array_equal(out[~outside], frame.image[~outside])
    # Where the canvas is not the picture 1:1, or something else was drawn, it does not know.
    for display in (DisplayConfig(mode="mirror", mirror=True, show_fps=False),
                    DisplayConfig(mode="mirror", mirror=False, show_fps=True),
                    DisplayConfig(mode="debug", mirror=False, show_fps=False)):
        other = Renderer(atlas, display)
        other.render(frame, tracks, np.zeros_like(frame.image), FrameStats())
        assert other.changed is None
    renderer.render(frame, tracks, np.zeros((720, 1280, 3), np.uint8), FrameStats())
    assert renderer.changed is None
    renderer.render(frame, tracks, np.zeros_like(frame.image), FrameStats(notice="no camera"))
    assert renderer.changed is None


def test_panel_and_emoji_modes_show_the_main_face_emoji(atlas):
    emoji = render(atlas, "emoji", mirror=True)
    assert is_emoji_yellow(emoji[int(480 * 0.42), 320])
    panel = render(atlas, "panel", mirror=True)
    assert is_emoji_yellow(panel[int(480 * 0.42), 640 * 5 // 6])


def test_emoji_mode_idle_screen_when_nobody_is_there(atlas):
    frame, _ = scene()
    renderer = Renderer(atlas, DisplayConfig(mode="emoji"))
    canvas = np.zeros((480, 640, 3), np.uint8)
    idle = renderer.render(frame, [], canvas, FrameStats()).copy()
    busy = render(atlas, "emoji", mirror=True)
    assert np.abs(idle.astype(int) - busy).mean() > 5


def test_next_mode_cycles_in_order(atlas):
    renderer = Renderer(atlas, DisplayConfig(mode="mirror"))
    assert [renderer.next_mode() for _ in range(4)] == ["panel", "emoji", "debug", "mirror"]


def unsure_scene() -> tuple[Frame, list[Track]]:
    from edge_emojify.decision import Decider
    from edge_emojify.labels import UNSURE

    frame, (track,) = scene()
    flat = np.full(7, 0.12, np.float32)
    flat[HAPPY] = 0.28  # under decision.unsure_below: unsure, leaning happy
    verdict = Decider(DecisionConfig()).start(flat, 0.0)
    assert verdict.label == UNSURE and verdict.leader == "happy"
    return frame, [Track(1, track.face, verdict, 5)]


@pytest.mark.parametrize("mode", ["mirror", "panel", "emoji"])
def test_every_mode_shows_the_unsure_face_not_the_leading_guess(atlas, mode):
    renderer = Renderer(atlas, DisplayConfig(mode=mode, mirror=False))
    happy = renderer.render(*scene(), np.zeros((480, 640, 3), np.uint8), FrameStats()).copy()
    unsure = renderer.render(*unsure_scene(), np.zeros((480, 640, 3), np.uint8), FrameStats()).copy()
    if mode == "mirror":  # the emoji over the face
        region = (slice(100, 240), slice(80, 220))
    else:  # the big emoji of the main face
        cx = 640 * 5 // 6 if mode == "panel" else 320
        region = (slice(int(480 * 0.42) - 60, int(480 * 0.42) + 60), slice(cx - 60, cx + 60))
    assert np.abs(happy[region].astype(int) - unsure[region]).mean() > 10
    if mode == "emoji":  # exactly the thinking face, where the happy one was
        reference = np.full((480, 640, 3), 40, np.uint8)
        blend(reference, atlas.sprite("unsure", min(640 * 0.8, 480 * 0.65)), 320, 480 * 0.42)
        assert np.array_equal(reference[region], unsure[region])


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_a_notice_is_written_at_the_bottom_of_every_mode(atlas, mode):
    renderer = Renderer(atlas, DisplayConfig(mode=mode))
    plain = renderer.render(*scene(), np.zeros((480, 640, 3), np.uint8), FrameStats()).copy()
    noted = renderer.render(*scene(), np.zeros((480, 640, 3), np.uint8), FrameStats(notice="no camera")).copy()
    changed = np.any(plain != noted, axis=2)
    assert changed[-30:].sum() > 100 and not changed[:-30].any()


def test_mirror_mode_shows_the_camera_picture_itself_mirrored(atlas):
    frame, _ = scene()
    ramp = np.tile(np.arange(640, dtype=np.uint16)[None, :, None] * 255 // 639, (480, 1, 3)).astype(np.uint8)
    frame = Frame(ramp, ramp[..., 0], 0.0)  # dark on the left, bright on the right
    for mirror in (False, True):
        out = Renderer(atlas, DisplayConfig(mode="mirror", mirror=mirror)).render(
            frame, [], np.zeros((480, 640, 3), np.uint8), FrameStats())
        expected = ramp[:, ::-1] if mirror else ramp
        assert np.array_equal(out, expected), mirror


@pytest.mark.parametrize("cover", ["emoji", "full"])
@pytest.mark.parametrize("mirror", [False, True])
def test_the_emoji_tilts_the_way_the_head_does_on_screen(atlas, mirror, cover):
    """The emoji's eye line runs the way the face's eye line runs on screen, mirrored or not."""
    from edge_emojify.render.draw import Placement
    from edge_emojify.render.modes import place_tracks

    frame, (track,) = scene(box=(220, 140, 420, 340))
    kps = track.face.keypoints.copy()
    kps[1, 1] += 60  # the subject's left eye lower: the head rolls about 25 degrees
    tilted = Track(1, Face(track.face.box, kps, 0.95), track.verdict, 5)
    out = Renderer(atlas, DisplayConfig(mode="mirror", mirror=mirror, cover=cover)).render(
        frame, [tilted], np.zeros((480, 640, 3), np.uint8), FrameStats())
    (on_screen,) = place_tracks([tilted], Placement(1.0, 0, 0, 640, 480), 640, mirror)
    (rx, ry), (lx, ly) = on_screen.keypoints[:2]
    face_slope = (ly - ry) / (lx - rx)
    x0, y0, x1, y1 = on_screen.box
    patch = out[y0 - 60:y1, x0 - 40:x1 + 40].astype(int)
    dark = (patch.sum(axis=2) < 200) & (np.arange(patch.shape[0])[:, None] < patch.shape[0] * 0.55)
    ys, xs = np.nonzero(dark)  # the emoji's two eyes: dark blobs in its upper half
    left, right = xs < np.median(xs), xs >= np.median(xs)
    eye_slope = (ys[right].mean() - ys[left].mean()) / (xs[right].mean() - xs[left].mean())
    assert np.sign(eye_slope) == np.sign(face_slope) and abs(eye_slope) > 0.2


def test_captions_say_the_label_and_its_smoothed_confidence():
    from edge_emojify.render.modes import caption

    _, (happy,) = scene()
    _, (unsure,) = unsure_scene()
    assert caption(happy) == "happy 88%"
    assert caption(unsure) == "unsure (happy? 28%)"


def _colour_pixels(image: np.ndarray, colour: tuple[int, int, int], region: tuple[slice, slice]) -> int:
    return int((np.abs(image[region].astype(int) - colour).sum(axis=2) < 30).sum())


def test_panel_draws_the_box_and_caption_in_the_labels_colour(atlas):
    from edge_emojify.render.modes import COLOURS

    out = render(atlas, "panel", mirror=False)
    # The camera is letterboxed into the left two thirds; the face box (100..200 of 640) lands at
    # about 2/3 of that: look for the happy colour around it and nowhere near the right column.
    left = (slice(0, 480), slice(0, 420))
    assert _colour_pixels(out, COLOURS["happy"], left) > 150  # box outline and caption
    far = (slice(0, 60), slice(0, 40))
    assert _colour_pixels(out, COLOURS["happy"], far) == 0
    # The caption sits just above the box: the band above its top edge holds the label's colour.
    renderer = Renderer(atlas, DisplayConfig(mode="panel", mirror=False))
    frame, tracks = scene()
    (placed,) = renderer._camera(frame, tracks, np.zeros((480, 640, 3), np.uint8), (0, 0, 640 * 2 // 3, 480))
    x0, y0, x1, _ = placed.box
    above = (slice(y0 - 20, y0 - 3), slice(x0, x0 + 90))
    assert _colour_pixels(out, COLOURS["happy"], above) > 10  # (OpenCV 4.6 draws thinner text than 5)


def test_emoji_mode_writes_the_label_in_its_colour_under_the_emoji(atlas):
    from edge_emojify.render.modes import COLOURS

    out = render(atlas, "emoji", mirror=False)
    size = min(640 * 0.8, 480 * 0.65)
    below = (slice(int(480 * 0.42 + size / 2), 480), slice(200, 440))
    assert _colour_pixels(out, COLOURS["happy"], below) > 80  # "happy" in yellow under the face
    assert (out[below] > 200).all(axis=2).sum() > 40  # and the confidence in white


def test_panel_letterboxes_the_camera_into_the_left_two_thirds(atlas):
    from edge_emojify.render.draw import letterbox

    frame, _ = scene()
    out = Renderer(atlas, DisplayConfig(mode="panel", mirror=False)).render(
        frame, [], np.zeros((480, 640, 3), np.uint8), FrameStats())
    expected = np.zeros((480, 426, 3), np.uint8)
    letterbox(frame.image, expected)
    assert np.array_equal(out[:, :426], expected)  # the picture, whole and in place; black bars above and below
    assert (out[:40, 426:] == 0).all()  # the emoji column's background is not camera picture


def test_panel_caption_sits_above_the_box_not_inside_it(atlas):
    from edge_emojify.render.modes import COLOURS

    out = render(atlas, "panel", mirror=False)
    renderer = Renderer(atlas, DisplayConfig(mode="panel", mirror=False))
    frame, tracks = scene()
    (placed,) = renderer._camera(frame, tracks, np.zeros((480, 640, 3), np.uint8), (0, 0, 640 * 2 // 3, 480))
    x0, y0, x1, _ = placed.box
    inside = (slice(y0 + 3, y0 + 20), slice(x0 + 4, x1 - 3))  # under the top edge, between the sides
    assert _colour_pixels(out, COLOURS["happy"], inside) == 0
    high = (slice(y0 - 60, y0 - 25), slice(0, 426))  # a small line of text, not a banner over the picture
    assert _colour_pixels(out, COLOURS["happy"], high) == 0


def test_blend_mixes_the_artworks_colour_by_its_alpha():
    canvas = np.full((20, 40, 3), 100, np.uint8)
    art = np.zeros((20, 40, 4), np.uint8)
    art[..., :3] = (40, 120, 200)
    art[:, :20, 3] = 255  # left half opaque, right half half-transparent
    art[:, 20:, 3] = 128
    blend(canvas, Sprite.from_bgra(art), 20, 10)
    assert np.abs(canvas[:, :20].astype(int) - (40, 120, 200)).max() <= 1
    half = (np.array([40, 120, 200]) * 128 + 100 * 127) / 255
    assert np.abs(canvas[:, 20:].astype(int) - half).max() <= 2


def test_a_sprite_just_off_the_canvas_changes_nothing():
    # An emoji whose edge lands exactly on the screen's edge (a face leaving the picture): nothing drawn, no error.
    canvas = np.full((50, 60, 3), 10, np.uint8)
    opaque = Sprite.from_bgra(np.full((20, 20, 4), 255, np.uint8))
    for cx, cy in ((-10, 25), (70, 25), (30, -10), (30, 60)):
        blend(canvas, opaque, cx, cy)
    assert (canvas == 10).all()


def test_a_sprite_is_the_asked_size_and_turns_about_its_centre_by_the_asked_angle(atlas):
    upright = atlas.sprite("happy", 200)
    px = upright.shape[0]
    assert upright.shape == (px, px) and 200 <= px <= 200 * 17 / 16  # never smaller, at most a step larger
    assert atlas.sprite("happy", 30).shape == (32, 32)
    turned = atlas.sprite("happy", 200, 30)
    side = turned.shape[0]
    # Turned back by hand (counter-clockwise is positive), it is the upright emoji in the middle of its canvas.
    back = cv2.warpAffine(turned.premultiplied, cv2.getRotationMatrix2D((side / 2, side / 2), -30, 1.0), (side, side))
    pad = (side - px) // 2
    assert np.abs(back[pad:pad + px, pad:pad + px].astype(int) - upright.premultiplied).mean() < 4


def test_the_sprite_cache_reuses_what_is_on_screen_and_stays_within_its_budget():
    # A steady face reuses its sprite every frame, and memory stays flat however many sizes and angles go by.
    atlas = EmojiAtlas(emoji_dir(), cache_mb=2)  # about four turned 200-px sprites
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(60):  # another face turning through 60 angles
            atlas.sprite("sad", 200, 3 * i)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 3 * 2**20
    steady = atlas.sprite("happy", 201, 31)  # added to a full cache
    for i in range(20):
        assert atlas.sprite("happy", 199, 29) is steady  # a pixel or a degree of jitter: the same sprite
        atlas.sprite("sad", 200, 3 * i)


@pytest.mark.parametrize("size", [(320, 240), (640, 480), (1280, 720), (1920, 1080)])
def test_a_message_is_centred_in_order_and_fits_any_screen(size):
    w, h = size
    screen = message_screen(np.zeros((h, w, 3), np.uint8), ["camera lost - retrying", "attempt 3"])
    ink = screen.min(axis=2) > 128  # white letters on dark grey
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert cols[0] > 0.02 * w and cols[-1] < 0.98 * w and abs((cols[0] + cols[-1]) / 2 - w / 2) < 0.02 * w
    breaks = np.flatnonzero(np.diff(rows) > 1)
    assert len(breaks) == 1  # two lines, apart
    first, second = rows[:breaks[0] + 1], rows[breaks[0] + 1:]
    line = first[-1] - first[0]
    assert line > h / 40 and abs((rows[0] + rows[-1]) / 2 - h / 2) < line  # readable, in the middle
    assert ink[first].any(axis=0).sum() > ink[second].any(axis=0).sum()  # the long line first


def _text_bands(image: np.ndarray, below: int) -> list[tuple[int, int, int]]:
    """Lines of white text under row ``below``: (first row, last row, width in pixels) each, top to bottom."""
    ink = image[below:].min(axis=2) > 200
    rows = np.flatnonzero(ink.any(axis=1))
    bands = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1) if len(rows) else []
    return [(below + b[0], below + b[-1], int(ink[b].any(axis=0).sum())) for b in bands]


def test_the_big_emoji_stays_in_the_panels_column(atlas):
    out = render(atlas, "panel", mirror=False).astype(int)
    yellow = (out[..., 2] > 200) & (out[..., 1] > 150) & (out[..., 0] < 120)
    split = 640 * 2 // 3
    assert not yellow[:, split - 40:split].any()  # nothing spills onto the camera's side of the edge
    assert yellow[:, split:].sum() > 5000


@pytest.mark.parametrize("size", [(320, 240), (640, 480)])
def test_the_idle_screen_says_come_closer_under_the_no_face_emoji_on_any_screen(atlas, size):
    w, h = size
    frame, _ = scene()
    idle = Renderer(atlas, DisplayConfig(mode="emoji")).render(frame, [], np.zeros((h, w, 3), np.uint8), FrameStats())
    emoji = min(w * 0.8, h * 0.65)
    middle = idle[int(h * 0.42) - 10:int(h * 0.42) + 10, w // 2 - 10:w // 2 + 10]
    assert np.abs(middle.astype(int) - 40).mean() > 30  # the emoji, not the background
    (text,) = _text_bands(idle, int(h * 0.42 + emoji / 2))  # one line under it, on the screen
    ink = np.flatnonzero((idle[text[0]:text[1] + 1].min(axis=2) > 200).any(axis=0))
    assert text[2] > w / 5 and ink[0] > 0 and ink[-1] < w - 1 and text[1] < h - 2  # whole, not cut off below
    said = cv2.getTextSize("come closer!", cv2.FONT_HERSHEY_SIMPLEX, max(0.6, emoji / 260), 2)[0][0]
    assert 0.9 < (ink[-1] - ink[0] + 1) / said < 1.08  # those words, in the column's type


def test_an_unsure_face_in_emoji_mode_shows_its_best_guess_under_the_label(atlas):
    # "unsure", then "(happy? 28%)": the guess is what tells people the mirror is not just stuck.
    out = Renderer(atlas, DisplayConfig(mode="emoji")).render(*unsure_scene(), np.zeros((480, 640, 3), np.uint8),
                                                             FrameStats())
    label, guess = _text_bands(out, int(480 * 0.42 + min(640 * 0.8, 480 * 0.65) / 2))
    assert guess[0] > label[1] and guess[2] > label[2]


def test_emojis_are_resampled_smoothly_at_every_size(atlas):
    # Small, each pixel is the average of the artwork it covers (no jagged edges that crawl as a face moves);
    # large (a full-screen emoji), the outline has no blocky steps.
    art = cv2.imread(str(emoji_dir() / "happy.png"), cv2.IMREAD_UNCHANGED)
    n = art.shape[0] // 32
    assert art.shape[:2] == (32 * n, 32 * n)
    average = Sprite.from_bgra(art.reshape(32, n, 32, n, 4).mean(axis=(1, 3)).round().astype(np.uint8))
    assert np.abs(atlas.sprite("happy", 32).premultiplied.astype(int) - average.premultiplied).mean() < 1.5
    alpha = 255 - atlas.sprite("happy", art.shape[0] * 4).inverse_alpha[..., 0].astype(int)
    assert max(np.abs(np.diff(alpha, axis=0)).max(), np.abs(np.diff(alpha, axis=1)).max()) < 128


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_the_fps_counter_is_a_small_line_in_the_bottom_left_corner_except_on_the_debug_screen(atlas, mode):
    # The debug screen lists the fps in its own header; everywhere else a small counter sits in the corner.
    def draw(show_fps):
        canvas = np.zeros((480, 640, 3), np.uint8)
        return Renderer(atlas, DisplayConfig(mode=mode, show_fps=show_fps)).render(
            *scene(), canvas, FrameStats(fps=29.97)).copy()

    changed = np.any(draw(True) != draw(False), axis=2)
    if mode == "debug":
        assert not changed.any()
        return
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    assert changed.sum() > 100
    assert rows[0] > 480 - 30 and cols[0] < 20 and cols[-1] < 120  # one short line, not over the picture


@pytest.mark.parametrize("size", [(640, 480), (1920, 1080)])
def test_a_notice_is_centred_and_grows_with_the_screen(atlas, size):
    w, h = size
    frame, _ = scene()
    notice = "no camera found - playing the sample"
    renderer = Renderer(atlas, DisplayConfig(mode="mirror"))
    plain = renderer.render(frame, [], np.zeros((h, w, 3), np.uint8), FrameStats()).copy()
    noted = renderer.render(frame, [], np.zeros((h, w, 3), np.uint8), FrameStats(notice=notice)).copy()
    cols = np.flatnonzero(np.any(plain != noted, axis=2).any(axis=0))
    assert abs((cols[0] + cols[-1]) / 2 - w / 2) < 0.02 * w
    assert (cols[-1] - cols[0]) / w > 0.3  # as readable from across the room on a TV as on a small panel


def test_keypoints_follow_the_face_through_mirroring_and_letterboxing():
    # The debug screen marks the eyes, nose and ears where they are in the picture on screen.
    from edge_emojify.render.draw import Placement
    from edge_emojify.render.modes import place_tracks

    frame, tracks = scene(size=(320, 240))
    place = Placement(2.5, 40, 30, 800, 600)  # the 320x240 picture, 2.5 times, 40 px in and 30 down
    kps = tracks[0].face.keypoints
    for mirror in (False, True):
        (on,) = place_tracks(tracks, place, 320, mirror)
        xs = 320 - kps[:, 0] if mirror else kps[:, 0]
        assert np.allclose(on.keypoints, np.stack([xs * 2.5 + 40, kps[:, 1] * 2.5 + 30], axis=1)), mirror


def test_on_a_tall_screen_the_picture_is_centred_between_equal_bars(atlas):
    frame, _ = scene()
    out = Renderer(atlas, DisplayConfig(mode="mirror")).render(frame, [], np.zeros((640, 640, 3), np.uint8),
                                                              FrameStats())
    rows = np.flatnonzero(out.any(axis=(1, 2)))
    assert (rows[0], rows[-1]) == (80, 559)  # a 640x480 picture, 80 px of black above and below


def test_a_picture_larger_than_the_screen_is_averaged_down_not_sampled(atlas):
    # A 1920x1440 camera on a 640x480 screen: each pixel shown is the mean of the nine it stands for, so
    # sensor noise and fine texture fade instead of shimmering.
    noise = np.random.default_rng(4).integers(0, 256, (1440, 1920, 3)).astype(np.uint8)
    out = Renderer(atlas, DisplayConfig(mode="mirror", mirror=False)).render(
        Frame(noise, noise[..., 0], 0.0), [], np.zeros((480, 640, 3), np.uint8), FrameStats())
    assert abs(out.mean() - noise.mean()) < 1 and out.std() < noise.std() / 2.5


def test_a_small_picture_on_a_large_screen_is_not_blocky(atlas):
    # A 640x480 camera on a 1080p TV: scaled 2.25 times by interpolation, not by repeating pixels.
    noise = np.random.default_rng(5).integers(0, 256, (480, 640, 3)).astype(np.uint8)
    out = Renderer(atlas, DisplayConfig(mode="mirror", mirror=False)).render(
        Frame(noise, noise[..., 0], 0.0), [], np.zeros((1080, 1920, 3), np.uint8), FrameStats())
    picture = out[:, 240:1680].astype(int)
    assert (np.abs(np.diff(picture, axis=1)).max(axis=(0, 2)) == 0).mean() < 0.02  # no column repeats the last
    assert (np.abs(np.diff(picture, axis=0)).max(axis=(1, 2)) == 0).mean() < 0.02  # nor any row


@pytest.mark.parametrize("label", ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "unsure"])
def test_every_face_emoji_is_opaque_within_the_radius_the_cover_relies_on(atlas, label):
    art = atlas.images[label]
    h, w = art.shape[:2]
    ys, xs = np.mgrid[:h, :w]
    inside = np.hypot(xs - (w - 1) / 2, ys - (h - 1) / 2) < OPAQUE_RADIUS * w
    assert art[..., 3][inside].min() >= 245


def checkerboard(size=(640, 480), cell=4, invert=False) -> np.ndarray:
    ys, xs = np.mgrid[:size[1], :size[0]]
    on = ((xs // cell + ys // cell) % 2 == 1) != invert
    return np.where(on[..., None], 0, 255).astype(np.uint8).repeat(3, axis=2)


@pytest.mark.parametrize("box", [(100, 120, 200, 220), (300, 100, 360, 260), (250, 200, 470, 300)])
@pytest.mark.parametrize("roll", [0, 25])
def test_full_cover_hides_the_whole_face_box_and_its_margin_whatever_its_shape_and_tilt(atlas, box, roll):
    # Drawn over a picture and over its negative, a covered pixel comes out the same: nothing shows through.
    _, tracks = scene(box=box)
    turn = np.radians(roll)
    kps = tracks[0].face.keypoints.copy()
    kps[1] = kps[0] + 40 * np.array([np.cos(turn), np.sin(turn)])
    track = Track(1, Face(box, kps, 0.9), tracks[0].verdict, 5)
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0

    def shown(cover: str, margin: float, invert: bool) -> np.ndarray:
        image = checkerboard(invert=invert)
        renderer = Renderer(atlas, DisplayConfig(mirror=False, cover=cover, cover_margin=margin))
        return renderer.render(Frame(image, image[..., 0], 0.0), [track], np.zeros_like(image), FrameStats())

    for margin in (0.0, 0.15, 0.3):
        see_through = np.abs(shown("full", margin, False).astype(int) - shown("full", margin, True)).max(axis=2)
        rows = slice(max(0, int(y0 - margin * h)), int(np.ceil(y1 + margin * h)))
        cols = slice(max(0, int(x0 - margin * w)), int(np.ceil(x1 + margin * w)))
        assert see_through[rows, cols].max() <= 12, (box, roll, margin)
    if box == (100, 120, 200, 220) and not roll:
        # The live mirror's look (the emoji lifted over the head) is not sized for that: the chin's corners show.
        see_through = np.abs(shown("emoji", 0, False).astype(int) - shown("emoji", 0, True)).max(axis=2)
        assert see_through[y0:y1, x0:x1].max() > 200


def test_blur_cover_leaves_no_detail_in_the_box_and_its_margin_and_no_emoji(atlas):
    image = checkerboard()
    frame, tracks = scene()
    renderer = Renderer(atlas, DisplayConfig(mirror=False, cover="blur", cover_margin=0.2))
    out = renderer.render(Frame(image, image[..., 0], 0.0), tracks, np.zeros_like(image), FrameStats())
    region = out[100:240, 80:220]  # (100, 120, 200, 220) grown by 20 px
    assert np.abs(np.diff(region.astype(int), axis=1)).max() < 40
    assert not any(is_emoji_yellow(p) for p in region.reshape(-1, 3)[::97])
    assert (out[400:, 400:] == image[400:, 400:]).all()  # the rest of the picture is untouched
    _, long_face = scene(box=(100, 120, 200, 260))  # the margin is a share of each side: 28 px above and below
    out = renderer.render(Frame(image, image[..., 0], 0.0), long_face, np.zeros_like(image), FrameStats())
    assert np.abs(np.diff(out[92:288, 80:220].astype(int), axis=1)).max() < 40


def test_a_blurred_face_keeps_only_its_coarse_light_and_shade_in_square_cells():
    # What the blur leaves is a coarse picture of the head: features gone, but light and shade kept in
    # cells as tall as they are wide (8 across, 8 down for a square face), wherever the face is on screen.
    canvas = np.full((480, 640, 3), 128, np.uint8)
    bands = np.where(np.arange(160) // 40 % 2 == 0, 40, 215)  # dark, light, dark, light: 40 px each, down
    fine = np.where(checkerboard((160, 160), cell=2)[..., :1] > 0, 40, -40)  # and detail on top
    canvas[200:360, 400:560] = bands[:, None, None] + fine
    blur_box(canvas, (400, 200, 560, 360))
    face = canvas[200:360, 400:560].astype(int)
    assert np.abs(np.diff(face, axis=1)).max() < 30  # no detail left
    middles = face[20::40, 20:140].mean(axis=(1, 2))  # the middle row of each band
    assert (middles[0::2] < 80).all() and (middles[1::2] > 175).all()


def test_blur_box_is_clipped_to_the_canvas():
    canvas = checkerboard((64, 48), cell=1)
    blur_box(canvas, (-20, -20, 30, 30))
    assert np.abs(np.diff(canvas[:30, :30].astype(int), axis=1)).max() < 20
    assert (canvas[31:, 31:] == checkerboard((64, 48), cell=1)[31:, 31:]).all()
    # A face leaving the picture at the bottom right is blurred up to the edges, the rest left alone.
    canvas = checkerboard((64, 48), cell=1)
    blur_box(canvas, (40, 30, 80, 60))
    assert np.abs(np.diff(canvas[30:, 40:].astype(int), axis=1)).max() < 20
    assert (canvas[:29] == checkerboard((64, 48), cell=1)[:29]).all()
    before = canvas.copy()
    for outside in ((70, 10, 90, 20), (10, 60, 30, 80)):  # wholly off the canvas, right or below: nothing to do
        blur_box(canvas, outside)
    assert (canvas == before).all()


@pytest.mark.parametrize("mode", ["emoji", "panel"])
@pytest.mark.parametrize("size", [(320, 240), (640, 480), (1920, 1080)])
def test_under_the_big_emoji_come_the_label_then_its_smaller_guess_whole_and_inside_the_column(atlas, mode, size):
    # On a small panel and on a TV alike: the two lines in order, clear of the emoji, not cut off at the
    # bottom, and not spilling out of the emoji's column over the camera picture.
    w, h = size
    out = Renderer(atlas, DisplayConfig(mode=mode)).render(*unsure_scene(), np.zeros((h, w, 3), np.uint8),
                                                          FrameStats())
    column = 0 if mode == "emoji" else w * 2 // 3
    bottom = int(h * 0.42 + min((w - column) * 0.8, h * 0.65) / 2)  # the emoji's lower edge
    label, guess = _text_bands(out, bottom)
    assert bottom + 5 < label[0] and label[1] < guess[0] and guess[1] < h - 2
    assert (guess[1] - guess[0]) < 2 * (label[1] - label[0])  # "(happy? 28%)" in smaller type than "unsure"
    ink = np.flatnonzero((out[bottom:].min(axis=2) > 200).any(axis=0))
    assert column < ink[0] and ink[-1] < w - 1


def _find_text(image: np.ndarray, s: str, scale: float, background: int = 128) -> tuple[int, int] | None:
    """Where ``s``, written as ``draw.text`` writes it at ``scale``, stands in ``image`` pixel for pixel.

    Returns the (x, baseline) it was written at, or None. The rows compared leave out the text's top two
    (where OpenCV 4.6 lets the descenders of a line packed tight above reach) and stop just under the
    baseline (a box may be drawn close under it).
    """
    from edge_emojify.render.draw import text

    (tw, th), _ = cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    ref = np.full((th + 40, tw + 40, 3), background, np.uint8)
    text(ref, s, 20, 20 + th, scale)
    ink = (ref != background).any(axis=2)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    top = rows[0] + 2
    template = ref[top:20 + th + 3, cols[0]:cols[-1] + 1]
    _, _, (x, y), _ = cv2.minMaxLoc(cv2.matchTemplate(image, template, cv2.TM_SQDIFF))
    if not np.array_equal(image[y:y + template.shape[0], x:x + template.shape[1]], template):
        return None
    return x - cols[0] + 20, y - top + 20 + th


DEBUG_BOX = (100, 250, 200, 350)
DEBUG_SCORES = np.array([0.05, 0.1, 0.15, 0.3, 0.2, 0.12, 0.08], np.float32)


def debug_screen(atlas, wanted="happy", missed=0, stats=None) -> np.ndarray:
    """The debug screen at 640x480 with one face in DEBUG_BOX showing happy, eyes level, nothing else drawn near it."""
    from edge_emojify.types import Verdict

    x0, y0, x1, y1 = DEBUG_BOX
    cx = (x0 + x1) / 2
    kps = np.array([[x0 + 30, y0 + 40], [x1 - 30, y0 + 40], [cx, y0 + 60], [cx, y0 + 75], [x0 + 8, y0 + 45],
                    [x1 - 8, y0 + 45]], float)
    why = "sad leads by 0.10" if wanted == "sad" else "happy leads"
    track = Track(1, Face(DEBUG_BOX, kps, 0.95), Verdict("happy", DEBUG_SCORES, wanted, 1.0, 1.5, why), 9, missed, 1.5)
    image = np.full((480, 640, 3), 128, np.uint8)
    return Renderer(atlas, DisplayConfig(mode="debug", mirror=False)).render(
        Frame(image, image[..., 0], 1.5), [track], np.zeros_like(image), stats or FrameStats(fps=29.9))


def test_the_debug_screen_boxes_a_detected_face_green_a_predicted_one_orange_and_dots_its_keypoints(atlas):
    x0, y0, x1, y1 = DEBUG_BOX
    left_edge = (slice(y0 + 5, y1 - 5), slice(x0, x0 + 1))
    for missed, colour in ((0, (0, 255, 0)), (2, (0, 160, 255))):
        out = debug_screen(atlas, missed=missed)
        assert _colour_pixels(out, colour, left_edge) == y1 - y0 - 10, missed
    cx = (x0 + x1) // 2
    for x, y in ((x0 + 30, y0 + 40), (x1 - 30, y0 + 40), (cx, y0 + 60), (cx, y0 + 75)):  # eyes, nose, mouth
        assert _colour_pixels(out, (0, 255, 255), (slice(y, y + 1), slice(x, x + 1))) == 1, (x, y)


def test_the_debug_screen_shows_a_faces_scores_as_bars_in_order_under_its_box_each_with_its_number(atlas):
    from edge_emojify.labels import EMOTIONS
    from edge_emojify.render.modes import COLOURS

    out = debug_screen(atlas)
    x0, _, x1, y1 = DEBUG_BOX
    last, middles = y1, []
    for name, p in zip(EMOTIONS, DEBUG_SCORES, strict=True):
        rows = np.flatnonzero(np.abs(out[:, x0 + 1].astype(int) - COLOURS[name]).sum(axis=1) < 10)
        assert len(rows) and rows[0] > last, name  # each bar under the one before, the first under the box
        last, middle = rows[-1], (rows[0] + rows[-1]) // 2
        run = np.abs(out[middle, x0:x1 + 2].astype(int) - COLOURS[name]).sum(axis=1) < 10  # the bars' width
        length = np.argmin(run)  # a solid bar from the box's left edge, as long as the score says
        assert not run[length:].any() and abs(length - (x1 - x0) * p) <= 1.5, name
        middles.append(middle)
    for name, p, middle in zip(EMOTIONS, DEBUG_SCORES, middles, strict=True):
        found = _find_text(out, f"{name[:3]} {p:.2f}", 0.32)
        assert found is not None, name
        x, baseline = found
        assert x > x0 + (x1 - x0) * DEBUG_SCORES.max()  # right of the bars
        assert np.argmin(np.abs(np.array(middles) - (baseline - 3))) == middles.index(middle), name  # beside its own


def test_the_debug_screen_says_over_each_face_what_it_shows_and_what_it_waits_for(atlas):
    x0, y0, _, _ = DEBUG_BOX
    for wanted, line in (("happy", "#1 0.95 roll +0 shows happy; happy leads"),
                         ("sad", "#1 0.95 roll +0 shows happy (wants sad for 0.50 s); sad leads by 0.10")):
        found = _find_text(debug_screen(atlas, wanted), line, 0.4)
        assert found is not None, line
        x, baseline = found
        assert x == x0 and y0 - 10 < baseline < y0, line  # just over the box


def test_the_debug_screen_lists_the_fps_faces_mode_and_each_stages_time_one_line_under_another(atlas):
    stages = {"detect": 4.0, "emotion": 2.0, "track": 0.1, "render": 3.25, "show": 1.5, "frame": 12.0}
    out = debug_screen(atlas, stats=FrameStats(fps=29.9, stage_ms=stages))
    lines = ["29.9 fps  1 face(s)  mode debug", "  detect:   4.00 ms", " emotion:   2.00 ms", "   track:   0.10 ms",
             "  render:   3.25 ms", "    show:   1.50 ms", "   frame:  12.00 ms"]
    found = [_find_text(out[:240, :320], line, 0.4) for line in lines]
    assert None not in found, found
    assert {x for x, _ in found} == {8}
    baselines = [y for _, y in found]
    assert all(12 < b - a < 30 for a, b in itertools.pairwise([0, *baselines])), baselines
