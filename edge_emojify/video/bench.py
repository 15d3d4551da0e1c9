"""How fast ``edge-emojify video`` is, in × real time, against a plain transcode in the same run.

    taskset -c 0 python -m edge_emojify.video.bench            # a generated 1280×720 30 fps clip, 3 faces
    taskset -c 0 python -m edge_emojify.video.bench clip.mp4   # your own footage

The baseline decodes and re-encodes the same clip through the same reader and writer with no
analysis, so the ratio is the price of finding, reading and covering the faces; ``taskset -c 0``
keeps FFmpeg's threads to one core, which is what the figures in README assume.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
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
        cpu = time.process_time()
        frames, media, base_wall = transcode(src, folder / "plain.mp4")
        base_cpu, cpu = time.process_time() - cpu, time.process_time()
        report = emojifier.video(src, folder / "out.mp4", quiet=True)
        full_cpu = time.process_time() - cpu
    base_ms, full_ms = base_wall / frames * 1e3, report.wall_seconds / report.frames * 1e3
    print(f"clip: {src.name if args.clip else f'generated, {args.faces} faces of {args.face_px} px'}, "
          f"{frames} frames, {media:.1f} s")
    # CPU time as well as wall time: on a shared machine the wall time also counts others' work.
    print(f"transcode only (decode + encode):   {base_ms:6.2f} ms/frame  {media / base_wall:5.2f}x real time  "
          f"cpu {base_cpu / frames * 1e3:6.2f} ms/frame")
    print(f"edge-emojify video (+ faces, emoji): {full_ms:6.2f} ms/frame  {report.realtime:5.2f}x real time  "
          f"cpu {full_cpu / report.frames * 1e3:6.2f} ms/frame")
    print(f"analysis and cover cost {full_ms - base_ms:.2f} ms/frame ({full_ms / base_ms:.2f}x the transcode); "
          f"{report.coverage.summary()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
