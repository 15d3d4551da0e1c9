"""The ``fer`` package's own pipeline against ours, on the same frames, in the same run.

    python -m convert.bench_fer [--source clip.mp4 | --faces 3] [--frames 300] [--width 640] [--rounds 2]

fer = ``fer.FER().detect_emotions(frame)``, the package as its users call it (Haar cascade,
then its Keras mini-Xception per face). Ours = ``edge-emojify bench``'s whole frame: detect,
classify, track, render. Both on one thread over identical pre-decoded frames, alternately for
``--rounds`` rounds (this machine's speed drifts within minutes, so both see the same minutes);
each round's medians and the ratio of the pooled medians are printed. fer needs TensorFlow and
OpenCV 4 (its Haar cascade; OpenCV 5 has none), so it runs in a venv of its own, never the app's:

    python3 -m venv .venv-fer
    .venv-fer/bin/pip install tensorflow-cpu==2.21.0 'opencv-python-headless<5' pandas requests \
        'setuptools<81' pillow ai-edge-litert
    .venv-fer/bin/pip install --no-deps fer -e .
    .venv-fer/bin/python -m convert.bench_fer --source clip.mp4
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from convert import run_script
from edge_emojify.bench import load_frames, report, time_pipeline
from edge_emojify.config import Config
from edge_emojify.errors import UserError
from edge_emojify.sources import from_argument


def time_fer(frames: list, warmup: int = 5) -> dict[str, list[float]]:
    try:
        from fer.fer import FER  # fer 25 no longer exports it from the package
    except ImportError as exc:
        raise UserError(f"the fer package cannot be imported ({exc}); set up its venv as this script's "
                        "docstring says (python -m convert.bench_fer --help)") from None
    detector = FER(mtcnn=False)
    samples: dict[str, list[float]] = {"frame": [], "faces": []}
    for i, frame in enumerate(frames[:warmup] + frames):
        t0 = time.perf_counter()
        found = detector.detect_emotions(frame.image)
        took = (time.perf_counter() - t0) * 1e3
        if i >= warmup:
            samples["frame"].append(took)
            samples["faces"].append(len(found))
    return samples


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.bench_fer", description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default="sample", help="'sample', a video file or a folder of images")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--width", type=int, default=640, help="resize frames to this width (0 = as is)")
    p.add_argument("--faces", type=int, help="N synthetic moving faces instead of --source")
    p.add_argument("--rounds", type=int, default=2,
                   help="time ours and fer alternately this many times (the machine's speed drifts)")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)
    cfg = Config()
    cfg = Config(source=from_argument(cfg.source, args.source))
    frames = load_frames(cfg, args.frames, args.width, args.faces)
    h, w = frames[0].image.shape[:2]
    print(f"{len(frames)} frames of {w}x{h}, OpenCV {cv2.__version__}, one thread", flush=True)
    ours: dict[str, list[float]] = {}
    theirs: dict[str, list[float]] = {}
    for n in range(max(1, args.rounds)):
        mine, fer = time_pipeline(cfg, frames), time_fer(frames)
        for pooled, new in ((ours, mine), (theirs, fer)):
            for key, values in new.items():
                pooled.setdefault(key, []).extend(values)
        mine_p50, fer_p50 = np.median(mine["frame"]), np.median(fer["frame"])
        print(f"round {n + 1}: edge-emojify p50 {mine_p50:.2f} ms, fer p50 {fer_p50:.2f} ms, "
              f"{fer_p50 / mine_p50:.1f}x", flush=True)
    print(report("edge-emojify (whole frame: detect + classify + track + render), every round", ours))
    fer_p50, fer_mean = np.median(theirs["frame"]), np.mean(theirs["frame"])
    print(f"fer detect_emotions: p50 {fer_p50:.2f} ms, mean {fer_mean:.2f} ms, "
          f"{np.mean(theirs['faces']):.2f} faces/frame, a face in {np.count_nonzero(theirs['faces'])} of "
          f"{len(theirs['faces'])} frames")
    print(f"ratio at the median: fer takes {fer_p50 / np.median(ours['frame']):.1f}x as long per frame "
          f"as edge-emojify (mean {fer_mean / np.mean(ours['frame']):.1f}x)")
    return 0


if __name__ == "__main__":
    run_script(main)
