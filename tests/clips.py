"""Reading test clips back (edge_emojify.video.synthetic makes them): frames, times, rotation, samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_emojify.video.synthetic import MARK, Clip, make_clip

av = __import__("pytest").importorskip("av")

__all__ = ["MARK", "Clip", "make_clip", "read_audio", "read_video", "red_corner"]


def red_corner(image) -> tuple[int, int]:
    """Which corner (row, col as 0 or 1) holds the red mark."""
    h, w = image.shape[:2]
    reds = {(r, c): image[r * (h - MARK):r * (h - MARK) + MARK, c * (w - MARK):c * (w - MARK) + MARK, 2].mean()
            - image[r * (h - MARK):r * (h - MARK) + MARK, c * (w - MARK):c * (w - MARK) + MARK, 1].mean()
            for r in (0, 1) for c in (0, 1)}
    return max(reds, key=reds.get)


def read_video(path: Path) -> tuple[list[np.ndarray], list[float], int]:
    """Every frame of ``path`` as BGR (as stored, rotation not applied), their times, and the display rotation."""
    images, times, rotation = [], [], 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            images.append(frame.to_ndarray(format="bgr24"))
            times.append(float(frame.time))
            rotation = frame.rotation
    return images, times, rotation


def read_audio(path: Path) -> np.ndarray:
    """The first audio stream decoded to float samples (empty when there is none)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros(0, np.float32)
        return np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
