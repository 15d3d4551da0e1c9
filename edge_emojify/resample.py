"""Shrinking an image fast while still averaging every pixel (what the detector and the emotion
model see of a large face)."""

from __future__ import annotations

import cv2
import numpy as np


def shrink(image: np.ndarray, width: int, height: int, halve_while: int = 4) -> np.ndarray:
    """``image`` resized down to ``width`` x ``height``, averaging every pixel, fast.

    OpenCV's area resize of a whole 720p frame into 128 px takes 1 ms on one core, and of a
    720-px full-range tile into 192 px 3.8 ms. Bilinear at exactly half is the mean of each 2x2
    block, so a large image is halved first while at least ``halve_while`` times the size is
    left, and the area resize does the rest on a smaller image: the same average at about half
    the cost, but rounded once more, which moves what a network sees a little
    (``BlazeFaceSpec.halve_while`` says where the detector allows it).
    """
    while image.shape[1] >= halve_while * width and image.shape[0] >= halve_while * height:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    if image.shape[:2] != (height, width):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return image


def thumbnail(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` shrunk to ``width`` pixels wide, for comparing one frame with another.

    Two whole rows per thumbnail row, averaged with every pixel of them (20 at 640x360, 40 at
    720p, per cell), average sensor noise away. A view of every k-th row goes into OpenCV as it is
    (only the row stride changes), so a frame fresh from the camera is read a row in five: 0.05 ms
    at 640x360 here, against 0.11 for picking 4 x 4 pixels a cell (nearest) first and 0.2 for an
    area resize of the whole frame.
    """
    h, w = image.shape[:2]
    size = (width, max(1, round(h * width / w)))
    return cv2.resize(image[::max(1, h // (2 * size[1]))], size, interpolation=cv2.INTER_AREA)
