"""Fit the prior correction the app applies: scores divided by ``prior ** tau``, tau chosen on validation.

    python -m convert.fit_prior --model models/emotion.tflite --data ../shared/data/fer2013

A classifier trained on FER2013 carries the class frequencies of its training data in its scores
(happy is a quarter of the faces, disgust 1.5 %), so on a face that could be either, the common
class wins: rare expressions are rarely shown. Dividing by the training prior to a power ``tau``
(post-hoc logit adjustment) undoes part of that; ``tau`` is chosen on the validation faces the
model never trained on (the split its card records) to maximise macro-F1 (or balanced accuracy),
and written with the prior into the model card as ``prior_correction``. The test split is not read.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from convert import ConvertError, run_script
from convert.evaluate import predict, scores_summary
from convert.heldout import heldout
from edge_emojify import model_card
from edge_emojify.emotion import correct_for_prior
from edge_emojify.labels import EMOTIONS

TAUS = np.round(np.arange(0.0, 1.501, 0.05), 2)
METRICS = ("macro_f1", "balanced_accuracy")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m convert.fit_prior", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=Path("models/emotion.tflite"), help=".tflite the app runs (or .keras)")
    p.add_argument("--card", type=Path, help="model card to read the split from and write to (default: beside --model)")
    p.add_argument("--data", required=True, help="FER2013 folder, fer2013.csv or packed .npz")
    p.add_argument("--metric", choices=METRICS, default="macro_f1", help="what tau maximises on validation")
    return p.parse_args(argv)


def fit(probs: np.ndarray, labels: np.ndarray, prior: np.ndarray, metric: str) -> tuple[float, list[dict]]:
    """The tau in TAUS that maximises ``metric`` (the smallest on a tie), and the whole curve."""
    curve = []
    for tau in TAUS:
        pred = correct_for_prior(probs, prior, float(tau)).argmax(1)
        curve.append({"tau": float(tau), **scores_summary(labels, pred)})
    best = max(curve, key=lambda row: (row[metric], -row["tau"]))
    return best["tau"], curve


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    card_path = args.card or model_card.card_path(args.model)
    if not args.model.is_file():
        raise ConvertError(f"model {args.model} does not exist; convert one with convert.convert_tflite")
    card = model_card.read(card_path)
    split = heldout(args.data, card, progress=True)
    print(f"scoring {len(split.validation)} validation faces (split seed {split.split_seed}, fraction "
          f"{split.val_fraction}) with {args.model} …", flush=True)
    probs = predict(args.model, split.validation.images)
    tau, curve = fit(probs, split.validation.labels, split.prior, args.metric)
    print("  tau  accuracy  macro-F1  balanced  " + "  ".join(f"{n[:7]:>7}" for n in EMOTIONS))
    for row in curve[::2]:
        print(f"{row['tau']:5.2f}  {row['accuracy']:8.4f}  {row['macro_f1']:8.4f}  {row['balanced_accuracy']:8.4f}  "
              + "  ".join(f"{row['recall'][n]:7.3f}" for n in EMOTIONS), flush=True)
    without, chosen = curve[0], next(row for row in curve if row["tau"] == tau)
    model_card.record(card_path, "prior_correction", {
        "prior": [round(float(p), 6) for p in split.prior], "tau": tau, "metric": args.metric,
        "fitted_on": f"the validation split of FER2013 train/ ({len(split.validation)} faces, split seed "
                     f"{split.split_seed}, fraction {split.val_fraction}), int8 scores of {args.model.name}",
        "validation": {"without": without, "with": chosen},
        "command": "python -m convert.fit_prior " + shlex.join(sys.argv[1:] if argv is None else argv),
    })
    print(f"tau = {tau} (max {args.metric} on validation: {without[args.metric]:.4f} -> {chosen[args.metric]:.4f}, "
          f"accuracy {without['accuracy']:.4f} -> {chosen['accuracy']:.4f}); written to {card_path}", flush=True)
    return 0


if __name__ == "__main__":
    run_script(main)
