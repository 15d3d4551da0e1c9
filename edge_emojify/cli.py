"""The ``edge-emojify`` command: run, video, doctor, bench, config, web.

Every expected failure (missing model, bad config key, camera busy, no display) ends as one
line on stderr and exit status 2; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge_emojify import __version__
from edge_emojify import config as config_mod
from edge_emojify.config import Config
from edge_emojify.errors import UserError
from edge_emojify.render.modes import MODE_NAMES
from edge_emojify.sinks.base import SinkError
from edge_emojify.sources.base import SourceError

if TYPE_CHECKING:
    from edge_emojify.app import App

log = logging.getLogger("edge_emojify")


def _common(p: argparse.ArgumentParser, source: bool = True) -> None:
    p.add_argument("--config", help="TOML config file (default: $EDGE_EMOJIFY_CONFIG, then "
                                    "/etc/edge-emojify/config.toml, then built-in defaults)")
    if source:
        p.add_argument("--source", help="camera number, 'picamera', 'sample', a video, an image or a folder")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config key, e.g. --set detector.max_faces=3 (repeatable)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-emojify", description="An emoji over every face, "
                                     "matching its expression, live from a camera.")
    parser.add_argument("--version", action="version", version=f"edge-emojify {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the mirror", description="Run the mirror until q, Ctrl-C or SIGTERM.")
    _common(run)
    run.add_argument("--sink", choices=[c for c in config_mod.DisplayConfig.__dataclass_fields__["sink"]
                                        .metadata["choices"]], help="where frames go (display.sink)")
    run.add_argument("--output", help="video file or PNG folder for the video/png sinks (display.output)")
    run.add_argument("--mode", choices=MODE_NAMES, help="mode shown at start (display.mode)")
    run.add_argument("--frames", type=int, default=0, help="stop after N frames (0 = run until stopped)")
    run.add_argument("--no-button", action="store_true", help="do not use the GPIO button")

    video = sub.add_parser("video", help="emojify a recorded video, or a folder of videos and photos",
                           description="Emojify every frame of a video, in order, keeping its sound, timing and "
                                       "rotation, with every face covered. Needs PyAV: pip install "
                                       "'edge-emojify[video]'.")
    video.add_argument("input", help="a video, a photo, or a folder of them")
    video.add_argument("-o", "--output", help="output file (default: INPUT-emojified.EXT beside it), or a "
                                              "folder for a folder")
    video.add_argument("--mode", choices=MODE_NAMES, help="what each frame shows (default: display.mode)")
    cover = video.add_mutually_exclusive_group()
    cover.add_argument("--cover", dest="cover", action="store_const", const="full", default="full",
                       help="every face wholly covered by its emoji, held where the tracker predicts it "
                            "through missed detections (the default)")
    cover.add_argument("--no-cover", dest="cover", action="store_const", const="emoji",
                       help="the emoji as the live mirror draws it, over the head")
    cover.add_argument("--blur", dest="cover", action="store_const", const="blur",
                       help="blur each face instead of an emoji")
    video.add_argument("--timeline", metavar="CSV", help="write each face's mood over time to CSV (a PNG "
                                                         "plot beside it); with a folder, a folder for them")
    video.add_argument("-q", "--quiet", action="store_true", help="no progress bar (for scripts)")
    _common(video, source=False)

    doctor = sub.add_parser("doctor", help="check camera, display, GPIO, models, config and service",
                            description="Check every part the mirror needs; each problem comes with a fix.")
    _common(doctor)

    bench = sub.add_parser("bench", help="time the pipeline per stage on a source",
                           description="Run detect + classify + track + render on N frames of a source "
                                       "(default: the bundled sample) and print p50/p95 ms per stage.")
    _common(bench)
    bench.add_argument("--frames", type=int, default=300)
    bench.add_argument("--width", type=int, default=640, help="resize frames to this width (0 = as is)")
    bench.add_argument("--faces", type=int,
                       help="use N synthetic moving faces instead of the source (e.g. 3; 0 = an empty room)")
    bench.add_argument("--threads", type=int, help="interpreter threads (emotion.threads), e.g. 1 or 4")
    bench.add_argument("--screens", action="store_true",
                       help="also time renderer + sink at 800x480, 1280x720 and 1920x1080")
    bench.add_argument("--paced", action="store_true",
                       help="hand the frames over at the source's own rate, as a camera does (default: as fast as "
                            "the loop takes them)")
    bench.add_argument("--against-every-face", action="store_true",
                       help="also compare the boxes shown with those of every tracked face read on every frame "
                            "(detector.max_crops = 0): how far off, and how many faces bare")

    cfg = sub.add_parser("config", help="print the effective config or the reference",
                         description="Print the effective config (after file and --set) as TOML.")
    _common(cfg)
    cfg.add_argument("--reference", action="store_true", help="print the Markdown table of every key")

    web = sub.add_parser("web", help="show or replace the web page's token",
                         description="Print the web page's token, or write a new random one into the config "
                                     "file (its other lines, mode and owner kept). The service reads it at restart.")
    web.add_argument("--config", help="TOML config file (default: $EDGE_EMOJIFY_CONFIG, then "
                                      "/etc/edge-emojify/config.toml)")
    what = web.add_mutually_exclusive_group(required=True)
    what.add_argument("--token", action="store_true", help="print the configured token")
    what.add_argument("--rotate", action="store_true", help="write a new random token and print it")
    return parser


def load_config(args: argparse.Namespace) -> tuple[config_mod.Config, Path | None]:
    from edge_emojify.sources import from_argument

    cfg, path = config_mod.load(args.config)
    cfg = config_mod.override(cfg, args.set)
    if getattr(args, "source", None):
        cfg = dataclasses.replace(cfg, source=from_argument(cfg.source, args.source))
    display = {k: getattr(args, k) for k in ("sink", "output", "mode") if getattr(args, k, None)}
    if display:
        cfg = dataclasses.replace(cfg, display=dataclasses.replace(cfg.display, **display))
    return cfg, path


def run_config(args: argparse.Namespace) -> tuple[Config, Path | None]:
    """The config of ``run``: file, overrides and the run policy, the same at start-up and on SIGHUP."""
    from edge_emojify.app import apply_run_policy

    cfg, path = load_config(args)
    return apply_run_policy(cfg, args.frames), path


def build_app(args: argparse.Namespace) -> App:
    """The mirror as ``run`` starts it; a reload re-reads the config through :func:`run_config`."""
    from edge_emojify.app import App, is_offline
    from edge_emojify.snapshots import save_snapshot
    from edge_emojify.sources import open_source

    cfg, path = run_config(args)
    log.info("edge-emojify %s, config %s", __version__, path or "built-in defaults")
    button = None
    if cfg.button.enabled and not args.no_button:
        from edge_emojify.controls.button import Button

        button = Button(cfg.button)
    offline = is_offline(cfg)
    return App(cfg, reload_config=lambda: run_config(args)[0], button=button, threaded=not offline,
               source_factory=lambda c: open_source(c.source, realtime=not offline), snapshot=save_snapshot)


def cmd_run(args: argparse.Namespace) -> int:
    return build_app(args).run(max_frames=args.frames)


def cmd_video(args: argparse.Namespace) -> int:
    from edge_emojify.sources.images import IMAGE_SUFFIXES
    from edge_emojify.video.job import Emojifier, plan, video_config
    from edge_emojify.video.media import import_av

    cfg, _ = load_config(args)
    jobs = plan(Path(args.input), Path(args.output) if args.output else None)
    if any(src.suffix.lower() not in IMAGE_SUFFIXES for src, _ in jobs):
        import_av()  # a missing or too old PyAV is said before the models load, not after
    emojifier = Emojifier(video_config(cfg, args.mode, args.cover))
    folder = Path(args.input).is_dir()
    for src, dst in jobs:
        if src.suffix.lower() in IMAGE_SUFFIXES:
            print(f"wrote {dst}: {emojifier.image(src, dst)} face(s)")
            continue
        timeline = None
        if args.timeline:
            timeline = Path(args.timeline) / f"{src.stem}.csv" if folder else Path(args.timeline)
        try:
            report = emojifier.video(src, dst, timeline, args.quiet)
        except KeyboardInterrupt:
            print(f"edge-emojify: interrupted; {dst} was not written", file=sys.stderr)
            raise
        print(f"wrote {dst}: {report.frames} frames, {report.media_seconds:.1f} s of video in "
              f"{report.wall_seconds:.1f} s ({report.realtime:.2f}x real time)")
        print(report.coverage.summary())
        print(report.timeline.summary())
        if timeline is not None:
            print(f"timeline: {timeline}, {timeline.with_suffix('.png')}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    if args.reference:
        print(config_mod.reference_markdown())
        return 0
    cfg, path = load_config(args)
    print(f"# effective config (file: {path or 'none, built-in defaults'})")
    if cfg.web.token:  # a screen or a pasted bug report is no place for the page's secret
        hidden = dataclasses.replace(cfg.web, token="(set; edge-emojify web --token shows it)")
        cfg = dataclasses.replace(cfg, web=hidden)
    print(config_mod.to_toml(cfg))
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    path = config_mod.find_config_file(args.config)
    if path is None:
        raise UserError(f"no config file ({config_mod.SYSTEM_CONFIG} does not exist); pass --config or run "
                        "systemd/install.sh")
    if args.rotate:
        from edge_emojify.web.tokens import rotate

        print(rotate(path))
        print(f"written to {path}; apply it with: sudo systemctl restart edge-emojify", file=sys.stderr)
        return 0
    cfg, _ = config_mod.load(str(path))
    if not cfg.web.token:
        raise UserError(f"{path} has no [web] token; make one with: edge-emojify web --rotate")
    print(cfg.web.token)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "video":
            return cmd_video(args)
        if args.command == "doctor":
            from edge_emojify.doctor import run_doctor

            return run_doctor(load_config(args))
        if args.command == "bench":
            from edge_emojify.bench import run_bench

            cfg, _ = load_config(args)
            if args.threads:
                cfg = config_mod.override(cfg, [f"emotion.threads={args.threads}"])
            return run_bench(cfg, args.frames, args.width, args.faces, args.screens, args.paced,
                             args.against_every_face)
        if args.command == "web":
            return cmd_web(args)
        return cmd_config(args)
    except (UserError, SourceError, SinkError) as exc:
        print(f"edge-emojify: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
