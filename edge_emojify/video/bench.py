"""How fast ``edge-emojify video`` is, in × real time, against a plain transcode in the same run.

    taskset -c 0 python -m edge_emojify.video.bench            # a generated 1280×720 30 fps clip, 3 faces
    taskset -c 0 python -m edge_emojify.video.bench clip.mp4   # your own footage

The baseline decodes and re-encodes the same clip through the same reader and writer with no
analysis, so the ratio is the price of finding, reading and covering the faces; ``taskset -c 0``
keeps FFmpeg's threads to one core, which is what the figures in README assume. The two run
alternately ``--rounds`` times and the medians are compared: this machine's speed swings by a
third within minutes, so one run of each says little.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import tempfile
import time
from pathlib import Path

from edge_emojify.config import Config
from edge_emojify.errors import UserError
from edge_emojify.video.job import Emojifier, video_config
from edge_emojify.video.media import AudioPacket, MediaReader, Output
from edge_emojify.video.synthetic import make_clip

log = logging.getLogger(__name__)


def transcode(src: Path, dst: Path) -> tuple[int, float, float]:
    """Decode and re-encode with no analysis: (frames, seconds of video, seconds of work)."""
    reader = MediaReader(src)
    output = Output(dst, reader)
    frames, media = 0, 0.0
    start = time.perf_counter()
    try:
        for item in reader:
            if isinstance(item, AudioPacket):
                output.audio(item)
                continue
            output.open(item).write(item, item.image, changed=[])
            frames += 1
            media = item.time + 1 / float(reader.rate)
        if output.writer is None:
            raise UserError(f"{src} has no video frames; pass a video that plays")
        output.writer.commit()
    finally:
        reader.close()
    return frames, media, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", nargs="?", help="a video (default: a generated 1280x720 30 fps clip)")
    parser.add_argument("--faces", type=int, default=3, help="faces in the generated clip")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the generated clip")
    parser.add_argument("--face-px", type=int, default=150, help="face width in the generated clip")
    parser.add_argument("--rounds", type=int, default=3,
                        help="transcode and emojify this many times, alternately; medians are compared")
    args = parser.parse_args(argv)
    logging.basicConfig(level="WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.clip:
            src = Path(args.clip)
        else:
            src = folder / "faces.mp4"
            make_clip(src, frames=round(args.seconds * 30), size=(1280, 720), faces=args.faces, face_px=args.face_px)
        cfg = video_config(dataclasses.replace(Config(), emotion=dataclasses.replace(Config().emotion, threads=1)))
        emojifier = Emojifier(cfg)
        plain, faces = Runs(), Runs()
        for n in range(max(1, args.rounds)):
            cpu = time.process_time()
            frames, media, wall = transcode(src, folder / "plain.mp4")
            plain.add(frames, media, wall, time.process_time() - cpu)
            cpu = time.process_time()
            report = emojifier.video(src, folder / "out.mp4", quiet=True)
            faces.add(report.frames, report.media_seconds, report.wall_seconds, time.process_time() - cpu)
            if args.rounds > 1:
                print(f"round {n + 1}: transcode {plain.ms[-1]:.2f}, emojify {faces.ms[-1]:.2f} ms/frame, "
                      f"{faces.realtime[-1]:.2f}x real time", flush=True)
    print(f"clip: {src.name if args.clip else f'generated, {args.faces} faces of {args.face_px} px'}, "
          f"{frames} frames, {media:.1f} s; median of {len(faces.ms)} round(s), each pair run back to back")
    # CPU time as well as wall time: on a shared machine the wall time also counts others' work.
    print(f"transcode only (decode + encode):   {plain.line()}")
    print(f"edge-emojify video (+ faces, emoji): {faces.line()}")
    cost = [f - p for f, p in zip(faces.ms, plain.ms, strict=True)]
    print(f"analysis and cover cost {statistics.median(cost):.2f} ms/frame "
          f"({statistics.median(faces.ms) / statistics.median(plain.ms):.2f}x the transcode); "
          f"{report.coverage.summary()}")
    return 0


class Runs:
    """Figures of repeated runs of one command: ms a frame (wall and CPU) and x real time."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self.cpu_ms: list[float] = []
        self.realtime: list[float] = []

    def add(self, frames: int, media: float, wall: float, cpu: float) -> None:
        self.ms.append(wall / frames * 1e3)
        self.cpu_ms.append(cpu / frames * 1e3)
        self.realtime.append(media / wall)

    def line(self) -> str:
        spread = f" (range {min(self.realtime):.2f}-{max(self.realtime):.2f})" if len(self.ms) > 1 else ""
        return (f"{statistics.median(self.ms):6.2f} ms/frame  {statistics.median(self.realtime):5.2f}x real time"
                f"{spread}  cpu {statistics.median(self.cpu_ms):6.2f} ms/frame")


if __name__ == "__main__":
    raise SystemExit(main())
