"""Test scenes built from the two bundled public-domain portraits (never FER2013 images).

The hand-checked face boxes in the stills live beside the synthetic source that also uses them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_emojify.sources.synthetic import PORTRAITS, head_crop

DATA = Path(__file__).resolve().parent.parent / "edge_emojify" / "data"
HOPPER_BOX = PORTRAITS["hopper.jpg"]
ASTRONAUT_BOX = PORTRAITS["astronaut.jpg"]


def hopper() -> np.ndarray:
    return cv2.imread(str(DATA / "hopper.jpg"))


def astronaut() -> np.ndarray:
    return cv2.imread(str(DATA / "astronaut.jpg"))


def group(n: int, frame: tuple[int, int] = (1280, 720), face_px: int = 80,
          pad: float = 0.6) -> tuple[np.ndarray, list]:
    """``n`` heads (up to 6 in rows of 3, up to 20 in rows of 5) with faces about ``face_px`` wide
    on a grey wall; returns the image and the true face boxes."""
    width, height = frame
    canvas = np.full((height, width, 3), 150, np.uint8)
    heads = [(hopper(), HOPPER_BOX), (astronaut(), ASTRONAUT_BOX)]
    boxes = []
    cols = min(n, 3) if n <= 6 else 5
    rows = (n + cols - 1) // cols
    for i in range(n):
        image, box = heads[i % 2]
        if i % 4 >= 2:
            image = image[:, ::-1].copy()
            box = (image.shape[1] - box[2], box[1], image.shape[1] - box[0], box[3])
        head = head_crop(image, box, pad)
        scale = face_px / (box[2] - box[0])
        head = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cx = int((i % cols + 0.5) * width / cols)
        cy = int((i // cols + 0.5) * height / rows)
        hh, hw = head.shape[:2]
        x0, y0 = cx - hw // 2, cy - hh // 2
        canvas[y0:y0 + hh, x0:x0 + hw] = head
        # The face box inside the pasted head, in canvas pixels.
        fx0 = x0 + (box[0] - max(0, int(box[0] - pad * (box[2] - box[0])))) * scale
        fy0 = y0 + (box[1] - max(0, int(box[1] - pad * (box[3] - box[1])))) * scale
        boxes.append((fx0, fy0, fx0 + (box[2] - box[0]) * scale, fy0 + (box[3] - box[1]) * scale))
    return canvas, boxes


def close_up(frame: tuple[int, int] = (640, 480)) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Grace Hopper's face filling most of the frame height; returns image and true box."""
    image = hopper()
    x0, y0, x1, y1 = HOPPER_BOX
    crop = image[y0 - 30:y1 + 30, x0 - 60:x1 + 60]
    scale = frame[1] / crop.shape[0]
    crop = cv2.resize(crop, None, fx=scale, fy=scale)
    canvas = np.full((frame[1], frame[0], 3), 90, np.uint8)
    ox = (frame[0] - crop.shape[1]) // 2
    canvas[:, ox:ox + crop.shape[1]] = crop[:frame[1], :frame[0]]
    return canvas, (ox + 60 * scale, 30 * scale, ox + (60 + x1 - x0) * scale, (30 + y1 - y0) * scale)
