"""Soak test: run the whole pipeline for many frames and watch memory and frame time.

    python -m edge_emojify.soak --frames 100000 [--faces 3] [--sink null|video]

Every ``--every`` frames it prints the resident memory (RSS) and the p95 frame time of that
window. After warm-up (the first fifth of the run), RSS may grow by at most ``--max-growth-mb``, or it
exits 1. Frame time is judged only when ``--max-p95-ratio`` is given (on a dedicated machine such as
the Pi itself): on a shared or noisy one, another process can stretch any window. CI runs a
10,000-frame leak check.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from edge_emojify.config import Config, DisplayConfig
from edge_emojify.pipeline import build_pipeline
from edge_emojify.render.draw import EmojiAtlas
from edge_emojify.render.modes import MODE_NAMES, FrameStats, Renderer
from edge_emojify.resources import emoji_dir
from edge_emojify.sources.synthetic import MovingFacesSource


def rss_mb() -> float:
    """Resident set size from /proc (Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def soak(frames: int, every: int, faces: int, sink_kind: str, output: str) -> list[tuple[int, float, float]]:
    """Run and return (frames done, RSS MiB, p95 ms) per window."""
    from edge_emojify.sinks import open_sink

    cfg = Config(display=DisplayConfig(sink=sink_kind, output=output, mode="mirror"))
    source = MovingFacesSource(faces=faces)
    pipeline = build_pipeline(cfg)
    renderer = Renderer(EmojiAtlas(emoji_dir()), cfg.display)
    sink = open_sink(cfg.display, source.size, 30.0)
    canvas = np.zeros((sink.size[1], sink.size[0], 3), np.uint8)
    stats = FrameStats()
    windows = []
    times = np.zeros(every)
    modes = MODE_NAMES  # every screen, in turn
    try:
        for i in range(frames):
            t0 = time.perf_counter()
            frame = source.read()
            analysis = pipeline.process(frame)
            tracks = analysis.tracks if analysis else []
            sink.show(renderer.render(frame, tracks, canvas, stats))
            times[i % every] = (time.perf_counter() - t0) * 1e3
            if (i + 1) % 250 == 0:
                renderer.mode = modes[(i // 250) % len(modes)]  # every mode, in every window
            if (i + 1) % every == 0:
                windows.append((i + 1, rss_mb(), float(np.percentile(times, 95))))
                done, rss, p95 = windows[-1]
                print(f"{done:>8} frames  RSS {rss:7.1f} MiB  p95 {p95:6.2f} ms/frame  "
                      f"(bad frames {pipeline.bad_frames})", flush=True)
    finally:
        sink.close()
    return windows


def verdict(windows: list[tuple[int, float, float]], max_growth_mb: float, max_p95_ratio: float) -> list[str]:
    """Problems found after warm-up (the first fifth of the run, at least one window); [] if clean.

    Warm-up is where caches (emoji sprites, interpreter arenas for each face count) fill up to
    their bounds; growth after it is a leak.
    """
    warm = max(1, len(windows) // 5)
    if len(windows) <= warm:
        return ["run more windows (frames >= 2 * every) to judge growth"]
    _, base_rss, base_p95 = windows[warm - 1]
    problems = []
    growth = max(r for _, r, _ in windows[warm:]) - base_rss
    if growth > max_growth_mb:
        problems.append(f"RSS grew {growth:.1f} MiB after warm-up (limit {max_growth_mb} MiB): a leak")
    worst = max(p for _, _, p in windows[warm:])
    if max_p95_ratio > 0 and worst > base_p95 * max_p95_ratio:
        problems.append(f"p95 frame time rose from {base_p95:.2f} to {worst:.2f} ms after warm-up")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_emojify.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--every", type=int, default=10_000, help="report window, in frames")
    p.add_argument("--faces", type=int, default=3)
    p.add_argument("--sink", default="null", choices=("null", "video", "png"))
    p.add_argument("--output", default="soak.mp4")
    p.add_argument("--max-growth-mb", type=float, default=5.0)
    p.add_argument("--max-p95-ratio", type=float, default=0.0,
                   help="fail if a window's p95 exceeds this multiple of the first's (0: report only; "
                        "use on a dedicated machine)")
    args = p.parse_args(argv)
    print(f"soak: {args.frames} frames, {args.faces} moving faces, {args.sink} sink", flush=True)
    windows = soak(args.frames, args.every, args.faces, args.sink, args.output)
    problems = verdict(windows, args.max_growth_mb, args.max_p95_ratio)
    for problem in problems:
        print(f"FAIL: {problem}")
    if not problems:
        print("ok: RSS flat after warm-up" + (" and p95 within bounds" if args.max_p95_ratio > 0 else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
