"""Convert a trained Keras classifier to a full-int8 TFLite model and check it against float.

    python -m convert.convert_tflite --keras runs/s2w32/best.keras --data ../shared/data/fer2013 \
        --out models/emotion.tflite

Calibration uses real training faces (a seeded, class-stratified sample), never noise: int8
ranges fitted to noise clip real activations. The parity check runs float Keras and int8
TFLite over the whole FER2013 test split and records top-1 agreement and the accuracy drop in
the model card written beside the .tflite (``emotion.json``); ``convert.evaluate --card`` adds
the full accuracy table later.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from convert import run_script
from convert.fer_data import DatasetError, load, stratified_split
from edge_emojify import model_card


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m convert.convert_tflite", description=__doc__.split("\n\n")[0])
    p.add_argument("--keras", required=True, type=Path, help="classifier .keras (best.keras of a run)")
    p.add_argument("--data", required=True, help="FER2013 folder or fer2013.csv")
    p.add_argument("--out", required=True, type=Path, help="output .tflite; the card goes beside it")
    p.add_argument("--calibration", type=int, default=500, help="training faces used to calibrate")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def to_int8_tflite(model, calibration: np.ndarray) -> bytes:
    """Full-integer conversion: int8 weights, activations, input and output."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8

        def representative():
            for image in calibration:
                yield [image[None, :, :, None].astype(np.float32)]

        converter.representative_dataset = representative
        return converter.convert()


def calibration_faces(train_images: np.ndarray, labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    _, idx = stratified_split(labels, min(1.0, count / len(labels)), seed)
    return train_images[idx[:count]]


def tflite_predict(model_path: Path, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Probabilities from a .tflite for raw uint8 faces (N, size, size), in batches, one thread."""
    from edge_emojify.runtime import Runner

    runner = Runner(model_path, 1, "model")
    return np.concatenate([runner.run(images[start:start + batch, :, :, None])
                           for start in range(0, len(images), batch)])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras

    if not args.keras.is_file():
        raise DatasetError(f"Keras model {args.keras} does not exist; train one with python -m convert.train")
    model = keras.models.load_model(args.keras)
    print(f"loaded {args.keras} ({model.count_params():,} parameters)", flush=True)
    data = load(args.data, progress=False)
    train, test = data.split("Training"), data.select(data.usage != "Training")
    calibration = calibration_faces(train.images, train.labels, args.calibration, args.seed)
    print(f"calibrating with {len(calibration)} training faces …", flush=True)
    flat = to_int8_tflite(model, calibration)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(flat)
    print(f"wrote {args.out} ({len(flat) / 1e6:.2f} MB)", flush=True)

    print(f"parity check on {len(test)} test faces …", flush=True)
    float_probs = model.predict(test.images[..., None].astype("float32"), batch_size=256, verbose=0)
    int8_probs = tflite_predict(args.out, test.images)
    float_pred, int8_pred = float_probs.argmax(1), int8_probs.argmax(1)
    parity = {
        "test_images": len(test),
        "top1_agreement": round(float((float_pred == int8_pred).mean()), 4),
        "float_accuracy": round(float((float_pred == test.labels).mean()), 4),
        "int8_accuracy": round(float((int8_pred == test.labels).mean()), 4),
    }
    parity["accuracy_drop_points"] = round(100 * (parity["float_accuracy"] - parity["int8_accuracy"]), 2)
    print("parity: " + ", ".join(f"{k} {v}" for k, v in parity.items()), flush=True)

    run_config, run_log = args.keras.parent / "config.json", args.keras.parent / "log.csv"
    training = json.loads(run_config.read_text()) if run_config.is_file() else {}
    if run_log.is_file():  # which epoch best.keras is, by the validation score that chose it
        import csv

        with run_log.open() as fh:
            rows = list(csv.DictReader(fh))
        best = max(rows, key=lambda r: float(r["val_accuracy"]))
        training.update(epochs_run=len(rows), best_epoch=int(best["epoch"]) + 1,
                        best_val_accuracy=round(float(best["val_accuracy"]), 4))
    conversion = {
        "command": "python -m convert.convert_tflite " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "calibration": f"{len(calibration)} FER2013 training faces, class-stratified, seed {args.seed}",
        "parity": parity,
    }
    card = model_card.new_card(args.out, sha256(args.out), int(model.input_shape[1]), training, str(args.keras),
                               conversion)
    card_path = model_card.card_path(args.out)
    model_card.write(card_path, card)
    print(f"wrote {card_path}", flush=True)
    return 0


if __name__ == "__main__":
    run_script(main)
