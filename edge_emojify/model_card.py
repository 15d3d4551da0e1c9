"""The model card, ``models/emotion.json``: its schema, in one place for the app and for convert/.

convert/ writes it (``convert_tflite`` builds it, ``fit_prior``, ``fit_contrast`` and ``evaluate``
add their sections), the app reads the parts it relies on (:class:`ModelCard`), and
``python -m convert.model_card`` renders it for README. The card sits beside the model with the
same name; it is the contract between the two: labels in output order, input size, how the crop
is made, the prior correction, the contrast lift, and how the model was made and measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_emojify.errors import UserError
from edge_emojify.labels import EMOTIONS

# How the app crops a face for the model; the training data (FER2013) is cropped alike.
CROP = {"margin": 0.15, "align_eyes": True,
        "how": "square around the BlazeFace box, side = box side x (1 + margin), rotated so the eyes "
               "are level, area-resampled to 48x48 grayscale"}
INPUT_VALUES = ("raw grayscale pixels 0..255 quantised with the input tensor's scale and zero point "
                "(x = pixel - 128); normalisation is inside the model")
# Sections that measure one model file: kept when the card is rewritten for the same file only.
MEASURED = ("prior_correction", "contrast", "evaluation")


def card_path(model_path: Path) -> Path:
    """The card of a model: same folder, same name, ``.json``."""
    return model_path.with_suffix(".json")


def read(path: Path) -> dict[str, Any]:
    """The whole card as a dict; a missing or unreadable card is a one-line error naming the fix."""
    if not path.is_file():
        raise UserError(f"model card {path} is missing; it must sit beside the .tflite (rebuild both with "
                        "python -m convert.convert_tflite)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"model card {path} is unreadable ({exc.__class__.__name__}: {exc}); rebuild it with "
                        "convert/") from None


def write(path: Path, card: dict[str, Any]) -> None:
    path.write_text(json.dumps(card, indent=2) + "\n")


def new_card(model_file: Path, sha256: str, input_size: int, training: dict[str, Any], keras_source: str,
             conversion: dict[str, Any]) -> dict[str, Any]:
    """A card for a freshly converted model; an earlier card's measurements stay if they measured this file."""
    card = {
        "model": model_file.name, "sha256": sha256, "size_bytes": model_file.stat().st_size,
        "labels": list(EMOTIONS),
        "input": {"size": input_size, "channels": 1, "dtype": "int8", "values": INPUT_VALUES,
                  "batch": "dynamic (resize the input tensor to N faces)"},
        "output": "7 class probabilities (softmax), int8, in label order",
        "crop": CROP, "training": training, "keras_source": keras_source, "conversion": conversion,
        "data": "FER2013 (Goodfellow et al., 2013), Kaggle folder layout; FER+ votes (Barsoum et al., 2016) "
                "for the secondary metric. Images are not shipped.",
    }
    path = card_path(model_file)
    if path.is_file():
        old = read(path)
        if old.get("sha256") == sha256:
            card.update({key: old[key] for key in MEASURED if key in old})
    return card


def record(path: Path, section: str, value: Any, kind: str | None = None) -> None:
    """Write one measured section (``evaluation`` under ``kind``, or ``prior_correction``) into a card."""
    card = read(path)
    if kind is None:
        card[section] = value
    else:
        card.setdefault(section, {})[kind] = value
    write(path, card)


@dataclass(frozen=True)
class ModelCard:
    """The parts of the card the app relies on, checked when the model loads."""

    labels: tuple[str, ...]
    input_size: int
    margin: float  # crop side = face box side × (1 + margin)
    align: bool  # rotate the crop so the eyes are level
    prior: tuple[float, ...] = ()  # class frequencies of the training data, in label order
    tau: float = 0.0  # prior correction strength fitted on validation (0 = none; cards without it)
    # A crop with less grey contrast (standard deviation) than ``contrast_below`` is stretched to
    # the training faces' median mean and contrast (``emotion.lift_contrast``; 0 = cards without it).
    contrast_below: float = 0.0
    contrast_to: tuple[float, float] = (0.0, 0.0)  # (mean, standard deviation)

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        data = read(path)
        try:
            crop = data["crop"]
            correction = data.get("prior_correction") or {}
            contrast = data.get("contrast") or {}
            card = cls(tuple(data["labels"]), int(data["input"]["size"]), float(crop["margin"]),
                       bool(crop["align_eyes"]), tuple(float(p) for p in correction.get("prior", ())),
                       float(correction.get("tau", 0.0)), float(contrast.get("below_std", 0.0)),
                       (float(contrast.get("mean", 0.0)), float(contrast.get("std", 0.0))))
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"model card {path} is unreadable ({exc.__class__.__name__}: {exc}); "
                            "rebuild it with convert/") from None
        if card.labels != EMOTIONS:
            raise UserError(f"model card {path} lists labels {list(card.labels)}; the app needs "
                            f"{list(EMOTIONS)} in that order: retrain or fix the card")
        if card.contrast_below and not (0 < card.contrast_to[0] < 255 and card.contrast_to[1] > card.contrast_below):
            raise UserError(f"model card {path} has contrast.below_std but no mean within 0..255 and std above it; "
                            "refit it with python -m convert.fit_contrast")
        if card.tau and (len(card.prior) != len(card.labels) or min(card.prior) <= 0):
            raise UserError(f"model card {path} has prior_correction.tau but no positive prior for each of "
                            f"its {len(card.labels)} labels; refit it with python -m convert.fit_prior")
        return card
