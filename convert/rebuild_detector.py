"""Rebuild BlazeFace short range for other inputs (wide frames, crops), and measure what it changes.

Why: a TFLite file fixes its input size, and the published short-range model takes 128×128. A
16:9 camera frame letterboxed into it is 44 % black border, computed for nothing; and in ``auto``
range every small or missed tracked face is read again from a crop around it
(``edge_emojify/detection/scheduler.py``), which with the 128-px model cost as much as the whole
frame. BlazeFace is fully convolutional, so the same weights run at any input once the graph is
rebuilt (``convert/tflite_graph.py``): 128×80 for wide frames, 64×64 for a crop 1.6 faces wide,
in which the face is as large to the network as in the old 2.5-face crop at 128 px.

Before anything is written, the graph rebuilt at its stored 128 px must give the published
model's outputs on real frames (so the translation is exact). Then each model and its card are
written and measured against what it replaces, on the same faces: the wide input against the
square one on 16:9 frames (faces found, box and score differences), the crop model against the
old crop pass (found, box centre / width / tilt, and the jitter under sensor noise that makes an
emoji tremble), and the time per pass of each. ``--data`` adds FER2013 training faces pasted at
random sizes and tilts into frames.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from convert import ConvertError, run_script
from convert.tflite_graph import graph_function, to_tflite
from edge_emojify.detection.blazeface import (
    SHORT_RANGE,
    SHORT_RANGE_CROP,
    SHORT_RANGE_WIDE,
    WIDE_ASPECT,
    BlazeFace,
    BlazeFaceSpec,
    make_anchors,
)
from edge_emojify.detection.detector import shift, weighted_nms
from edge_emojify.detection.scheduler import ROI_SCALE, _roi
from edge_emojify.resources import DATA_DIR, SAMPLE_VIDEO
from edge_emojify.types import Face, iou

OLD_ROI_SCALE = 2.5  # the crop of the 128-px pass before the crop model
NMS_IOU = 0.3
SEED = 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m convert.rebuild_detector", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=Path("models"), help="folder with the short-range model; "
                   "the crop model and its card are written there (default: models)")
    p.add_argument("--data", type=Path, help="FER2013 folder: add training faces to the measurement")
    p.add_argument("--faces", type=int, default=300, help="FER2013 training faces to paste (default 300)")
    return p.parse_args(argv)


def sample_frames(every: int = 3) -> list[np.ndarray]:
    """Every ``every``-th frame of the bundled sample clip, and the two portraits."""
    capture = cv2.VideoCapture(str(SAMPLE_VIDEO))
    frames, index = [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % every == 0:
            frames.append(frame)
        index += 1
    capture.release()
    return frames + [cv2.imread(str(DATA_DIR / n)) for n in ("hopper.jpg", "astronaut.jpg")]


def pasted_faces(data: Path, count: int, rng: np.random.Generator,
                 size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """FER2013 training faces, 50–130 px, tilted up to 20°, on a noisy grey frame of ``size``."""
    files = sorted((data / "train").glob("*/*.jpg")) or sorted((data / "train").glob("*/*.png"))
    if not files:
        raise ConvertError(f"{data}/train has no images; pass the FER2013 folder (Kaggle layout) as --data")
    frames = []
    for i in rng.permutation(len(files))[:count]:
        px = int(rng.integers(50, 130))
        face = cv2.resize(cv2.imread(str(files[i])), (px, px), interpolation=cv2.INTER_CUBIC)
        width, height = size
        frame = np.full((height, width, 3), int(rng.integers(60, 200)), np.float32)
        frame = np.clip(frame + rng.normal(0, 10, frame.shape), 0, 255).astype(np.uint8)
        x, y = int(rng.integers(100, width - 100 - px)), int(rng.integers(60, height - 60 - px))
        frame[y:y + px, x:x + px] = face
        turn = cv2.getRotationMatrix2D((x + px / 2, y + px / 2), float(rng.uniform(-20, 20)), 1.0)
        frames.append(cv2.warpAffine(frame, turn, size, borderMode=cv2.BORDER_REPLICATE))
    return frames


def check_rebuild(source: Path, frames: list[np.ndarray]) -> float:
    """Largest difference between the published model and its rebuild at the stored size, on ``frames``."""
    from ai_edge_litert.interpreter import Interpreter

    rebuilt = graph_function(source)
    published = Interpreter(model_path=str(source))
    published.allocate_tensors()
    size = SHORT_RANGE.input_size
    worst = 0.0
    for frame in frames[:: max(1, len(frames) // 8)]:
        x = (cv2.resize(frame, (size, size))[:, :, ::-1].astype(np.float32) / 127.5 - 1)[None]
        published.set_tensor(published.get_input_details()[0]["index"], x)
        published.invoke()
        ours = {k: v.numpy() for k, v in rebuilt(x).items()}
        for detail in published.get_output_details():
            (match,) = [v for v in ours.values() if v.shape == tuple(detail["shape"])]
            worst = max(worst, float(np.abs(published.get_tensor(detail["index"]) - match).max()))
    return worst


def roll(face: Face) -> float:
    (rx, ry), (lx, ly) = face.keypoints[0], face.keypoints[1]
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


def crop_pass(model: BlazeFace, image: np.ndarray, box: tuple[float, ...], scale: float) -> Face | None:
    """The face a crop ``scale`` faces wide around ``box`` reads, as the scheduler makes it."""
    roi = _roi(box, image.shape, scale)
    if roi is None:
        return None
    x0, y0, x1, y1 = roi
    faces = weighted_nms(shift(model.detect(image[y0:y1, x0:x1], 0.5), x0, y0), NMS_IOU)
    if not faces:
        return None
    overlap = [float(iou(np.asarray(f.box, np.float32), np.asarray([box], np.float32))[0]) for f in faces]
    best = int(np.argmax(overlap))
    return faces[best] if overlap[best] > 0.4 else None


def measure_crop(old: BlazeFace, new: BlazeFace, frames: list[np.ndarray], rng: np.random.Generator) -> dict[str, Any]:
    """Old (128 px, 2.5 faces) and new (64 px, ``ROI_SCALE``) crop passes on every face the old one reads.

    The crop is centred where a tracker would expect the face: the old pass's box moved by a
    random 8 % of the face's width, as a prediction error. Errors are against the old pass on a
    crop around the true box; jitter is the spread over six copies with sensor noise (σ 4).
    """
    rows: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    faces = 0
    for done, image in enumerate(frames, 1):
        for found in weighted_nms(old.detect(image, 0.5), NMS_IOU):
            reference = crop_pass(old, image, found.box, OLD_ROI_SCALE)
            if reference is None:
                continue
            faces += 1
            width = reference.width
            hint = tuple(np.asarray(reference.box) + np.tile(rng.normal(0, 0.08 * width, 2), 2))
            noisy = [np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8) for _ in range(6)]
            for name, model, scale in (("old", old, OLD_ROI_SCALE), ("new", new, ROI_SCALE)):
                row = rows[name]
                face = crop_pass(model, image, hint, scale)
                row.setdefault("found", []).append(float(face is not None))
                if face is None:
                    continue
                miss = np.subtract(face.center, reference.center)
                row.setdefault("centre", []).append(float(np.hypot(*miss)) / width)
                row.setdefault("width", []).append(abs(face.width / width - 1))
                row.setdefault("tilt", []).append(abs(roll(face) - roll(reference)))
                seen = [f for f in (crop_pass(model, n, hint, scale) for n in noisy) if f is not None]
                if len(seen) >= 3:
                    spread = np.array([(*np.divide(f.center, width), f.width / width, roll(f)) for f in seen])
                    row.setdefault("jitter_centre", []).append(float(np.hypot(*spread[:, :2].std(axis=0))))
                    row.setdefault("jitter_width", []).append(float(spread[:, 2].std()))
                    row.setdefault("jitter_tilt", []).append(float(spread[:, 3].std()))
        if done % 50 == 0 or done == len(frames):
            print(f"\r  measured {done}/{len(frames)} frames, {faces} faces", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    means = {name: {k: round(float(np.mean(v)), 4) for k, v in row.items()} for name, row in rows.items()}
    return {"faces": faces, **means}


def wide_frames(frames: list[np.ndarray]) -> list[np.ndarray]:
    """16:9 frames: the middle of each 4:3 frame, and the portraits on a grey 1280×720 wall."""
    out = []
    for frame in frames:
        h, w = frame.shape[:2]
        if w * 9 < h * 16:
            band = w * 9 // 16
            out.append(frame[(h - band) // 2:(h - band) // 2 + band])
        else:
            out.append(frame)
    return out


def measure_wide(square: BlazeFace, wide: BlazeFace, frames: list[np.ndarray]) -> dict[str, Any]:
    """The same wide frames through the square input (letterboxed) and the wide one: faces each finds
    that the other does not, and for the faces both find, how far boxes and scores differ."""
    found = {"both": 0, "square only": 0, "wide only": 0}
    centre, width, score = [], [], []
    for image in frames:
        a = weighted_nms(square.detect(image, 0.5), NMS_IOU)
        b = weighted_nms(wide.detect(image, 0.5), NMS_IOU)
        boxes_b = np.asarray([f.box for f in b], np.float32).reshape(-1, 4)
        matched = set()
        for face in a:
            overlap = iou(np.asarray(face.box, np.float32), boxes_b) if len(b) else np.zeros(0)
            if not overlap.size or overlap.max() <= 0.5:
                found["square only"] += 1
                continue
            other = b[int(np.argmax(overlap))]
            matched.add(int(np.argmax(overlap)))
            found["both"] += 1
            centre.append(float(np.hypot(*np.subtract(other.center, face.center))) / face.width)
            width.append(abs(other.width / face.width - 1))
            score.append(abs(other.score - face.score))
        found["wide only"] += len(b) - len(matched)
    return {"frames": len(frames), **found, "centre": round(float(np.mean(centre)), 4),
            "width": round(float(np.mean(width)), 4), "score": round(float(np.mean(score)), 4)}


def time_invokes(models: dict[str, BlazeFace], rounds: int = 5, each: int = 100) -> dict[str, float]:
    """Median ms per invoke of each model, interleaved in rounds so machine noise hits all alike."""
    import time

    samples: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(rounds):
        for name, model in models.items():
            for _ in range(each):
                t0 = time.perf_counter()
                model.interpreter.invoke()
                samples[name].append((time.perf_counter() - t0) * 1e3)
    return {k: round(float(np.median(v)), 3) for k, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = parse_args(given)
    source = args.models / SHORT_RANGE.filename
    if not source.is_file():
        raise ConvertError(f"{source} is missing; run python -m convert.extract_detector first")
    rng = np.random.default_rng(SEED)
    frames = sample_frames()
    worst = check_rebuild(source, frames)
    if worst > 1e-2:
        raise ConvertError(f"the rebuilt graph differs from {source.name} by {worst:.3g}; the translation is wrong")
    print(f"rebuilt at {SHORT_RANGE.input_size} px: largest difference from the published model {worst:.2g}")
    for spec in (SHORT_RANGE_WIDE, SHORT_RANGE_CROP):
        target = args.models / spec.filename
        target.write_bytes(to_tflite(graph_function(source, (spec.input_size, spec.height))))
    square, wide, crop = (BlazeFace(spec, args.models) for spec in (SHORT_RANGE, SHORT_RANGE_WIDE, SHORT_RANGE_CROP))
    wides = wide_frames(frames)
    if args.data:
        frames += pasted_faces(args.data, args.faces, rng)
        wides += pasted_faces(args.data, args.faces, rng, (1280, 720))
    print(f"measuring the wide input on {len(wides)} frames and the crop pass on {len(frames)} ...", flush=True)
    measured = {SHORT_RANGE_WIDE: measure_wide(square, wide, wides),
                SHORT_RANGE_CROP: measure_crop(square, crop, frames, rng)}
    speed = time_invokes({"published 128x128": square, "wide 128x80": wide, "crop 64x64": crop})
    for spec, quality in measured.items():
        target = args.models / spec.filename
        card = describe(source, spec, worst, {**quality, "ms_per_pass": speed}, given)
        target.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        print(f"{target} ({target.stat().st_size} bytes) and its card written")
    print(report(measured[SHORT_RANGE_WIDE], measured[SHORT_RANGE_CROP], speed))
    return 0


USES = {
    SHORT_RANGE_WIDE.filename: f"the whole of a frame at least {WIDE_ASPECT}:1 wide (16:9), without the square "
                               "input's black border",
    SHORT_RANGE_CROP.filename: f"a crop {ROI_SCALE} faces wide around a tracked face (detector.range = auto)",
}


def describe(source: Path, spec: BlazeFaceSpec, worst: float, measured: dict, argv: list[str]) -> dict:
    published = json.loads(source.with_suffix(".json").read_text(encoding="utf-8"))
    target = source.parent / spec.filename
    return {
        "file": target.name,
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        "bytes": target.stat().st_size,
        "use": USES[spec.filename],
        "derived_from": {"file": source.name, "sha256": published["sha256"],
                         "how": "the same float16 weights, graph rebuilt for another input size "
                                "(convert/tflite_graph.py)",
                         "rebuilt_at_stored_size_max_difference": worst},
        "command": shlex.join(["python", "-m", "convert.rebuild_detector", *argv]),
        "input": {**published["input"], "shape": [1, spec.height, spec.input_size, 3]},
        "anchors": {"input_width": spec.input_size, "input_height": spec.height,
                    "strides_and_anchors_per_cell": [list(x) for x in spec.layers],
                    "num_anchors": len(make_anchors(spec))},
        "measured": measured,
        "license": published["license"],
        "keypoints": published["keypoints"],
        "decode": published["decode"],
    }


def report(wide: dict, crop: dict, speed: dict) -> str:
    lines = [f"wide input against square on {wide['frames']} 16:9 frames: faces found by both {wide['both']}, "
             f"square only {wide['square only']}, wide only {wide['wide only']}; where both: centre "
             f"{100 * wide['centre']:.2f} %, width {100 * wide['width']:.2f} % of the face apart, "
             f"score {wide['score']:.3f}",
             f"crop pass on {crop['faces']} faces: old = {SHORT_RANGE.input_size} px on {OLD_ROI_SCALE} faces, "
             f"new = {SHORT_RANGE_CROP.input_size} px on {ROI_SCALE}",
             f"{'':4} {'found':>6} {'centre':>7} {'width':>6} {'tilt':>5}  {'jitter: centre':>15} {'width':>6} "
             f"{'tilt':>5}"]
    for name in ("old", "new"):
        q = crop[name]
        lines.append(f"{name:4} {100 * q['found']:5.1f}% {100 * q['centre']:6.2f}% {100 * q['width']:5.2f}% "
                     f"{q['tilt']:4.2f}°  {100 * q['jitter_centre']:14.2f}% {100 * q['jitter_width']:5.2f}% "
                     f"{q['jitter_tilt']:4.2f}°")
    lines.append("(centre, width, tilt: mean error against the old pass on the true box; jitter: spread under "
                 "sensor noise)")
    base = speed["published 128x128"]
    lines.append("ms per pass, median: " + ", ".join(f"{k} {v:.3f} ({v / base:.2f}x)" for k, v in speed.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    run_script(main)
