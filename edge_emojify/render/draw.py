"""Drawing primitives shared by the modes: letterboxing, alpha blending, emoji sprites, text."""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_emojify.errors import UserError
from edge_emojify.labels import EMOJI_CODEPOINTS
from edge_emojify.types import Rect

FONT = cv2.FONT_HERSHEY_SIMPLEX
# Every face emoji is opaque within this fraction of its width from its centre (a test checks the
# artwork), so an emoji that must hide a face is sized from it.
OPAQUE_RADIUS = 0.44
BLUR_CELLS = 6  # a blurred face and its margin keep this many cells across: a shape, never a recognisable face
# A background-made sprite's stand-in is at most this factor larger (or smaller, unless it hides a
# face) than asked: a step or two of size, shown for the frame or two the right one takes.
STAND_IN = 1.25
MAX_PENDING = 4  # sprites waiting for the background maker; beyond that, the stand-ins wait longer
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


@dataclass(frozen=True)
class Placement:
    """Where a source image sits inside the canvas: ``canvas = source * scale + offset``."""

    scale: float
    offset_x: int
    offset_y: int
    width: int
    height: int

    def point(self, x: float, y: float) -> tuple[float, float]:
        return x * self.scale + self.offset_x, y * self.scale + self.offset_y


def letterbox(image: np.ndarray, canvas: np.ndarray, x0: int = 0, y0: int = 0, w: int = 0,
              h: int = 0, mirror: bool = False) -> Placement:
    """Draw ``image`` as large as fits into the canvas region, centred, keeping its aspect, and
    black bars around it (only the bars are cleared: a frame that fills the region is not written twice).

    Mirroring happens while copying into the canvas (after any resize), so the frame is
    touched once per step instead of being flipped into a temporary first.
    """
    w = w or canvas.shape[1] - x0
    h = h or canvas.shape[0] - y0
    ih, iw = image.shape[:2]
    scale = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    ox, oy = x0 + (w - nw) // 2, y0 + (h - nh) // 2
    if (nw, nh) != (iw, ih):
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas[y0:oy, x0:x0 + w] = 0
    canvas[oy + nh:y0 + h, x0:x0 + w] = 0
    canvas[oy:oy + nh, x0:ox] = 0
    canvas[oy:oy + nh, ox + nw:x0 + w] = 0
    target = canvas[oy:oy + nh, ox:ox + nw]
    if mirror:
        cv2.flip(image, 1, dst=target)
    elif not _same_pixels(target, image):  # a recording draws over the decoded frame itself
        target[:] = image
    return Placement(scale, ox, oy, nw, nh)


def _same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays are views of the very same pixels (then a copy between them is a no-op)."""
    return (a.shape == b.shape and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


@dataclass(frozen=True)
class Sprite:
    """An RGBA image prepared for fast blending: colour premultiplied by alpha, and 255 - alpha.

    Blending is then two saturating OpenCV calls (multiply, add) instead of per-pixel
    floating-point numpy; for a face-sized emoji that is the difference between ~4 ms and a
    fraction of a millisecond on a Pi-class CPU.
    """

    premultiplied: np.ndarray  # (h, w, 3) uint8
    inverse_alpha: np.ndarray  # (h, w, 3) uint8, 255 - alpha

    @classmethod
    def from_bgra(cls, bgra: np.ndarray) -> Sprite:
        return cls.from_premultiplied(premultiply(bgra))

    @classmethod
    def from_premultiplied(cls, bgra: np.ndarray) -> Sprite:
        """From BGRA whose colour is already premultiplied (what ``EmojiAtlas`` scales and turns)."""
        inverse_alpha = cv2.cvtColor(255 - bgra[..., 3], cv2.COLOR_GRAY2BGR)  # one pass over 3 channels, not two
        return cls(cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR), inverse_alpha)

    @property
    def shape(self) -> tuple[int, int]:
        return self.premultiplied.shape[:2]

    @property
    def nbytes(self) -> int:
        return self.premultiplied.nbytes + self.inverse_alpha.nbytes


def premultiply(bgra: np.ndarray) -> np.ndarray:
    """BGRA with its colour multiplied by its alpha.

    Premultiplied artwork can be resampled and turned as it is (transparent pixels carry no
    colour into the edge), so the atlas does this once per emoji, not once per sprite.
    """
    alpha = cv2.merge([bgra[..., 3]] * 3)
    return cv2.merge([*cv2.split(cv2.multiply(bgra[..., :3], alpha, scale=1 / 255)), bgra[..., 3]])


def blend(canvas: np.ndarray, sprite: Sprite, cx: float, cy: float) -> Rect | None:
    """Alpha-blend ``sprite`` centred at (cx, cy), clipped to the canvas, in place; returns where."""
    sh, sw = sprite.shape
    x0, y0 = round(cx - sw / 2), round(cy - sh / 2)
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + sw, canvas.shape[1]), min(y0 + sh, canvas.shape[0])
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    rows, cols = slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0)
    region = canvas[cy0:cy1, cx0:cx1]
    behind = cv2.multiply(region, sprite.inverse_alpha[rows, cols], scale=1 / 255)
    cv2.add(behind, sprite.premultiplied[rows, cols], dst=region)
    return cx0, cy0, cx1, cy1


def blur_box(canvas: np.ndarray, box: tuple[float, float, float, float]) -> Rect | None:
    """Blur a box of the canvas in place down to ``BLUR_CELLS`` cells across (clipped to the
    canvas); returns where."""
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(canvas.shape[1], int(np.ceil(box[2]))), min(canvas.shape[0], int(np.ceil(box[3])))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    region = canvas[y0:y1, x0:x1]
    cells = max(1, round(BLUR_CELLS * (y1 - y0) / (x1 - x0)))
    small = cv2.resize(region, (BLUR_CELLS, cells), interpolation=cv2.INTER_AREA)
    cv2.resize(small, (x1 - x0, y1 - y0), dst=region, interpolation=cv2.INTER_LINEAR)
    return x0, y0, x1, y1


class EmojiAtlas:
    """The emoji PNGs, with a small cache of scaled and rotated copies.

    Sizes are rounded up in steps of about a sixteenth (at least 4 px) and angles to 3 degrees,
    and a cached sprite within a step of what is asked is reused: a face whose box and tilt
    jitter across a rounding boundary keeps its sprite instead of resampling every other
    frame (at 720p with three faces, resampling was most of the drawing time). A sprite is
    never smaller than asked when it must hide a face. The cache is bounded in bytes (a
    full-screen sprite is megabytes), so memory stays flat over days.

    ``background`` (the live mirror) makes a new sprite in a thread of its own while the frame
    shows the nearest cached one of that emoji (``STAND_IN``): a face close to the camera needs
    sprites of 300-550 px, 1-2 ms each on one core here and several times that on a Pi: on the
    bundled sample, making them was 2.4 of the 4.3 ms of the slowest tenth of drawings. The thread
    starts on them once the frame is shown (``frame_done``), in the time until the next frame: begun
    at once, it shared the rest of the drawing's time with the frame path (Python's interpreter
    lock), and drawings that asked for a sprite took 1.1-1.7 instead of 0.4 ms on a stage clip
    handed over at its own rate. Without ``background`` (a recording, tests) every sprite is made
    when asked, so the pictures depend only on the input.
    """

    def __init__(self, folder: Path, cache_mb: float = 8, background: bool = False) -> None:
        self.images: dict[str, np.ndarray] = {}  # BGRA, colour premultiplied by alpha
        self.reach: dict[str, float] = {}  # how far the artwork reaches from its centre, in its widths
        for name in EMOJI_CODEPOINTS:
            path = folder / f"{name}.png"
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
            if image is None or image.ndim != 3 or image.shape[2] != 4:
                raise UserError(f"emoji image {path} is missing or not an RGBA PNG; rebuild the "
                                "artwork with: python -m convert.make_emojis")
            self.images[name] = premultiply(image)
            ys, xs = np.nonzero(image[..., 3])
            n = image.shape[0]
            self.reach[name] = float(np.hypot(ys + 0.5 - n / 2, xs + 0.5 - n / 2).max(initial=0) + 1) / n
        self._cache: OrderedDict[tuple[str, int, int], Sprite] = OrderedDict()
        self._cache_bytes = 0
        self._budget = cache_mb * 2**20
        self._maker = ThreadPoolExecutor(1, "sprites") if background else None
        self._pending: dict[tuple[str, int, int], Future[Sprite] | None] = {}  # None: asked, not started

    def sprite(self, name: str, size: float, angle: float = 0.0, hides: bool = False) -> Sprite:
        """Emoji ``name`` about ``size`` px wide, rotated ``angle`` degrees counter-clockwise;
        never smaller than ``size`` when it ``hides`` a face."""
        self._collect()
        step = max(4, int(size / 16) // 4 * 4)
        key = (name, max(4, int(np.ceil(size / step)) * step), int(round(angle / 3)) * 3)
        found = key if key in self._cache else self._near(name, size, angle, step)
        if found is None and self._maker is not None:
            found = self._stand_in(name, size, angle, hides)
            if found is not None and key not in self._pending and len(self._pending) < MAX_PENDING:
                self._pending[key] = None
        if found is not None:
            self._cache.move_to_end(found)
            return self._cache[found]
        return self._keep(key, self._make(name, key[1], key[2]))

    def frame_done(self) -> None:
        """The frame is shown: the background maker starts on the sprites asked for while drawing it."""
        if self._maker is None:
            return
        for key, made in self._pending.items():
            if made is None:
                self._pending[key] = self._maker.submit(self._make, *key)

    def close(self) -> None:
        """Stop the background maker (it finishes the sprite it is making)."""
        if self._maker is not None:
            self._maker.shutdown(wait=True, cancel_futures=True)
            self._pending.clear()

    def _keep(self, key: tuple[str, int, int], sprite: Sprite) -> Sprite:
        self._cache[key] = sprite
        self._cache_bytes += sprite.nbytes
        while self._cache_bytes > self._budget and len(self._cache) > 1:
            self._cache_bytes -= self._cache.popitem(last=False)[1].nbytes
        return sprite

    def _collect(self) -> None:
        """Cache the sprites the background maker has finished."""
        for key, made in list(self._pending.items()):
            if made is not None and made.done():
                del self._pending[key]
                if key not in self._cache:
                    self._keep(key, made.result())

    def _near(self, name: str, size: float, angle: float, step: int) -> tuple[str, int, int] | None:
        """The key of a cached sprite of ``name`` no smaller than ``size``, within a step and 3 degrees."""
        for key in reversed(self._cache):  # the most recently used first
            n, px, a = key
            if n == name and size <= px < size + step and abs(a - angle) <= 3:
                return key
        return None

    def _stand_in(self, name: str, size: float, angle: float, hides: bool) -> tuple[str, int, int] | None:
        """The key of the cached sprite of ``name`` closest to ``size`` and then ``angle`` within
        ``STAND_IN`` (never smaller when it ``hides`` a face), to show until the right one is made."""
        low, high = (size if hides else size / STAND_IN), size * STAND_IN
        near = [key for key in self._cache if key[0] == name and low <= key[1] <= high]
        return min(near, key=lambda k: (abs(np.log(k[1] / size)), abs(k[2] - angle)), default=None)

    def _make(self, name: str, px: int, angle: int) -> Sprite:
        """Scaled (area-averaged down, cubic up) and turned. A turned sprite larger than the artwork
        is scaled and turned in one bilinear warp: half the time of a cubic resize and a warp of the
        result (which at 400-600 px, a face close to the camera, cost 1-5 ms a new sprite)."""
        src = self.images[name]
        n = src.shape[1]
        if not angle or px < n:
            src = cv2.resize(src, (px, px), interpolation=cv2.INTER_AREA if px < n else cv2.INTER_CUBIC)
            if not angle:
                return Sprite.from_premultiplied(src)
        # Just large enough for the turned artwork: its turned bounding square, or the disc
        # it reaches to, whichever is smaller (a round emoji needs almost no room to turn).
        rad = np.radians(angle)
        side = int(np.ceil(min(px * (abs(np.cos(rad)) + abs(np.sin(rad))), 2 * self.reach[name] * px))) + 2
        side = max(side, px) + (max(side, px) - px) % 2  # centred on the same pixel grid
        m = cv2.getRotationMatrix2D((src.shape[1] / 2, src.shape[0] / 2), angle, px / src.shape[1])
        m[:, 2] += (side - src.shape[1]) / 2
        out = cv2.warpAffine(src, m, (side, side), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        return Sprite.from_premultiplied(out)


def text(canvas: np.ndarray, s: str, x: int, y: int, scale: float = 0.6,
         color: tuple[int, int, int] = WHITE, thickness: int = 1) -> None:
    """Text with a dark outline, readable on any camera image.

    The outline is the same text shifted by a pixel each way, not a thicker stroke: OpenCV 5
    renders thicker text with wider letters, which would misalign a thick outline.
    """
    for dx, dy in ((-1, -1), (1, -1), (-1, 1), (1, 1)):
        cv2.putText(canvas, s, (x + dx, y + dy), FONT, scale, BLACK, thickness, cv2.LINE_AA)
    cv2.putText(canvas, s, (x, y), FONT, scale, color, thickness, cv2.LINE_AA)


def centred_text(canvas: np.ndarray, s: str, cx: int, y: int, scale: float,
                 color: tuple[int, int, int] = WHITE, thickness: int = 2) -> None:
    (tw, _), _ = cv2.getTextSize(s, FONT, scale, thickness)
    text(canvas, s, cx - tw // 2, y, scale, color, thickness)


def message_screen(canvas: np.ndarray, lines: list[str]) -> np.ndarray:
    """A dark screen with centred lines: camera lost, privacy, starting up."""
    canvas[:] = (32, 32, 32)
    h, w = canvas.shape[:2]
    scale = max(0.5, w / 900)
    step = int(40 * scale)
    y = h // 2 - step * (len(lines) - 1) // 2
    for line in lines:
        centred_text(canvas, line, w // 2, y, scale)
        y += step
    return canvas
