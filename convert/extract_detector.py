"""Extract the BlazeFace face-detection TFLite models from the mediapipe wheel.

Why: the app only needs two small .tflite files and the numbers to decode their output, not
the whole mediapipe package (which has no wheel for every Pi OS/Python pair). The wheel is the
one official place the models ship, so we take them from a pinned wheel, record their sha256,
tensor shapes and the SSD anchor options from mediapipe's graphs
(``modules/face_detection/face_detection{,_short_range,_full_range}.pbtxt``) in a model card,
and check the anchor count each option set generates against the model's output shape.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from convert import ConvertError, run_script
from edge_emojify.runtime import load_interpreter

MEDIAPIPE_VERSION = "0.10.21"
MODULE_DIR = "mediapipe/modules/face_detection/"
# Where the anchor and decoder options below come from (mediapipe source tree, same version).
PBTXT_SOURCES = [MODULE_DIR + f"face_detection{s}.pbtxt" for s in ("", "_short_range", "_full_range")]
# BlazeFace landmark order (mediapipe FaceDetection keypoints), from the subject's point of view.
KEYPOINTS = ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion"]

# SsdAnchorsCalculatorOptions shared by both models (face_detection.pbtxt) ...
COMMON_ANCHORS: dict[str, Any] = {
    "min_scale": 0.1484375,
    "max_scale": 0.75,
    "anchor_offset_x": 0.5,
    "anchor_offset_y": 0.5,
    "aspect_ratios": [1.0],
    "fixed_anchor_size": True,
    "reduce_boxes_in_lowest_layer": False,
}
# ... and per model (face_detection_short_range.pbtxt / face_detection_full_range.pbtxt).
MODELS: dict[str, dict[str, Any]] = {
    "short_range": {
        "file": "face_detection_short_range.tflite",
        "candidates": ["face_detection_short_range.tflite"],
        "anchors": {"input_size": 128, "num_layers": 4, "strides": [8, 16, 16, 16],
                    "interpolated_scale_aspect_ratio": 1.0},
        "min_score_thresh": 0.5,
        "use": "faces within about 2 m of the camera (selfie / mirror distance)",
    },
    "full_range": {
        # Recent wheels ship only the sparse-weight build; the interpreter densifies it on load.
        "file": "face_detection_full_range.tflite",
        "candidates": ["face_detection_full_range.tflite", "face_detection_full_range_sparse.tflite"],
        "anchors": {"input_size": 192, "num_layers": 1, "strides": [4],
                    "interpolated_scale_aspect_ratio": 0.0},
        "min_score_thresh": 0.6,
        "use": "faces up to about 5 m away",
    },
}
# TensorsToDetectionsCalculatorOptions and NonMaxSuppression from face_detection.pbtxt.
DECODE: dict[str, Any] = {
    "num_classes": 1,
    "num_coords": 16,
    "box_coord_offset": 0,
    "keypoint_coord_offset": 4,
    "num_keypoints": 6,
    "num_values_per_keypoint": 2,
    "reverse_output_order": True,
    "sigmoid_score": True,
    "score_clipping_thresh": 100.0,
    "scale": "x_scale = y_scale = w_scale = h_scale = input size in pixels",
    "formula": (
        "raw row r, anchor a (centre ax, ay; w = h = 1 since fixed_anchor_size): "
        "cx = r[0]/scale*a.w + ax, cy = r[1]/scale*a.h + ay, w = r[2]/scale*a.w, h = r[3]/scale*a.h; "
        "keypoint k: x = r[4+2k]/scale*a.w + ax, y = r[5+2k]/scale*a.h + ay (all normalised 0..1 "
        "in the letterboxed input); score = sigmoid(clip(logit, -100, 100))"
    ),
    "non_max_suppression": {"min_suppression_threshold": 0.3, "overlap_type": "IoU", "algorithm": "weighted"},
}
PREPROCESS = (
    "RGB, letterboxed to the input size keeping aspect ratio with a black border (pixel 0, so -1 "
    "after scaling), float32 normalised to [-1, 1]: x / 127.5 - 1"
)




def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m convert.extract_detector", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--wheel", type=Path, help=f"mediapipe {MEDIAPIPE_VERSION} wheel (default: download it)")
    p.add_argument("--out", type=Path, default=Path("models"), help="output folder (default: models)")
    return p.parse_args(argv)


def download_wheel(dest: Path) -> Path:
    """pip-download the pinned wheel; only needed when no --wheel is given."""
    print(f"downloading mediapipe=={MEDIAPIPE_VERSION} into {dest} ...")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           f"mediapipe=={MEDIAPIPE_VERSION}", "-d", str(dest)]
    result = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wheels = sorted(dest.glob("mediapipe-*.whl"))
    if result.returncode != 0 or not wheels:
        last = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise ConvertError(f"pip download of mediapipe failed ({last}); pass --wheel PATH")
    return wheels[0]


def anchor_count(opts: dict[str, Any]) -> int:
    """Anchors SsdAnchorsCalculator makes: consecutive layers with one stride share a grid."""
    strides, total, layer = opts["strides"], 0, 0
    interpolated = 1 if opts["interpolated_scale_aspect_ratio"] > 0 else 0  # one extra anchor per layer
    per_layer = len(COMMON_ANCHORS["aspect_ratios"]) + interpolated
    while layer < opts["num_layers"]:
        last = layer
        while last < opts["num_layers"] and strides[last] == strides[layer]:
            last += 1
        grid = -(-opts["input_size"] // strides[layer])  # ceil
        total += grid * grid * per_layer * (last - layer)
        layer = last
    return total


def tensor_info(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": d["name"], "shape": [int(x) for x in d["shape"]], "dtype": d["dtype"].__name__}
            for d in details]


def describe(path: Path, member: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Read shapes from the model itself and cross-check them against the anchor options."""
    interp = load_interpreter(path, 1, f"detector {path.name}")
    inputs, outputs = tensor_info(interp.get_input_details()), tensor_info(interp.get_output_details())
    size = spec["anchors"]["input_size"]
    if inputs[0]["shape"] != [1, size, size, 3] or inputs[0]["dtype"] != "float32":
        raise ConvertError(f"{path.name}: unexpected input {inputs[0]}; expected [1,{size},{size},3] float32")
    anchors = {**spec["anchors"], **COMMON_ANCHORS, "num_anchors": anchor_count(spec["anchors"])}
    by_width = {o["shape"][-1]: o for o in outputs}
    if set(by_width) != {16, 1} or any(o["shape"][1] != anchors["num_anchors"] for o in outputs):
        raise ConvertError(f"{path.name}: outputs {outputs} do not match {anchors['num_anchors']} anchors")
    for role, width in (("regressors", 16), ("classificators", 1)):
        by_width[width]["role"] = role
    return {
        "file": path.name,
        "source_member": member,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "bytes": path.stat().st_size,
        "use": spec["use"],
        "input": {**inputs[0], "layout": "NHWC", "preprocess": PREPROCESS},
        "outputs": outputs,
        "anchors": anchors,
        "min_score_thresh": spec["min_score_thresh"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        if not wheel.is_file():
            raise ConvertError(f"wheel {wheel} not found; pass --wheel PATH or omit it to download")
        args.out.mkdir(parents=True, exist_ok=True)
        shared: dict[str, Any] = {
            "source": {"wheel": wheel.name, "package": f"mediapipe=={MEDIAPIPE_VERSION}"},
            "license": "Apache-2.0, Copyright The MediaPipe Authors; see LICENSE-mediapipe.txt",
            "keypoints": KEYPOINTS,
            "anchors_from": PBTXT_SOURCES,
            "decode": DECODE,
        }
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            for spec in MODELS.values():
                member = next((MODULE_DIR + c for c in spec["candidates"] if MODULE_DIR + c in names), None)
                if member is None:
                    raise ConvertError(f"{wheel.name} has none of {spec['candidates']} in {MODULE_DIR}")
                target = args.out / spec["file"]
                target.write_bytes(zf.read(member))
                info = describe(target, member, spec)
                # One card beside each model, as for the emotion model.
                target.with_suffix(".json").write_text(json.dumps({**info, **shared}, indent=2) + "\n",
                                                       encoding="utf-8")
                print(f"{target}: {info['bytes']} bytes from {Path(member).name}, "
                      f"{info['anchors']['num_anchors']} anchors match the outputs; card beside it")
            licence = next((n for n in names if n.endswith(".dist-info/LICENSE")), None)
            text = zf.read(licence).decode("utf-8") if licence else APACHE_NOTICE
        (args.out / "LICENSE-mediapipe.txt").write_text(text, encoding="utf-8")
    print(f"{args.out}/LICENSE-mediapipe.txt written "
          f"(licence from {'wheel' if licence else 'built-in notice'})")
    return 0


APACHE_NOTICE = """Copyright The MediaPipe Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
"""


if __name__ == "__main__":
    run_script(main, zipfile.BadZipFile)
