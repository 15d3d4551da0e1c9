"""The shipped int8 model is what ``convert.convert_tflite`` makes of the classifier kept beside it.

``models/training/best.keras`` is the float classifier the card names as the conversion's input;
converting it again with the card's own command must give the shipped model back, up to the last
bits of calibration's float sums, which depend on the machine (convert/README.md, "Rebuilding the
shipped file", has the measurements): the same graph, quantisation scales equal to a float32's
rounding, int8 weights at most one step apart, and the same readings. Another calibration sample
moves the scales by about 5 %, so this fails for any real change of the conversion, the
calibration faces or the classifier.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras", reason="the convert extra (tensorflow-cpu, keras) is not installed")

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "emotion.tflite"
KERAS_SOURCE = ROOT / "models" / "training" / "best.keras"
SCALE_ROUNDING = 1e-5  # relative: float32 rounding is ~1e-7; another calibration sample moves them by ~5e-2


def tensors(path: Path) -> list[dict]:
    """Every tensor of a .tflite: name, shape, quantisation, and the values of its constants (the
    weights and biases: what no op writes and the caller does not feed)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    written = {int(i) for op in interpreter._get_ops_details() for i in op["outputs"]}
    written |= {d["index"] for d in interpreter.get_input_details()}
    out = []
    for detail in interpreter.get_tensor_details():
        values = None if detail["index"] in written else interpreter.get_tensor(detail["index"]).copy()
        out.append({"name": detail["name"], "shape": detail["shape"].tolist(), "values": values,
                    "scales": detail["quantization_parameters"]["scales"],
                    "zero_points": detail["quantization_parameters"]["zero_points"]})
    return out


@pytest.mark.slow  # a real conversion: about 40 s
def test_the_shipped_model_is_what_convert_makes_of_its_keras_source(fer_dir, fer_private_subset, tmp_path):
    import keras

    from convert import convert_tflite
    from convert.fer_data import load_folder

    card = json.loads(MODEL.with_suffix(".json").read_text())
    args = convert_tflite.parse_args(shlex.split(card["conversion"]["command"])[3:])  # the card's own settings
    train = load_folder(fer_dir, splits=("train",))
    calibration = convert_tflite.calibration_faces(train.images, train.labels, args.calibration, args.seed)
    rebuilt = tmp_path / "emotion.tflite"
    rebuilt.write_bytes(convert_tflite.to_int8_tflite(keras.models.load_model(KERAS_SOURCE), calibration))

    ours, shipped = tensors(rebuilt), tensors(MODEL)
    assert [(t["name"], t["shape"]) for t in ours] == [(t["name"], t["shape"]) for t in shipped]
    for mine, theirs in zip(ours, shipped, strict=True):
        assert np.array_equal(mine["zero_points"], theirs["zero_points"]), mine["name"]
        if theirs["scales"].size:
            apart = np.abs(mine["scales"] - theirs["scales"]) / theirs["scales"]
            assert apart.max() <= SCALE_ROUNDING, f"{mine['name']}: scales {apart.max():.2e} apart"
        if theirs["values"] is not None and theirs["values"].dtype == np.int8:
            steps = np.abs(mine["values"].astype(int) - theirs["values"].astype(int))
            assert steps.max() <= 1 and steps.mean() < 1e-3, mine["name"]

    subset = fer_private_subset.images
    ours_read = convert_tflite.tflite_predict(rebuilt, subset)
    shipped_read = convert_tflite.tflite_predict(MODEL, subset)
    assert (ours_read.argmax(1) == shipped_read.argmax(1)).mean() >= 0.995
    assert np.abs(ours_read - shipped_read).max() <= 4 / 256  # a few steps of the int8 output
