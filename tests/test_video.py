"""``edge-emojify video``: every frame, the sound kept, timing and rotation kept, every face covered.

Clips are generated (tests/clips.py: the bundled portraits moving, a 440 Hz tone) so each check
compares the result with what is true of the input.
"""

from __future__ import annotations

import csv
import io
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clips import MARK, make_clip, read_audio, read_video, red_corner

from edge_emojify.cli import main
from edge_emojify.config import Config, DetectorConfig
from edge_emojify.labels import EMOTIONS, UNSURE
from edge_emojify.pipeline import build_pipeline
from edge_emojify.sources.base import frame_from_bgr
from edge_emojify.video.job import VIDEO_SEARCH_EVERY, Emojifier, Progress, plan, video_config
from edge_emojify.video.lookback import frames_to_hold
from edge_emojify.video.media import FLOOR, MIN_PYAV, MediaReader, Picture, _version, patch_i420, upright
from edge_emojify.video.timeline import FIELDS

ROOT = Path(__file__).resolve().parent.parent


def changed(before: np.ndarray, after: np.ndarray, box, margin: float = 0.0) -> float:
    """The share of pixels inside ``box`` (grown by ``margin``) that the emojifier changed clearly."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    x0, y0 = max(0, int(x0 - margin * w)), max(0, int(y0 - margin * h))
    x1, y1 = int(np.ceil(x1 + margin * w)), int(np.ceil(y1 + margin * h))
    diff = np.abs(before[y0:y1, x0:x1].astype(int) - after[y0:y1, x0:x1].astype(int)).max(axis=2)
    return float((diff > 25).mean())


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "party.mp4", keep_images=True)


@pytest.fixture(scope="module")
def emojified(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "party-out.mp4"
    timeline = out.with_name("mood.csv")
    assert main(["video", str(clip.path), "-o", str(out), "--timeline", str(timeline), "-q"]) == 0
    return out, timeline


def test_every_frame_comes_out_at_its_time_with_the_sound_unchanged(clip, emojified):
    out, _ = emojified
    images, times, rotation = read_video(out)
    assert len(images) == len(clip.times)
    assert images[0].shape == clip.images[0].shape and rotation == 0
    assert times == pytest.approx(clip.times, abs=1e-3)
    original, copied = read_audio(clip.path), read_audio(out)
    assert original.size > 0.9 * 48000 * clip.times[-1]
    np.testing.assert_array_equal(copied, original)  # packets copied: the very same samples


def test_every_face_is_covered_with_a_margin_in_every_frame(clip, emojified):
    images, _, _ = read_video(emojified[0])
    for before, after, boxes in zip(clip.images, images, clip.boxes, strict=True):
        for box in boxes:
            assert changed(before, after, box, margin=0.1) > 0.95
        # … and the wall away from the faces is the wall it was.
        assert np.abs(before[-30:, -30:].astype(int) - after[-30:, -30:]).mean() < 6


def test_the_timeline_has_a_row_per_face_and_frame_and_a_plot(clip, emojified):
    _, timeline = emojified
    with timeline.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == FIELDS
    assert len(rows) == sum(len(b) for b in clip.boxes)  # two faces, found from the first frame to the last
    assert sorted({float(r["time"]) for r in rows}) == pytest.approx(clip.times, abs=1e-3)
    assert {r["track"] for r in rows} == {"1", "2"}
    for r in rows:
        assert r["label"] in (*EMOTIONS, UNSURE)
        assert sum(float(r[e]) for e in EMOTIONS) == pytest.approx(1, abs=0.01)
    png = timeline.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_reports_speed_coverage_and_mood(clip, tmp_path, capsys):
    assert main(["video", str(clip.path), "-o", str(tmp_path / "o.mp4"), "-q"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"wrote {tmp_path / 'o.mp4'}: {len(clip.times)} frames") and "x real time" in out[0]
    assert out[1].startswith(f"coverage: {len(clip.times)} of {len(clip.times)} frames had faces (2 tracked)")
    assert out[2].startswith("mood: 2 face(s) seen")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]  # no timeline unless asked for


class MissingDetector:
    """The real detector, made blind on chosen frames (counted from 1), like a face turned away."""

    def __init__(self, detector, blind: set[int]) -> None:
        self.detector, self.blind, self.frame = detector, blind, 0
        if hasattr(detector, "find_near"):  # looking back stays as the real detector has it
            self.find_near = detector.find_near

    def detect(self, image, *where):
        self.frame += 1
        faces = self.detector.detect(image, *where)
        return [] if self.frame in self.blind else faces


def test_faces_stay_covered_where_the_tracker_predicts_them_through_missed_detections(clip, tmp_path):
    # A detector range that does not hold frames back (short): the tracker's guess is all there is.
    cfg = video_config(Config(detector=DetectorConfig(range="short")))
    pipeline = build_pipeline(cfg)
    blind = set(range(20, 26))  # six frames, 0.2 s: within tracking.expire_seconds
    pipeline.detector = MissingDetector(pipeline.detector, blind)
    out = tmp_path / "o.mp4"
    report = Emojifier(cfg, pipeline).video(clip.path, out, quiet=True)
    assert report.coverage.predicted_frames == len(blind) and report.coverage.bridged_frames == 0
    assert report.coverage.longest_gap == len(blind)
    assert report.coverage.longest_gap_seconds == pytest.approx(len(blind) / 30, abs=1e-3)
    images, _, _ = read_video(out)
    for i in sorted(blind):  # the faces keep moving while the detector is blind; the emoji follows them
        for box in clip.boxes[i - 1]:
            assert changed(clip.images[i - 1], images[i - 1], box) > 0.95, i


def test_a_recording_covers_a_face_found_once_as_long_as_any_other(clip, tmp_path):
    # The live mirror drops a face found on one frame after tracking.single_expire_seconds; a
    # recording must not: found on its first frame only, then missed for 0.2 s, it stays covered.
    cfg = video_config(Config(detector=DetectorConfig(range="short")))
    assert cfg.tracking.single_expire_seconds == cfg.tracking.expire_seconds > 0.2
    pipeline = build_pipeline(cfg)
    blind = set(range(2, 8))
    pipeline.detector = MissingDetector(pipeline.detector, blind)
    out = tmp_path / "o.mp4"
    Emojifier(cfg, pipeline).video(clip.path, out, quiet=True)
    images, _, _ = read_video(out)
    for i in sorted(blind):
        for box in clip.boxes[i - 1]:
            assert changed(clip.images[i - 1], images[i - 1], box) > 0.95, i


def test_a_recording_places_faces_between_readings_and_predicts_only_what_it_could_not_hold_back(clip, tmp_path):
    # The default (auto) range reads tracked faces 15 times a second and holds 8 frames back: a
    # face missed for 11 frames is placed between its readings on the last 8 of them, and only the
    # frames drawn before it was read again rest on the tracker's guess.
    cfg = video_config(Config())
    pipeline = build_pipeline(cfg)
    blind = set(range(20, 31))  # 0.37 s: within tracking.expire_seconds
    pipeline.detector = MissingDetector(pipeline.detector, blind)
    out = tmp_path / "o.mp4"
    report = Emojifier(cfg, pipeline).video(clip.path, out, quiet=True)
    held = frames_to_hold(30, VIDEO_SEARCH_EVERY, 0)
    assert len(blind) - held <= report.coverage.predicted_frames <= len(blind) - held + 2
    assert report.coverage.longest_gap == report.coverage.predicted_frames
    # The frames between two readings elsewhere in the clip (every other one) are placed, not guessed.
    assert report.coverage.bridged_frames >= held + (len(clip.times) - len(blind)) // 2 - 2
    images, _, _ = read_video(out)
    for i in range(1, len(clip.times) + 1):
        for box in clip.boxes[i - 1]:
            assert changed(clip.images[i - 1], images[i - 1], box) > 0.95, i


def test_a_face_that_walks_in_between_two_searches_is_covered_from_its_first_frame(tmp_path):
    # The second face walks in on frame 3; the whole frame is next searched on frame 8.
    late = make_clip(tmp_path / "late.mp4", frames=24, audio=False, keep_images=True, appear=(0, 3))
    assert [len(b) for b in late.boxes[2:4]] == [1, 2] and VIDEO_SEARCH_EVERY > 5
    cfg = video_config(Config())

    def bare_frames(out: Path, look_back: bool) -> tuple[list[int], int, int]:
        pipeline = build_pipeline(cfg)
        if not look_back:
            pipeline.detector.find_near = None  # the frames are drawn as soon as they are analysed
        report = Emojifier(cfg, pipeline).video(late.path, out, quiet=True)
        images, _, _ = read_video(out)
        bare = [i for i, (before, after, boxes) in enumerate(zip(late.images, images, late.boxes, strict=True))
                if any(changed(before, after, box, margin=0.1) <= 0.95 for box in boxes)]
        return bare, report.coverage.found_late, sum(report.timeline.shown.values())

    faces = sum(len(b) for b in late.boxes)
    assert bare_frames(tmp_path / "o.mp4", look_back=True) == ([], 5, faces)  # frames 3-7, found on frame 8
    assert bare_frames(tmp_path / "without.mp4", look_back=False) == ([3, 4, 5, 6, 7], 0, faces - 5)


def test_after_a_cut_no_emoji_stays_where_the_last_shot_had_its_faces(tmp_path):
    # Two faces until frame 15, then an empty room: kept, their tracks would be drawn where the
    # tracker predicts them for tracking.expire_seconds (12 frames) over the room.
    shots = make_clip(tmp_path / "cut.mp4", frames=30, audio=False, keep_images=True, cut=15)
    assert all(len(b) == 2 for b in shots.boxes[:15]) and not any(shots.boxes[15:])
    out = tmp_path / "o.mp4"
    report = Emojifier(video_config(Config())).video(shots.path, out, quiet=True)
    images, _, _ = read_video(out)
    h, w = images[0].shape[:2]
    assert [i for i in range(15, 30) if changed(shots.images[i], images[i], (0, 0, w, h)) > 0.001] == []
    assert all(changed(shots.images[i], images[i], box) > 0.95 for i in range(15) for box in shots.boxes[i])
    assert report.coverage.predicted_frames == 0


def test_blur_hides_faces_without_an_emoji(clip, tmp_path):
    out = tmp_path / "blur.mp4"
    assert main(["video", str(clip.path), "-o", str(out), "--blur", "-q"]) == 0
    images, _, _ = read_video(out)
    before, after = clip.images[10], images[10]
    for x0, y0, x1, y1 in clip.boxes[10]:
        face, hidden = before[int(y0):int(y1), int(x0):int(x1)], after[int(y0):int(y1), int(x0):int(x1)]
        detail = np.abs(np.diff(face.astype(int), axis=1)).mean()
        assert np.abs(np.diff(hidden.astype(int), axis=1)).mean() < 0.3 * detail
        yellow = (hidden[..., 2] > 200) & (hidden[..., 1] > 150) & (hidden[..., 0] < 80)
        assert yellow.mean() < 0.05  # no emoji


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_a_rotated_phone_clip_comes_out_upright(tmp_path, rotation):
    import av

    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip(f"PyAV {av.__version__} reads a display matrix but cannot write one to make the test clip")
    clip = make_clip(tmp_path / "phone.mp4", frames=8, rotation=rotation, audio=False, keep_images=True)
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip.path), "-o", str(out), "-q", "--no-cover"]) == 0
    images, _, stored_rotation = read_video(out)
    assert stored_rotation == 0
    expected = upright(clip.images[0], rotation)
    assert images[0].shape == expected.shape
    assert red_corner(images[0]) == red_corner(expected) != red_corner(clip.images[0])


def test_upright_turns_the_picture_the_way_the_display_matrix_says():
    image = np.zeros((4, 6, 3), np.uint8)
    image[0, 0] = 255  # top-left
    # 90 counter-clockwise: the top-left corner goes to the bottom-left.
    assert np.argwhere(upright(image, 90)[..., 0])[0].tolist() == [5, 0]
    assert np.argwhere(upright(image, -90)[..., 0])[0].tolist() == [0, 3]
    assert np.argwhere(upright(image, 180)[..., 0])[0].tolist() == [3, 5]
    assert upright(image, 0) is image


@pytest.mark.parametrize("rotation", [0, 90])
def test_the_grey_taken_from_the_decoders_luma_is_the_grey_of_the_upright_picture(tmp_path, rotation):
    import av

    if rotation and not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip(f"PyAV {av.__version__} cannot write a display matrix to make the test clip")
    clip = make_clip(tmp_path / "c.mp4", frames=3, rotation=rotation, audio=False)
    reader = MediaReader(clip.path)
    try:
        pictures = [item for item in reader if isinstance(item, Picture)]
    finally:
        reader.close()
    for picture in pictures:
        assert picture.luma is not None and picture.luma.shape == picture.image.shape[:2]
        converted = frame_from_bgr(picture.image, 0, 640, 0.0).gray
        from_luma = frame_from_bgr(picture.image, 0, 640, 0.0, luma=picture.luma).gray
        assert from_luma.shape == converted.shape
        diff = np.abs(from_luma.astype(int) - converted)
        assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 2  # the same grey, to a level or two
        assert np.abs(frame_from_bgr(picture.image, 0, 640, 0.0, luma=picture.image[..., 1]).gray.astype(int)
                      - converted).mean() > 3  # a different plane would not pass


def test_a_variable_frame_rate_clip_keeps_its_timestamps(tmp_path):
    clip = make_clip(tmp_path / "vfr.mp4", frames=20, vfr=True)
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip.path), "-o", str(out), "-q"]) == 0
    _, times, _ = read_video(out)
    assert np.diff(clip.times).round(3).tolist().count(0.1) == 9  # the input really is VFR
    assert times == pytest.approx(clip.times, abs=1e-3)
    np.testing.assert_array_equal(read_audio(out), read_audio(clip.path))


def test_a_folder_of_videos_and_photos_goes_into_an_output_folder(clip, tmp_path):
    import cv2
    from photos import hopper

    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "clip.mp4").write_bytes(clip.path.read_bytes())
    cv2.imwrite(str(inbox / "grace.jpg"), hopper())
    (inbox / "notes.txt").write_text("not media")
    assert main(["video", str(inbox), "-o", str(tmp_path / "out"), "-q", "--timeline", str(tmp_path / "tl")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.mp4", "grace.jpg"]
    assert sorted(p.name for p in (tmp_path / "tl").iterdir()) == ["clip.csv", "clip.png"]
    photo = cv2.imread(str(tmp_path / "out" / "grace.jpg"))
    assert photo.shape == hopper().shape and changed(hopper(), photo, (166, 140, 366, 345)) > 0.9


def test_a_photo_gets_every_face_covered_a_class_of_twenty_and_a_crowd_far_off(tmp_path, capsys):
    # The live mirror handles the 6 largest faces a frame (detector.max_faces) and reads far faces in
    # tiles as tall as the frame; a photo or recording covers every face it finds, and a 1080p one
    # is read in tiles of four full-range inputs as well, in which faces 48 px wide are found. A
    # 12-megapixel photo's faces 400 px wide straddle those small tiles, which drop them; the tiles
    # twice as large hold them whole.
    import cv2
    from photos import group

    for n, frame, face_px in ((20, (1280, 1024), 180), (6, (1920, 1080), 48), (6, (4000, 3000), 400)):
        image, boxes = group(n, frame=frame, face_px=face_px, pad=0.15)
        photo, out = tmp_path / f"{frame[0]}.png", tmp_path / f"{frame[0]}-emojified.png"
        cv2.imwrite(str(photo), image)
        assert main(["video", str(photo), "-o", str(out), "-q"]) == 0
        assert f": {n} face(s)" in capsys.readouterr().out
        emojified = cv2.imread(str(out))
        assert all(changed(image, emojified, box) > 0.9 for box in boxes)
        assert Emojifier(Config()).image(photo, tmp_path / "live.png") < n  # the live mirror's settings


def test_a_pyav_too_old_to_use_gets_one_line_naming_the_version_and_the_fix(monkeypatch, clip, tmp_path, capsys):
    # Raspberry Pi OS Bookworm's python3-av is 10.0 (the arm64 CI stage runs the real one).
    import types

    def models_loaded(cfg):
        raise AssertionError("the models were loaded before PyAV was checked")

    monkeypatch.setitem(sys.modules, "av", types.SimpleNamespace(__version__="10.0.0"))
    monkeypatch.setattr("edge_emojify.video.job.build_pipeline", models_loaded)  # said at once, before loading
    assert main(["video", str(clip.path), "-o", str(tmp_path / "o.mp4"), "-q"]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and f"PyAV {FLOOR} or newer, this is 10.0.0" in line and f"'av>={FLOOR}'" in line
    assert list(tmp_path.iterdir()) == []


def test_the_video_extra_asks_for_the_pyav_the_code_needs():
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["video"]
    assert f"av>={FLOOR}" in extra and MIN_PYAV == (14, 2)  # Trixie's python3-av, which .ci/run tests on
    assert _version("14.2.0") == (14, 2, 0) >= MIN_PYAV > _version("14.1.1") and _version("15.0.0rc1") > MIN_PYAV


def test_default_output_names_and_folder_rules(tmp_path):
    clip = tmp_path / "a.MOV"
    clip.write_bytes(b"")
    assert plan(clip, None) == [(clip, tmp_path / "a-emojified.mov")]
    odd = tmp_path / "b.m4v"
    odd.write_bytes(b"")
    assert plan(odd, None) == [(odd, tmp_path / "b-emojified.mp4")]
    assert plan(tmp_path, tmp_path / "out")[1] == (odd, tmp_path / "out" / "b.mp4")


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_emojify", "video", *args, "-q"], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, **kwargs)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("edge-emojify: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_bad_inputs_get_one_line_and_exit_2_and_leave_nothing(tmp_path, clip):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    one_line_error(run_cli(str(text), "-o", str(tmp_path / "a.mp4")), str(text), "not a video")
    one_line_error(run_cli(str(tmp_path / "missing.mp4")), "does not exist")
    # A file with sound and no picture.
    import av

    tone = tmp_path / "tone.m4a"
    with av.open(str(tone), "w") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    one_line_error(run_cli(str(tone), "-o", str(tmp_path / "b.mp4")), str(tone), "no video stream")
    # A codec no decoder here knows: an AVI whose codec tag was changed to one that does not exist.
    avi = make_clip(tmp_path / "odd.avi", frames=3, audio=False, codec="mpeg4").path
    avi.write_bytes(avi.read_bytes().replace(b"FMP4", b"ZZZZ"))
    one_line_error(run_cli(str(avi), "-o", str(tmp_path / "c.mp4")), str(avi), "cannot be decoded")
    # An output that cannot be written (its folder is a file) and a suffix nothing here writes.
    one_line_error(run_cli(str(clip.path), "-o", str(text / "out.mp4")), "choose another -o")
    one_line_error(run_cli(str(clip.path), "-o", str(tmp_path / "out.gif")), "must end in")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["notes.mp4", "tone.m4a", "odd.avi"])


def test_a_full_disk_ends_in_one_line_and_no_half_written_file(tmp_path, clip):
    def small_disk() -> None:  # the file-size limit fails writes past 64 KiB with EFBIG, like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    out = tmp_path / "out" / "big.mp4"
    out.parent.mkdir()
    result = run_cli(str(clip.path), "-o", str(out), preexec_fn=small_disk)
    one_line_error(result, str(out), "disk is full")
    assert list(out.parent.iterdir()) == []


def test_ctrl_c_leaves_no_half_written_file(tmp_path, clip):
    cfg = video_config(Config())
    pipeline = build_pipeline(cfg)
    calls = {"n": 0}
    real = pipeline.process

    def interrupted(frame):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt
        return real(frame)

    pipeline.process = interrupted
    out = tmp_path / "o.mp4"
    with pytest.raises(KeyboardInterrupt):
        Emojifier(cfg, pipeline).video(clip.path, out, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_the_output_gets_the_usual_file_mode(tmp_path, clip):
    out = tmp_path / "o.mp4"
    old = os.umask(0o022)
    try:
        assert main(["video", str(clip.path), "-o", str(out), "-q"]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_progress_shows_frames_rate_and_real_time_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = Progress("clip.mp4", 10, quiet=False)
    progress._start -= 1.0  # a second of work so far
    progress._shown -= 1.0
    for i in range(10):
        progress.update((i + 1) / 30)
    progress.close()
    shown = terminal.getvalue()
    assert "clip.mp4" in shown and "10/10" in shown and "frame/s" in shown and "x real time" in shown
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    progress = Progress("clip.mp4", 10, quiet=True)
    progress.update(0.1)
    progress.close()
    assert quiet.getvalue() == ""


def test_the_mark_helper_finds_the_corner():
    image = np.full((100, 160, 3), 110, np.uint8)
    image[-MARK:, :MARK] = (0, 0, 255)
    assert red_corner(image) == (1, 0)


@pytest.mark.parametrize("size", [(64, 48), (38, 30)])  # 30 rows: the chroma planes are not whole rows of 38
def test_converting_only_what_was_drawn_gives_the_i420_of_the_whole_drawn_picture(size):
    import cv2

    rng = np.random.default_rng(1)
    w, h = size
    before = rng.integers(0, 256, (h, w, 3), np.uint8)
    drawn = before.copy()
    rects = [(3, 5, 20, 17), (w - 9, h - 7, w, h), (0, 0, 1, 1), (15, 10, 15, 30)]  # odd edges, borders, empty
    for x0, y0, x1, y1 in rects:
        drawn[y0:y1, x0:x1] = rng.integers(0, 256, (y1 - y0, x1 - x0, 3), np.uint8)
    decoded = cv2.cvtColor(before, cv2.COLOR_BGR2YUV_I420)
    assert np.array_equal(patch_i420(decoded, drawn, rects), cv2.cvtColor(drawn, cv2.COLOR_BGR2YUV_I420))
    # What lies outside every rectangle is the decoded planes, untouched.
    kept = cv2.cvtColor(before, cv2.COLOR_BGR2YUV_I420)
    assert np.array_equal(patch_i420(kept.copy(), drawn, []), kept)
    assert not np.array_equal(patch_i420(kept.copy(), drawn, rects[:1]), cv2.cvtColor(drawn, cv2.COLOR_BGR2YUV_I420))


def test_a_pyav_that_cannot_wrap_4_2_0_writes_the_same_pictures(clip, tmp_path, monkeypatch):
    # A PyAV that cannot wrap a 4:2:0 array without copying it: the writer copies instead, same result.
    import av

    wrapped, copied = tmp_path / "wrapped.mp4", tmp_path / "copied.mp4"
    assert main(["video", str(clip.path), "-o", str(wrapped), "-q"]) == 0

    tried = []

    def too_old(array, format="rgb24", width=0):
        tried.append(format)
        raise ValueError(f"Conversion from numpy array with format `{format}` is not yet supported")

    real = av.VideoFrame

    def frames_made_by(wrap):  # PyAV's own VideoFrame can be neither patched (14) nor subclassed (18)
        return type("VideoFrame", (), {"from_numpy_buffer": staticmethod(wrap),
                                       "from_ndarray": staticmethod(real.from_ndarray)})

    monkeypatch.setattr(av, "VideoFrame", frames_made_by(too_old))
    assert main(["video", str(clip.path), "-o", str(copied), "-q"]) == 0
    assert tried == ["yuv420p"]  # asked once, then copied for every picture
    (a, times_a, _), (b, times_b, _) = read_video(wrapped), read_video(copied)
    assert times_a == times_b and len(a) == len(clip.times)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    # One that wraps it with the planes laid out otherwise is caught on the first picture.
    def swapped(array, format="rgb24", width=0):
        h = array.shape[0] * 2 // 3
        chroma = array[h:].reshape(2, -1)
        return real.from_ndarray(np.concatenate([array[:h].ravel(), chroma[1], chroma[0]])
                                          .reshape(array.shape), format=format)

    monkeypatch.setattr(av, "VideoFrame", frames_made_by(swapped))
    checked = tmp_path / "checked.mp4"
    assert main(["video", str(clip.path), "-o", str(checked), "-q"]) == 0
    assert all(np.array_equal(x, y) for x, y in zip(a, read_video(checked)[0], strict=True))


def test_the_speed_baseline_keeps_the_sound_that_comes_before_the_first_picture(clip, tmp_path):
    # A decoder with frame threads hands out its first picture some packets late (more so on a Pi's
    # four cores), so audio comes first; the plain transcode that video.bench compares with keeps it.
    from edge_emojify.video.bench import transcode

    frames, _, _ = transcode(clip.path, tmp_path / "plain.mp4")
    assert frames == len(clip.times)
    np.testing.assert_array_equal(read_audio(tmp_path / "plain.mp4"), read_audio(clip.path))


def test_the_video_benchmark_prints_speed_and_cpu_time_against_the_plain_transcode(capsys):
    from edge_emojify.video import bench

    assert bench.main(["--seconds", "0.5", "--faces", "1", "--face-px", "120", "--rounds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["round 1", "round 2"]  # each pair back to back
    assert all("transcode" in line and "emojify" in line and "x real time" in line for line in lines[:2])
    assert lines[2].startswith("clip: generated, 1 faces of 120 px, 15 frames") and "median of 2 round(s)" in lines[2]
    for line in lines[3:5]:
        assert "ms/frame" in line and "x real time (range" in line and "cpu" in line
    assert lines[5].startswith("analysis and cover cost") and "coverage: 15 of 15 frames had faces" in lines[5]
