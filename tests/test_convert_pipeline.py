"""train → convert → evaluate end to end on a tiny generated dataset, on the CPU."""

from __future__ import annotations

import csv
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
    text = render(json.loads(card_path.read_text()))
    assert "| **int8 (shipped)** |" in text and "python -m convert.train" in text
