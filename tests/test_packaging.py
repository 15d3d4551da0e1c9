"""An installed wheel carries the models, the artwork and the sample, and finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_models_emojis_and_sample(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("edge_emojify-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("edge_emojify/models/emotion.tflite", "edge_emojify/models/emotion.json",
                   "edge_emojify/models/face_detection_short_range.tflite",
                   "edge_emojify/models/face_detection_full_range.tflite",
                   "edge_emojify/models/LICENSE-mediapipe.txt", "edge_emojify/emojis/happy.png",
                   "edge_emojify/emojis/LICENSE.txt", "edge_emojify/data/sample.mp4"):
        assert needed in names, needed
    assert not any(n.startswith(("tests/", "convert/")) for n in names)
    # The licence as an SPDX expression: setuptools refuses the older table form after 2027-02-18.
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert "License-Expression: MIT" in zipfile.ZipFile(wheel).read(metadata).decode()
