"""Per-face int8 latency of candidate architectures against mini-Xception, in one process.

    python -m convert.bench_latency --data ../shared/data/fer2013 [--model models/emotion.tflite]

Each candidate is built, calibrated on real training faces and converted to int8 exactly as the
shipped model is; accuracy does not matter here (weights are untrained), only the time one
face takes with one thread. Runs are interleaved round-robin so machine noise hits all models
alike, and every figure is given as a ratio to mini-Xception measured in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from convert import run_script
from convert.fer_data import load_folder

CANDIDATES = {
    "vgg 16-32-64-128": {"widths": (16, 32, 64, 128), "stem_stride": 1},
    "vgg 32-64-128-256": {"widths": (32, 64, 128, 256), "stem_stride": 1},
    "stride-2 32-64-128-256": {"widths": (32, 64, 128, 256), "stem_stride": 2},
    "stride-2 40-80-160-320": {"widths": (40, 80, 160, 320), "stem_stride": 2},
    "stride-2 48-96-192-384": {"widths": (48, 96, 192, 384), "stem_stride": 2},
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.bench_latency", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="FER2013 folder (calibration faces)")
    p.add_argument("--model", action="append", type=Path, default=[], help="also time this .tflite")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--runs", type=int, default=50, help="invokes per model per round")
    args = p.parse_args(argv)

    import keras

    from convert.convert_tflite import to_int8_tflite
    from convert.model import build_classifier, build_mini_xception
    from edge_emojify.runtime import Runner, interpreter_class

    faces = load_folder(args.data, splits=("train",)).images[::57][:300]
    tmp = Path(tempfile.mkdtemp())
    paths: dict[str, Path] = {}
    builders = {"mini-Xception (reference)": build_mini_xception,
                **{name: (lambda c=c: build_classifier(**c)) for name, c in CANDIDATES.items()}}
    for name, build in builders.items():
        model = build()
        path = tmp / f"{len(paths)}.tflite"
        path.write_bytes(to_int8_tflite(model, faces))
        paths[name] = path
        print(f"converted {name}: {model.count_params():,} params, {path.stat().st_size / 1e6:.2f} MB",
              flush=True)
        keras.backend.clear_session()
    for extra in args.model:
        paths[str(extra)] = extra

    runtime = interpreter_class()[1]
    runners = {name: Runner(path, 1, name) for name, path in paths.items()}
    inputs = {name: runner.quantise(faces[:1, :, :, None]) for name, runner in runners.items()}
    times: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(args.rounds):
        for name, runner in runners.items():
            for _ in range(args.runs):
                t0 = time.perf_counter()
                runner.invoke(inputs[name])
                times[name].append((time.perf_counter() - t0) * 1e3)
        print(f"round {r + 1}/{args.rounds}", end="\r", flush=True)
    ref = float(np.median(times["mini-Xception (reference)"]))
    print(f"\nper-face latency, {runtime}, 1 thread, median of {args.rounds * args.runs} invokes each")
    print(f"{'model':<34} {'p50 ms':>7} {'p95 ms':>7} {'vs mini-Xception':>17} {'MB':>6}")
    for name, t in times.items():
        med = float(np.median(t))
        print(f"{name:<34} {med:7.3f} {np.percentile(t, 95):7.3f} {med / ref:16.2f}x "
              f"{paths[name].stat().st_size / 1e6:6.2f}")
    return 0


if __name__ == "__main__":
    run_script(main)
