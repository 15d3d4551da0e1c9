"""A pygame window or full screen. On the Pi console SDL draws through KMSDRM, no desktop needed.

pygame is imported when the sink opens (or injected), never at module level, so the app
runs where pygame is absent and tests can use SDL's dummy video driver.
"""

from __future__ import annotations

import logging
import sys
from types import ModuleType

import cv2
import numpy as np

from edge_emojify.controls import NEXT, QUIT
from edge_emojify.sinks.base import SinkError

log = logging.getLogger(__name__)


class PygameSink:
    name = "pygame"
    scaled = False  # whether SDL, not the renderer, fits the picture to the screen

    def __init__(self, size: tuple[int, int], fullscreen: bool, pygame: ModuleType | None = None,
                 scaled: bool = False) -> None:
        """``scaled`` (full screen only): draw at ``size`` and let SDL scale to the screen, on the GPU
        where SDL has a renderer (the Pi's KMS console), instead of resizing every frame on the CPU."""
        if pygame is None:
            try:
                import pygame  # noqa: PLC0415 - hardware is imported only when used
            except ImportError:
                raise SinkError("pygame is not installed; install python3-pygame (Pi) or "
                                "pip install pygame, or use display.sink = \"framebuffer\"") from None
        self.pg = pygame
        try:
            pygame.display.init()
            if fullscreen:
                self.screen = self._scaled(size) if scaled else None
                if self.screen is None:
                    info = pygame.display.Info()
                    size = (info.current_w, info.current_h) if info.current_w > 0 else size
                    self.screen = pygame.display.set_mode(size, pygame.FULLSCREEN | pygame.NOFRAME)
                pygame.mouse.set_visible(False)
            else:
                self.screen = pygame.display.set_mode(size)
                pygame.display.set_caption("edge-emojify (space: next mode, q: quit)")
        except pygame.error as exc:
            raise SinkError(f"cannot open the display ({exc}); on a Pi console check KMS is enabled "
                            "(dtoverlay=vc4-kms-v3d), or use display.sink = \"framebuffer\"") from None
        self.size = self.screen.get_size()
        self._bgr = _takes_bgr(pygame)
        self._direct = _is_bgrx(self.screen)
        log.info("display %s via SDL %s, drawn at %dx%d%s", "fullscreen" if fullscreen else "window",
                 pygame.display.get_driver(), *self.size, ", scaled by SDL" if self.scaled else "")

    def _scaled(self, size: tuple[int, int]):
        """A full screen that SDL scales from ``size``, or None where SDL cannot (then the CPU scales)."""
        try:
            screen = self.pg.display.set_mode(size, self.pg.FULLSCREEN | self.pg.SCALED)
        except self.pg.error as exc:
            log.info("SDL cannot scale on this display (%s): scaling on the CPU", exc)
            return None
        self.scaled = True
        return screen

    def show(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if self._direct:
            # The screen's own memory as B, G, R, X bytes: OpenCV writes the picture there in one
            # pass and, unlike pygame's blit, without holding the GIL, so the analysis thread goes on.
            buffer = self.screen.get_buffer()
            pixels = np.ndarray((h, w, 4), np.uint8, buffer=buffer, strides=(self.screen.get_pitch(), 4, 1))
            written = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA, dst=pixels)
            if written is not pixels:  # an OpenCV that would not write in place
                pixels[:] = written
            del pixels, written, buffer  # unlock the surface before SDL reads it
        else:
            if self._bgr:  # pygame reads the BGR canvas in place: no colour conversion, no copy
                surface = self.pg.image.frombuffer(np.ascontiguousarray(image), (w, h), "BGR")
            else:  # pygame before 2.1.3 (Debian Bookworm's 2.1.2) knows only RGB
                surface = self.pg.image.frombuffer(cv2.cvtColor(image, cv2.COLOR_BGR2RGB).tobytes(), (w, h), "RGB")
            self.screen.blit(surface, (0, 0))
        self.pg.display.flip()

    def poll(self) -> list[str]:
        events = []
        pg = self.pg
        for event in pg.event.get():
            if event.type == pg.QUIT:
                events.append(QUIT)
            elif event.type == pg.KEYDOWN:
                if event.key in (pg.K_SPACE, pg.K_m, pg.K_RIGHT):
                    events.append(NEXT)
                elif event.key in (pg.K_q, pg.K_ESCAPE):
                    events.append(QUIT)
        return events

    def close(self) -> None:
        if self.pg.display.get_init():
            self.screen.fill((0, 0, 0))
            self.pg.display.flip()
            self.pg.display.quit()


def _is_bgrx(screen) -> bool:
    """Whether the screen surface holds 32-bit pixels whose bytes are B, G, R, then X or alpha
    (SDL's XRGB8888/ARGB8888 on a little-endian CPU: the dummy, KMSDRM and X11 drivers' usual one)."""
    red, green, blue, alpha = screen.get_masks()
    return (screen.get_bitsize() == 32 and sys.byteorder == "little"
            and (red, green, blue) == (0xFF0000, 0xFF00, 0xFF) and alpha in (0, 0xFF000000))


def _takes_bgr(pygame: ModuleType) -> bool:
    try:
        pygame.image.frombuffer(b"\0\0\0", (1, 1), "BGR")
    except ValueError:
        return False
    return True
