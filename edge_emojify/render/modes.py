"""The four screens: mirror, panel, emoji and debug, drawn into a canvas of any size.

Every mode letterboxes the camera image, so the screen's aspect ratio never distorts faces.
The camera is mirrored left-right by default (people expect a mirror, not a photo); face
positions and head tilt are mirrored with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_emojify.labels import EMOTIONS, UNSURE
from edge_emojify.render.draw import (
    OPAQUE_RADIUS,
    EmojiAtlas,
    Placement,
    blend,
    blur_box,
    centred_text,
    letterbox,
    text,
)
from edge_emojify.types import Frame, Rect, Track

if TYPE_CHECKING:  # config takes the mode names from here, so this module must not import it
    from edge_emojify.config import DisplayConfig

EMOJI_SCALE = 1.6  # emoji width relative to the detected face box, to cover the whole head
EMOJI_LIFT = 0.12  # move the emoji up by this fraction of the face height (box centre is low)
COLOURS = {  # BGR, one per class, for boxes and bars
    "angry": (40, 40, 230), "disgust": (60, 160, 60), "fear": (170, 90, 160), "happy": (0, 210, 255),
    "sad": (200, 120, 40), "surprise": (0, 140, 255), "neutral": (180, 180, 180), UNSURE: (255, 255, 255),
}


def caption(track: Track) -> str:
    """The label and its honest confidence: the smoothed score, and for an unsure face its best guess."""
    if track.label == UNSURE:
        return f"unsure ({track.verdict.leader}? {track.confidence:.0%})"
    return f"{track.label} {track.confidence:.0%}"


@dataclass
class FrameStats:
    """What the debug screen and the fps overlay show."""

    fps: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    notice: str = ""  # a standing note for whoever looks at the screen (e.g. that no camera was found)


@dataclass(frozen=True)
class OnScreen:
    """A track's face mapped to canvas coordinates (after mirroring and letterboxing)."""

    track: Track
    box: tuple[int, int, int, int]
    keypoints: np.ndarray
    angle: float  # degrees counter-clockwise, for cv2 rotation


def place_tracks(tracks: list[Track], place: Placement, image_width: int, mirror: bool) -> list[OnScreen]:
    out = []
    for t in tracks:
        x0, y0, x1, y1 = t.face.box
        kps = t.face.keypoints.copy()
        if mirror:
            x0, x1 = image_width - x1, image_width - x0
            kps[:, 0] = image_width - kps[:, 0]
        (cx0, cy0), (cx1, cy1) = place.point(x0, y0), place.point(x1, y1)
        kps = kps * place.scale + (place.offset_x, place.offset_y)
        angle = t.face.roll if mirror else -t.face.roll
        out.append(OnScreen(t, (round(cx0), round(cy0), round(cx1), round(cy1)), kps, angle))
    return out


class Renderer:
    """Draws the current mode; ``next_mode`` is the one call keyboard and button share."""

    def __init__(self, atlas: EmojiAtlas, cfg: DisplayConfig) -> None:
        self.atlas = atlas
        self.cfg = cfg
        self.mode = cfg.mode
        self.changed: list[Rect] | None = None  # see ``render``

    def next_mode(self) -> str:
        self.mode = MODE_NAMES[(MODE_NAMES.index(self.mode) + 1) % len(MODE_NAMES)]
        return self.mode

    def set_mode(self, name: str) -> str:
        """Show a chosen mode (the web page's mode selector); an unknown name is a ValueError."""
        if name not in MODES:
            raise ValueError(f"unknown mode {name!r}; allowed: {', '.join(MODES)}")
        self.mode = name
        return self.mode

    def render(self, frame: Frame, tracks: list[Track], canvas: np.ndarray, stats: FrameStats) -> np.ndarray:
        """Draw the current mode over all of ``canvas``. Each mode paints every pixel itself, so the
        canvas (reused frame after frame) is not cleared first: 0.14 ms at 720p, 0.37 at 1080p here.

        Afterwards ``changed`` lists the rectangles in which the canvas differs from the frame's
        picture where the mode knows them (the mirror showing the picture 1:1, as in a
        recording, whose encoder then converts only those), and is None otherwise."""
        self.atlas.frame_done()  # sprites asked for by the last frame, if its shower never said it was shown
        self.changed = None
        MODES[self.mode](self, frame, tracks, canvas, stats)
        if self.cfg.show_fps and self.mode != "debug":
            text(canvas, f"{stats.fps:.1f} fps", 8, canvas.shape[0] - 10, 0.5)
            self.changed = None
        if stats.notice:
            self.changed = None
            centred_text(canvas, stats.notice, canvas.shape[1] // 2, canvas.shape[0] - 12,
                         max(0.45, canvas.shape[1] / 1600))
        return canvas

    def frame_done(self) -> None:
        """The picture is shown: the sprites it asked for are made now, before the next one
        (``EmojiAtlas.frame_done``)."""
        self.atlas.frame_done()

    def draws_over_frame(self) -> bool:
        """Whether ``render`` may take the frame's own image as its canvas, saving a frame copy (a
        recording, whose decoded frames are new each time): true where the mode reads each camera
        pixel only to write it in the same place, unmirrored. The panel shrinks the camera into a
        column after clearing another, so it needs a canvas of its own."""
        return self.mode != "panel" and not self.cfg.mirror

    # -- the modes -------------------------------------------------------------------------

    def _camera(self, frame: Frame, tracks: list[Track], canvas: np.ndarray,
                region: tuple[int, int, int, int] = (0, 0, 0, 0)) -> list[OnScreen]:
        place = letterbox(frame.image, canvas, *region, mirror=self.cfg.mirror)
        return place_tracks(tracks, place, frame.image.shape[1], self.cfg.mirror)

    def _mirror(self, frame: Frame, tracks: list[Track], canvas: np.ndarray, stats: FrameStats) -> None:
        drawn = [self._cover(canvas, s) for s in self._camera(frame, tracks, canvas)]
        if frame.image.shape == canvas.shape and not self.cfg.mirror:  # the picture 1:1
            self.changed = [rect for rect in drawn if rect is not None]

    def _cover(self, canvas: np.ndarray, s: OnScreen) -> Rect | None:
        """Hide one face as ``display.cover`` says: the emoji over the head, or all of box + margin
        covered; returns where it drew."""
        x0, y0, x1, y1 = s.box
        w, h = x1 - x0, y1 - y0
        if self.cfg.cover == "emoji":
            sprite = self.atlas.sprite(s.track.label, w * EMOJI_SCALE, s.angle)
            return blend(canvas, sprite, (x0 + x1) / 2, (y0 + y1) / 2 - EMOJI_LIFT * h)
        m = self.cfg.cover_margin
        if self.cfg.cover == "blur":
            return blur_box(canvas, (x0 - m * w, y0 - m * h, x1 + m * w, y1 + m * h))
        # The emoji's opaque disc must reach the corners of box + margin.
        size = max(w * EMOJI_SCALE, np.hypot(w, h) * (1 + 2 * m) / (2 * OPAQUE_RADIUS))
        return blend(canvas, self.atlas.sprite(s.track.label, size, s.angle, hides=True), (x0 + x1) / 2, (y0 + y1) / 2)

    def _panel(self, frame: Frame, tracks: list[Track], canvas: np.ndarray, stats: FrameStats) -> None:
        h, w = canvas.shape[:2]
        split = w * 2 // 3
        canvas[:, split:] = 0
        for s in self._camera(frame, tracks, canvas, (0, 0, split, h)):
            colour = COLOURS[s.track.label]
            cv2.rectangle(canvas, s.box[:2], s.box[2:], colour, 2)
            text(canvas, caption(s.track), s.box[0], max(14, s.box[1] - 6), 0.55, colour)
        self._big_emoji(tracks, canvas, split, w - split)

    def _emoji(self, frame: Frame, tracks: list[Track], canvas: np.ndarray, stats: FrameStats) -> None:
        canvas[:] = (40, 40, 40)
        self._big_emoji(tracks, canvas, 0, canvas.shape[1])

    def _big_emoji(self, tracks: list[Track], canvas: np.ndarray, x0: int, width: int) -> None:
        """The main (largest) face's emoji with its label, or the idle screen, centred in a column."""
        h = canvas.shape[0]
        size = min(width * 0.8, h * 0.65)
        cx = x0 + width // 2
        font = max(0.6, size / 260)
        if tracks:
            main = tracks[0]
            name = main.label
            blend(canvas, self.atlas.sprite(name, size), cx, h * 0.42)
            centred_text(canvas, name, cx, int(h * 0.42 + size / 2 + 40 * font), font, COLOURS[name])
            centred_text(canvas, caption(main).partition(" ")[2], cx, int(h * 0.42 + size / 2 + 80 * font),
                         font * 0.7)
        else:
            blend(canvas, self.atlas.sprite("noface", size), cx, h * 0.42)
            centred_text(canvas, "come closer!", cx, int(h * 0.42 + size / 2 + 40 * font), font)

    def _debug(self, frame: Frame, tracks: list[Track], canvas: np.ndarray, stats: FrameStats) -> None:
        scale = max(0.4, canvas.shape[1] / 1600)
        for s in self._camera(frame, tracks, canvas):
            x0, y0, x1, y1 = s.box
            colour = (0, 255, 0) if s.track.missed == 0 else (0, 160, 255)
            cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 1)
            for kx, ky in s.keypoints:
                cv2.circle(canvas, (round(kx), round(ky)), 2, (0, 255, 255), -1)
            v = s.track.verdict
            waiting = f" (wants {v.wanted} for {v.time - v.since:.2f} s)" if v.wanted != v.label else ""
            text(canvas, f"#{s.track.track_id} {s.track.face.score:.2f} roll {s.track.face.roll:+.0f} "
                 f"shows {v.label}{waiting}; {v.why}", x0, max(12, y0 - 4), scale)
            bar_w = max(40, x1 - x0)
            for i, (name, p) in enumerate(zip(EMOTIONS, s.track.scores, strict=True)):
                y = y1 + 6 + i * int(16 * scale + 6)
                cv2.rectangle(canvas, (x0, y), (x0 + round(bar_w * float(p)), y + int(12 * scale + 2)),
                              COLOURS[name], -1)
                text(canvas, f"{name[:3]} {p:.2f}", x0 + bar_w + 4, y + int(12 * scale), scale * 0.8)
        lines = [f"{stats.fps:.1f} fps  {len(tracks)} face(s)  mode {self.mode}"]
        lines += [f"{k:>8}: {v:6.2f} ms" for k, v in stats.stage_ms.items()]
        step = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][1] * 2
        for i, line in enumerate(lines):
            text(canvas, line, 8, step + i * step, scale)


# The screens, in the order the button steps through them: config, the CLI and the soak test
# take their names from here.
MODES: dict[str, Callable[[Renderer, Frame, list[Track], np.ndarray, FrameStats], None]] = {
    "mirror": Renderer._mirror, "panel": Renderer._panel, "emoji": Renderer._emoji, "debug": Renderer._debug,
}
MODE_NAMES = tuple(MODES)
