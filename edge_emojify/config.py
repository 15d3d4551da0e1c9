"""All settings in one typed place, loaded from one TOML file.

Lookup order: ``--config PATH``, then ``$EDGE_EMOJIFY_CONFIG``, then
``/etc/edge-emojify/config.toml``, then the defaults below. CLI flags override the file.
Every key is checked: an unknown key, a wrong type or a value out of range raises
:class:`UserError` naming the file, the key and what is allowed. README's config reference is
generated from the field docs here (``edge-emojify config --reference``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_emojify.errors import UserError
from edge_emojify.render.modes import MODE_NAMES
from edge_emojify.resources import models_dir

SYSTEM_CONFIG = Path("/etc/edge-emojify/config.toml")


def _opt(default: Any, doc: str, choices: tuple[Any, ...] = (), lo: float | None = None,
         hi: float | None = None) -> Any:
    return field(default=default, metadata={"doc": doc, "choices": choices, "lo": lo, "hi": hi})


@dataclass(frozen=True)
class SourceConfig:
    kind: str = _opt("auto", "where frames come from; auto = the Pi camera if one is attached, else the USB "
                     "camera if it exists (either is retried while busy or lost), else, with no camera at "
                     "start-up, the bundled sample", ("auto", "picamera", "camera", "video", "image", "sample"))
    path: str = _opt("", "video file, image file or folder of images (kind video/image)")
    camera_index: int = _opt(0, "camera number (OpenCV index or Pi camera number)", lo=0, hi=16)
    width: int = _opt(1280, "capture width in pixels", lo=64, hi=4096)
    height: int = _opt(720, "capture height in pixels", lo=48, hi=3072)
    fps: float = _opt(30.0, "frame rate asked of the camera; also the playback rate of files", lo=1, hi=240)
    detect_width: int = _opt(640, "width of the grayscale image faces are found in (Pi lores "
                             "stream)", lo=64, hi=1920)
    rotation: int = _opt(0, "rotate the camera image (degrees)", (0, 180))
    hflip: bool = _opt(False, "flip the camera image left-right at the sensor")
    vflip: bool = _opt(False, "flip the camera image upside down at the sensor")
    loop: bool = _opt(True, "restart a video file or image folder at its end")
    timeout: float = _opt(2.0, "seconds a frame may take before the camera counts as lost", lo=0.1, hi=60)


@dataclass(frozen=True)
class DetectorConfig:
    model_dir: str = _opt("", "folder with face_detection_*.tflite (empty = the shipped models/)")
    range: str = _opt("auto", "short: faces near the camera; full: small, distant faces; both: both on "
                      "every frame; auto: short on the frame and around far faces, full a few times a "
                      "second beside it (no hitches)", ("auto", "short", "full", "both"))
    min_score: float = _opt(0.6, "minimum detection confidence", lo=0.05, hi=1.0)
    min_face: int = _opt(24, "smallest face width in camera pixels", lo=4, hi=1000)
    max_faces: int = _opt(6, "most faces handled per frame (the largest win)", lo=1, hi=50)
    nms_iou: float = _opt(0.3, "overlap above which two detections are merged", lo=0.05, hi=0.95)
    search_every: int = _opt(3, "auto range, while faces are tracked: frames from one search of the whole "
                             "frame for newcomers to the next, beside the frame path (tracked faces are read "
                             "from crops around them on every frame); at 1 it searches every frame, on the frame "
                             "path (a recording searches less often and looks back for a face found late)", lo=1, hi=30)
    max_crops: int = _opt(3, "auto range: most tracked faces read from their crops on one frame, those read "
                          "longest ago first (0 = every one); the others stay where the tracker predicts them "
                          "until their turn, so a crowd costs a frame no more than this many faces", lo=0, hi=50)
    small_tile: int = _opt(0, "side of the smallest square tiles the full-range model reads, in pixels (0 = only "
                           "tiles as high as the frame); tiles of each double of it shorter than the frame follow, "
                           "so a face their overlap cuts is whole in a larger one. Every tile is shrunk to the "
                           "model's input: smaller tiles find smaller faces, in more passes (a recording takes "
                           "four inputs' worth)", lo=0, hi=4096)
    track_rate: float = _opt(0.0, "auto range: most times a second a tracked face is read from its crop (0 = "
                             "every frame, as the live mirror needs; a recording reads 15 a second and places "
                             "each face between two readings on the frames it holds back)", lo=0.0, hi=240.0)


@dataclass(frozen=True)
class EmotionConfig:
    model: str = _opt("", "emotion .tflite (empty = the shipped models/emotion.tflite); its .json "
                      "card must sit beside it")
    threads: int = _opt(1, "TFLite interpreter threads", lo=1, hi=8)
    prior_correction: bool = _opt(True, "divide the scores by the training class frequencies to the power "
                                  "tau fitted in the model card, so rare emotions (disgust, fear) can win")
    lift_contrast: bool = _opt(True, "stretch a face crop flatter (darker, backlit) than 98 % of the training "
                               "faces to their median contrast before reading it, as fitted in the model card")
    max_rate: float = _opt(15.0, "most times a second each face's expression is read; the decision averages "
                           "over smoothing_seconds either way, so a 30 fps camera reads each face every other "
                           "frame (0 = every frame)", lo=0.0, hi=240.0)


@dataclass(frozen=True)
class TrackingConfig:
    match_iou: float = _opt(0.2, "overlap needed to keep a face's identity between frames", lo=0.0, hi=1.0)
    expire_seconds: float = _opt(0.4, "seconds a face may go undetected before its track (and emoji) ends",
                                 lo=0.0, hi=30.0)
    single_expire_seconds: float = _opt(0.1, "the same for a face found on one frame only: a detection of one "
                                        "frame (a poster, a shadow) shows its emoji this long, not expire_seconds "
                                        "(a recording keeps it expire_seconds, to cover every face)", lo=0.0, hi=30.0)


@dataclass(frozen=True)
class DecisionConfig:
    """How a face's scores become its emoji (edge_emojify.decision); the defaults were chosen with
    ``python -m convert.bench_steady --tune`` on validation faces, at 10 and 30 fps."""

    smoothing_seconds: float = _opt(0.25, "time constant of the running average of each face's scores "
                                    "(0 = none)", lo=0.0, hi=10.0)
    hysteresis: float = _opt(0.1, "how far (smoothed score) a new emotion must lead the shown one before "
                             "it may take over", lo=0.0, hi=1.0)
    dwell_seconds: float = _opt(0.45, "how long a new emotion, or unsure, must hold before the emoji "
                                "changes", lo=0.0, hi=10.0)
    unsure_below: float = _opt(0.3, "a face is unsure while its smoothed top score is under this",
                               lo=0.0, hi=1.0)
    unsure_margin: float = _opt(0.0, "a face is unsure while its top score leads the second by less than "
                                "this", lo=0.0, hi=1.0)
    unsure_face: str = _opt("thinking", "what an unsure face shows: the thinking emoji, the neutral one, "
                            "or keep the last emotion", ("thinking", "neutral", "keep"))


@dataclass(frozen=True)
class DisplayConfig:
    sink: str = _opt("auto", "where frames go; auto = full screen on a console/desktop, else a video "
                     "file", ("auto", "window", "fullscreen", "framebuffer", "video", "png", "null"))
    mode: str = _opt("mirror", "the mode shown at start", MODE_NAMES)
    width: int = _opt(0, "output width (0 = the screen's, or the camera's for files)", lo=0, hi=7680)
    height: int = _opt(0, "output height (0 = the screen's, or the camera's for files)", lo=0, hi=4320)
    output: str = _opt("edge-emojify.mp4", "file for the video sink, folder for the png sink")
    fbdev: str = _opt("/dev/fb0", "framebuffer device for the framebuffer sink")
    mirror: bool = _opt(True, "show the camera mirrored left-right, like a mirror")
    show_fps: bool = _opt(False, "draw the frame rate in every mode")
    scaling: str = _opt("sdl", "full screen: sdl = draw at the camera's size (or width/height) and let SDL "
                        "scale to the screen, on the GPU on a Pi; cpu = draw at the screen's own size",
                        ("sdl", "cpu"))
    cover: str = _opt("emoji", "how mirror mode hides a face: emoji = the emoji over the head; full = the "
                      "emoji grown to cover the whole face box plus cover_margin; blur = that area blurred, "
                      "no emoji", ("emoji", "full", "blur"))
    cover_margin: float = _opt(0.15, "with cover full or blur: the margin around the face box, as a fraction "
                               "of the face's size", lo=0.0, hi=1.0)


@dataclass(frozen=True)
class ButtonConfig:
    enabled: bool = _opt(True, "use a GPIO push button (ignored with a warning off a Pi)")
    pin: int = _opt(17, "BCM pin of the button; its other side goes to GND", lo=0, hi=27)
    hold_seconds: float = _opt(2.0, "press this long for the hold action", lo=0.3, hi=30)
    hold_action: str = _opt("snapshot", "what a long press does", ("snapshot", "privacy", "none"))
    bounce_ms: int = _opt(50, "debounce time in milliseconds", lo=0, hi=1000)
    led_pin: int = _opt(-1, "BCM pin of an optional status LED (-1 = none)", lo=-1, hi=27)


@dataclass(frozen=True)
class SnapshotConfig:
    folder: str = _opt("/var/lib/edge-emojify/snapshots", "where the hold action saves JPEGs")
    max_mb: float = _opt(200.0, "oldest snapshots are deleted above this total size", lo=1, hi=100000)


@dataclass(frozen=True)
class WebConfig:
    """The operator's web page (edge_emojify.web): off by default, locked by a token, output only."""

    enabled: bool = _opt(False, "serve the web page: live view of the screen, status, controls and the mood "
                         "history (needs the web extra: pip install 'edge-emojify[web]')")
    bind: str = _opt("127.0.0.1", "address the page listens on; 0.0.0.0 = every interface (the service's "
                     "IPAddressAllow= still decides who may connect)")
    port: int = _opt(8080, "TCP port of the page", lo=1, hi=65535)
    token: str = _opt("", "the secret every request needs (at least 16 characters); install.sh makes one, "
                      "edge-emojify web --token shows it, --rotate replaces it")
    max_clients: int = _opt(3, "most live streams at once; one more gets 503", lo=1, hi=10)
    stream_fps: float = _opt(5.0, "most frames per second the live stream sends", lo=0.5, hi=15)
    stream_width: int = _opt(640, "widest frame the live stream sends, in pixels (larger screens are "
                             "scaled down)", lo=160, hi=1280)
    allow_debug_stream: bool = _opt(False, "stream the debug mode too (it shows bare faces); otherwise the "
                                    "stream says the debug view is not streamed")
    history_days: int = _opt(30, "days the hourly mood counts are kept", lo=1, hi=3650)
    history_path: str = _opt("/var/lib/edge-emojify/history.sqlite", "SQLite file of the hourly mood counts "
                             "(per emotion, a face counted once; no images, no identities)")


@dataclass(frozen=True)
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    emotion: EmotionConfig = field(default_factory=EmotionConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    snapshots: SnapshotConfig = field(default_factory=SnapshotConfig)
    web: WebConfig = field(default_factory=WebConfig)

    @property
    def models_dir(self) -> Path:
        return Path(self.detector.model_dir) if self.detector.model_dir else models_dir()

    @property
    def emotion_model(self) -> Path:
        return Path(self.emotion.model) if self.emotion.model else models_dir() / "emotion.tflite"


# Keys of earlier releases: refused with the name of the key that replaced them, never silently ignored.
RENAMED = {
    ("tracking", "smoothing"): "[decision].smoothing_seconds (a time constant in seconds, so the emoji "
                               "reacts alike at any frame rate)",
    ("tracking", "hysteresis"): "[decision].hysteresis",
    ("tracking", "max_missed"): "[tracking].expire_seconds (seconds instead of frames)",
}


def upper_bound(section: type, key: str) -> Any:
    """The largest value ``section.key`` accepts (its ``hi``), for a policy that takes all it may."""
    return next(f for f in dataclasses.fields(section) if f.name == key).metadata["hi"]


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def _check_value(where: str, f: dataclasses.Field, kind: type, value: Any) -> Any:
    meta = f.metadata
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where} must be true or false, got {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where} must be a whole number, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where} must be a number, got {value!r}")
        value = float(value)
    elif kind is str and not isinstance(value, str):
        raise UserError(f"{where} must be a string in quotes, got {value!r}")
    if meta.get("choices") and value not in meta["choices"]:
        allowed = ", ".join(repr(c) for c in meta["choices"])
        raise UserError(f"{where} is {value!r}; allowed: {allowed}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise UserError(f"{where} is {value!r}; allowed: {lo} to {hi}")
    return value


def from_dict(data: dict[str, Any], origin: str = "config") -> Config:
    """Build a validated Config from nested ``{section: {key: value}}``; unknown keys are errors."""
    sections = _sections()
    built: dict[str, Any] = {}
    for name, table in data.items():
        if name not in sections:
            raise UserError(f"{origin}: unknown section [{name}]; allowed: {', '.join(sections)}")
        if not isinstance(table, dict):
            raise UserError(f"{origin}: [{name}] must be a table of keys")
        cls = sections[name]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        values = {}
        for key, value in table.items():
            if (name, key) in RENAMED:
                raise UserError(f"{origin}: [{name}].{key} was renamed; use {RENAMED[name, key]}")
            if key not in fields:
                raise UserError(f"{origin}: unknown key [{name}].{key}; allowed: {', '.join(fields)}")
            values[key] = _check_value(f"{origin}: [{name}].{key}", fields[key], hints[key], value)
        built[name] = cls(**values)
    return Config(**built)


def find_config_file(explicit: str | None) -> Path | None:
    """The file to read, by the documented lookup order; None means built-in defaults."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UserError(f"config file {path} does not exist; fix --config or create the file")
        return path
    env = os.environ.get("EDGE_EMOJIFY_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise UserError(f"EDGE_EMOJIFY_CONFIG points to {path}, which does not exist; fix or unset it")
        return path
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


def load(explicit: str | None = None) -> tuple[Config, Path | None]:
    """Load and validate the config; returns it and the file it came from (None = defaults)."""
    path = find_config_file(explicit)
    if path is None:
        return Config(), None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read config file {path}: {exc.__class__.__name__}; check its "
                        "permissions and encoding (UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"config file {path} is not valid TOML ({exc}); fix that line") from None
    return from_dict(data, str(path)), path


def override(config: Config, assignments: list[str]) -> Config:
    """Apply ``section.key=value`` overrides (values in TOML syntax; bare words are strings)."""
    data: dict[str, dict[str, Any]] = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot:
            raise UserError(f"--set {item!r} must look like section.key=value, e.g. display.mode=debug")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        data.setdefault(section, {})[key] = value
    merged = {name: {**dataclasses.asdict(getattr(config, name)), **values} for name, values in data.items()}
    checked = from_dict(merged, "--set")
    return dataclasses.replace(config, **{name: getattr(checked, name) for name in data})


def reference_markdown() -> str:
    """The config reference for README: every section and key, its default and its meaning."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for name, cls in _sections().items():
        for f in dataclasses.fields(cls):
            default = f.default
            shown = str(default).lower() if isinstance(default, bool) else repr(default).replace("'", '"')
            doc = f.metadata["doc"]
            if f.metadata.get("choices"):
                doc += " (" + " / ".join(str(c) for c in f.metadata["choices"]) + ")"
            lines.append(f"| `{name}.{f.name}` | `{shown}` | {doc} |")
    return "\n".join(lines)


def to_toml(config: Config) -> str:
    """The config as TOML, every key written out (a starting point for /etc/edge-emojify/config.toml)."""
    out = []
    for name in _sections():
        out.append(f"[{name}]")
        for key, value in dataclasses.asdict(getattr(config, name)).items():
            if isinstance(value, bool):
                shown = str(value).lower()
            elif isinstance(value, str):
                shown = json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
            else:
                shown = repr(value)
            out.append(f"{key} = {shown}")
        out.append("")
    return "\n".join(out)
