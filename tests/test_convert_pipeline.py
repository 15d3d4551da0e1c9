"""train → convert → evaluate end to end on a tiny generated dataset, on the CPU."""

from __future__ import annotations

import csv
import hashlib
import json
import os

import numpy as np
import pytest
from tinyfer import write_folder

pytest.importorskip("keras", reason="the convert extra (tensorflow-cpu, keras) is not installed")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from convert import train

    root = tmp_path_factory.mktemp("tiny")
    data = write_folder(root / "fer", per_class=24, test_per_class=6)
    out = root / "run"
    common = ["--data", str(data), "--out", str(out), "--batch", "16", "--widths", "8,16",
              "--val-fraction", "0.15", "--lr", "0.01"]
    assert train.main(common + ["--epochs", "3"]) == 0
    assert train.main(common + ["--epochs", "5", "--resume"]) == 0  # two more epochs on the checkpoint
    return root, data, out


def test_training_writes_checkpoints_log_and_curve(run):
    _, _, out = run
    for name in ("best.keras", "last.keras", "log.csv", "curve.png", "config.json", "state.json"):
        assert (out / name).is_file(), name
    with (out / "log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4]  # resumed, not restarted
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 5
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])  # it learns


def test_fine_tuning_starts_from_given_weights(run):
    import keras

    from convert import train

    root, data, out = run
    tuned = root / "tuned"
    assert train.main(["--data", str(data), "--out", str(tuned), "--batch", "16", "--widths", "8,16",
                       "--epochs", "1", "--lr", "0", "--init-from", str(out / "best.keras")]) == 0
    before = keras.models.load_model(out / "best.keras").get_layer("b0c0").get_weights()[0]
    after = keras.models.load_model(tuned / "last.keras").get_layer("emotion_cnn").get_layer("b0c0").get_weights()[0]
    assert np.allclose(before, after, atol=1e-4)  # learning rate 0: the weights are the ones given


def test_distillation_trains_the_student_and_leaves_the_teacher_frozen(run):
    import keras

    from convert import train

    root, data, out = run
    student = root / "student"
    common = ["--data", str(data), "--out", str(student), "--batch", "16", "--widths", "8,16",
              "--val-fraction", "0.15", "--lr", "0.01", "--teacher", str(out / "best.keras"), "--teacher-mirror",
              "--mixup", "0.5", "--kd-weight", "1"]
    assert train.main(common + ["--epochs", "2"]) == 0
    assert train.main(common + ["--epochs", "3", "--resume"]) == 0
    with (student / "log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2] and {"accuracy", "val_accuracy"} <= set(rows[0])
    wrapper = keras.models.load_model(student / "last.keras")
    given = keras.models.load_model(out / "best.keras").get_weights()
    kept = wrapper.get_layer("teacher").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(given, kept, strict=True))
    first = wrapper.get_layer("emotion_cnn").get_layer("b0c0").get_weights()[0]
    assert not np.allclose(first, given[0])  # the student is its own net, trained
    assert keras.models.load_model(student / "best.keras").output_shape == (None, 7)
    [teacher] = json.loads((student / "config.json").read_text())["teachers"]  # the card can rebuild the chain
    assert teacher["sha256"] == hashlib.sha256((out / "best.keras").read_bytes()).hexdigest()
    assert teacher["command"] == json.loads((out / "config.json").read_text())["command"]
    scored = json.loads((student / "config.json").read_text())["teachers_validation"]
    assert scored["mirror"] and scored["each"] == [scored["together"]]  # one teacher is its own average


def test_teacher_must_not_have_seen_the_validation_faces(run):
    from convert import ConvertError, train

    root, data, out = run
    student = root / "other_seed"
    common = ["--data", str(data), "--out", str(student), "--batch", "16", "--widths", "8,16", "--epochs", "1",
              "--val-fraction", "0.15", "--teacher", str(out / "best.keras")]
    with pytest.raises(ConvertError, match="another validation split.*--split-seed 1"):
        train.main(common + ["--seed", "3"])  # seed 3 alone would also move the validation split
    assert train.main(common + ["--seed", "3", "--split-seed", "1"]) == 0
    ours, theirs = (json.loads((d / "config.json").read_text()) for d in (student, out))
    assert ours["validation_sha256"] == theirs["validation_sha256"] and ours["seed"] != theirs["seed"]


def test_teacher_from_before_the_split_hash_is_checked_by_seed_and_fraction(tmp_path):
    from convert import ConvertError
    from convert.train import check_teacher_split

    teacher = tmp_path / "old" / "best.keras"
    teacher.parent.mkdir()
    (teacher.parent / "config.json").write_text(json.dumps({"seed": "2", "val_fraction": "0.1"}))
    check_teacher_split(teacher, "any hash", split_seed=2, val_fraction=0.1)  # same split: accepted
    with pytest.raises(ConvertError, match="--split-seed 2 --val-fraction 0.1"):
        check_teacher_split(teacher, "any hash", split_seed=1, val_fraction=0.1)


def peaked_teachers() -> list:
    """Two small untrained nets with peaked scores, so that a face and its mirror image score differently."""
    from convert.model import build_classifier

    teachers = [build_classifier((4, 8)), build_classifier((6, 8), stem_stride=2)]
    for teacher in teachers:
        kernel, bias = teacher.get_layer("scores").get_weights()
        teacher.get_layer("scores").set_weights([kernel * 50, bias])
    return teachers


def test_several_teachers_act_as_their_average():
    from convert.model import build_classifier, distillation_model

    teachers = peaked_teachers()
    wrapper = distillation_model(build_classifier((4, 8)), teachers, seed=0)
    faces = np.random.default_rng(1).integers(0, 256, (5, 48, 48, 1)).astype("float32")
    out = wrapper.predict(faces, verbose=0)  # inference: no augmentation, so the teachers see these faces
    expected = np.mean([t.predict(faces, verbose=0) for t in teachers], axis=0)
    assert out.shape == (5, 14) and np.allclose(out[:, 7:], expected, atol=1e-5)
    mirrored = distillation_model(build_classifier((4, 8)), teachers, seed=0, mirror=True).predict(faces, verbose=0)
    views = [t.predict(f, verbose=0) for t in teachers for f in (faces, faces[:, :, ::-1])]
    assert np.allclose(mirrored[:, 7:], np.mean(views, axis=0), atol=1e-5)  # each teacher, face and mirror image
    assert not np.allclose(mirrored[:, 7:], expected, atol=1e-3)


def test_teachers_are_scored_on_validation_as_the_student_will_see_them():
    from convert.model import build_classifier, distillation_model
    from convert.train import teachers_on_validation

    teachers = peaked_teachers()
    rng = np.random.default_rng(2)
    faces = rng.integers(0, 256, (40, 48, 48, 1)).astype("float32")
    labels = rng.integers(0, 7, 40)

    def accuracy(group: list, mirror: bool) -> float:  # the targets the distillation wrapper gives the student
        wrapper = distillation_model(build_classifier((4, 8)), group, seed=0, mirror=mirror)
        return round(float((wrapper.predict(faces, verbose=0)[:, 7:].argmax(1) == labels).mean()), 4)

    for mirror in (False, True):
        report = teachers_on_validation(teachers, faces, labels, mirror)
        assert report["each"] == [accuracy([t], mirror) for t in teachers]
        assert report["together"] == accuracy(teachers, mirror)
    together = np.mean([t.predict(faces, verbose=0) for t in teachers], axis=0).argmax(1)
    assert teachers_on_validation(teachers, faces, together, mirror=False)["together"] == 1.0


def test_mixup_blends_each_face_with_its_neighbour_only_in_training():
    from convert.model import MixFaces

    faces = np.random.default_rng(0).integers(0, 256, (6, 48, 48, 1)).astype("float32")
    mix = MixFaces(0.5, seed=3)
    assert np.array_equal(np.asarray(mix(faces)), faces)  # inference: untouched
    out = np.asarray(mix(faces, training=True)).reshape(6, -1)
    a, b = faces.reshape(6, -1), np.roll(faces, 1, axis=0).reshape(6, -1)
    weight = ((out - b) * (a - b)).sum(1) / ((a - b) ** 2).sum(1)  # least squares: out = w·a + (1 − w)·b
    assert np.allclose(out, weight[:, None] * a + (1 - weight[:, None]) * b, atol=1e-2)
    assert ((weight >= 0) & (weight <= 1)).all() and weight.std() > 0.05


def test_mixup_without_a_teacher_is_one_line_error(tmp_path):
    from convert import ConvertError, train

    with pytest.raises(ConvertError, match="--mixup .* --kd-weight 1"):
        train.main(["--data", str(tmp_path), "--out", str(tmp_path / "run"), "--mixup", "0.5"])


def test_distillation_loss_matches_its_formula():
    from convert.model import DistillationLoss

    rng = np.random.default_rng(0)
    logits_s, logits_t = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    labels = np.eye(7)[rng.integers(0, 7, 5)]
    s, t = softmax(logits_s), softmax(logits_t)
    temp, weight, smooth = 3.0, 0.6, 0.1
    smoothed = labels * (1 - smooth) + smooth / 7
    hard = -(smoothed * np.log(s)).sum(axis=1)
    st, tt = softmax(logits_s / temp), softmax(logits_t / temp)
    kl = (tt * (np.log(tt) - np.log(st))).sum(axis=1)
    expected = ((1 - weight) * hard + weight * temp**2 * kl).mean()
    loss = DistillationLoss(weight, temp, smooth)
    y_pred = np.concatenate([s, t], axis=1).astype("float32")
    assert float(loss(labels.astype("float32"), y_pred)) == pytest.approx(expected, rel=1e-4)
    same = np.concatenate([s, s], axis=1).astype("float32")  # a student equal to its teacher: CE alone
    assert float(loss(labels.astype("float32"), same)) == pytest.approx((1 - weight) * hard.mean(), rel=1e-4)


def test_missing_teacher_is_one_line_error(tmp_path):
    from convert import ConvertError, train

    with pytest.raises(ConvertError, match="--teacher .* not found"):
        train.main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--teacher", str(tmp_path / "no.keras")])


def test_model_input_is_raw_pixels_with_normalisation_inside(run):
    import keras

    model = keras.models.load_model(run[2] / "best.keras")
    assert model.layers[1].name == "normalise"
    assert model.input_shape == (None, 48, 48, 1)


def test_int8_tflite_agrees_with_keras_and_card_records_it(run):
    import keras

    from convert import convert_tflite
    from convert.fer_data import load

    root, data, out = run
    tflite = root / "models" / "emotion.tflite"
    assert convert_tflite.main(["--keras", str(out / "best.keras"), "--data", str(data),
                                "--out", str(tflite), "--calibration", "50"]) == 0
    test = load(data).split(("PublicTest", "PrivateTest"))
    float_probs = keras.models.load_model(out / "best.keras").predict(
        test.images[..., None].astype("float32"), verbose=0)
    int8_probs = convert_tflite.tflite_predict(tflite, test.images)
    assert np.abs(float_probs - int8_probs).max() < 0.06
    assert (float_probs.argmax(1) == int8_probs.argmax(1)).mean() >= 0.9
    card = json.loads(tflite.with_suffix(".json").read_text())
    assert card["labels"][0] == "angry" and card["input"]["dtype"] == "int8"
    assert card["conversion"]["parity"]["test_images"] == len(test)
    assert card["training"]["params"] > 0

    from edge_emojify.emotion import EmotionModel

    app_probs = EmotionModel(tflite).predict_crops(test.images)  # the app reads it through its card
    assert np.allclose(app_probs, int8_probs, atol=1e-6)


def test_evaluate_both_kinds_into_the_card(run):
    from convert import evaluate

    root, data, out = run
    tflite = root / "models" / "emotion.tflite"
    if not tflite.exists():
        pytest.skip("conversion test did not run")
    card = tflite.with_suffix(".json")
    for model in (out / "best.keras", tflite):
        assert evaluate.main(["--model", str(model), "--data", str(data), "--out", str(root / "eval"),
                              "--card", str(card), "--latency-runs", "20"]) == 0
    recorded = json.loads(card.read_text())["evaluation"]
    for kind in ("float", "int8"):
        acc = recorded[kind]["accuracy"]
        assert set(acc) == {"PublicTest", "PrivateTest", "all"} and 0 <= acc["all"] <= 1
        assert set(recorded[kind]["per_class"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise",
                                                   "neutral"}
    assert recorded["int8"]["latency_per_face"]["p50_ms"] > 0
    assert (root / "eval" / "confusion_int8.png").stat().st_size > 1000


def test_model_card_renders_from_the_json(run):
    from convert.model_card import render

    root = run[0]
    card_path = root / "models" / "emotion.json"
    if not card_path.exists():
        pytest.skip("conversion test did not run")
    card = json.loads(card_path.read_text())
    text = render(card)
    assert "| **int8 (shipped)** |" in text and "python -m convert.train" in text and "label smoothing" in text
    student = root / "student" / "config.json"
    if not student.exists():
        pytest.skip("distillation test did not run")
    card["training"] = json.loads(student.read_text())
    text = render(card)
    teacher_cmd, student_cmd = card["training"]["teachers"][0]["command"], card["training"]["command"]
    assert "Distilled from a trained teacher (each scoring the face and its mirror image)" in text
    assert "on mixup blends of two faces, weight ~ Beta(0.5, 0.5)" in text
    assert "label smoothing" not in text  # --kd-weight 1: the labels play no part
    assert text.index(teacher_cmd) < text.index(student_cmd)
