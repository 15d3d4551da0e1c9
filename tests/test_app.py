"""The live loop end to end with fakes that behave like the real parts."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from fakes import FlakySource, RecordingSink
from photos import ASTRONAUT_BOX, HOPPER_BOX, astronaut, hopper
from waits import wait_for

from edge_emojify.app import App
from edge_emojify.config import ButtonConfig, Config, DisplayConfig, SourceConfig
from edge_emojify.controls import HOLD, NEXT
from edge_emojify.errors import UserError
from edge_emojify.notify import Notifier
from edge_emojify.sources.synthetic import head_crop

ROOT = Path(__file__).resolve().parent.parent
IMAGES = [cv2.resize(hopper(), (320, 376)), cv2.resize(astronaut(), (320, 320))]


def make_app(sources: list, sink: RecordingSink, cfg: Config | None = None, **kw) -> App:
    # The fake sources stand in for a camera ("auto" would mean the sample on a machine without one).
    cfg = cfg or Config(source=SourceConfig(kind="camera", timeout=0.5), display=DisplayConfig(mirror=False))
    return App(cfg, source_factory=scripted(sources), sink_factory=lambda c, size, fps: sink, **kw)


def scripted(sources):
    """A source factory that opens each of ``sources`` in turn, raising those that are exceptions."""
    opened = iter(sources)

    def factory(_cfg):
        src = next(opened)
        if isinstance(src, Exception):
            raise src
        return src

    return factory


def is_message_screen(image: np.ndarray) -> bool:
    return float((image == 32).all(axis=2).mean()) > 0.8


def emoji_pixels(image: np.ndarray) -> int:
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return int(((r > 200) & (g > 150) & (b < 100)).sum())


def loop_turns(sink: RecordingSink, turns: int) -> None:
    """Wait until the app's loop has begun ``turns`` more turns (it polls its sink once a turn).

    Two are enough for anything queued before the call, by the sink or the button, to have been
    polled and handled: the first turn to begin after the call polls it, the next begins after.
    """
    start = sink.polls
    wait_for(lambda: sink.polls >= start + turns, what=f"{turns} turns of the loop")


def test_frames_flow_from_source_to_sink_with_emojis():
    sink = RecordingSink()
    app = make_app([FlakySource(IMAGES)], sink)
    assert app.run(max_frames=5) == 0
    assert app.frames == 5 and len(sink.shown) == 5 and sink.closed
    assert emoji_pixels(sink.shown[-1]) > 500


def test_camera_loss_says_so_reconnects_and_resumes(caplog):
    from edge_emojify.render.draw import message_screen
    from edge_emojify.sources.base import SourceError

    caplog.set_level(logging.INFO, logger="edge_emojify")
    sink = RecordingSink()
    first = FlakySource(IMAGES, ["frame"] * 3 + ["error"])
    again = FlakySource(IMAGES)
    app = make_app([first, SourceError("camera still gone"), again], sink)
    app.run(max_frames=8)
    assert app.camera.losses == 1 and app.frames == 8
    assert first.closed.is_set()
    said = [message_screen(np.zeros((240, 320, 3), np.uint8), ["camera lost - retrying", f"attempt {n}"])
            for n in range(1, 4)]
    assert any(np.array_equal(img, screen) for img in sink.shown for screen in said)  # in those words
    assert not is_message_screen(sink.shown[-1])  # and the mirror came back by itself
    logged = [r.getMessage() for r in caplog.records]
    assert logged.count("first frame on screen") == 1  # the journal marks the start, not each reconnect


def test_a_hung_camera_times_out_and_is_replaced():
    sink = RecordingSink()
    hung = FlakySource(IMAGES, ["frame", "hang"])
    app = make_app([hung, FlakySource(IMAGES)], sink)
    t0 = time.monotonic()
    app.run(max_frames=4)
    assert app.camera.losses == 1 and hung.closed.is_set()
    assert time.monotonic() - t0 < 10


def test_garbage_frames_are_skipped_and_counted():
    sink = RecordingSink()
    # Unthreaded, so the capture thread's newest-frame-wins cannot drop the garbage first.
    app = make_app([FlakySource(IMAGES, ["garbage", "frame", "garbage", "garbage"])], sink, threaded=False)
    app.run(max_frames=3)
    assert app.pipeline.bad_frames == 3 and app.frames == 3


def test_keys_and_button_share_one_handler(caplog):
    caplog.set_level(logging.INFO, logger="edge_emojify")
    sink = RecordingSink()
    app = make_app([FlakySource(IMAGES)], sink)
    assert app.renderer.mode == "mirror"
    sink.events = [NEXT, NEXT]
    app.run(max_frames=2)
    assert app.renderer.mode == "emoji"
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("mode")] == ["mode: panel",
                                                                                             "mode: emoji"]


def test_button_press_on_gpio_changes_mode_and_hold_toggles_privacy():
    from gpiozero.pins.mock import MockFactory

    from edge_emojify.controls.button import Button

    factory = MockFactory()
    clock = itertools.count(0.0, 1.0)  # the debounce clock: every edge is a second after the last
    button = Button(ButtonConfig(pin=17, hold_seconds=0.3, hold_action="privacy", bounce_ms=50),
                    pin_factory=factory, clock=lambda: next(clock))
    sink = RecordingSink()
    cfg = Config(source=SourceConfig(kind="camera", timeout=0.5), button=ButtonConfig(hold_action="privacy"))
    app = make_app([FlakySource(IMAGES), FlakySource(IMAGES)], sink, cfg=cfg, button=button)
    runner = threading.Thread(target=app.run)
    runner.start()
    pin = factory.pin(17)
    try:
        wait_for(lambda: app.frames >= 1)
        pin.drive_low()
        pin.drive_high()  # a short press: the step is queued on release
        wait_for(lambda: app.renderer.mode == "panel")
        sink.events.append(NEXT)  # and a key on the keyboard works alongside the button
        wait_for(lambda: app.renderer.mode == "emoji")
        pin.drive_low()  # held: gpiozero's hold thread fires after 0.3 s
        wait_for(lambda: app.privacy and is_message_screen(sink.shown[-1]))  # screen blank, camera closed
        pin.drive_high()  # the release is queued (or not) at once, by gpiozero's callback
        loop_turns(sink, 2)  # and handled by the loop: the release after a hold must not step the mode
        assert app.renderer.mode == "emoji"
    finally:
        app.stop()
        runner.join(5)
    assert not runner.is_alive()


def test_hold_saves_a_snapshot_only_when_asked(caplog):
    caplog.set_level(logging.INFO, logger="edge_emojify")
    saved = []
    sink = RecordingSink()
    app = make_app([FlakySource(IMAGES)], sink, snapshot=lambda image, cfg: saved.append(image.shape) or "x.jpg")
    app.handle(HOLD)  # before the first frame there is nothing on screen to save
    assert not app.privacy  # and a snapshot hold never blanks the mirror
    app.run(max_frames=2)
    assert saved == []  # nothing is stored unless someone holds the button
    app.handle(HOLD)
    assert saved == [(240, 320, 3)]  # the screen as shown, emojis over the faces
    assert "snapshot saved: x.jpg" in [r.getMessage() for r in caplog.records]
    no_action = make_app([FlakySource(IMAGES)], RecordingSink(), snapshot=lambda image, cfg: saved.append(1),
                         cfg=Config(source=SourceConfig(kind="camera"), button=ButtonConfig(hold_action="none")))
    no_action.run(max_frames=1)
    no_action.handle(HOLD)
    assert saved == [(240, 320, 3)]


def test_systemd_hears_ready_watchdog_status_and_stopping(tmp_path):
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(0.05)
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"})  # ping every 10 ms
    sink = RecordingSink()
    app = make_app([FlakySource(IMAGES)], sink, notifier=notifier)
    messages: list[str] = []
    done = threading.Event()

    def listen() -> None:  # as systemd does: read as messages come
        while True:
            try:
                messages.append(server.recv(4096).decode())
            except TimeoutError:
                if done.is_set():
                    return

    listener = threading.Thread(target=listen)
    listener.start()
    app.run(max_frames=10)
    done.set()
    listener.join()
    server.close()
    assert messages[0].startswith("READY=1")
    assert any(m == "WATCHDOG=1" for m in messages)
    assert messages[-1].startswith("STOPPING=1")


def test_a_notify_socket_nobody_reads_never_stalls_the_mirror(tmp_path):
    """A full datagram queue (a busy systemd) drops messages; it must not block the frame loop."""
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)  # and never read
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000"})  # a ping every frame
    sink = RecordingSink()
    app = make_app([FlakySource(IMAGES)], sink, notifier=notifier)
    worker = threading.Thread(target=app.run, kwargs={"max_frames": 40}, daemon=True)
    worker.start()
    worker.join(timeout=120)
    server.close()
    assert not worker.is_alive() and len(sink.shown) == 40


def run_cli(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "edge_emojify", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def test_cli_run_on_a_video_writes_a_playable_video_with_emojis(tmp_path):
    out = tmp_path / "mirror.mp4"
    result = run_cli("run", "--source", "edge_emojify/data/sample.mp4", "--sink", "video",
                     "--output", str(out), "--no-button")
    assert result.returncode == 0, result.stderr
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 90
    with_emoji = 0
    for _ in range(90):
        ok, frame = cap.read()
        assert ok
        with_emoji += emoji_pixels(frame) > 2000
    assert with_emoji >= 80  # a face is in every frame of the sample


def test_cli_version_and_help():
    assert run_cli("--version").stdout.startswith("edge-emojify ")
    for sub in ("run", "doctor", "bench", "config"):
        assert run_cli(sub, "--help").returncode == 0


@pytest.mark.parametrize("args,message", [
    (["--set", "display.mode=party"], "display].mode is 'party'"),
    (["--set", "emotion.model=/nonexistent/emotion.tflite"], "model card /nonexistent/emotion.json is missing"),
    (["--source", "/nonexistent/video.mp4"], "video /nonexistent/video.mp4 does not exist"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, message):
    result = run_cli("run", "--sink", "null", "--no-button", "--frames", "1", *args)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in result.stderr


def _start(tmp_path, *extra):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[display]\nsink = 'null'\nmode = 'mirror'\n[button]\nenabled = false\n")
    proc = subprocess.Popen([sys.executable, "-m", "edge_emojify", "run", "--config", str(cfg),
                             "--source", "sample", *extra], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "first frame on screen" in line:
            break
    return proc, cfg, lines


def test_sigterm_stops_cleanly_within_two_seconds(tmp_path):
    proc, _, _ = _start(tmp_path)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=10)[1]
    assert time.monotonic() - t0 < 2
    assert proc.returncode == 0 and "stopped after" in rest


def test_sighup_reloads_the_config(tmp_path):
    proc, cfg, _ = _start(tmp_path)
    killer = threading.Timer(120, proc.kill)  # a reload that never comes fails the test, not the suite
    killer.start()
    try:
        cfg.write_text(cfg.read_text().replace("'mirror'", "'debug'"))
        proc.send_signal(signal.SIGHUP)
        # Read the log until the reload is reported: no fixed sleep, so a slow CPU is no failure.
        reloaded = any("config reloaded" in line for line in proc.stderr)
    finally:
        killer.cancel()
        proc.kill()
        proc.communicate()
    assert reloaded


def test_doctor_reports_every_check_with_fixes():
    result = run_cli("doctor", "--source", "sample", "--set", "display.sink=\"null\"")
    lines = result.stdout.splitlines()
    for name in ("config", "models", "camera", "display", "gpio", "service"):
        assert any(f"] {name}" in line for line in lines), name
    assert "ms/face" in result.stdout
    assert result.returncode == 0, result.stdout  # warnings (no GPIO, no service here) are not failures
    broken = run_cli("doctor", "--set", "emotion.model=\"/nonexistent/emotion.tflite\"", "--source", "sample")
    assert broken.returncode == 1 and "[FAIL] models" in broken.stdout and "fix:" in broken.stdout


def test_real_pipeline_keeps_identities_on_moving_faces():
    from edge_emojify.pipeline import build_pipeline
    from edge_emojify.sources.synthetic import MovingFacesSource

    source = MovingFacesSource(faces=2, face_px=100, seed=3)
    pipeline = build_pipeline(Config())
    ids_per_frame = [sorted(t.track_id for t in pipeline.process(source.read()).tracks) for _ in range(120)]
    seen = {i for ids in ids_per_frame for i in ids}
    assert sum(len(ids) == 2 for ids in ids_per_frame) > 90  # both faces followed nearly always
    assert len(seen) <= 3  # the same two identities throughout (at most one re-acquired)


def test_a_new_scene_starts_new_faces_that_show_their_own_emotion_at_once():
    """A folder of photos: no face, and no emoji, carries over from the photo before."""
    from edge_emojify.pipeline import build_pipeline
    from edge_emojify.sources.base import frame_from_bgr

    # Both heads cropped alike, so the two faces sit on the same spot and would match as one track.
    first, second = (cv2.resize(head_crop(img, box, 0.6), (400, 400)) for img, box in
                     ((hopper(), HOPPER_BOX), (astronaut(), ASTRONAUT_BOX)))
    pipelines = build_pipeline(Config()), build_pipeline(Config())
    for pipeline in pipelines:
        for i in range(10):
            (kept,) = pipeline.process(frame_from_bgr(first, i, 640, timestamp=i / 30)).tracks
    (alone,) = build_pipeline(Config()).process(frame_from_bgr(second, 0, 640, timestamp=0.0)).tracks
    (cut,) = pipelines[0].process(frame_from_bgr(second, 10, 640, timestamp=10 / 30, cut=True)).tracks
    (carried,) = pipelines[1].process(frame_from_bgr(second, 10, 640, timestamp=10 / 30)).tracks
    assert carried.track_id == kept.track_id  # without the cut, the other face would inherit the emoji
    assert cut.track_id != kept.track_id and cut.age == 1
    assert cut.label == alone.label and np.allclose(cut.scores, alone.scores)


def _pi_app(sink: RecordingSink, opened: list[str]) -> App:
    """The app with source.kind = "auto" on a machine whose only camera is the fake Pi camera."""
    from fakes import FakePicamera2

    from edge_emojify.sources import choose_auto, open_source

    def factory(cfg):
        source = open_source(cfg.source, realtime=False, picamera2_factory=FakePicamera2)
        opened.append(source.name)
        return source

    cfg = Config(source=SourceConfig(timeout=0.5), display=DisplayConfig(mirror=False))
    return App(cfg, source_factory=factory, sink_factory=lambda c, size, fps: sink,
               choose_source=lambda s: choose_auto(s, FakePicamera2))


def test_auto_retries_a_busy_pi_camera_and_never_falls_back_to_the_sample(caplog):
    from fakes import FakePicamera2

    caplog.set_level(logging.INFO, logger="edge_emojify")
    FakePicamera2.reset()
    other_program = FakePicamera2(0)  # holds the camera when the mirror starts
    sink, opened = RecordingSink(), []
    app = _pi_app(sink, opened)
    runner = threading.Thread(target=app.run, kwargs={"max_frames": 3})
    runner.start()
    try:
        wait_for(lambda: any(is_message_screen(img) for img in list(sink.shown)))  # "camera lost - retrying"
        other_program.close()  # the camera is free: the mirror takes it at its next retry
        runner.join(10)
    finally:
        app.stop()
        runner.join(5)
        FakePicamera2.reset()
    assert app.frames == 3 and opened == ["picamera"] and app.stats.notice == ""
    assert "source auto: picamera" in [r.getMessage() for r in caplog.records]  # the journal says which camera


def test_auto_keeps_retrying_a_pi_camera_lost_later():
    from fakes import FakePicamera2

    FakePicamera2.reset()
    sink, opened = RecordingSink(), []
    app = _pi_app(sink, opened)
    runner = threading.Thread(target=app.run)
    runner.start()
    try:
        wait_for(lambda: app.frames >= 2)
        FakePicamera2.cameras = []  # unplugged: captures stop, the camera list is empty
        FakePicamera2.instances[-1].hang = True
        wait_for(lambda: app.camera.losses == 1)
        wait_for(lambda: app.camera.retry.failures >= 2)  # the loss, then a retry against the missing camera
        FakePicamera2.reset()  # plugged back in
        wait_for(lambda: len(opened) == 2 and app.frames >= 4)
    finally:
        app.stop()
        runner.join(5)
        FakePicamera2.reset()
    assert opened == ["picamera", "picamera"]  # never the sample, however long it was gone


def test_auto_plays_the_sample_only_without_any_camera_and_says_so(caplog):
    from fakes import FakePicamera2

    from edge_emojify.sources import choose_auto

    FakePicamera2.reset()
    FakePicamera2.cameras = []
    try:
        sink = RecordingSink()
        app = App(Config(source=SourceConfig(camera_index=9), display=DisplayConfig(mirror=False)),
                  sink_factory=lambda c, size, fps: sink, threaded=False,
                  choose_source=lambda s: choose_auto(s, FakePicamera2))
        app.run(max_frames=2)
    finally:
        FakePicamera2.reset()
    assert app.stats.notice == "no camera found - playing the sample"  # drawn in every mode (test_render)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "no camera found - playing the sample: connect a camera and restart, or pass --source" in warnings


class RecordingNotifier(Notifier):
    """Notifier that keeps what it would send to systemd."""

    def __init__(self) -> None:
        super().__init__({})
        self.sent: list[str] = []

    def notify(self, *fields: str) -> bool:
        self.sent.append("\n".join(fields))
        return True


def test_privacy_releases_the_camera_and_reopens_it(caplog):
    from edge_emojify.render.draw import message_screen

    caplog.set_level(logging.INFO, logger="edge_emojify")
    sink = RecordingSink()
    cfg = Config(source=SourceConfig(kind="camera", timeout=0.5), button=ButtonConfig(hold_action="privacy"))
    first, second = FlakySource(IMAGES), FlakySource(IMAGES)
    app = make_app([first, second], sink, cfg=cfg)
    runner = threading.Thread(target=app.run)
    runner.start()
    try:
        wait_for(lambda: app.frames >= 2)
        sink.events.append(HOLD)  # handled by the loop, as a button hold is
        wait_for(lambda: app.privacy and first.closed.is_set())  # the camera itself is let go
        frames = app.frames
        loop_turns(sink, 3)  # three turns of the loop in privacy mode
        assert app.frames == frames and second.reads == 0  # nothing is read while private
        said = message_screen(np.zeros((240, 320, 3), np.uint8), ["privacy mode", "hold the button to resume"])
        assert np.array_equal(sink.shown[-1], said)  # and how to leave it
        sink.events.append(HOLD)
        wait_for(lambda: app.frames >= frames + 2)  # a fresh camera, frames again
    finally:
        app.stop()
        runner.join(5)
    assert second.reads > 0 and not app.privacy
    said = [r.getMessage() for r in caplog.records if r.name == "edge_emojify.app"]
    assert "privacy on: screen blank, camera paused" in said and "privacy off" in said  # in the journal


def test_a_reload_applies_new_display_settings_and_a_bad_one_keeps_the_old(caplog):
    sinks = []

    def sink_factory(cfg, size, fps):
        sinks.append((RecordingSink(), cfg.display))
        return sinks[-1][0]

    configs = iter([Config(display=DisplayConfig(mode="panel", mirror=True, show_fps=True))])

    def reload():
        try:
            return next(configs)
        except StopIteration:
            raise UserError("config.toml: [display].mode is 'party'") from None

    cfg = Config(source=SourceConfig(kind="camera", timeout=0.5), display=DisplayConfig(mirror=False))
    app = App(cfg, source_factory=lambda c: FlakySource(IMAGES), sink_factory=sink_factory, reload_config=reload)
    runner = threading.Thread(target=app.run)
    runner.start()
    try:
        wait_for(lambda: app.frames >= 2)
        app.request_reload()
        wait_for(lambda: len(sinks) == 2 and app.frames >= 4)
        assert sinks[0][0].closed and sinks[1][1].mode == "panel" and sinks[1][1].mirror
        assert app.renderer.mode == "panel" and app.renderer.cfg.show_fps
        app.request_reload()  # the file is broken now
        wait_for(lambda: any(r.getMessage().startswith("reload failed") for r in list(caplog.records)))
        frames = app.frames
        wait_for(lambda: app.frames >= frames + 2)  # and the mirror goes on as it was
    finally:
        app.stop()
        runner.join(5)
    assert len(sinks) == 2 and app.renderer.mode == "panel" and app.cfg.display.mode == "panel"
    assert any(r.getMessage() == "reload failed, keeping the old config: config.toml: [display].mode is 'party'"
               for r in caplog.records)


def test_status_line_follows_fps_faces_and_mode(monkeypatch):
    import edge_emojify.app as app_module
    from edge_emojify.thermal import Thermal, ThermalWatch

    monkeypatch.setattr(app_module, "STATUS_EVERY", 0.05)
    notifier = RecordingNotifier()
    sink = RecordingSink()
    heat = iter([Thermal(None, None), Thermal(None, None)])  # not a Pi at first, then a hot, throttled one
    thermal = ThermalWatch(lambda: next(heat, Thermal(81.4, 0x4)))
    app = make_app([FlakySource(IMAGES, fps=50)], sink, notifier=notifier, thermal=thermal)
    runner = threading.Thread(target=app.run)
    runner.start()
    try:
        wait_for(lambda: sum(m.startswith("STATUS=") for m in notifier.sent) >= 2)
        sink.events.append(NEXT)
        wait_for(lambda: any("mode panel" in m for m in notifier.sent))
        wait_for(lambda: any("°C" in m for m in notifier.sent))
    finally:
        app.stop()
        runner.join(5)
    statuses = [m for m in notifier.sent if m.startswith("STATUS=")]
    assert all(re.fullmatch(r"STATUS=\d+\.\d fps, \d face\(s\), mode \w+", s) for s in statuses[:2]), statuses
    assert statuses[-1].endswith(", 81 °C, throttled now: throttled"), statuses[-1]
    assert "mode mirror" in statuses[0] and " 0 face(s)" not in statuses[0]
    fps = float(statuses[-1].split("=")[1].split(" ")[0])
    assert 10 < fps < 200  # frames shown per second, paced by the 50 fps source


def test_holding_the_button_saves_the_screen_through_the_loop(tmp_path):
    from edge_emojify.config import SnapshotConfig
    from edge_emojify.snapshots import save_snapshot

    sink = RecordingSink()
    cfg = Config(source=SourceConfig(kind="camera", timeout=0.5), display=DisplayConfig(mirror=False),
                 snapshots=SnapshotConfig(folder=str(tmp_path)))
    app = make_app([FlakySource(IMAGES)], sink, cfg=cfg, snapshot=save_snapshot)
    runner = threading.Thread(target=app.run)
    runner.start()
    try:
        wait_for(lambda: app.frames >= 3)
        sink.events.append(HOLD)
        wait_for(lambda: any(tmp_path.glob("*.jpg")))
    finally:
        app.stop()
        runner.join(5)
    (saved,) = tmp_path.glob("*.jpg")
    image = cv2.imread(str(saved))
    assert image.shape == (240, 320, 3) and emoji_pixels(image) > 300  # what was on screen, faces covered


def test_cli_unwritable_output_and_a_damaged_image_are_one_line_errors(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    for args, message in [
        (["--sink", "video", "--output", "/proc/edge-emojify/out.mp4", "--source", "sample"],
         "cannot create the folder of video output /proc/edge-emojify/out.mp4"),
        (["--source", str(broken)], f"cannot read image {broken}; it is damaged"),  # not retried for ever
    ]:
        result = run_cli("run", "--sink", "null", "--no-button", "--frames", "3", *args, timeout=60)
        errors = [line for line in result.stderr.splitlines() if "error" in line]
        assert result.returncode == 2 and len(errors) == 1 and message in errors[0], result.stderr[-2000:]
        assert "Traceback" not in result.stderr and "retrying" not in result.stderr


def test_a_reload_keeps_the_run_policy_of_the_command_line(tmp_path):
    """run --sink video --source sample plays the sample once; a SIGHUP must not make it loop for ever."""
    from edge_emojify.cli import build_app, build_parser

    args = build_parser().parse_args(["run", "--sink", "video", "--output", str(tmp_path / "o.mp4"),
                                      "--source", "sample", "--no-button", "--config", str(_empty_config(tmp_path))])
    app = build_app(args)
    assert app.cfg.source.loop is False and app.threaded is False
    assert app.reload_config().source.loop is False  # the same policy as at start-up
    looping = build_app(build_parser().parse_args(["run", "--sink", "null", "--source", "sample", "--no-button",
                                                   "--config", str(_empty_config(tmp_path))]))
    assert looping.cfg.source.loop is True and looping.reload_config().source.loop is True


def _empty_config(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path


def test_only_a_file_rendered_into_a_file_runs_unpaced():
    from edge_emojify.app import is_offline

    def cfg(source: str, sink: str) -> Config:
        return Config(source=SourceConfig(kind=source), display=DisplayConfig(sink=sink))

    assert is_offline(cfg("sample", "video")) and is_offline(cfg("video", "png"))
    assert not is_offline(cfg("camera", "video"))  # a live camera is paced by the camera
    assert not is_offline(cfg("sample", "window"))  # a file on a screen plays at its own rate


def test_the_run_policy_plays_a_file_into_a_file_once_unless_frames_are_asked_for():
    from edge_emojify.app import apply_run_policy

    to_file = Config(source=SourceConfig(kind="sample", loop=True), display=DisplayConfig(sink="video"))
    assert apply_run_policy(to_file).source.loop is False
    assert apply_run_policy(to_file, frames=500).source.loop is True  # --frames 500 may need a loop
    on_screen = Config(source=SourceConfig(kind="sample", loop=False), display=DisplayConfig(sink="window"))
    assert apply_run_policy(on_screen, frames=500) == on_screen  # the config decides


def test_a_reload_reopens_the_source_only_when_source_settings_change(caplog):
    caplog.set_level(logging.INFO, logger="edge_emojify")
    opened, sinks = [], []

    def factory(cfg):
        opened.append(cfg.source.fps)
        return FlakySource(IMAGES)

    def sink_factory(cfg, size, fps):
        sinks.append(RecordingSink())
        return sinks[-1]

    base = Config(source=SourceConfig(kind="camera", fps=30.0, timeout=0.5))
    changes = iter([dataclasses.replace(base, decision=dataclasses.replace(base.decision, hysteresis=0.2)),
                    dataclasses.replace(base, source=dataclasses.replace(base.source, fps=15.0))])
    app = App(base, source_factory=factory, sink_factory=sink_factory, reload_config=lambda: next(changes))
    runner = threading.Thread(target=app.run)
    runner.start()
    try:
        wait_for(lambda: app.frames >= 2)
        app.request_reload()  # a decision setting: the same camera and screen go on
        wait_for(lambda: app.cfg.decision.hysteresis == 0.2 and app.frames >= 4)
        assert opened == [30.0] and len(sinks) == 1
        app.request_reload()  # the camera's frame rate: it is reopened with the new settings
        wait_for(lambda: len(opened) == 2 and app.frames >= 6)
    finally:
        app.stop()
        runner.join(5)
    assert opened == [30.0, 15.0] and len(sinks) == 1
    assert [r.getMessage() for r in caplog.records].count("config reloaded") == 2


def test_the_fps_shown_is_frames_on_screen_per_second_averaged(monkeypatch):
    # What the debug screen and systemd's status say: frames shown per second of the loop's clock,
    # averaged so that one stall does not swing it. The loop's clock is faked, moved on by the display.
    import types

    import edge_emojify.app as app_module

    now = [100.0]
    monkeypatch.setattr(app_module, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    intervals = [0.1] * 21 + [1.0]  # a 10 Hz display, then one frame a second late
    fps_before = []

    class PacedSink(RecordingSink):
        def show(self, image):
            super().show(image)
            fps_before.append(app.stats.fps)
            now[0] += intervals[len(fps_before) - 1]  # past the end: the loop ran on past max_frames

    app = make_app([FlakySource(IMAGES)], PacedSink())
    app.run(max_frames=len(intervals))
    assert app.frames == len(intervals)
    assert fps_before[-1] == pytest.approx(10)
    assert 8.5 < app.stats.fps < 10


def test_the_debug_screens_times_are_milliseconds_of_the_loops_clock(monkeypatch):
    # Drawing takes 20 ms and the display 30 ms of the loop's (faked) clock: the debug screen says so.
    import types

    import edge_emojify.app as app_module

    now = [100.0]
    monkeypatch.setattr(app_module, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    class SlowScreen(RecordingSink):
        def show(self, image):
            super().show(image)
            now[0] += 0.03

    app = make_app([FlakySource(IMAGES)], SlowScreen())
    draw = app.renderer.render

    def slow_draw(*args):
        now[0] += 0.02
        return draw(*args)

    monkeypatch.setattr(app.renderer, "render", slow_draw)
    app.run(max_frames=3)
    stages = app.stats.stage_ms
    assert (stages["render"], stages["show"], stages["frame"]) == (pytest.approx(20), pytest.approx(30),
                                                                   pytest.approx(50))


@pytest.mark.parametrize("display,size", [(DisplayConfig(), (1280, 720)),
                                          (DisplayConfig(width=800, height=480), (800, 480))],
                         ids=["camera-size", "display-size"])
def test_a_camera_missing_at_start_says_so_on_a_screen_of_the_configured_size(display, size):
    # The message comes before any frame, so the sink (a video file keeps its first size) is opened at
    # the display's configured size, or else the camera's.
    from edge_emojify.sources.base import SourceError

    cfg = Config(source=SourceConfig(kind="camera", timeout=0.5, width=1280, height=720), display=display)
    asked = []
    sink = RecordingSink(size)
    app = App(cfg, source_factory=scripted([SourceError("camera busy"), FlakySource(IMAGES)]),
              sink_factory=lambda c, wh, fps: asked.append(wh) or sink)
    app.run(max_frames=1)
    assert asked == [size] and is_message_screen(sink.shown[0]) and app.frames == 1


def test_the_debug_screen_times_every_stage_and_the_whole_frame():
    cfg = Config(source=SourceConfig(kind="camera", timeout=0.5), display=DisplayConfig(mode="debug", mirror=False))
    app = make_app([FlakySource(IMAGES)], RecordingSink(), cfg)
    start = time.perf_counter()
    app.run(max_frames=3)
    run_ms = (time.perf_counter() - start) * 1e3
    stages = app.stats.stage_ms
    assert app.frames == 3 and set(stages) == {"detect", "emotion", "track", "render", "show", "frame"}
    parts = sum(ms for stage, ms in stages.items() if stage != "frame")
    assert 0 < parts <= stages["frame"] <= run_ms  # the frame's time holds its stages and lies within the run


def test_the_screen_opens_at_the_cameras_picture_size_and_a_recording_at_its_frame_rate():
    # A window or a video file takes the picture's size (unless display.width/height say otherwise), and a
    # video plays at the camera's rate, or at source.fps for a camera that does not tell its rate.
    opened = []

    def sink_factory(cfg, size, fps):
        opened.append((size, fps))
        return RecordingSink(size)

    silent = FlakySource(IMAGES[:1])
    silent.fps = None
    for camera in (FlakySource(IMAGES[:1], fps=25.0), silent):
        cfg = Config(source=SourceConfig(kind="camera", fps=30.0, timeout=0.5))
        App(cfg, source_factory=scripted([camera]), sink_factory=sink_factory).run(max_frames=1)
    assert opened == [((320, 376), 25.0), ((320, 376), 30.0)]


def test_systemd_hears_the_status_line_once_every_status_every_seconds_of_the_apps_clock():
    # Not a datagram a frame: one every STATUS_EVERY seconds, here every fourth frame of a display
    # that takes 0.3 of it per frame.
    from edge_emojify.app import STATUS_EVERY

    now = [1000.0]

    class PacedSink(RecordingSink):
        def show(self, image):
            super().show(image)
            now[0] += 0.3 * STATUS_EVERY

    notifier = RecordingNotifier()
    app = make_app([FlakySource(IMAGES)], PacedSink(), notifier=notifier, clock=lambda: now[0])
    app.run(max_frames=10)
    assert sum(m.startswith("STATUS=") for m in notifier.sent) == 2


def test_without_a_reload_function_a_reload_reads_the_config_file_from_its_documented_place(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text("[display]\nmode = 'panel'\n")
    monkeypatch.setenv("EDGE_EMOJIFY_CONFIG", str(path))
    app = make_app([FlakySource(IMAGES)], RecordingSink())
    assert app.reload_config().display.mode == "panel"


def test_without_a_sink_factory_the_configured_sink_opens_at_the_pictures_size_and_the_cameras_rate(tmp_path):
    out = tmp_path / "mirror.avi"
    cfg = Config(source=SourceConfig(kind="camera", timeout=0.5),
                 display=DisplayConfig(sink="video", output=str(out), mirror=False))
    App(cfg, source_factory=scripted([FlakySource(IMAGES[:1], fps=25.0)])).run(max_frames=3)
    video = cv2.VideoCapture(str(out))
    size = int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))
    assert size == (320, 376) and video.get(cv2.CAP_PROP_FPS) == 25.0
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_a_damaged_file_ends_the_run_with_its_error_and_is_never_retried():
    # A camera that fails is retried; a file that cannot be read would fail the same way for ever.
    from edge_emojify.sources.base import SourceError

    sink = RecordingSink()
    cfg = Config(source=SourceConfig(kind="image", path="broken.jpg", timeout=0.5))
    app = App(cfg, source_factory=scripted([SourceError("cannot read image broken.jpg; it is damaged"),
                                            FlakySource(IMAGES)]), sink_factory=lambda c, size, fps: sink)
    with pytest.raises(UserError, match="it is damaged"):
        app.run(max_frames=1)
    assert app.frames == 0 and sink.shown == []


def test_a_camera_that_comes_back_starts_every_face_afresh():
    # Whoever stands there after a loss (or a privacy break) gets a new emoji, nothing from before.
    seen = []

    class FaceSink(RecordingSink):
        def show(self, image):
            super().show(image)
            if not is_message_screen(image):
                seen.append([(t.track_id, t.age) for t in app.pipeline.tracker.tracks])

    lost = FlakySource(IMAGES[:1], ["frame"] * 3 + ["error"])
    app = make_app([lost, FlakySource(IMAGES[:1])], FaceSink(), threaded=False)
    app.run(max_frames=5)
    assert app.camera.losses == 1 and len(seen) == 5
    (before,), (after,) = seen[2], seen[3]  # one face on either side of the loss
    assert before == (before[0], 3) and after[0] != before[0] and after[1] == 1


def test_the_live_mirror_looks_for_far_faces_beside_the_frame_path_also_after_a_reload():
    # The full-range pass runs in its own thread, so it never makes a frame late (test_scheduler.py).
    base = Config(source=SourceConfig(kind="camera", timeout=0.5), display=DisplayConfig(mirror=False))
    reloaded = dataclasses.replace(base, decision=dataclasses.replace(base.decision, hysteresis=0.2))

    class ReloadingSink(RecordingSink):
        def show(self, image):
            super().show(image)
            if len(self.shown) == 1:
                app.request_reload()

    app = make_app([FlakySource(IMAGES)], ReloadingSink(), cfg=base, reload_config=lambda: reloaded)
    assert app.pipeline.detector.worker._thread is not None
    app.run(max_frames=3)
    assert app.cfg is reloaded and app.pipeline.detector.worker._thread is not None


def test_the_work_beside_the_frame_path_starts_once_the_frame_is_shown():
    # Started with the frame, it competed with the frame's drawing for the interpreter lock (scheduler.PassWorker).
    events = []

    class TellingSink(RecordingSink):
        def show(self, image):
            super().show(image)
            events.append("shown")

    cfg = Config(source=SourceConfig(kind="camera", timeout=0.5), display=DisplayConfig(mirror=False))
    app = make_app([FlakySource(IMAGES)], TellingSink(), cfg=cfg)
    worker = app.pipeline.detector.worker
    start = worker.start
    worker.start = lambda: (worker._pending is not None and events.append("started"), start())
    process = app.pipeline.process
    app.pipeline.process = lambda frame: (events.append("next frame"), process(frame))[1]
    sprites = app.renderer.frame_done
    app.renderer.frame_done = lambda: (events.append("sprites"), sprites())
    app.run(max_frames=2)
    # The first frame queued a full-range pass: it starts after the frame is shown, not with the next
    # one, and so do the sprites it asked for.
    assert events[:4] == ["next frame", "shown", "started", "sprites"] and events.count("shown") == 2


def test_the_journal_sums_up_the_run_when_it_stops(caplog):
    caplog.set_level(logging.INFO, logger="edge_emojify")
    lost = FlakySource(IMAGES, ["garbage", "frame", "error"])
    app = make_app([lost, FlakySource(IMAGES)], RecordingSink(), threaded=False)
    app.run(max_frames=3)
    assert caplog.records[-1].getMessage() == ("stopped after 3 frames (0 camera frames dropped as stale, 1 bad "
                                               "frames skipped, 1 camera losses)")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_ctrl_c_stop_the_mirror_after_the_frame_on_screen(sig):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    class Signalled(RecordingSink):
        def show(self, image):
            super().show(image)
            if len(self.shown) == 2:
                signal.raise_signal(sig)  # as systemd stops the service, or Ctrl-C in a terminal

    app = make_app([FlakySource(IMAGES)], Signalled())
    assert app.run(max_frames=50) == 0
    assert app.frames == 2
    assert {s: signal.getsignal(s) for s in before} == before  # and the handlers from before are back


def test_sighup_reloads_the_config_and_the_mirror_goes_on():
    cfg = Config(source=SourceConfig(kind="camera", timeout=0.5), display=DisplayConfig(mirror=False))
    reloaded = dataclasses.replace(cfg, display=dataclasses.replace(cfg.display, mode="panel"))

    class Signalled(RecordingSink):
        def show(self, image):
            super().show(image)
            if len(self.shown) == 1:
                signal.raise_signal(signal.SIGHUP)  # systemctl reload

    app = make_app([FlakySource(IMAGES)], Signalled(), cfg=cfg, reload_config=lambda: reloaded)
    app.run(max_frames=3)
    assert app.frames == 3 and app.renderer.mode == "panel"
