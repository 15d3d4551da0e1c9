"""Where the shipped files are: models, emoji artwork and the sample data.

A source checkout keeps ``models/`` and ``emojis/`` beside the package; an installed wheel ships
them inside it (see ``[tool.setuptools.package-dir]`` in pyproject.toml). Every module asks here.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"  # the sample clip and the test stills
SAMPLE_VIDEO = DATA_DIR / "sample.mp4"


def _shipped(name: str) -> Path:
    """``name`` beside the package (a checkout) or inside it (a wheel); the checkout's path if neither."""
    for candidate in (PACKAGE_DIR.parent / name, PACKAGE_DIR / name):
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR.parent / name


def models_dir() -> Path:
    return _shipped("models")


def emoji_dir() -> Path:
    return _shipped("emojis")
