"""A generated clip for benchmarks and tests: the bundled portraits moving over a wall, and a tone.

Each clip comes with what is true about it (the face boxes of every frame, the timestamps), so
tests compare the emojified result against facts, and ``bench`` has a repeatable 720p workload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from edge_emojify.sources.synthetic import MovingFacesSource
from edge_emojify.video.media import import_av

SAMPLE_RATE = 48000
MARK = 40  # side of the red mark in the stored image's top-left corner
CUT_WALL = (60, 120, 200)  # BGR: the warm empty room a clip cuts to (``make_clip(cut=...)``)


@dataclass
class Clip:
    path: Path
    boxes: list[list[tuple[float, float, float, float]]] = field(default_factory=list)  # per frame, as stored
    times: list[float] = field(default_factory=list)  # presentation time of each frame, seconds
    images: list[np.ndarray] = field(default_factory=list)


def make_clip(path: Path, frames: int = 45, size: tuple[int, int] = (640, 360), fps: int = 30, faces: int = 2,
              face_px: int = 90, audio: bool = True, rotation: int = 0, vfr: bool = False,
              codec: str = "libx264", keep_images: bool = False, appear: tuple[int, ...] = (),
              cut: int = 0) -> Clip:
    """Write a clip; ``vfr`` spaces frames 1/fps and 3/fps apart in turn, like a phone that drops frames;
    ``appear`` gives the frame each face walks in on (the rest are there from the start); from frame
    ``cut`` on (when not 0) the clip cuts to another shot, an empty room with a warm wall.

    A red square marks the stored image's top-left corner, so a turn of the picture shows.
    """
    clip = Clip(path)
    source = MovingFacesSource(faces=faces, size=size, face_px=face_px, appear=appear)
    empty_room = MovingFacesSource(faces=0, size=size, wall=CUT_WALL)
    time_base = Fraction(1, 90000) if codec == "libx264" else Fraction(1, fps)  # MPEG-4 part 2: at most 1/65535
    tick = int(1 / (time_base * fps))
    av = import_av()
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = time_base
        video.time_base = time_base
        if rotation:
            video.set_display_rotation(rotation)
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        pts = 0
        for i in range(frames):
            shot = empty_room if cut and i >= cut else source
            image = shot.read().image.copy()
            image[:MARK, :MARK] = (0, 0, 255)
            clip.boxes.append(list(shot.boxes))
            clip.times.append(float(pts * time_base))
            if keep_images:
                clip.images.append(image)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = pts, time_base
            for packet in video.encode(frame):
                out.mux(packet)
            pts += tick * (3 if vfr and i % 2 else 1)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            seconds = float(pts * time_base)
            t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            step = 1024
            for start in range(0, len(samples), step):
                chunk = samples[start:start + step][None, :]
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="flt", layout="mono")
                frame.sample_rate, frame.pts = SAMPLE_RATE, start
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return clip
