"""``edge-emojify bench``: per-stage p50/p95 milliseconds and frames per second.

Frames are decoded and resized before timing starts, so the figures are the pipeline's own
(detect + classify + track + render), not the video decoder's.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import cv2
import numpy as np

from edge_emojify.config import Config, override
from edge_emojify.pipeline import build_pipeline
from edge_emojify.render.draw import EmojiAtlas
from edge_emojify.render.modes import FrameStats, Renderer
from edge_emojify.resources import emoji_dir
from edge_emojify.sources import open_source
from edge_emojify.sources.base import frame_from_bgr
from edge_emojify.sources.synthetic import MovingFacesSource
from edge_emojify.types import Frame, iou

log = logging.getLogger(__name__)


def load_frames(cfg: Config, count: int, width: int, faces: int | None = None) -> list[Frame]:
    """Up to ``count`` frames of the configured source (looping), resized to ``width``.

    ``faces`` (0 or more) uses the synthetic moving-faces source with that many faces instead; 0
    is an empty room, for what idle frames cost.
    """
    if faces is not None:
        source = MovingFacesSource(faces=faces, size=(width or 640, round((width or 640) * 3 / 4)))
    else:
        source_cfg = cfg.source if cfg.source.kind != "auto" else dataclasses.replace(cfg.source, kind="sample")
        source = open_source(dataclasses.replace(source_cfg, loop=True), realtime=False)
    frames = []
    try:
        while len(frames) < count:
            frame = source.read()
            if frame is None:
                break
            image = frame.image
            if width and image.shape[1] != width:
                image = cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1])),
                                   interpolation=cv2.INTER_AREA)
            # The source's own clock: tracks expire and slow passes are paced in frame time. A clip
            # cutting to its next shot or starting over is a cut, as in the live mirror: its faces do
            # not carry over.
            frames.append(frame_from_bgr(image, len(frames) + 1, cfg.source.detect_width, len(frames) / source.fps,
                                         cut=frame.cut))
    finally:
        source.close()
    return frames


COUNTS = ("faces", "read", "tracked")  # per-frame counts in the samples, not milliseconds


def percentiles(samples: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    return {k: (float(np.percentile(v, 50)), float(np.percentile(v, 95))) for k, v in samples.items()}


def time_pipeline(cfg: Config, frames: list[Frame], warmup: int = 10, paced: bool = False) -> dict[str, list[float]]:
    """Milliseconds per stage per frame (after ``warmup`` untimed frames), with the CPU time of each frame.

    By default each frame follows the last at once. ``paced`` hands them over at the source's own
    rate, as a camera does: the worker's passes beside the frame path then run between frames,
    as in the live mirror, instead of competing with every frame for the cores.

    Three CPU times a frame. ``cpu`` is the process's during the frame (every interpreter thread,
    and the full-range worker beside the loop), so ``--threads 4`` shows what the extra threads
    cost as well as what they save. ``cpu-loop`` is the loop thread's own: with one interpreter
    thread, the frame path alone, whichever core the worker ran on. ``cpu-span`` is the process's
    from the frame's start to the next frame's: what the frame queued beside the frame path
    (``Pipeline.frame_done``) runs after it, between frames when paced, so only this one holds it,
    and work moved off the frame path is still counted where it is spent. Its mean is the CPU
    time of the whole run, a frame's share.
    """
    pipeline = build_pipeline(cfg, background=True)  # as the live mirror runs it
    renderer = Renderer(EmojiAtlas(emoji_dir(), background=True), cfg.display)
    h, w = frames[0].image.shape[:2]
    canvas = np.zeros((cfg.display.height or h, cfg.display.width or w, 3), np.uint8)
    samples: dict[str, list[float]] = {"detect": [], "emotion": [], "track": [], "render": [], "frame": [],
                                       "cpu": [], "cpu-loop": [], "cpu-span": []}
    faces, read, tracked = [], [], []
    period = frames[1].timestamp - frames[0].timestamp if paced and len(frames) > 1 else 0.0
    starts = []  # the process's CPU time as each timed frame starts
    start = time.perf_counter()
    # The timed frames start the clip over after the warm-up: a cut, as a clip starting over is in
    # the live mirror; else the warm-up's faces, back where they were, lingered as second tracks.
    timed = [dataclasses.replace(frames[0], cut=True), *frames[1:]]
    for i, frame in enumerate(frames[:warmup] + timed):
        _sleep_until(start + i * period)
        c0, l0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
        analysis = pipeline.process(frame)
        tracks = analysis.tracks if analysis else []
        t1 = time.perf_counter()
        renderer.render(frame, tracks, canvas, FrameStats())
        t2, l2, c2 = time.perf_counter(), time.thread_time(), time.process_time()
        pipeline.frame_done()  # as the live mirror does once the frame is shown
        renderer.frame_done()
        if i < warmup:
            continue
        starts.append(c0)
        for stage, ms in (analysis.stage_ms if analysis else {}).items():
            samples[stage].append(ms)
        samples["render"].append((t2 - t1) * 1e3)
        samples["frame"].append((t2 - t0) * 1e3)
        samples["cpu"].append((c2 - c0) * 1e3)
        samples["cpu-loop"].append((l2 - l0) * 1e3)
        faces.append(sum(1 for t in tracks if t.missed == 0))
        tracked.append(len(tracks))  # found, or lost a moment ago and still looked for
        read.append(sum(1 for t in tracks if t.verdict.time == frame.timestamp))  # by the emotion model
    pipeline.close()  # waits for the worker's last run, so its CPU time counts
    renderer.atlas.close()
    samples["cpu-span"] = (np.diff([*starts, time.process_time()]) * 1e3).tolist()
    samples["faces"], samples["read"], samples["tracked"] = faces, read, tracked
    return samples


def _sleep_until(when: float) -> None:
    """Wait until ``time.perf_counter()`` reaches ``when`` (at once if it has)."""
    delay = when - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def idle_cost(samples: dict[str, list[float]]) -> str:
    """What an empty hall costs: frames with nobody tracked (none found, none lost a moment ago and
    still looked for) against frames with one face found, in wall time and CPU time (the frame's
    own, and until the next frame: the passes it queued beside the frame path count too)."""
    # A pipeline without tracks (convert.bench_classic's) counts the faces it found instead.
    faces, tracked = np.array(samples["faces"]), np.array(samples.get("tracked", samples["faces"]))
    idle, one = tracked == 0, faces == 1
    counts = f"idle frames (no face): {idle.sum()}, frames with one face: {one.sum()}"
    if not idle.any() or not one.any():
        return counts
    ratios = []
    for key in ("frame", "cpu", "cpu-span"):
        if key in samples:
            times = np.array(samples[key])
            ratios.append(f"{key} {times[idle].mean():.2f} against {times[one].mean():.2f} ms, "
                          f"{times[idle].mean() / times[one].mean():.2f}")
    return f"{counts}; idle/face: {'; '.join(ratios)}"


def report(title: str, samples: dict[str, list[float]]) -> str:
    stats = percentiles({k: v for k, v in samples.items() if k not in COUNTS})
    lines = [title, f"{'stage':>8}  {'p50 ms':>7}  {'p95 ms':>7}  {'mean ms':>7}"]
    lines += [f"{k:>8}  {p50:7.2f}  {p95:7.2f}  {np.mean(samples[k]):7.2f}" for k, (p50, p95) in stats.items()]
    frame_mean = float(np.mean(samples["frame"]))
    p50, p95 = stats["frame"]
    read = f" ({np.mean(samples['read']):.2f} read by the emotion model)" if "read" in samples else ""
    lines.append(f"{len(samples['frame'])} frames, {np.mean(samples['faces']):.2f} faces/frame{read}, "
                 f"{1000 / frame_mean:.1f} fps (mean {frame_mean:.2f} ms/frame), p95/p50 {p95 / p50:.2f}")
    if "cpu-span" in samples:
        lines.append(f"CPU over the run: {np.mean(samples['cpu-span']):.2f} ms a frame (every thread; the worker's "
                     "passes between frames too)")
    lines.append(steadiness_by_faces(samples))
    lines.append(idle_cost(samples))
    return "\n".join(lines)


def steadiness_by_faces(samples: dict[str, list[float]], least: int = 20) -> str:
    """p95/p50 among frames that found the same number of faces (those with at least ``least``
    frames): on footage where people come and go, the whole clip's p95/p50 mostly says how many
    more faces its busiest frames hold; this says whether frames of the same work hitch."""
    frame, faces = np.array(samples["frame"]), np.array(samples["faces"])
    parts = []
    for count in sorted(set(faces.tolist())):
        times = frame[faces == count]
        if times.size >= least:
            parts.append(f"{count}: {np.percentile(times, 95) / np.percentile(times, 50):.2f} ({times.size} frames)")
    return f"p95/p50 by faces found: {', '.join(parts) or 'too few frames of any count'}"


def deadline(frame_ms: list[float], period_ms: float) -> str:
    """Whether the frames keep the camera's pace: a frame longer than the period delays the next on
    screen, which is the hitch a viewer sees; the p95 frame's share of the period is the margin a
    slower machine (a Pi) has before that happens. The capture and the screen's own thread are not
    in these frames."""
    times = np.asarray(frame_ms)
    late = int((times > period_ms).sum())
    return (f"at the source's rate ({period_ms:.1f} ms a frame): {late} of {times.size} frames took longer; "
            f"the p95 frame takes {100 * np.percentile(times, 95) / period_ms:.1f} % of the period")


COVERED_IOU = 0.3  # a box shown over a face overlaps it by more (as one face does itself from frame to frame)


def coverage(cfg: Config, frames: list[Frame]) -> str:
    """What the configured schedule shows against every tracked face read on every frame.

    ``detector.max_crops`` caps a frame's crops (a face waiting its turn stays where the tracker
    predicts it): cheaper, steadier frames, but how far off are the boxes then, and is any face
    left bare? Both pipelines run in line (``background=False``), so the answer depends only on the
    frames. Each face the reference found fresh is matched to the box shown nearest it; the error
    is the distance between their centres in the face's widths, and a face no shown box overlaps
    by ``COVERED_IOU`` is bare.
    """
    shown, reference = build_pipeline(cfg), build_pipeline(override(cfg, ["detector.max_crops=0"]))
    errors, bare, total = [], 0, 0
    try:
        for frame in frames:
            mine, theirs = shown.process(frame), reference.process(frame)
            boxes = np.array([t.face.box for t in mine.tracks] if mine else [], np.float32).reshape(-1, 4)
            for track in theirs.tracks if theirs else []:
                if track.missed:
                    continue
                total += 1
                face = np.asarray(track.face.box, np.float32)
                overlap = iou(face, boxes)
                if not overlap.size or overlap.max() <= COVERED_IOU:
                    bare += 1
                    continue
                nearest = boxes[int(np.argmax(overlap))]
                errors.append(float(np.hypot(*(_centre(nearest) - _centre(face)))) / track.face.width)
    finally:
        shown.close()
        reference.close()
    if not errors:
        return f"boxes against every face read on every frame: no face found in {len(frames)} frames"
    return (f"boxes against every face read on every frame (detector.max_crops {cfg.detector.max_crops} against 0): "
            f"centres {100 * np.mean(errors):.2f} % of the face's width apart on average, "
            f"{100 * np.percentile(errors, 95):.2f} % at p95; {bare} of {total} faces bare")


def _centre(box: np.ndarray) -> np.ndarray:
    return (box[:2] + box[2:]) / 2


SCREENS = ((800, 480), (1280, 720), (1920, 1080))  # the official 7" DSI screen, HD, full HD


def time_screens(cfg: Config, frames: list[Frame], sink_factory=None, count: int = 60) -> dict[str, list[float]]:
    """Renderer + sink: drawn at each screen size (CPU scaling), and at the camera's size (SDL scales),
    then with the screen in its own thread as the live mirror runs it (what the loop still pays).

    With ``display.scaling = "sdl"`` the CPU's cost is the same whatever the screen: SDL fits the
    picture to it (on the Pi's GPU), which this machine's dummy driver does not measure, nor the
    wait for the screen's vertical blank, which the screen's own thread takes off the loop.
    """
    from edge_emojify.sinks.null import NullSink
    from edge_emojify.sinks.threaded import DisplayThread

    pipeline = build_pipeline(cfg)
    analyses = [pipeline.process(f) for f in frames[:count]]
    renderer = Renderer(EmojiAtlas(emoji_dir()), cfg.display)
    h, w = frames[0].image.shape[:2]
    out: dict[str, list[float]] = {}
    cases = [*((f"cpu {sw}x{sh}", (sw, sh), False) for sw, sh in SCREENS), (f"sdl at {w}x{h}", (w, h), False),
             (f"sdl at {w}x{h}, own thread", (w, h), True)]
    for label, size, threaded in cases:
        factory = sink_factory or NullSink
        sink = DisplayThread(lambda f=factory, s=size: f(s)) if threaded else factory(size)
        try:
            canvas = np.zeros((sink.size[1], sink.size[0], 3), np.uint8)
            times = []
            for frame, analysis in zip(frames[:count], analyses, strict=True):
                t0 = time.perf_counter()
                sink.show(renderer.render(frame, analysis.tracks if analysis else [], canvas, FrameStats()))
                times.append((time.perf_counter() - t0) * 1e3)
        finally:
            sink.close()
        out[label] = times[5:]
    return out


def pygame_window(size: tuple[int, int]):
    """A pygame window (SDL's dummy driver where there is no display) as the screen path's sink."""
    from edge_emojify.sinks.pygame_sink import PygameSink

    return PygameSink(size, fullscreen=False)


def run_bench(cfg: Config, count: int, width: int, faces: int | None = None, screens: bool = False,
              paced: bool = False, against_every_face: bool = False) -> int:
    frames = load_frames(cfg, count, width, faces)
    h, w = frames[0].image.shape[:2]
    period = frames[1].timestamp - frames[0].timestamp if paced and len(frames) > 1 else 0.0
    rate = f", paced at {1 / period:.0f} fps" if period else ""
    print(f"bench: {len(frames)} frames of {w}x{h}, {cfg.emotion.threads} thread(s), "
          f"detector range {cfg.detector.range}, mode {cfg.display.mode}{rate}", flush=True)
    samples = time_pipeline(cfg, frames, paced=paced)
    print(report("edge-emojify pipeline", samples))
    if period:
        print(deadline(samples["frame"], period * 1e3))
    if against_every_face:
        print(coverage(cfg, frames))
    if screens:
        import importlib.util
        import os

        sink = pygame_window if importlib.util.find_spec("pygame") else None
        if sink and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        name = f"pygame ({os.environ.get('SDL_VIDEODRIVER', 'default')} driver)" if sink else "null"
        print(f"screen path: render + {name} sink, mode {cfg.display.mode}")
        for label, times in time_screens(cfg, frames, sink).items():
            print(f"{label:>18}  p50 {np.percentile(times, 50):6.2f} ms  p95 {np.percentile(times, 95):6.2f} ms")
    return 0
