"""A tiny generated FER2013 look-alike in both public forms (folder layout and fer2013.csv).

Each class draws a bright blob at its own place on noise, so a few training steps learn it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from edge_emojify.labels import EMOTIONS


def tiny_images(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(len(EMOTIONS)):
        for _ in range(per_class):
            img = rng.normal(90, 20, (48, 48))
            y, x = 8 + (label // 4) * 24, 4 + (label % 4) * 11
            img[y:y + 14, x:x + 10] += 120
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels)


def write_folder(root: Path, per_class: int = 12, test_per_class: int = 4, suffix: str = ".png") -> Path:
    """The Kaggle layout; PNG (lossless, to compare with the CSV) or ``.jpg`` like the real files."""
    for split, n, seed in (("train", per_class, 0), ("test", test_per_class, 1)):
        images, labels = tiny_images(n, seed)
        for i, (img, label) in enumerate(zip(images, labels, strict=True)):
            folder = root / split / EMOTIONS[label]
            folder.mkdir(parents=True, exist_ok=True)
            prefix = "Training" if split == "train" else ("PublicTest" if i % 2 else "PrivateTest")
            Image.fromarray(img).save(folder / f"{prefix}_{1000 + i}{suffix}")
    return root


def write_csv(path: Path, per_class: int = 3) -> tuple[Path, np.ndarray, np.ndarray]:
    images, labels = tiny_images(per_class, 2)
    usages = ["Training", "PublicTest", "PrivateTest"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, (img, label) in enumerate(zip(images, labels, strict=True)):
            w.writerow([label, " ".join(map(str, img.ravel())), usages[i % 3]])
    return path, images, labels
