"""The models' answers on fixed inputs, to compare one machine with another (arm64 against x86).

    python .ci/answers.py > answers.json            what this machine's models say
    python .ci/answers.py --compare x86.json arm.json   the differences, and whether they are
                                                        within the tolerances below (exit 1 if not)

Two kinds of input, so a difference can be put where it comes from:

- **generated crops** made with integer numpy only (no OpenCV, no floating point), fed straight to
  the int8 emotion model: any difference here is the LiteRT kernels' own. The raw int8 outputs
  are compared, and the class each crop gets.
- **the bundled portraits**, alone and side by side, through BlazeFace (short range, full range, and
  the 64-px crop model around each face) and the emotion crop:
  OpenCV's resize and warp take part (apt's 4.6 on the Pi against pip's wheel on x86), so boxes
  are compared to within a pixel.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import cv2
import numpy as np

# The tolerances, stated once: the same class for every crop and face, int8 outputs within one
# quantisation step, boxes within a pixel, detection scores within 0.01.
INT8_STEPS = 1
BOX_PIXELS = 1.0
SCORE_DELTA = 0.01
N_CROPS = 96


def generated_crops(size: int) -> np.ndarray:
    """``N_CROPS`` grey faces-sized patterns, the same bytes on every machine: blurred integer noise
    with a bright blob, box-filtered with integer sums."""
    rng = np.random.default_rng(20261202)
    noise = rng.integers(0, 256, (N_CROPS, size + 8, size + 8), dtype=np.int64)
    summed = noise.cumsum(1).cumsum(2)
    k = 8
    box = (summed[:, k:, k:] - summed[:, :-k, k:] - summed[:, k:, :-k] + summed[:, :-k, :-k]) // (k * k)
    yy, xx = np.mgrid[:size, :size]
    centres = rng.integers(size // 4, 3 * size // 4, (N_CROPS, 2))
    blobs = np.stack([((yy - cy) ** 2 + (xx - cx) ** 2 < (size // 5) ** 2) * 60 for cy, cx in centres])
    return np.clip(box[:, :size, :size] + blobs - 30, 0, 255).astype(np.uint8)


def scenes(data_dir: Path) -> dict[str, np.ndarray]:
    hopper = cv2.imread(str(data_dir / "hopper.jpg"))
    astronaut = cv2.imread(str(data_dir / "astronaut.jpg"))
    side_by_side = np.full((720, 1280, 3), 128, np.uint8)
    side_by_side[20:20 + hopper.shape[0], 20:20 + hopper.shape[1]] = hopper
    small = astronaut[::2, ::2]
    side_by_side[300:300 + small.shape[0], 900:900 + small.shape[1]] = small
    return {"hopper": hopper, "astronaut": astronaut, "side_by_side": side_by_side}


def answers() -> dict:
    from edge_emojify.config import DetectorConfig
    from edge_emojify.detection.detector import BlazeFaceDetector, finish, shift
    from edge_emojify.detection.scheduler import _roi
    from edge_emojify.emotion import EmotionModel
    from edge_emojify.resources import DATA_DIR, models_dir

    emotion = EmotionModel(models_dir() / "emotion.tflite", prior_correction=False)
    runner = emotion.runner
    crops = generated_crops(emotion.card.input_size)
    raw = np.concatenate([runner.invoke(runner.quantise(crops[i:i + 1, ..., None])) for i in range(len(crops))])
    faces_out = {}
    crop_model = BlazeFaceDetector(DetectorConfig(range="auto"), models_dir()).crop
    for range_ in ("short", "full"):
        detector = BlazeFaceDetector(DetectorConfig(range=range_, max_faces=10), models_dir())
        for name, image in scenes(DATA_DIR).items():
            faces = detector.detect(image)
            if range_ == "short":  # the 64-px crop model on a crop around each face, as the scheduler reads it
                crops = [(roi, image[roi[1]:roi[3], roi[0]:roi[2]]) for roi in (_roi(f.box, image.shape) for f in faces)
                         if roi is not None]
                found = [shift(crop_model.detect(crop, DetectorConfig().min_score), x0, y0)
                         for (x0, y0, _, _), crop in crops]
                record(faces_out, f"{name}/crop", emotion, image, finish(found, DetectorConfig(max_faces=10)))
            record(faces_out, f"{name}/{range_}", emotion, image, faces)
    import ai_edge_litert
    return {"machine": platform.machine(), "python": platform.python_version(), "numpy": np.__version__,
            "opencv": cv2.__version__, "litert": getattr(ai_edge_litert, "__version__", "?"),
            "crops_int8": raw.astype(int).tolist(), "faces": faces_out}


def record(out: dict, key: str, emotion, image: np.ndarray, faces: list) -> None:
    """Each face's box, score and the emotion its crop gets, under ``key``."""
    probs = emotion.predict(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), faces)
    out[key] = [{"box": [round(float(v), 3) for v in f.box], "score": round(float(f.score), 4),
                 "emotion": int(np.argmax(p))} for f, p in zip(faces, probs, strict=True)]


def compare(a: dict, b: dict) -> list[str]:
    """Lines saying what differs and by how much; those starting 'FAIL' break a tolerance."""
    lines = [f"{x['machine']}: Python {x['python']}, numpy {x['numpy']}, OpenCV {x['opencv']}, "
             f"LiteRT {x['litert']}" for x in (a, b)]
    ra, rb = np.array(a["crops_int8"]), np.array(b["crops_int8"])
    steps = int(np.abs(ra - rb).max())
    same_class = int((ra.argmax(1) == rb.argmax(1)).sum())
    ok = steps <= INT8_STEPS and same_class == len(ra)
    lines.append(f"{'ok  ' if ok else 'FAIL'} emotion model, {len(ra)} generated crops: same class for "
                 f"{same_class}/{len(ra)}, int8 outputs differ by at most {steps} step(s) (allowed {INT8_STEPS})")
    for key in a["faces"]:
        fa, fb = a["faces"][key], b["faces"].get(key, [])
        if len(fa) != len(fb):
            lines.append(f"FAIL {key}: {len(fa)} faces against {len(fb)}")
            continue
        # Faces come largest first; two of nearly one size may swap, so pair each with its nearest.
        fb = [min(fb, key=lambda y, x=x: sum(abs(p - q) for p, q in zip(x["box"], y["box"], strict=True)))
              for x in fa]
        pairs = list(zip(fa, fb, strict=True))
        box = max((abs(p - q) for x, y in pairs for p, q in zip(x["box"], y["box"], strict=True)), default=0.0)
        score = max((abs(x["score"] - y["score"]) for x, y in pairs), default=0.0)
        same = sum(x["emotion"] == y["emotion"] for x, y in pairs)
        ok = box <= BOX_PIXELS and score <= SCORE_DELTA and same == len(fa)
        lines.append(f"{'ok  ' if ok else 'FAIL'} {key}: {len(fa)} face(s), boxes within {box:.2f} px "
                     f"(allowed {BOX_PIXELS}), scores within {score:.4f} (allowed {SCORE_DELTA}), "
                     f"same emotion {same}/{len(fa)}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = parser.parse_args()
    if args.compare:
        a, b = (json.loads(p.read_text()) for p in args.compare)
        lines = compare(a, b)
        print("\n".join(lines))
        return 1 if any(line.startswith("FAIL") for line in lines) else 0
    json.dump(answers(), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
