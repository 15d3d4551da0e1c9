"""Train the emotion CNN on FER2013 (Keras 3: TensorFlow on a CPU, JAX on a GPU machine).

    python -m convert.train --data ../shared/data/fer2013 --out runs/vgg16 --epochs 40

The test split is never looked at here: a stratified validation split of the training images
chooses the best epoch. Every epoch writes ``last.keras`` (with optimizer state) so a killed run
resumes with ``--resume``; ``best.keras`` holds the classifier alone (no augmentation) with the
best validation accuracy. ``log.csv`` and ``curve.png`` show the run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convert import ConvertError, run_script
from convert.fer_data import load, load_ferplus_votes, pixels_sha256, stratified_split


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m convert.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="FER2013 folder (train/, test/), fer2013.csv or a packed .npz")
    p.add_argument("--out", required=True, type=Path, help="run folder for checkpoints and logs")
    p.add_argument("--epochs", type=int, default=40, help="epochs (with --minutes: at most this many)")
    p.add_argument("--minutes", type=float,
                   help="train for this wall-clock budget: the cosine schedule follows the time spent and the run "
                        "stops before the budget ends (for a lent GPU, whose speed is known only once it runs)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--widths", default="16,32,64,128", help="channels per conv block")
    p.add_argument("--stem-stride", type=int, default=1, choices=(1, 2))
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1, help="initial weights, augmentation, batch order")
    p.add_argument("--split-seed", type=int,
                   help="seed of the validation split (default: --seed); keep it fixed to compare several seeds")
    p.add_argument("--ferplus", type=Path, help="FER+ votes.csv: train on crowd-vote soft targets")
    p.add_argument("--ferplus-weight", type=float, default=1.0, metavar="W",
                   help="with --ferplus: target = W·(FER+ vote shares) + (1 − W)·(FER2013 label); images without "
                        "a FER+ vote keep the label (default 1: votes only)")
    p.add_argument("--logit-adjust", type=float, default=0.0, metavar="TAU",
                   help="class balance in the loss (logit adjustment, Menon et al. 2021): the training loss adds "
                        "TAU·log(prior) to the student's logits, prior = class shares of the training targets, so "
                        "the saved net scores balanced; 1 is the usual value, 0 (default) is off")
    p.add_argument("--select", choices=("accuracy", "macro-f1"), default="accuracy",
                   help="validation score that picks best.keras: accuracy, or the mean F1 over the 7 classes (for a "
                        "balanced net, whose accuracy on the imbalanced split is not what it was trained for)")
    p.add_argument("--limit", type=int, default=0, help="use only N training images (smoke tests)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.keras")
    p.add_argument("--init-from", type=Path,
                   help="start from this classifier's weights (fine-tuning with a fresh schedule)")
    p.add_argument("--teacher", type=Path, nargs="+", default=[],
                   help="distil from these trained classifiers (.keras; several: their average) on the same "
                        "augmented batches")
    p.add_argument("--teacher-mirror", action="store_true",
                   help="teachers score the face and its mirror image and average both (flip TTA)")
    p.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="blend training faces, weight ~ Beta(ALPHA, ALPHA); needs --teacher and --kd-weight 1, "
                        "since only the teacher can label a blend")
    p.add_argument("--kd-weight", type=float, default=0.5, help="share of the teacher term in the loss")
    p.add_argument("--temperature", type=float, default=3.0, help="distillation softmax temperature")
    return p.parse_args(argv)


def training_targets(labels: np.ndarray, votes: np.ndarray | None = None, weight: float = 1.0) -> np.ndarray:
    """One-hot FER2013 labels, or with FER+ ``votes`` (rows of shares, all-zero where FER+ has none):
    ``weight·votes + (1 − weight)·one-hot`` where a vote exists, the one-hot label elsewhere."""
    targets = np.eye(7, dtype=np.float32)[labels]
    if votes is not None:
        has_vote = votes.sum(axis=1) > 0
        targets[has_vote] = weight * votes[has_vote] + (1.0 - weight) * targets[has_vote]
    return targets


def class_prior(targets: np.ndarray) -> np.ndarray:
    """Share of each class in the training targets (label frequencies; with soft targets, their mean).

    A class with no share at all has log-prior −∞, so the logit adjustment is refused for it.
    """
    from edge_emojify.labels import EMOTIONS

    prior = targets.sum(axis=0) / targets.sum()
    absent = [EMOTIONS[c] for c in np.flatnonzero(prior <= 0)]
    if absent:
        raise ConvertError(f"--logit-adjust needs every class in the training portion, but {', '.join(absent)} has "
                           "no training faces: drop --logit-adjust or use more data (a larger --limit)")
    return prior


def macro_f1(labels: np.ndarray, predicted: np.ndarray, classes: int = 7) -> float:
    """Mean over the classes of F1 = 2·TP / (2·TP + FP + FN); a class never seen nor predicted counts 0."""
    f1 = []
    for c in range(classes):
        tp = np.sum((predicted == c) & (labels == c))
        wrong = np.sum((predicted == c) != (labels == c))
        f1.append(2 * tp / (2 * tp + wrong) if tp else 0.0)
    return float(np.mean(f1))


def teacher_record(path: Path) -> dict:
    """What the card needs to rebuild a distilled model: the teacher's file hash and its own recipe."""
    record = {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    own_config = path.parent / "config.json"
    if own_config.is_file():
        config = json.loads(own_config.read_text())
        record.update({k: config[k] for k in ("command", "params", "teachers") if k in config})
    return record


def check_teacher_split(teacher: Path, validation_sha256: str, split_seed: int, val_fraction: float) -> None:
    """Refuse a teacher that trained on this run's validation faces: its scores there are not honest."""
    own_config = teacher.parent / "config.json"
    if not own_config.is_file():
        print(f"warning: {teacher} has no config.json beside it; cannot check that it never saw this "
              "run's validation faces", flush=True)
        return
    config = json.loads(own_config.read_text())
    teacher_seed = config.get("split_seed", config.get("seed"))
    if "validation_sha256" in config:
        same = config["validation_sha256"] == validation_sha256
    else:  # runs from before the split was hashed
        same = str(teacher_seed) == str(split_seed) and float(config.get("val_fraction", -1)) == val_fraction
    if not same:
        raise ConvertError(f"teacher {teacher} was trained with another validation split (split seed {teacher_seed}, "
                           f"fraction {config.get('val_fraction')}): pass --split-seed {teacher_seed} "
                           f"--val-fraction {config.get('val_fraction')} so it never saw this run's validation faces")


def teachers_on_validation(teachers: list, x_val: np.ndarray, labels: np.ndarray, mirror: bool) -> dict:
    """Validation accuracy of each teacher and of their average, as the student will see them.

    Printed before training starts: a teacher ensemble that is no better than the student's starting
    point has nothing to teach it, and that is cheaper to see now than after a long run.
    """
    def scores(teacher) -> np.ndarray:
        views = [x_val, x_val[:, :, ::-1]] if mirror else [x_val]
        return np.mean([teacher.predict(v, batch_size=256, verbose=0) for v in views], axis=0)

    each = [scores(t) for t in teachers]
    return {"each": [round(float((s.argmax(1) == labels).mean()), 4) for s in each],
            "together": round(float((np.mean(each, axis=0).argmax(1) == labels).mean()), 4),
            "mirror": mirror}


def plot_curve(log_csv: Path, png: Path) -> None:
    """Loss and accuracy per epoch; skipped where matplotlib is missing (the GPU machine lacks it)."""
    import csv

    try:
        import matplotlib
    except ImportError:
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with log_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", ax1), ("accuracy", ax2)):
        ax.plot(epochs, [float(r[key]) for r in rows], label=f"train {key}")
        ax.plot(epochs, [float(r["val_" + key]) for r in rows], label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def check_args(args: argparse.Namespace) -> None:
    """Refuse, in one line each, what cannot work, before TensorFlow is even imported."""
    for flag, path in [("--teacher", t) for t in args.teacher] + [("--init-from", args.init_from)]:
        if path and not path.is_file():
            raise ConvertError(f"{flag} {path} not found: pass a trained classifier such as runs/NAME/best.keras")
    if args.minutes is not None and args.minutes <= 0:
        raise ConvertError(f"--minutes {args.minutes} must be positive: the wall-clock budget of the run")
    if args.mixup and (not args.teacher or args.kd_weight != 1):
        raise ConvertError("--mixup blends faces but not labels: use it with --teacher and --kd-weight 1")
    if args.logit_adjust < 0:
        raise ConvertError(f"--logit-adjust {args.logit_adjust:g} must be 0 (off) or positive (1 balances the "
                           "classes): a negative value favours the frequent classes even more")
    if args.ferplus_weight != 1.0 and not args.ferplus:
        raise ConvertError("--ferplus-weight mixes FER+ votes into the targets: pass --ferplus votes.csv too")
    if not 0.0 <= args.ferplus_weight <= 1.0:
        raise ConvertError(f"--ferplus-weight {args.ferplus_weight:g} must be between 0 (FER2013 labels only) "
                           "and 1 (FER+ votes only)")


@dataclass
class TrainingData:
    """The split, the targets and what the loss needs to know about them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray  # one-hot FER2013 labels: validation is scored on the original labels
    val_labels: np.ndarray
    validation_sha256: str
    prior: np.ndarray | None  # class prior of the training targets (only with --logit-adjust)
    shift: Any  # the loss's logit shift, or None


def prepare_data(args: argparse.Namespace) -> TrainingData:
    """Load train/, split off the validation faces, build the targets; check the teachers' split."""
    from convert.model import logit_shift

    data = load(args.data, progress=True).split("Training")
    if args.limit:
        data = data.select(np.random.default_rng(args.split_seed).permutation(len(data))[: args.limit])
    votes = load_ferplus_votes(args.ferplus, data) if args.ferplus else None
    targets = training_targets(data.labels, votes, args.ferplus_weight)
    if votes is not None:
        print(f"FER+ soft targets (weight {args.ferplus_weight:g}, the rest the FER2013 label) for "
              f"{(votes.sum(axis=1) > 0).sum()} of {len(data)} images", flush=True)
    train_idx, val_idx = stratified_split(data.labels, args.val_fraction, args.split_seed)
    prior = class_prior(targets[train_idx]) if args.logit_adjust else None
    shift = logit_shift(prior, args.logit_adjust) if args.logit_adjust else None
    if shift:
        print(f"logit-adjusted loss, tau {args.logit_adjust:g}, prior of the training targets "
              f"{', '.join(f'{v:.4f}' for v in prior)}", flush=True)
    validation_sha256 = pixels_sha256(data.select(val_idx))
    if args.limit and args.teacher:  # a smoke test or a plan's rehearsal
        print("note: --limit draws a subsample whose validation split is its own, so the teachers' split is not "
              "checked", flush=True)
    for teacher in [] if args.limit else args.teacher:
        check_teacher_split(teacher, validation_sha256, args.split_seed, args.val_fraction)
    x = data.images[..., None].astype("float32")
    print(f"train {len(train_idx)}, validation {len(val_idx)}", flush=True)
    y_val = np.eye(7, dtype="float32")[data.labels[val_idx]]
    return TrainingData(x[train_idx], targets[train_idx], x[val_idx], y_val, data.labels[val_idx],
                        validation_sha256, prior, shift)


def resume(args: argparse.Namespace) -> tuple[Any, dict]:
    """The model and state of an interrupted run, refused if it was started with other settings."""
    import keras

    started = json.loads((args.out / "config.json").read_text())
    if started.get("minutes", "None") != str(args.minutes):
        raise ConvertError(f"{args.out} was started with --minutes {started.get('minutes')}: resume it with the "
                           "same value, since the learning-rate schedule depends on it")
    for key, default in (("logit_adjust", "0.0"), ("ferplus_weight", "1.0"), ("select", "accuracy")):
        if (was := started.get(key, default)) != str(getattr(args, key)):
            raise ConvertError(f"{args.out} was started with --{key.replace('_', '-')} {was}: resume it with the "
                               "same value, since the loss and best.keras depend on it")
    model = keras.models.load_model(args.out / "last.keras")
    state = json.loads((args.out / "state.json").read_text())
    print(f"resumed from {args.out / 'last.keras'} after epoch {state['epochs_done']}", flush=True)
    return model, state


def start(args: argparse.Namespace, data: TrainingData, command: str) -> Any:
    """A new model (from scratch, --init-from, or a student of --teacher), compiled; writes config.json."""
    import keras

    from convert.model import (
        DistillationLoss,
        LogitAdjustedLoss,
        build_classifier,
        distillation_model,
        student_accuracy,
        training_model,
    )

    classifier = build_classifier([int(w) for w in args.widths.split(",")], stem_stride=args.stem_stride)
    if args.init_from:
        classifier.set_weights(keras.models.load_model(args.init_from).get_weights())
        print(f"weights from {args.init_from}", flush=True)
    teachers_val = None
    if args.teacher:
        teachers = [keras.models.load_model(t) for t in args.teacher]
        teachers_val = teachers_on_validation(teachers, data.x_val, data.val_labels, args.teacher_mirror)
        print(f"teachers on validation: {', '.join(f'{a:.4f}' for a in teachers_val['each'])}; "
              f"their average {teachers_val['together']:.4f}", flush=True)
        model = distillation_model(classifier, teachers, args.seed, mirror=args.teacher_mirror, mixup=args.mixup)
        loss = DistillationLoss(args.kd_weight, args.temperature, args.label_smoothing, shift=data.shift)
        metrics = [keras.metrics.MeanMetricWrapper(student_accuracy, name="accuracy")]
        print(f"distilling from {', '.join(map(str, args.teacher))} "
              f"{'and their mirror images ' if args.teacher_mirror else ''}"
              f"{f'on mixup blends (alpha {args.mixup}) ' if args.mixup else ''}"
              f"(weight {args.kd_weight}, T {args.temperature})", flush=True)
    else:
        model = training_model(classifier, args.seed)
        loss = (LogitAdjustedLoss(data.shift, args.label_smoothing) if data.shift
                else keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing))
        metrics = ["accuracy"]
    steps = int(np.ceil(len(data.x_train) / args.batch))
    warmup = min(3 * steps, args.epochs * steps // 10)
    # With --minutes the rate is a plain variable that TimeBudget sets every epoch.
    schedule = args.lr / 10 if args.minutes else keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=args.lr / 10, decay_steps=max(1, args.epochs * steps - warmup),
        warmup_target=args.lr, warmup_steps=warmup, alpha=0.01)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=args.weight_decay), loss=loss,
                  metrics=metrics)
    (args.out / "config.json").write_text(json.dumps(
        {**{k: str(v) for k, v in vars(args).items() if k != "teacher"},  # teachers: below
         "command": command, "params": classifier.count_params(), "backend": keras.backend.backend(),
         "xla": bool(model.jit_compile),  # JAX without XLA runs op by op (see model.build_augmenter)
         "validation_sha256": data.validation_sha256,
         **({"loss": {"name": "logit-adjusted cross-entropy (Menon et al. 2021)", "tau": args.logit_adjust,
                      "prior": [round(float(v), 6) for v in data.prior]}} if data.shift else {}),
         "teachers": [teacher_record(t) for t in args.teacher],
         **({"teachers_validation": teachers_val} if teachers_val else {})}, indent=2))
    print(f"classifier: {classifier.count_params():,} parameters; training step "
          f"{'compiled by XLA' if model.jit_compile else 'without XLA'}", flush=True)
    return model


class ValidationF1:
    """Adds ``val_macro_f1`` to the epoch's logs (before CSVLogger and Checkpoint read them)."""

    def __init__(self, classifier: Any, x_val: np.ndarray, labels: np.ndarray) -> None:
        self.classifier, self.x_val, self.labels = classifier, x_val, labels

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        predicted = self.classifier.predict(self.x_val, batch_size=256, verbose=0).argmax(axis=1)
        if logs is not None:
            logs["val_macro_f1"] = macro_f1(self.labels, predicted)


class Checkpoint:
    """Writes last.keras + state.json every epoch, best.keras on a new best validation score, the curve."""

    def __init__(self, args: argparse.Namespace, model: Any, best_val: float, budget: Any) -> None:
        self.args, self.model, self.budget = args, model, budget
        self.classifier = model.get_layer("emotion_cnn")
        self.best_val = best_val
        self.score_key = "val_accuracy" if args.select == "accuracy" else "val_macro_f1"

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        args, budget, out = self.args, self.budget, self.args.out
        val = float((logs or {}).get(self.score_key, 0.0))
        if val > self.best_val:
            self.best_val = val
            self.classifier.save(out / "best.keras")
        self.model.save(out / "last.keras")
        (out / "state.json").write_text(json.dumps({"epochs_done": epoch + 1, "best_val": self.best_val,
                                                    "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                                                    **({"seconds": budget.spent} if budget else {})}))
        plot_curve(out / "log.csv", out / "curve.png")
        clock = (f"; {budget.spent / 60:.1f} of {args.minutes:g} min, lr {budget.learning_rate:.2e}"
                 if budget else "")
        accuracy = float((logs or {}).get("val_accuracy", 0.0))
        extra = f"val_accuracy {accuracy:.4f}, " if self.score_key != "val_accuracy" else ""
        print(f"epoch {epoch + 1}/{args.epochs}: {extra}{self.score_key} {val:.4f} (best {self.best_val:.4f}){clock}",
              flush=True)


def fit(args: argparse.Namespace, model: Any, data: TrainingData, state: dict) -> float:
    """Train until the epochs or the time budget run out; returns the best validation score."""
    import keras

    from convert.time_budget import TimeBudget

    initial_epoch = state.get("epochs_done", 0)
    budget = TimeBudget(args.minutes, args.lr, warmup_epochs=min(3, max(1, args.epochs // 10)),
                        spent=state.get("seconds", 0.0)) if args.minutes else None
    checkpoint = Checkpoint(args, model, state.get("best_val", 0.0), budget)
    f1 = ValidationF1(checkpoint.classifier, data.x_val, data.val_labels) if args.select == "macro-f1" else None
    model.fit(data.x_train, data.y_train, batch_size=args.batch, epochs=args.epochs,
              initial_epoch=initial_epoch, validation_data=(data.x_val, data.y_val),
              callbacks=[*([budget] if budget else []),  # first: Checkpoint records the time it counted
                         *([keras.callbacks.LambdaCallback(on_epoch_end=f1.on_epoch_end)] if f1 else []),
                         keras.callbacks.CSVLogger(str(args.out / "log.csv"), append=initial_epoch > 0),
                         keras.callbacks.LambdaCallback(on_epoch_end=checkpoint.on_epoch_end)],
              verbose=2 if not os.environ.get("CONVERT_QUIET") else 0)
    if budget and budget.model.stop_training:
        print(f"time budget of {args.minutes:g} min reached after {budget.spent / 60:.1f} min", flush=True)
    return checkpoint.best_val


def compute_device(backend: str) -> str:
    """What the step runs on, for the first line of the log: a GPU machine falling back to its CPU
    shows at once, not after the first epoch takes minutes."""
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return device.platform if device.device_kind == device.platform else f"{device.platform} ({device.device_kind})"
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return "its default device"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_args(args)
    import keras

    keras.utils.set_random_seed(args.seed)
    if args.split_seed is None:
        args.split_seed = args.seed
    args.out.mkdir(parents=True, exist_ok=True)
    backend = keras.backend.backend()
    print(f"backend {backend} on {compute_device(backend)}; loading {args.data}", flush=True)
    data = prepare_data(args)
    if args.resume and (args.out / "last.keras").exists():
        model, state = resume(args)
    else:
        command = "python -m convert.train " + shlex.join(argv if argv is not None else sys.argv[1:])
        model, state = start(args, data, command), {}
    best_val = fit(args, model, data, state)
    print(f"done: best validation {args.select} {best_val:.4f}; classifier in {args.out / 'best.keras'}", flush=True)
    return 0


if __name__ == "__main__":
    run_script(main)
