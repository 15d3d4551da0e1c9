"""The Linux framebuffer (/dev/fbN): needs no library, works on any console without X or KMS.

Geometry and depth come from sysfs (``/sys/class/graphics/fbN``). 16 bpp is RGB565 and 32 bpp
is XRGB8888, both little-endian as the Pi's firmware framebuffer uses them; 24 bpp is BGR.
Rows are written with the device's own stride, which can be wider than the visible width.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from edge_emojify.render.draw import letterbox
from edge_emojify.sinks.base import SinkError


def _read_sysfs(folder: Path, name: str) -> str:
    try:
        return (folder / name).read_text().strip()
    except OSError:
        raise SinkError(f"cannot read {folder / name}; is {folder.name} a framebuffer? "
                        "set display.fbdev or use another display.sink") from None


def to_framebuffer_pixels(image_bgr: np.ndarray, bpp: int) -> np.ndarray:
    """Convert a BGR image to the framebuffer's byte layout: (H, W*bytes) uint8."""
    h, w = image_bgr.shape[:2]
    if bpp == 32:
        out = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2BGRA)
    elif bpp == 24:
        out = image_bgr
    elif bpp == 16:
        out = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2BGR565)
    else:
        raise SinkError(f"framebuffer depth {bpp} bpp is not supported (16, 24 or 32); "
                        "set framebuffer_depth in /boot/firmware/config.txt")
    return np.ascontiguousarray(out).reshape(h, -1)


class FramebufferSink:
    name = "framebuffer"

    def __init__(self, device: Path, sysfs_root: Path = Path("/sys/class/graphics")) -> None:
        info = sysfs_root / device.name
        width, height = (int(v) for v in _read_sysfs(info, "virtual_size").split(","))
        self.bpp = int(_read_sysfs(info, "bits_per_pixel"))
        stride_text = _read_sysfs(info, "stride") if (info / "stride").exists() else ""
        self.stride = int(stride_text) if stride_text else width * self.bpp // 8
        self.size = (width, height)
        try:
            self._fd = os.open(device, os.O_WRONLY)
        except OSError as exc:
            raise SinkError(f"cannot open {device} ({exc.strerror}); add the user to the video group "
                            "or run as the edge-emojify service") from None
        self._row = np.zeros((height, self.stride), np.uint8)

    def show(self, image: np.ndarray) -> None:
        if image.shape[1::-1] != self.size:  # the app draws at the sink's size; anything else is fitted
            canvas = np.zeros((self.size[1], self.size[0], 3), np.uint8)
            letterbox(image, canvas)
            image = canvas
        pixels = to_framebuffer_pixels(image, self.bpp)
        self._row[:, :pixels.shape[1]] = pixels
        os.pwrite(self._fd, self._row.tobytes(), 0)

    def clear(self) -> None:
        self._row[:] = 0
        os.pwrite(self._fd, self._row.tobytes(), 0)

    def poll(self) -> list[str]:
        return []

    def close(self) -> None:
        if self._fd >= 0:
            self.clear()
            os.close(self._fd)
            self._fd = -1
