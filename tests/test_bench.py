"""``edge-emojify bench``: the figures it prints (never judged as times: this machine is shared)."""

from __future__ import annotations

import numpy as np

from edge_emojify import bench
from edge_emojify.bench import idle_cost, steadiness_by_faces
from edge_emojify.cli import main
from edge_emojify.config import Config, override


def test_bench_prints_every_stage_cpu_time_idle_cost_and_the_screen_path(capsys, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    assert main(["bench", "--frames", "12", "--faces", "2", "--threads", "2", "--screens"]) == 0
    out = capsys.readouterr().out
    assert "2 thread(s)" in out.splitlines()[0]
    for row in ("detect", "emotion", "track", "render", "frame", "cpu", "cpu-loop", "cpu-span"):
        assert any(line.split()[:1] == [row] and len(line.split()) == 4 for line in out.splitlines()), row
    assert "p95/p50" in out and "idle frames (no face):" in out
    assert "screen path: render + pygame" in out
    for size in ("800x480", "1280x720", "1920x1080"):
        assert any(line.split()[:2] == ["cpu", size] for line in out.splitlines()), size
    assert any(line.split()[:3] == ["sdl", "at", "640x480"] for line in out.splitlines())
    assert any(line.split()[:5] == ["sdl", "at", "640x480,", "own", "thread"] for line in out.splitlines())


def test_idle_cost_compares_frames_with_nobody_tracked_and_with_one_face_in_wall_and_cpu_time():
    samples = {"frame": [2.0, 2.0, 5.0, 6.0, 10.0], "cpu": [3.0, 3.0, 7.0, 9.0, 20.0],
               "cpu-span": [1.0, 2.0, 7.0, 6.0, 20.0],
               "faces": [0, 0, 0, 1, 2], "tracked": [0, 0, 1, 1, 2]}  # the third frame looks for a lost face
    assert idle_cost(samples) == ("idle frames (no face): 2, frames with one face: 1; idle/face: "
                                  "frame 2.00 against 6.00 ms, 0.33; cpu 3.00 against 9.00 ms, 0.33; "
                                  "cpu-span 1.50 against 6.00 ms, 0.25")
    nobody_idle = {"frame": [1.0], "faces": [1], "tracked": [1]}
    assert idle_cost(nobody_idle) == "idle frames (no face): 0, frames with one face: 1"


def test_steadiness_is_also_told_among_frames_that_found_as_many_faces():
    # One face: 19 frames of 2 ms and a hitch of 4 ms; two faces: 20 frames of 5 ms; three: too few to tell.
    samples = {"frame": [2.0] * 19 + [4.0] + [5.0] * 20 + [9.0], "faces": [1] * 20 + [2] * 20 + [3]}
    assert steadiness_by_faces(samples) == "p95/p50 by faces found: 1: 1.05 (20 frames), 2: 1.00 (20 frames)"
    assert steadiness_by_faces(samples, least=50) == "p95/p50 by faces found: too few frames of any count"


def test_an_empty_room_is_all_idle_frames(capsys):
    assert main(["bench", "--frames", "20", "--faces", "0"]) == 0
    out = capsys.readouterr().out
    assert "idle frames (no face): 20, frames with one face: 0" in out


def test_paced_frames_are_handed_over_at_the_sources_rate(capsys, monkeypatch):
    dues: list[float] = []
    monkeypatch.setattr(bench, "_sleep_until", dues.append)  # when each frame falls due, not a wait
    assert main(["bench", "--frames", "12", "--faces", "1", "--paced"]) == 0
    out = capsys.readouterr().out
    assert "paced at 30 fps" in out.splitlines()[0] and "at the source's rate (33.3 ms a frame): " in out
    steps = [b - a for a, b in zip(dues, dues[1:], strict=False)]
    assert len(dues) == 10 + 12 and all(abs(step - 1 / 30) < 1e-9 for step in steps)  # warm-up frames too
    dues.clear()
    assert main(["bench", "--frames", "12", "--faces", "1"]) == 0
    assert len(set(dues)) == 1  # unpaced: every frame due at once


def test_the_samples_shots_and_its_start_over_are_cuts_as_in_the_live_mirror():
    # The bundled sample has 90 frames in four shots (frames 22, 44 and 66 start the next one) and
    # the 91st starts it over: at each, its faces must not carry over.
    from edge_emojify.config import Config

    frames = bench.load_frames(Config(), 95, 0)
    assert [i for i, f in enumerate(frames) if f.cut] == [22, 44, 66, 90]


def test_bench_counts_the_faces_the_emotion_model_reads(capsys):
    # Two faces at 30 fps, emotion.max_rate 15: about one reading a frame, not two. The timed run
    # starts as a new scene, so the second face may take a few frames to be found (and is read at once).
    assert main(["bench", "--frames", "60", "--faces", "2"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "read by the emotion model" in line)
    faces, read = float(line.split()[2]), float(line.split("(")[1].split()[0])
    assert faces >= 1.5 and abs(read - faces / 2) <= 0.15


def test_after_the_warm_up_each_face_has_one_track():
    # The timed frames start the clip over: without a cut there, the warm-up's two faces, a moment
    # ago elsewhere, started second tracks beside them that lived for half a second.
    cfg = Config()
    samples = bench.time_pipeline(cfg, bench.load_frames(cfg, 30, 640, faces=2))
    assert max(samples["tracked"]) == 2 and samples["faces"][-10:] == [2] * 10


def test_the_cpu_over_the_run_holds_every_frames_cpu_and_what_ran_between_frames():
    # Paced, the worker's passes run between frames, in no frame's own CPU time; the run's figure has them.
    cfg = Config()
    samples = bench.time_pipeline(cfg, bench.load_frames(cfg, 12, 640, faces=1), paced=True)
    spans = samples["cpu-span"]
    assert len(spans) == len(samples["cpu"]) and sum(spans) >= sum(samples["cpu"]) > 0
    run = float(np.mean(spans))
    assert f"CPU over the run: {run:.2f} ms a frame" in bench.report("x", samples)


def test_the_boxes_shown_are_compared_with_every_face_read_on_every_frame():
    # Three faces: the default three crops a frame read each on every frame, as the reference does;
    # one crop a frame leaves two faces where the tracker predicts them, off by some of their width.
    cfg = Config()
    frames = bench.load_frames(cfg, 30, 640, faces=3)
    same = bench.coverage(cfg, frames)
    assert "(detector.max_crops 3 against 0): centres 0.00 % of the face's width apart on average, " \
           "0.00 % at p95" in same
    faces = int(same.split("; ")[-1].split()[2])
    assert faces >= 2 * 30 and same.endswith(f"0 of {faces} faces bare")
    one = bench.coverage(override(cfg, ["detector.max_crops=1"]), frames)
    assert float(one.split("centres ")[1].split()[0]) > 0.5


def test_paced_frames_are_checked_against_the_period_they_must_keep():
    # p95 of 18 x 2, 10 and 40 ms: 10 + 0.05 x 30 = 11.5 ms, 34.5 % of 33.3; the 40 ms frame overran.
    assert bench.deadline([2.0] * 18 + [10.0, 40.0], 1000 / 30) == (
        "at the source's rate (33.3 ms a frame): 1 of 20 frames took longer; the p95 frame takes 34.5 % of the period")
