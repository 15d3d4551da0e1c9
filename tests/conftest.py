"""Shared fixtures: the dataset in ../shared (tests that need it skip only when it is absent)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw 60 examples; under arm64 emulation (.ci/arm64.sh), where one detector pass
# takes a second, HYPOTHESIS_PROFILE=emulated draws 12.
settings.register_profile("default", max_examples=60)
settings.register_profile("emulated", max_examples=12)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/photos.py, tests/fakes.py

FER_DIR = Path(os.environ.get("FER2013_DIR", ROOT.parent / "shared" / "data" / "fer2013"))
FERPLUS_VOTES = Path(os.environ.get("FERPLUS_VOTES", FER_DIR.parent / "ferplus" / "votes.csv"))


@pytest.fixture(scope="session")
def fer_dir() -> Path:
    if not (FER_DIR / "test").is_dir():
        pytest.skip(f"FER2013 not found at {FER_DIR} (set FER2013_DIR)")
    return FER_DIR


@pytest.fixture(scope="session")
def fer_test(fer_dir):
    """The FER2013 test split (7,178 faces), loaded once per session."""
    from convert.fer_data import load_folder

    return load_folder(fer_dir, splits=("test",))


@pytest.fixture(scope="session")
def fer_private_subset(fer_test):
    """The fixed subset the shipped model is held to: every 5th PrivateTest face (718)."""
    import numpy as np

    private = fer_test.split("PrivateTest")
    return private.select(np.arange(0, len(private), 5))
