"""Emojify a recorded video (or a folder of videos and photos): every frame, in order, sound kept.

The frames go through the mirror's own pipeline and renderer (docs/design.md), with the
settings a recording wants: never mirrored, faces covered whole (``display.cover = "full"``,
or ``"blur"``) and time taken from the file's timestamps, so what a face shows follows the clip
and not this machine's speed. Nothing is dropped for speed. Frames wait a few frames before they
are drawn, so a face found late is covered from its first frame (``video/lookback.py``), and two
frames before they are analysed, so the first frame of each shot of an edited clip is known to be
a cut and the faces of the last shot do not carry over into it (``cuts.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_emojify.atomic import usual_mode, write_atomically
from edge_emojify.config import Config, DetectorConfig, upper_bound
from edge_emojify.cuts import CutFinder
from edge_emojify.detection.blazeface import FULL_RANGE
from edge_emojify.errors import UserError
from edge_emojify.pipeline import Pipeline, build_pipeline
from edge_emojify.render.draw import EmojiAtlas
from edge_emojify.render.modes import FrameStats, Renderer
from edge_emojify.resources import emoji_dir
from edge_emojify.sources.base import frame_from_bgr
from edge_emojify.sources.images import IMAGE_SUFFIXES
from edge_emojify.video.coverage import Coverage
from edge_emojify.video.lookback import LookBack, Waiting, frames_to_hold
from edge_emojify.video.media import VIDEO_SUFFIXES, AudioPacket, MediaReader, Output, Picture
from edge_emojify.video.timeline import Timeline

log = logging.getLogger(__name__)

# Inputs taken from a folder: what FFmpeg reads beyond the suffixes it writes here.
VIDEO_INPUTS = (*VIDEO_SUFFIXES, ".m4v", ".3gp", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg", ".wmv", ".flv")


# Frames from one search of the whole frame for newcomers to the next: as often as the full-range
# pass runs at 30 fps (scheduler.FULL_RANGE_SECONDS), so one look back serves both.
VIDEO_SEARCH_EVERY = 8
# Readings a second of each tracked face, as many as its expression gets (emotion.max_rate): a
# 30 fps clip reads every other frame and places faces between readings on the others.
VIDEO_TRACK_RATE = 15.0
# The full-range pass's smallest tiles this many of its inputs wide (``detector.small_tile``): read in
# 1080-px tiles only, shrunk 5.6 times, a 1080p photo's faces 48 px wide were found one in six.
VIDEO_TILE_INPUTS = 4


def video_config(cfg: Config, mode: str | None = None, cover: str = "full") -> Config:
    """The config for a recording: the chosen mode and cover, never mirrored, no fps overlay, the
    whole frame searched every ``VIDEO_SEARCH_EVERY`` frames (a face it finds is looked back for),
    every tracked face read ``VIDEO_TRACK_RATE`` times a second (placed between readings), far faces
    looked for in tiles down to ``VIDEO_TILE_INPUTS`` full-range inputs, every face found covered
    (``detector.max_faces`` as high as it goes: the live mirror's few bound a frame's time, and a
    class photo of 20 came out with 14 bare faces), and a face found once kept as long as any."""
    display = dataclasses.replace(cfg.display, mirror=False, show_fps=False, cover=cover,
                                  mode=mode or cfg.display.mode)
    detector = dataclasses.replace(cfg.detector, search_every=VIDEO_SEARCH_EVERY, track_rate=VIDEO_TRACK_RATE,
                                   max_crops=0, max_faces=upper_bound(DetectorConfig, "max_faces"),
                                   small_tile=VIDEO_TILE_INPUTS * FULL_RANGE.input_size)
    # A face found once is covered as long as any other: reading it again comes a frame or more later.
    tracking = dataclasses.replace(cfg.tracking, single_expire_seconds=cfg.tracking.expire_seconds)
    return dataclasses.replace(cfg, display=display, detector=detector, tracking=tracking)


@dataclass(frozen=True)
class VideoReport:
    """What one video's run did, for the closing lines and for tests."""

    output: Path
    frames: int
    media_seconds: float
    wall_seconds: float
    coverage: Coverage
    timeline: Timeline

    @property
    def realtime(self) -> float:
        """× real time: seconds of video done per second of work."""
        return self.media_seconds / self.wall_seconds if self.wall_seconds else 0.0


class Progress:
    """Frames done, fps, × real time and ETA on a terminal (tqdm); silent when quiet or not a terminal."""

    def __init__(self, name: str, total: int, quiet: bool) -> None:
        self._bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total or None, unit="frame", desc=name, dynamic_ncols=True, leave=True)
        self._start = time.perf_counter()
        self._shown = self._start

    def update(self, media_seconds: float) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.perf_counter()
        if now - self._shown > 0.5:
            self._shown = now
            self._bar.set_postfix_str(f"{media_seconds / (now - self._start):.2f}x real time", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class Emojifier:
    """Loads the models once and emojifies files one after another."""

    def __init__(self, cfg: Config, pipeline: Pipeline | None = None) -> None:
        self.cfg = cfg
        self.pipeline = pipeline or build_pipeline(cfg)
        self.renderer = Renderer(EmojiAtlas(emoji_dir()), cfg.display)

    def video(self, src: Path, dst: Path, timeline_csv: Path | None = None, quiet: bool = False) -> VideoReport:
        """Emojify one video into ``dst`` (written whole or not at all); optionally its mood timeline."""
        _check_distinct(src, dst)
        reader = MediaReader(src)
        try:
            return self._video(reader, dst, timeline_csv, quiet)
        finally:
            reader.close()

    def _video(self, reader: MediaReader, dst: Path, timeline_csv: Path | None, quiet: bool) -> VideoReport:
        self.pipeline.reset()
        coverage, timeline = Coverage(), Timeline(keep_rows=timeline_csv is not None)
        stats = FrameStats()
        output = Output(dst, reader)
        look_back: LookBack | None = None
        canvas: np.ndarray | None = None
        over_frame = self.renderer.draws_over_frame()
        progress = Progress(reader.path.name, reader.frames, quiet)
        start = time.perf_counter()
        media_seconds = 0.0

        def draw(ready: list[Waiting]) -> None:
            nonlocal media_seconds
            for waiting in ready:
                picture = waiting.picture
                image, changed = picture.image, []
                if waiting.analysed:
                    image = self.renderer.render(waiting.frame, waiting.covered,
                                                 image if over_frame else canvas, stats)  # type: ignore[arg-type]
                    changed = self.renderer.changed
                output.writer.write(picture, image, changed)  # type: ignore[union-attr]
                coverage.add(waiting.covered, picture.time, late=len(waiting.found_late), bridged=waiting.bridged)
                timeline.add(picture.time, waiting.covered)
                media_seconds = picture.time + 1 / float(reader.rate)
                progress.update(media_seconds)

        def analyse(picture: Picture, cut: bool) -> None:
            frame = frame_from_bgr(picture.image, picture.index, self.cfg.source.detect_width, picture.time,
                                   cut=cut, luma=picture.luma)
            analysis = self.pipeline.process(frame)
            draw(look_back.add(Waiting(picture, frame, analysis.tracks if analysis else [],  # type: ignore[union-attr]
                                       analysed=analysis is not None)))

        cuts, undecided = CutFinder(), deque[Picture]()  # frames waiting for their cut verdict
        try:
            for item in reader:
                if isinstance(item, AudioPacket):
                    output.audio(item)
                    continue
                if look_back is None:
                    output.open(item)
                    canvas = None if over_frame else np.zeros_like(item.image)
                    held = frames_to_hold(float(reader.rate), self.cfg.detector.search_every, item.nbytes)
                    look_back = LookBack(held, getattr(self.pipeline.detector, "find_near", None))
                undecided.append(item)
                cut = cuts.push(item.image)
                if cut is not None:
                    analyse(undecided.popleft(), cut)
            for cut in cuts.drain():
                analyse(undecided.popleft(), cut)
            if output.writer is None or look_back is None:
                raise UserError(f"{reader.path} has no video frames; pass a video that plays")
            draw(look_back.drain())
            output.writer.commit()
        except BaseException:
            if output.writer is not None:
                output.writer.discard()
            raise
        finally:
            progress.close()
        wall = time.perf_counter() - start
        if timeline_csv is not None:
            timeline.write_csv(timeline_csv)
            timeline.write_png(timeline_csv.with_suffix(".png"))
        return VideoReport(dst, output.writer.frames, media_seconds, wall, coverage, timeline)

    def image(self, src: Path, dst: Path) -> int:
        """Emojify one photo into ``dst`` (written whole or not at all); returns the faces found."""
        _check_distinct(src, dst)
        image = cv2.imread(str(src), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"{src} is not an image OpenCV can read; pass a JPEG or PNG")
        self.pipeline.reset()
        frame = frame_from_bgr(image, 0, self.cfg.source.detect_width, 0.0)
        analysis = self.pipeline.process(frame)
        tracks = analysis.tracks if analysis else []
        canvas = np.zeros_like(frame.image)
        out = self.renderer.render(frame, tracks, canvas, FrameStats()) if analysis else frame.image
        ok, data = cv2.imencode(dst.suffix.lower() or ".png", out)
        if not ok:
            raise UserError(f"cannot encode {dst}; name it .jpg or .png")
        _write_atomically(dst, data.tobytes())
        return len(tracks)


def _check_distinct(src: Path, dst: Path) -> None:
    if dst.exists() and dst.resolve() == src.resolve():
        raise UserError(f"the output {dst} is the input; choose another -o")


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data, usual_mode())
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror}); free some space or choose another -o") from None


def default_output(src: Path) -> Path:
    """``clip.mp4`` → ``clip-emojified.mp4`` beside it (a suffix this writer cannot make becomes .mp4)."""
    suffix = src.suffix.lower() if src.suffix.lower() in (*VIDEO_SUFFIXES, *IMAGE_SUFFIXES) else ".mp4"
    return src.with_name(f"{src.stem}-emojified{suffix}")


def plan(src: Path, out: Path | None) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one file, or every video and photo of a folder into an output folder."""
    if src.is_dir():
        if out is None:
            raise UserError(f"{src} is a folder; name an output folder with -o")
        if out.exists() and not out.is_dir():
            raise UserError(f"{src} is a folder but -o {out} is a file; name a folder")
        inputs = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in (*VIDEO_INPUTS,
                                                                                            *IMAGE_SUFFIXES))
        if not inputs:
            raise UserError(f"{src} has no videos or photos; pass a folder with some")
        return [(p, out / (p.name if p.suffix.lower() in (*VIDEO_SUFFIXES, *IMAGE_SUFFIXES)
                           else p.with_suffix(".mp4").name)) for p in inputs]
    if not src.exists():
        raise UserError(f"{src} does not exist; check the name")
    return [(src, out if out is not None else default_output(src))]
