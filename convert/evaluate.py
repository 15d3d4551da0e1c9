"""Evaluate an emotion model (.keras or .tflite) on the FER2013 test split, honestly.

    python -m convert.evaluate --model models/emotion.tflite --data ../shared/data/fer2013 \
        --ferplus ../shared/data/ferplus/votes.csv --out runs/eval --card models/emotion.json

Reports accuracy on PublicTest, PrivateTest and both; the same without the test images that
have a byte-identical twin in train (the known leakage); FER+ majority-vote accuracy; macro-F1,
balanced accuracy and per-class precision/recall/F1; the same with the prior correction of the
card (``convert.fit_prior``), which is what the app shows; a confusion-matrix PNG; size; and,
for .tflite, latency per face with one thread. ``--card`` writes the results into the model card
under ``evaluation.<kind>``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from convert import run_script
from convert.fer_data import (
    DatasetError,
    duplicate_test_paths,
    ferplus_majority,
    load,
    load_ferplus_votes,
)
from edge_emojify import model_card
from edge_emojify.emotion import correct_for_prior
from edge_emojify.labels import EMOTIONS, NUM_CLASSES


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m convert.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, type=Path, help=".keras or .tflite")
    p.add_argument("--data", required=True, help="FER2013 folder or fer2013.csv")
    p.add_argument("--ferplus", type=Path, help="FER+ votes.csv for the secondary metric")
    p.add_argument("--duplicates", type=Path, help="duplicates.csv (default: beside --data)")
    p.add_argument("--out", type=Path, default=Path("runs/eval"), help="folder for JSON and PNG")
    p.add_argument("--card", type=Path, help="model card to record the results in")
    p.add_argument("--tta", action="store_true", help="also report left-right flip test-time augmentation")
    p.add_argument("--latency-runs", type=int, default=500)
    return p.parse_args(argv)


def predict(model_path: Path, images: np.ndarray) -> np.ndarray:
    if model_path.suffix == ".tflite":
        from convert.convert_tflite import tflite_predict

        return tflite_predict(model_path, images)
    import keras

    model = keras.models.load_model(model_path)
    return model.predict(images[..., None].astype("float32"), batch_size=256, verbose=0)


def confusion(labels: np.ndarray, pred: np.ndarray) -> np.ndarray:
    m = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    np.add.at(m, (labels, pred), 1)
    return m


def per_class(m: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    for i, name in enumerate(EMOTIONS):
        tp = m[i, i]
        precision = tp / max(m[:, i].sum(), 1)
        recall = tp / max(m[i].sum(), 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        out[name] = {"precision": round(float(precision), 4), "recall": round(float(recall), 4),
                     "f1": round(float(f1), 4), "support": int(m[i].sum())}
    return out


def scores_summary(labels: np.ndarray, pred: np.ndarray) -> dict:
    """Accuracy, macro-F1, balanced accuracy and per-class recall: the figures that show weak classes."""
    classes = per_class(confusion(labels, pred))
    recall = {name: c["recall"] for name, c in classes.items()}
    return {"accuracy": round(float((pred == labels).mean()), 4),
            "macro_f1": round(float(np.mean([c["f1"] for c in classes.values()])), 4),
            "balanced_accuracy": round(float(np.mean(list(recall.values()))), 4), "recall": recall}


def plot_confusion(m: np.ndarray, title: str, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(NUM_CLASSES), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(NUM_CLASSES), EMOTIONS)
    for i in range(NUM_CLASSES):
        for j in range(NUM_CLASSES):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{m[i, j]}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (FER2013 label)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def latency_ms(model_path: Path, runs: int, faces: np.ndarray) -> dict[str, float]:
    """Median and p95 milliseconds for one face, one thread, after a warm-up."""
    from edge_emojify.runtime import Runner, interpreter_class

    runner = Runner(model_path, 1, "model")
    x = runner.quantise(faces[:1, :, :, None])
    times = []
    for i in range(runs + 50):
        t0 = time.perf_counter()
        runner.invoke(x)
        if i >= 50:
            times.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": round(float(np.median(times)), 3), "p95_ms": round(float(np.percentile(times, 95)), 3),
            "runtime": interpreter_class()[1], "threads": 1, "machine": platform.machine(), "runs": runs}


def accuracy(pred: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> float:
    return round(float((pred[mask] == labels[mask]).mean()), 4) if mask.any() else float("nan")


def _prior_correction(args: argparse.Namespace) -> dict | None:
    """The card's fitted prior correction (``--card``, else the card beside the model), if it has one."""
    path = args.card or model_card.card_path(args.model)
    if not path.is_file():
        return None
    correction = model_card.read(path).get("prior_correction") or {}
    return correction if correction.get("tau") else None


def evaluate(args: argparse.Namespace) -> dict:
    if not args.model.is_file():
        raise DatasetError(f"model {args.model} does not exist; train and convert one first")
    data = load(args.data)
    test = data.select(data.usage != "Training")
    print(f"evaluating {args.model} on {len(test)} test faces …", flush=True)
    probs = predict(args.model, test.images)
    pred = probs.argmax(1)
    dup_file = args.duplicates or Path(args.data) / "duplicates.csv"
    leaked = duplicate_test_paths(dup_file)
    clean = np.array([p not in leaked for p in test.paths])
    splits = {"PublicTest": test.usage == "PublicTest", "PrivateTest": test.usage == "PrivateTest",
              "all": np.ones(len(test), bool)}
    result: dict = {
        "model": str(args.model), "size_bytes": args.model.stat().st_size,
        "accuracy": {name: accuracy(pred, test.labels, m) for name, m in splits.items()},
        "accuracy_without_train_duplicates": {
            name: accuracy(pred, test.labels, m & clean) for name, m in splits.items()},
        "test_images": {name: int(m.sum()) for name, m in splits.items()},
        "train_duplicates_removed": int((~clean).sum()),
    }
    if args.tta:
        flipped = predict(args.model, test.images[:, :, ::-1].copy())
        tta_pred = (probs + flipped).argmax(1)
        result["accuracy_flip_tta"] = {n: accuracy(tta_pred, test.labels, m) for n, m in splits.items()}
    if args.ferplus:
        majority = ferplus_majority(load_ferplus_votes(args.ferplus, test))
        has = majority >= 0
        result["ferplus_majority_accuracy"] = {
            name: accuracy(pred, majority, m & has) for name, m in splits.items()}
        result["ferplus_majority_images"] = int(has.sum())
    overall = scores_summary(test.labels, pred)
    result["macro_f1"], result["balanced_accuracy"] = overall["macro_f1"], overall["balanced_accuracy"]
    correction = _prior_correction(args)
    if correction:
        # What the app shows: the same scores divided by prior ** tau (the card's, fitted on validation).
        corrected = correct_for_prior(probs, correction["prior"], correction["tau"]).argmax(1)
        result["prior_correction"] = {"tau": correction["tau"], **scores_summary(test.labels, corrected),
                                      "accuracy": {n: accuracy(corrected, test.labels, m) for n, m in splits.items()}}
    m = confusion(test.labels, pred)
    result["per_class"] = per_class(m)
    result["confusion_matrix"] = m.tolist()
    if args.model.suffix == ".tflite":
        result["latency_per_face"] = latency_ms(args.model, args.latency_runs, test.images)
    args.out.mkdir(parents=True, exist_ok=True)
    kind = "int8" if args.model.suffix == ".tflite" else "float"
    png = args.out / f"confusion_{kind}.png"
    plot_confusion(m, f"{args.model.name}: FER2013 test, accuracy {result['accuracy']['all']:.3f}", png)
    result["confusion_png"] = str(png)
    result["command"] = "python -m convert.evaluate " + shlex.join(sys.argv[1:])
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if argv is not None:
        sys.argv[1:] = argv
    result = evaluate(args)
    kind = "int8" if args.model.suffix == ".tflite" else "float"
    out_json = args.out / f"eval_{kind}.json"
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    acc = result["accuracy"]
    print(f"{kind}: PublicTest {acc['PublicTest']:.4f}  PrivateTest {acc['PrivateTest']:.4f}  "
          f"all {acc['all']:.4f}  macro-F1 {result['macro_f1']:.4f}", flush=True)
    if "prior_correction" in result:
        pc = result["prior_correction"]
        print(f"{kind} with the card's prior correction (tau {pc['tau']}): PrivateTest "
              f"{pc['accuracy']['PrivateTest']:.4f}  all {pc['accuracy']['all']:.4f}  macro-F1 {pc['macro_f1']:.4f}  "
              "recall " + " ".join(f"{n} {r:.2f}" for n, r in pc["recall"].items()), flush=True)
    if "latency_per_face" in result:
        lat = result["latency_per_face"]
        print(f"latency per face: p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms ({lat['runtime']}, 1 thread)")
    print(f"wrote {out_json} and {result['confusion_png']}", flush=True)
    if args.card:
        summary = {k: v for k, v in result.items() if k not in ("confusion_matrix", "confusion_png", "model")}
        model_card.record(args.card, "evaluation", summary, kind)
        print(f"recorded in {args.card}", flush=True)
    return 0


if __name__ == "__main__":
    run_script(main)
