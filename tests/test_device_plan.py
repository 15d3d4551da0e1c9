"""The lent-GPU path, run here: packed data, time-budgeted training, staged plans, results back.

The GPU machine has JAX but neither TensorFlow nor Keras nor matplotlib, so the end-to-end test
runs the plan in a virtual environment built like it (``.ci/run`` makes ``.venv-device``: JAX on
the CPU, the machine's other packages, and the Keras wheels to carry) and brings the results back
into this environment, where TensorFlow converts them.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from tinyfer import write_csv, write_folder

from convert import ConvertError
from convert.fer_data import DatasetError, load, load_csv, load_folder, save_npz, stratified_split
from convert.run_plan import read_plan

REPO = Path(__file__).resolve().parents[1]
DEVICE_VENV = Path(os.environ.get("EDGE_EMOJIFY_DEVICE_VENV", REPO / ".venv-device"))


def test_packed_dataset_holds_the_very_faces_of_the_folder(tmp_path):
    data = write_folder(tmp_path / "fer")
    folder = load_folder(data, splits=("train",))
    save_npz(folder, tmp_path / "train.npz", root=data)
    packed = load(tmp_path / "train.npz")
    assert np.array_equal(packed.images, folder.images) and np.array_equal(packed.labels, folder.labels)
    assert packed.paths == folder.paths and list(packed.usage) == list(folder.usage)  # FER+ votes still align
    _, val = stratified_split(packed.labels, 0.1, 2)
    assert packed.images[val].tobytes() == load(data).split("Training").images[val].tobytes()  # same split hash


def test_the_headers_every_jpeg_shares_are_packed_once_and_older_packs_still_load(tmp_path):
    data = write_folder(tmp_path / "fer", suffix=".jpg")
    folder = load_folder(data, splits=("train",))
    jpegs = [(data / rel).read_bytes() for rel in folder.paths]
    save_npz(folder, tmp_path / "train.npz", root=data)
    with np.load(tmp_path / "train.npz") as z:
        fields = dict(z)
    head, tail = fields["head"].tobytes(), fields["tail"].tobytes()
    assert len(head) > 300 and all(j.startswith(head) and j.endswith(tail) for j in jpegs)  # the JPEG headers
    assert fields["files"].size == sum(map(len, jpegs)) - len(jpegs) * (len(head) + len(tail))
    # A pack written before the headers were shared: each file whole, no head or tail.
    whole = {k: v for k, v in fields.items() if k not in ("head", "tail")}
    whole["files"] = np.frombuffer(b"".join(jpegs), np.uint8)
    whole["offsets"] = np.cumsum([0] + [len(j) for j in jpegs], dtype=np.int64)
    np.savez(tmp_path / "old.npz", **whole)
    assert np.array_equal(load(tmp_path / "old.npz").images, folder.images)


def test_faces_from_the_csv_are_packed_losslessly(tmp_path):
    path, images, _ = write_csv(tmp_path / "fer2013.csv")
    save_npz(load_csv(path), tmp_path / "all.npz")
    assert np.array_equal(load(tmp_path / "all.npz").images, images)


def test_packed_file_problems_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(DatasetError, match="does not exist; make it with python -m convert.pack_device"):
        load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="is not a packed FER2013 file"):
        load(tmp_path / "junk.npz")
    data = write_folder(tmp_path / "fer")
    save_npz(load_folder(data, splits=("train",)), tmp_path / "train.npz", root=data)
    with np.load(tmp_path / "train.npz") as z:
        fields = {**z, "pixels_sha256": np.asarray("0" * 64)}  # as if packed by another image decoder
    np.savez(tmp_path / "other.npz", **fields)
    load(tmp_path / "other.npz")
    assert "gives other pixels than the one that packed" in capsys.readouterr().out


def _fake_epochs(budget, seconds_per_epoch: float, epochs: int) -> list[float]:
    """Drive a TimeBudget callback through epochs of known length; return the rate of each epoch."""
    now = [0.0]
    budget.clock = lambda: now[0]
    budget.set_model(SimpleNamespace(optimizer=SimpleNamespace(learning_rate=None), stop_training=False))
    rates = []
    for epoch in range(epochs):
        budget.on_epoch_begin(epoch)
        rates.append(budget.model.optimizer.learning_rate)
        now[0] += seconds_per_epoch
        budget.on_epoch_end(epoch)
        if budget.model.stop_training:
            break
    return rates


def test_time_budget_anneals_over_the_time_spent_and_stops_before_the_end():
    pytest.importorskip("keras")
    from convert.time_budget import TimeBudget

    budget = TimeBudget(minutes=1, lr=1e-3, warmup_epochs=2)
    rates = _fake_epochs(budget, seconds_per_epoch=5, epochs=1000)
    assert len(rates) == 12 and budget.spent == 60  # 12 epochs of 5 s fill the minute, a 13th would not fit
    assert rates[0] < rates[1] == pytest.approx(1e-3)  # warm-up
    assert all(a >= b for a, b in zip(rates[1:], rates[2:], strict=False))  # then only down
    assert rates[-1] < 0.05 * 1e-3  # the last epochs run at the lowest rate
    resumed = TimeBudget(minutes=1, lr=1e-3, warmup_epochs=2, spent=55)  # a resumed run goes on from its time
    assert len(_fake_epochs(resumed, seconds_per_epoch=5, epochs=1000)) == 1


@pytest.mark.slow
def test_minutes_run_stops_on_its_budget_and_resumes_only_with_it(tmp_path):
    pytest.importorskip("keras")
    from convert import train

    data = write_folder(tmp_path / "fer")
    common = ["--data", str(data), "--out", str(tmp_path / "run"), "--batch", "16", "--widths", "8,16",
              "--epochs", "100000"]
    with pytest.raises(ConvertError, match="--minutes 0.0 must be positive"):
        train.main(common + ["--minutes", "0"])
    assert train.main(common + ["--minutes", "0.05"]) == 0
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert 1 <= state["epochs_done"] < 100000 and state["seconds"] > 0
    with pytest.raises(ConvertError, match="was started with --minutes 0.05: resume it with the same value"):
        train.main(common + ["--minutes", "1", "--resume"])


def test_a_rehearsal_subsample_does_not_refuse_a_teacher_of_the_whole_set(tmp_path, capsys):
    pytest.importorskip("keras")
    from convert import train
    from convert.model import build_classifier

    teacher = tmp_path / "teacher" / "best.keras"
    teacher.parent.mkdir()
    build_classifier([8, 16]).save(teacher)
    (teacher.parent / "config.json").write_text(json.dumps({"validation_sha256": "of the whole set", "seed": "1"}))
    data = write_folder(tmp_path / "fer")
    assert train.main(["--data", str(data), "--out", str(tmp_path / "student"), "--widths", "8,16", "--batch", "16",
                       "--epochs", "1", "--limit", "40", "--teacher", str(teacher)]) == 0
    assert "so the teachers' split is not checked" in capsys.readouterr().out
    with pytest.raises(ConvertError, match="another validation split"):  # without --limit the check holds
        train.main(["--data", str(data), "--out", str(tmp_path / "student2"), "--widths", "8,16",
                    "--epochs", "1", "--teacher", str(teacher)])


@pytest.mark.parametrize("plan, message", [
    ('data = "d.npz"\n[[stages]]\nminutes = 1\nruns.a = "--teacher {b}"\n', "names {b}, which is not a run of an"),
    ('data = "d.npz"\n[[stages]]\nminutes = 1\nruns.a = "--minutes 3"\n', "sets --minutes, --out or --data"),
    ('data = "d.npz"\n[[stages]]\nruns.a = ""\n', "is not valid (KeyError"),
    ('data = "d.npz"\n[[stages]]\nminutes = 1\nruns.a = ""\n[[stages]]\nminutes = 1\nruns.a = ""\n',
     "run a appears in two stages"),
    ('data = "d.npz"\n[[stages]]\nminutes = 1\nruns = {}\n', "stage 1 has no runs"),
    ("data = \n", "is not valid (TOMLDecodeError"),
])
def test_bad_plans_are_refused_before_anything_runs(tmp_path, plan, message):
    (tmp_path / "plan.toml").write_text(plan)
    with pytest.raises(ConvertError, match=message.replace("(", r"\(").replace("{", r"\{")):
        read_plan(tmp_path / "plan.toml")


def test_plan_longer_than_the_device_allows_is_refused(tmp_path):
    from convert import run_plan

    (tmp_path / "plan.toml").write_text('data = "d.npz"\n[[stages]]\nminutes = 9\nruns.a = ""\n')
    with pytest.raises(ConvertError, match="needs 10 min .* over --budget-minutes 9.5: shorten its stages"):
        run_plan.main([str(tmp_path / "plan.toml"), "--out", str(tmp_path / "out")])


def test_a_failed_run_skips_the_runs_that_need_it_and_the_rest_still_comes_back(tmp_path, capsys):
    from convert import run_plan

    (tmp_path / "d.npz").write_bytes(b"")
    (tmp_path / "plan.toml").write_text(
        f'data = "{tmp_path / "d.npz"}"\n[[stages]]\nminutes = 1\nruns.a = "--no-such-flag"\n'
        '[[stages]]\nminutes = 1\nruns.b = "--teacher {a}"\n')
    assert run_plan.main([str(tmp_path / "plan.toml"), "--out", str(tmp_path / "out"),
                          "--runs", str(tmp_path / "runs")]) == 1
    out = capsys.readouterr().out
    assert "[a] failed (exit 2)" in out and "[b] skipped: a failed" in out and "failed: a, b" in out
    assert "unrecognized arguments: --no-such-flag" in (tmp_path / "runs" / "a" / "train.out").read_text()
    assert "[a] $ " in (tmp_path / "out" / "plan.log").read_text()  # the log comes back


@pytest.mark.slow
def test_a_stop_from_outside_still_packs_the_checkpoints_so_far(tmp_path):
    pytest.importorskip("keras")
    import signal
    import tarfile
    import time

    data = write_folder(tmp_path / "fer")
    save_npz(load_folder(data, splits=("train",)), tmp_path / "train.npz", root=data)
    (tmp_path / "plan.toml").write_text(f'data = "{tmp_path / "train.npz"}"\n[[stages]]\nminutes = 5\n'
                                        'runs.a = "--widths 8,16 --batch 16 --epochs 100000"\n')
    plan = subprocess.Popen([sys.executable, "-m", "convert.run_plan", str(tmp_path / "plan.toml"), "--out",
                             str(tmp_path / "out"), "--runs", str(tmp_path / "runs")], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(600):  # until the first checkpoint exists (the device tool's limit can come at any time)
        if (tmp_path / "runs" / "a" / "best.keras").is_file():
            break
        time.sleep(0.2)
    plan.send_signal(signal.SIGTERM)
    out, _ = plan.communicate(timeout=60)
    assert plan.returncode == 124 and "stopped from outside" in out, out
    with tarfile.open(tmp_path / "out" / "results.tar.00") as tar:
        assert "a/best.keras" in tar.getnames()


def test_card_of_a_model_trained_from_a_packed_file_says_how_to_pack_it():
    from convert.model_card import render

    card = json.loads((REPO / "models" / "emotion.json").read_text())
    card["training"] = {**card["training"], "minutes": "3.5", "teachers": [],
                        "command": "python -m convert.train --data .carry/fer2013-train.npz --minutes 3.5"}
    text = render(card)
    assert "cosine decay over 3.5 minutes of wall-clock time (`--minutes`)" in text
    commands = text.split("```sh\n")[1].splitlines()
    assert commands[0].startswith("python -m convert.pack_device --data ../shared/data/fer2013  # writes .carry/")
    assert commands[1] == card["training"]["command"]


@pytest.mark.slow
@pytest.mark.parametrize("plan", sorted((REPO / "convert" / "plans").glob("*.toml")), ids=lambda p: p.name)
def test_the_shipped_plans_rehearse_without_a_mistake(tmp_path, plan):
    pytest.importorskip("keras")
    from convert import run_plan

    data = write_folder(tmp_path / "fer")
    save_npz(load_folder(data, splits=("train",)), tmp_path / "train.npz", root=data)
    assert run_plan.main([str(plan), "--out", str(tmp_path / "out"), "--rehearse", "64",
                          "--data", str(tmp_path / "train.npz")]) == 0
    names = {name for stage in read_plan(plan).stages for name in stage.runs}
    assert {p.name for p in (tmp_path / "out" / "runs").iterdir()} == names  # a rehearsal keeps out of runs/
    for name in names:
        assert json.loads((tmp_path / "out" / "runs" / name / "state.json").read_text())["epochs_done"] == 1


def test_the_shipped_plans_are_valid_and_fit_one_device_call():
    plans = sorted((REPO / "convert" / "plans").glob("*.toml"))
    assert plans
    for path in plans:
        plan = read_plan(path)
        assert plan.minutes <= 9.5 and plan.data == ".carry/fer2013-train.npz", path


def test_a_classifier_missing_from_the_checkout_is_refused_before_the_first_stage(tmp_path):
    from convert import run_plan

    (tmp_path / "d.npz").write_bytes(b"")
    (tmp_path / "plan.toml").write_text(
        f'data = "{tmp_path / "d.npz"}"\n[[stages]]\nminutes = 1\nruns.a = ""\n'
        '[[stages]]\nminutes = 1\nruns.b = "--teacher {a} models/gone.keras"\n')
    with pytest.raises(ConvertError, match="run b needs models/gone.keras, which is not in this checkout"):
        run_plan.main([str(tmp_path / "plan.toml"), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()  # nothing started


needs_device_venv = pytest.mark.skipif(not (DEVICE_VENV / "bin" / "python").is_file(),
                                       reason="no .venv-device (made by .ci/run) to stand in for the GPU machine")


@needs_device_venv
def test_wheels_for_another_python_are_a_one_line_error(tmp_path):
    (tmp_path / "whl").mkdir()
    (tmp_path / "whl" / "optree-0.20.0-cp399-cp399-manylinux_2_28_x86_64.whl").write_bytes(b"")
    (tmp_path / "d.npz").write_bytes(b"")
    (tmp_path / "plan.toml").write_text(f'data = "{tmp_path / "d.npz"}"\n[[stages]]\nminutes = 1\nruns.a = ""\n')
    device = subprocess.run([str(DEVICE_VENV / "bin" / "python"), "-m", "convert.run_plan", str(tmp_path / "plan.toml"),
                             "--out", str(tmp_path / "out"), "--carry", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True)
    assert device.returncode == 2 and "Traceback" not in device.stderr
    assert device.stderr.startswith("error: the wheels in ") and "--python-version 3." in device.stderr
    assert len(device.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@needs_device_venv
def test_plan_trains_on_jax_without_keras_installed_and_converts_back_here(tmp_path, capsys):
    pytest.importorskip("keras")
    import keras

    from convert import convert_tflite, run_plan

    data = write_folder(tmp_path / "fer", per_class=24, test_per_class=6)
    carry = tmp_path / "carry"
    carry.mkdir()
    save_npz(load_folder(data, splits=("train",)), carry / "train.npz", root=data)
    (carry / "whl").symlink_to(DEVICE_VENV / "whl")
    # Budgets far above what a few epochs take, so the epoch caps end the runs however slow this machine is.
    common = "--widths 8,16 --batch 16 --lr 0.01 --val-fraction 0.15 --split-seed 1"
    (tmp_path / "plan.toml").write_text(
        f'data = "{carry / "train.npz"}"\n'
        f'[[stages]]\nminutes = 3\nruns.a = "{common} --seed 1 --epochs 4"\nruns.b = "{common} --seed 2 --epochs 2"\n'
        f'[[stages]]\nminutes = 3\nruns.fm = "{common} --seed 3 --epochs 2 --init-from {{a}} --teacher {{a}} {{b}} '
        f'--teacher-mirror --mixup 0.5 --kd-weight 1 --temperature 1"\n')
    device = subprocess.run(
        [str(DEVICE_VENV / "bin" / "python"), "-m", "convert.run_plan", str(tmp_path / "plan.toml"),
         "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "device-runs"), "--carry", str(carry)],
        cwd=REPO, capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert device.returncode == 0, device.stdout[-3000:] + device.stderr[-3000:]
    assert "installed keras-3.15.1" in device.stdout  # Keras came from the carried wheels
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["plan.log", "results.tar.00"]

    run_plan.main(["--unpack", str(tmp_path / "out"), "--into", str(tmp_path / "runs")])
    fm = tmp_path / "runs" / "fm"
    config = json.loads((fm / "config.json").read_text())
    together = config["teachers_validation"]["together"]  # scored under JAX before the student trained
    [summary] = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"{fm}:")]
    assert f"teachers together {together:.4f}" in summary
    assert config["backend"] == "jax" and len(config["teachers"]) == 2 and (fm / "curve.png").is_file()
    # Every run's step compiled by XLA: without it JAX runs op by op, 1 s a step on the GPU.
    assert all(json.loads((tmp_path / "runs" / name / "config.json").read_text())["xla"] for name in ("a", "b", "fm"))
    assert "--teacher " + str(tmp_path / "device-runs" / "a" / "best.keras") in config["command"]
    with (tmp_path / "runs" / "a" / "log.csv").open() as fh:
        losses = [float(row["loss"]) for row in csv.DictReader(fh)]
    assert len(losses) == 4 and losses[-1] < losses[0]  # it learnt on JAX

    tflite = tmp_path / "fm.tflite"
    assert convert_tflite.main(["--keras", str(fm / "best.keras"), "--data", str(data), "--out", str(tflite)]) == 0
    test = load(data).split(("PublicTest", "PrivateTest"))
    float_probs = keras.models.load_model(fm / "best.keras").predict(test.images[..., None].astype("float32"),
                                                                    verbose=0)
    int8_probs = convert_tflite.tflite_predict(tflite, test.images)
    assert np.abs(float_probs - int8_probs).max() < 0.06  # trained on JAX, loaded and converted on TensorFlow
