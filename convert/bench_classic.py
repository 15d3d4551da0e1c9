"""The classic pipeline against ours, on the same frames, in the same run.

    python -m convert.bench_classic --keras runs/s2w40/best.keras [--source sample] [--frames 300]

Classic = what the seed app and the ``fer`` package do: OpenCV's Haar cascade on the full
grayscale frame, then the float Keras model called once per face with ``model.predict``.
Ours = BlazeFace + the int8 TFLite model on all faces in one invoke + tracking + rendering.
Both run on one thread over identical pre-decoded 640×480 frames; the ratio is printed.
Haar cascades ship with OpenCV 4 only (OpenCV 5 dropped them): run this where
``cv2.CascadeClassifier`` exists, e.g. ``pip install 'opencv-python-headless<5'``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from convert import run_script
from edge_emojify.bench import load_frames, report, time_pipeline
from edge_emojify.config import Config, SourceConfig
from edge_emojify.errors import UserError


def time_classic(keras_path: Path, frames: list, warmup: int = 5) -> dict[str, list[float]]:
    import cv2
    import keras

    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise UserError(f"OpenCV {cv2.__version__} has no Haar cascades; run this with OpenCV 4: "
                        "pip install 'opencv-python-headless<5'")
    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
    model = keras.models.load_model(keras_path)
    samples: dict[str, list[float]] = {"detect": [], "emotion": [], "frame": [], "faces": []}
    for i, frame in enumerate(frames[:warmup] + frames):
        t0 = time.perf_counter()
        gray = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
        boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
        t1 = time.perf_counter()
        for x, y, w, h in boxes:
            face = cv2.resize(gray[y:y + h, x:x + w], (48, 48))[None, :, :, None].astype("float32")
            model.predict(face, verbose=0)
        t2 = time.perf_counter()
        if i >= warmup:
            samples["detect"].append((t1 - t0) * 1e3)
            samples["emotion"].append((t2 - t1) * 1e3)
            samples["frame"].append((t2 - t0) * 1e3)
            samples["faces"].append(len(boxes))
    return samples


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.bench_classic", description=__doc__.split("\n\n")[0])
    p.add_argument("--keras", required=True, type=Path, help="float Keras emotion model (.keras)")
    p.add_argument("--source", default="sample", help="'sample' or a video file")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--faces", type=int, help="N synthetic moving faces instead of --source")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)
    source = SourceConfig(kind="sample") if args.source == "sample" else SourceConfig(kind="video", path=args.source)
    cfg = Config(source=source)
    frames = load_frames(cfg, args.frames, 640, args.faces)
    print(f"{len(frames)} frames of 640x{frames[0].image.shape[0]}, OpenCV {cv2.__version__}, one thread",
          flush=True)
    ours = time_pipeline(cfg, frames)
    classic = time_classic(args.keras, frames)
    print(report("edge-emojify (BlazeFace + int8 TFLite, batched, + track + render)", ours))
    print(report("classic (Haar cascade + float Keras model.predict per face)", classic))
    ratio = np.mean(classic["frame"]) / np.mean(ours["frame"])
    print(f"ratio: classic takes {ratio:.1f}x as long per frame as edge-emojify")
    return 0


if __name__ == "__main__":
    run_script(main)
