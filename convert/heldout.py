"""The validation faces of a shipped model: the part of FER2013 `train/` its training held out.

Settings that sit on top of the model (the prior correction, the steadiness of the emoji) are
chosen on these faces, never on the test split. The model card records how its training split
the data (``val_fraction`` and the split seed), so the same faces come back here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert import ConvertError
from convert.fer_data import FerSet, load, load_folder, stratified_split


@dataclass(frozen=True)
class Heldout:
    """The training portion (its faces and class frequencies) and the validation faces, as the card's run
    split them."""

    prior: np.ndarray  # (7,) class frequencies of the faces the model trained on
    validation: FerSet
    training: FerSet  # the faces the model trained on
    split_seed: int
    val_fraction: float


def split_of(card: dict) -> tuple[int, float]:
    """(split seed, validation fraction) of the card's training run."""
    training = card.get("training") or {}
    seed = training.get("split_seed", training.get("seed"))
    if seed in (None, "None") or "val_fraction" not in training:
        raise ConvertError("the model card does not say how its training split train/ (training.seed, "
                           "training.val_fraction): rebuild it with convert.convert_tflite from a run's best.keras")
    return int(seed), float(training["val_fraction"])


def heldout(data_source: str, card: dict, progress: bool = False) -> Heldout:
    seed, fraction = split_of(card)
    # A folder is read without its test/ half: nothing chosen here can have seen the test split.
    source = Path(data_source)
    data = load_folder(source, ("train",), progress) if source.is_dir() else load(source, progress)
    train = data.split("Training")
    train_idx, val_idx = stratified_split(train.labels, fraction, seed)
    prior = np.bincount(train.labels[train_idx], minlength=7) / len(train_idx)
    return Heldout(prior.astype(np.float64), train.select(val_idx), train.select(train_idx), seed, fraction)
