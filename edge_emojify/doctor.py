"""``edge-emojify doctor``: check every part the mirror needs, each problem with a one-line fix."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_emojify.config import Config
from edge_emojify.errors import UserError
from edge_emojify.thermal import Thermal, read_thermal

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def check_config(cfg: Config, path: Path | None) -> Check:
    return Check("config", OK, f"{path or 'built-in defaults'} is valid")


def check_models(cfg: Config) -> Check:
    from edge_emojify.pipeline import build_pipeline

    try:
        pipeline = build_pipeline(cfg)
    except UserError as exc:
        return Check("models", FAIL, str(exc), "reinstall edge-emojify or fix [emotion].model")
    size = pipeline.emotion.card.input_size
    crops = np.full((1, size, size), 128, np.uint8)
    pipeline.emotion.predict_crops(crops)
    t0 = time.perf_counter()
    for _ in range(50):
        pipeline.emotion.predict_crops(crops)
    per_face = (time.perf_counter() - t0) / 50 * 1e3
    image = np.zeros((480, 640, 3), np.uint8)
    pipeline.detector.detect(image)
    t0 = time.perf_counter()
    for _ in range(10):
        pipeline.detector.detect(image)
    detect = (time.perf_counter() - t0) / 10 * 1e3
    status = OK if per_face < 10 and detect < 50 else WARN
    return Check("models", status, f"emotion {per_face:.2f} ms/face, face detection {detect:.1f} ms/frame "
                 f"({cfg.emotion.threads} thread(s))",
                 "" if status == OK else "the CPU is slow or busy: set detector.range = \"short\"")


def check_camera(cfg: Config, timeout: float = 5.0) -> Check:
    from edge_emojify.sources import FILE_SOURCES, SourceError, open_source

    if cfg.source.kind in FILE_SOURCES:
        return Check("camera", OK, f"not used (source.kind = {cfg.source.kind})")
    try:
        source = open_source(cfg.source, realtime=False)
    except SourceError as exc:
        return Check("camera", FAIL, str(exc), "see 'Troubleshooting' in README")
    try:
        t0 = time.monotonic()
        frame = source.read()
        took = time.monotonic() - t0
    except SourceError as exc:
        return Check("camera", FAIL, str(exc), "check the cable; stop other programs using the camera")
    finally:
        source.close()
    if source.name.startswith("video sample"):
        return Check("camera", WARN, "no camera found, the bundled sample would play",
                     "connect a camera (Pi: rpicam-hello --list-cameras must list it)")
    status = OK if took < timeout else WARN
    shape = "no frame" if frame is None else f"{frame.image.shape[1]}x{frame.image.shape[0]}"
    return Check("camera", status, f"{source.name}: first frame {shape} in {took:.2f} s")


def check_display(cfg: Config) -> Check:
    from edge_emojify.sinks import kms_available, resolve_sink

    kind = resolve_sink(cfg.display)
    if kind in ("window", "fullscreen"):
        if importlib.util.find_spec("pygame") is None:
            return Check("display", FAIL, f"display.sink {kind} needs pygame, which is missing",
                         "sudo apt install python3-pygame (or display.sink = \"framebuffer\")")
        if kind == "fullscreen" and not kms_available():
            return Check("display", FAIL, "cannot open /dev/dri/card* for writing",
                         "add the user to the video and render groups")
        return Check("display", OK, f"{kind} through pygame/SDL")
    if kind == "framebuffer":
        fb = Path(cfg.display.fbdev)
        if not os.access(fb, os.W_OK):
            return Check("display", FAIL, f"{fb} is missing or not writable", "add the user to the video group")
        return Check("display", OK, f"framebuffer {fb}")
    return Check("display", WARN if cfg.display.sink == "auto" else OK,
                 f"no screen found: output goes to the {kind} sink ({cfg.display.output})",
                 "connect a screen, or set display.sink" if cfg.display.sink == "auto" else "")


def check_gpio(cfg: Config) -> Check:
    if not cfg.button.enabled:
        return Check("gpio", OK, "button disabled in the config")
    if importlib.util.find_spec("gpiozero") is None:
        return Check("gpio", WARN, "gpiozero is not installed: no button", "sudo apt install python3-gpiozero")
    chips = sorted(Path("/dev").glob("gpiochip*"))
    if not chips:
        return Check("gpio", WARN, "no /dev/gpiochip*: not a Raspberry Pi, the button is off")
    if not any(os.access(c, os.R_OK | os.W_OK) for c in chips):
        return Check("gpio", FAIL, f"no permission on {chips[0]}", "sudo usermod -aG gpio $USER, then log in again")
    from gpiozero import Device

    try:
        factory = Device._default_pin_factory()  # noqa: SLF001 - the public way needs a pin
    except Exception as exc:  # noqa: BLE001 - gpiozero raises several kinds here
        return Check("gpio", FAIL, f"no GPIO pin factory: {exc}", "sudo apt install python3-lgpio")
    return Check("gpio", OK, f"{type(factory).__name__}, button on BCM {cfg.button.pin}")


def check_service(runner: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> Check:
    if shutil.which("systemctl") is None:
        return Check("service", WARN, "systemctl not found: no service manager here")
    result = runner(["systemctl", "is-active", "edge-emojify"], capture_output=True, text=True, timeout=5)
    state = result.stdout.strip() or "unknown"
    if state == "active":
        return Check("service", OK, "edge-emojify.service is active")
    return Check("service", WARN, f"edge-emojify.service is {state}",
                 "sudo systemd/install.sh, or: journalctl -u edge-emojify -b")


HOT_CELSIUS = 80.0  # the Pi 4 and 5 start to throttle at 85 °C (the soft limit at 80 on some boards)


def check_heat(read: Callable[[], Thermal] = read_thermal) -> Check:
    state = read()
    if state.celsius is None and state.throttled is None:
        return Check("heat", OK, "no SoC temperature or throttling flags here (not a Pi)")
    detail = state.describe() or "no throttling"
    if state.now:
        return Check("heat", FAIL, detail, "use the official 5 V power supply, and a heatsink or fan")
    if state.celsius is not None and state.celsius >= HOT_CELSIUS:
        return Check("heat", WARN, f"{detail}: close to where the Pi slows itself down", "add a heatsink or fan")
    if state.since_boot:
        return Check("heat", WARN, detail, "check the power supply and cooling: it was limited since boot")
    return Check("heat", OK, detail)


def run_doctor(loaded: tuple[Config, Path | None]) -> int:
    cfg, path = loaded
    checks = [check_config(cfg, path), check_models(cfg), check_camera(cfg), check_display(cfg),
              check_gpio(cfg), check_heat(), check_service()]
    for c in checks:
        print(f"[{c.status:>4}] {c.name:<8} {c.detail}" + (f"\n       fix: {c.fix}" if c.fix else ""))
    failed = [c.name for c in checks if c.status == FAIL]
    print("all checks passed" if not failed else f"{len(failed)} problem(s): {', '.join(failed)}")
    return 1 if failed else 0
