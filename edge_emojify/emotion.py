"""Emotion scores per face: an upright 48×48 grayscale crop, all faces in one int8 TFLite invoke.

The model card (``emotion.json`` beside the model, :mod:`edge_emojify.model_card`) is the
contract: it fixes the label order, the input size, how the crop is made and the prior
correction. The card and the model are checked against each other at load time, because a
model retrained with another class order would otherwise show the wrong emoji without any error.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from edge_emojify.errors import UserError
from edge_emojify.model_card import ModelCard, card_path
from edge_emojify.resample import shrink
from edge_emojify.runtime import Runner
from edge_emojify.types import Face


def correct_for_prior(probs: np.ndarray, prior: np.ndarray | tuple[float, ...], tau: float) -> np.ndarray:
    """Probabilities divided by ``prior ** tau`` and renormalised (post-hoc logit adjustment).

    A classifier trained on FER2013 has its class frequencies baked into its scores (happy is 25 %
    of the faces, disgust 1.5 %), so rare expressions rarely win; ``tau`` is fitted on validation
    by ``convert.fit_prior`` and recorded in the model card. ``tau = 0`` changes nothing.
    """
    probs = np.asarray(probs, np.float32)
    if not tau:
        return probs
    adjusted = probs / np.asarray(prior, np.float32) ** np.float32(tau)
    return adjusted / np.maximum(adjusted.sum(axis=-1, keepdims=True), 1e-12)


def lift_contrast(crops: np.ndarray, below: float, mean: float, std: float) -> np.ndarray:
    """``crops`` (N, size, size) uint8, each one with less grey contrast (standard deviation) than
    ``below`` stretched to ``mean`` and ``std``; the others as they are.

    A face lit from behind (a window behind the visitor, a dim hall, a stage's audience) comes out
    dark and flat, and one in a video's soft light and focus flat, and the model, trained on
    FER2013's contrasty faces, reads them worse. Stretched to the training faces' median brightness
    and contrast when flatter than 98 % of them, they are read almost as well as in the light;
    FER2013's faces are almost all left alone, a TV scene's often are not (43 of 73 crops). The
    numbers, and what they do on darkened, flattened and softened validation faces, are in the
    model card (``convert.fit_contrast``).
    """
    flat = crops.reshape(len(crops), -1).std(axis=1) < below
    if not flat.any():
        return crops
    out = crops.copy()
    lifted = crops[flat].astype(np.float32)
    centre = lifted.mean(axis=(1, 2), keepdims=True)
    spread = np.maximum(lifted.std(axis=(1, 2), keepdims=True), 1.0)
    out[flat] = np.clip((lifted - centre) * (std / spread) + mean + 0.5, 0, 255).astype(np.uint8)
    return out


def crop_face(gray: np.ndarray, face: Face, size: int, margin: float, align: bool,
              gray_scale: float = 1.0) -> np.ndarray:
    """An upright square crop of ``face`` from ``gray`` resized to ``size``×``size`` uint8.

    ``gray_scale`` maps image coordinates to ``gray`` coordinates by division (the Pi's lores
    image is smaller than the shown one). Area resampling first, then a small rotation, so a
    large face is not aliased down to 48 pixels; a crop four times the input or more (a face of
    about 170 px and up) is halved first (``shrink``: 0.34 → 0.20 ms for a 345-px crop, 0.56 →
    0.12 for 450 px here). On 560 FER2013 training faces enlarged 1.5-5x and turned, the model
    read 86.3 % of them right either way.
    """
    cx, cy = (c / gray_scale for c in face.center)
    side = max(face.width, face.height) * (1 + margin) / gray_scale
    angle = face.roll if align else 0.0
    # Take the square that turning upright leaves no empty corners in: cos + sin of the tilt times
    # the side. A fixed 1.5 times resampled twice the pixels for an upright face (0.43 against
    # 0.23 ms for a 200-px face); on 560 FER2013 faces enlarged 1.5-5x and turned up to 20
    # degrees, the model read 86.3 against 85.9 % of them right, the crops 5.2 against 4.9 grey
    # levels from the original.
    turn = math.radians(angle)
    reach = abs(math.cos(turn)) + abs(math.sin(turn))
    outer = side * reach
    x0, y0 = round(cx - outer / 2), round(cy - outer / 2)
    x1, y1 = x0 + max(1, round(outer)), y0 + max(1, round(outer))
    h, w = gray.shape[:2]
    patch = gray[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
    if patch.size == 0:
        return np.zeros((size, size), np.uint8)
    if (x0, y0, x1, y1) != (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)):
        patch = cv2.copyMakeBorder(patch, max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w),
                                   cv2.BORDER_REPLICATE)
    big = max(size, round(size * reach))
    patch = shrink(patch, big, big)
    m = cv2.getRotationMatrix2D((big / 2, big / 2), angle, 1.0)
    m[:, 2] -= (big - size) / 2
    return cv2.warpAffine(patch, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class EmotionModel:
    """Scores faces with the int8 (or float) TFLite emotion model described by its card."""

    def __init__(self, model_path: Path, threads: int = 1, prior_correction: bool = True,
                 lift: bool = True) -> None:
        self.card = ModelCard.load(card_path(model_path))
        self.tau = self.card.tau if prior_correction else 0.0
        self.lift_below = self.card.contrast_below if lift else 0.0
        self.runner = Runner(model_path, threads, "emotion model")
        size = self.card.input_size
        if self.runner.input_shape != (size, size, 1):
            raise UserError(f"emotion model {model_path} takes input {tuple(self.runner.input['shape'])} but its "
                            f"card says {size}×{size}×1; rebuild model and card together with convert/")
        if self.runner.output["shape"][-1] != len(self.card.labels):
            raise UserError(f"emotion model {model_path} outputs {self.runner.output['shape'][-1]} scores but its "
                            f"card lists {len(self.card.labels)} labels; rebuild them together with convert/")

    def crops(self, gray: np.ndarray, faces: list[Face], gray_scale: float = 1.0) -> np.ndarray:
        card = self.card
        return np.stack([crop_face(gray, f, card.input_size, card.margin, card.align, gray_scale)
                         for f in faces])

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, 7)`` for raw uint8 crops ``(N, size, size)``, flat ones lifted and the scores
        prior-corrected as configured."""
        if crops.ndim != 3 or crops.shape[1:] != (self.card.input_size,) * 2:
            raise ValueError(f"crops must be (N, {self.card.input_size}, {self.card.input_size}), "
                             f"got {crops.shape}")
        if len(crops) == 0:
            return np.zeros((0, len(self.card.labels)), np.float32)
        if self.lift_below:
            crops = lift_contrast(crops, self.lift_below, *self.card.contrast_to)
        return correct_for_prior(self.runner.run(crops[..., None]), self.card.prior, self.tau)

    def predict(self, gray: np.ndarray, faces: list[Face], gray_scale: float = 1.0) -> np.ndarray:
        """Probabilities ``(len(faces), 7)`` for the faces of one frame."""
        if not faces:
            return np.zeros((0, len(self.card.labels)), np.float32)
        return self.predict_crops(self.crops(gray, faces, gray_scale))
