"""train's targets: the logit-adjusted (balanced) loss and FER+ soft targets, checked by hand."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from tinyfer import write_folder

pytest.importorskip("keras", reason="the convert extra (tensorflow-cpu, keras) is not installed")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from edge_emojify.labels import EMOTIONS  # noqa: E402

FERPLUS_HEADER = ["fer2013_path", "usage", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                  "contempt", "unknown", "NF"]
OURS_TO_FERPLUS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "sad": "sadness",
                   "surprise": "surprise", "neutral": "neutral"}


def write_votes(root, path):
    """FER+ votes for every image of the tiny folder: 6 on its own class and 4 on neutral (10 for neutral)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(FERPLUS_HEADER)
        for image in sorted(root.glob("*/*/*.png")):
            split, name = image.parent.parent.name, image.parent.name
            votes = dict.fromkeys(FERPLUS_HEADER[2:], 0)
            votes[OURS_TO_FERPLUS[name]] += 6
            votes["neutral"] += 4
            w.writerow([f"{split}/{name}/{image.name}", image.stem.split("_")[0], *votes.values()])
    return path


def test_logit_adjusted_loss_by_hand():
    from convert.model import LogitAdjustedLoss, logit_shift

    assert EMOTIONS[1] == "disgust"  # the class order the hand-computed values assume
    prior = [0.3, 0.05, 0.15, 0.2, 0.1, 0.1, 0.1]
    uniform = np.full((1, 7), 1 / 7, "float32")  # equal logits: softmax(z + log π) is π itself
    disgust = np.eye(7, dtype="float32")[[1]]
    loss = LogitAdjustedLoss(logit_shift(prior, 1.0), label_smoothing=0.0)
    assert float(loss(disgust, uniform)) == pytest.approx(-math.log(0.05), rel=1e-5)  # 2.9957
    half = np.array([[0.5, 0.5, 0, 0, 0, 0, 0]], "float32")  # a soft (FER+) target
    assert float(loss(half, uniform)) == pytest.approx(-(0.5 * math.log(0.3) + 0.5 * math.log(0.05)), rel=1e-5)
    # tau 0.5 halves the log-prior: softmax(0.5·log π) = sqrt(π) / Σ sqrt(π)
    root = np.sqrt(prior)
    half_tau = LogitAdjustedLoss(logit_shift(prior, 0.5), label_smoothing=0.0)
    assert float(half_tau(disgust, uniform)) == pytest.approx(-math.log(root[1] / root.sum()), rel=1e-5)
    # a known logit vector, label smoothing 0.1 as in training: CE(0.9·y + 0.1/7, softmax(z + log π))
    z = np.array([2.0, -1.0, 0.5, 1.0, 0.0, -0.5, 0.3])
    scores = (np.exp(z) / np.exp(z).sum())[None].astype("float32")
    adjusted = z + np.log(prior)
    log_q = adjusted - np.log(np.exp(adjusted).sum())
    expected = -((0.9 * disgust[0] + 0.1 / 7) * log_q).sum()
    smoothed = LogitAdjustedLoss(logit_shift(prior, 1.0), label_smoothing=0.1)
    assert float(smoothed(disgust, scores)) == pytest.approx(expected, rel=1e-5)
    # a zero shift is the plain cross-entropy
    assert float(LogitAdjustedLoss([0.0] * 7, 0.0)(disgust, scores)) == pytest.approx(-math.log(scores[0, 1]), 1e-5)


def test_balanced_distillation_matches_a_teacher_that_learnt_the_prior():
    from convert.model import DistillationLoss, logit_shift

    prior = np.array([0.3, 0.05, 0.15, 0.2, 0.1, 0.1, 0.1])
    student = np.array([[0.1, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1]])
    teacher = student * prior / (student * prior).sum()  # the same belief, times the training prior
    y_pred = np.concatenate([student, teacher], axis=1).astype("float32")
    label = np.eye(7, dtype="float32")[[1]]
    balanced = DistillationLoss(1.0, 1.0, 0.0, shift=logit_shift(prior, 1.0))
    assert float(balanced(label, y_pred)) == pytest.approx(0.0, abs=1e-5)  # nothing left to learn
    plain = DistillationLoss(1.0, 1.0, 0.0)
    kl = (teacher * np.log(teacher / student)).sum()
    assert float(plain(label, y_pred)) == pytest.approx(kl, rel=1e-4)  # without the shift: pushed to the prior
    # the hard term with the shift is the logit-adjusted CE: teacher's scores on the disgust label
    hard_only = DistillationLoss(0.0, 1.0, 0.0, shift=logit_shift(prior, 1.0))
    assert float(hard_only(label, y_pred)) == pytest.approx(-math.log(teacher[0, 1]), rel=1e-4)


def test_ferplus_targets_mix_votes_and_label_by_hand():
    from convert.train import class_prior, training_targets

    labels = np.array([0, 1, 6])
    votes = np.zeros((3, 7), np.float32)
    votes[0] = [0.6, 0, 0, 0, 0, 0, 0.4]
    votes[1] = [0.5, 0.5, 0, 0, 0, 0, 0]  # row 2: no FER+ vote, keeps its label
    mixed = training_targets(labels, votes, 0.25)
    assert mixed[0] == pytest.approx([0.25 * 0.6 + 0.75, 0, 0, 0, 0, 0, 0.25 * 0.4])
    assert mixed[1] == pytest.approx([0.125, 0.875, 0, 0, 0, 0, 0])
    assert mixed[2] == pytest.approx(np.eye(7)[6])
    assert training_targets(labels, votes, 1.0)[0] == pytest.approx(votes[0])
    assert training_targets(labels, None)[1] == pytest.approx(np.eye(7)[1])
    # the prior is the share of each class in the targets: (0.6+0.125+0, 0.875, …, 0.1+0+1) / 3
    assert class_prior(np.vstack([mixed, np.eye(7)]))[0] == pytest.approx((0.9 + 0.125 + 1) / 10)


@pytest.fixture(scope="module")
def balanced_run(tmp_path_factory):
    """One epoch at learning rate 0 with --logit-adjust 1 on FER+ votes mixed half and half with the labels,
    best.keras chosen on validation macro-F1.

    16 faces per class, disgust cut to 4; validation 25 %: 4 per class, 1 disgust, so 12 per class and
    3 disgust train (75 faces).
    """
    from convert import train

    root = tmp_path_factory.mktemp("tinyla")
    data = write_folder(root / "fer", per_class=16, test_per_class=2)
    for extra in sorted((data / "train" / "disgust").glob("*.png"))[4:]:
        extra.unlink()
    votes = write_votes(data, root / "votes.csv")
    out = root / "run"
    args = ["--data", str(data), "--out", str(out), "--batch", "128", "--widths", "8,16", "--val-fraction", "0.25",
            "--lr", "0", "--epochs", "1", "--ferplus", str(votes), "--ferplus-weight", "0.5", "--logit-adjust", "1",
            "--select", "macro-f1"]
    assert train.main(args) == 0
    return data, votes, out, args


def test_balanced_loss_on_ferplus_targets_is_what_training_used(balanced_run):
    import keras

    from convert.fer_data import load, load_ferplus_votes, stratified_split
    from convert.model import LogitAdjustedLoss
    from convert.train import training_targets

    data, votes_csv, out, _ = balanced_run
    config = json.loads((out / "config.json").read_text())
    assert config["logit_adjust"] == "1.0" and config["ferplus_weight"] == "0.5"
    # targets 0.5·(0.6 own + 0.4 neutral) + 0.5·own = 0.8 own + 0.2 neutral; neutral faces: all neutral
    by_hand = np.array([0.8 * 12, 0.8 * 3, 0.8 * 12, 0.8 * 12, 0.8 * 12, 0.8 * 12, 12 + 0.2 * 63]) / 75
    assert config["loss"]["tau"] == 1.0
    assert config["loss"]["prior"] == pytest.approx(by_hand, abs=1e-6)

    wrapper = keras.models.load_model(out / "last.keras")
    assert isinstance(wrapper.loss, LogitAdjustedLoss)
    assert wrapper.loss.shift == pytest.approx(np.log(by_hand), rel=1e-6)
    # the training loss of the saved net on its training faces, recomputed here with numpy
    fer = load(data).split("Training")
    train_idx, _ = stratified_split(fer.labels, 0.25, 1)
    assert len(train_idx) == 75
    y = training_targets(fer.labels, load_ferplus_votes(votes_csv, fer), 0.5)[train_idx]
    assert y[fer.labels[train_idx] == 1][0] == pytest.approx([0, 0.8, 0, 0, 0, 0, 0.2])  # a disgust face
    x = fer.images[train_idx][..., None].astype("float32")
    scores = wrapper.get_layer("emotion_cnn").predict(x, verbose=0).astype(np.float64)
    adjusted = np.log(np.clip(scores, 1e-7, 1)) + np.log(by_hand)
    log_q = adjusted - np.log(np.exp(adjusted).sum(axis=1, keepdims=True))
    expected = -((0.9 * y + 0.1 / 7) * log_q).sum(axis=1).mean()
    got = wrapper.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)["loss"]
    assert got == pytest.approx(expected, rel=1e-4)


def test_macro_f1_by_hand_and_as_the_selection_score(balanced_run):
    import keras

    from convert.fer_data import load, stratified_split
    from convert.train import macro_f1

    # class 0: 1 right, 1 missed, 1 false alarm → 2/4; class 1: 2 right, 1 false alarm → 4/5; class 2: 0
    assert macro_f1(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), classes=3) == pytest.approx(1.3 / 3)
    data, _, out, _ = balanced_run
    fer = load(data).split("Training")
    _, val_idx = stratified_split(fer.labels, 0.25, 1)
    scores = keras.models.load_model(out / "best.keras").predict(fer.images[val_idx][..., None].astype("float32"),
                                                                  verbose=0)
    with (out / "log.csv").open() as fh:
        [row] = list(csv.DictReader(fh))
    assert float(row["val_macro_f1"]) == pytest.approx(macro_f1(fer.labels[val_idx], scores.argmax(axis=1)))
    assert json.loads((out / "state.json").read_text())["best_val"] == pytest.approx(float(row["val_macro_f1"]))


def test_resuming_with_another_tau_is_one_line_error(balanced_run):
    from convert import ConvertError, train

    *_, args = balanced_run
    changed = [a if a != "1" or args[i - 1] != "--logit-adjust" else "0.5" for i, a in enumerate(args)]
    with pytest.raises(ConvertError, match="started with --logit-adjust 1.0: resume it with the same value"):
        train.main(changed + ["--resume"])


def test_logit_adjust_refused_where_it_makes_no_sense(tmp_path):
    from convert import ConvertError, train

    base = ["--data", str(tmp_path), "--out", str(tmp_path / "o")]
    with pytest.raises(ConvertError, match="--logit-adjust -1 must be 0 .off. or positive"):
        train.main(base + ["--logit-adjust", "-1"])
    with pytest.raises(ConvertError, match="--ferplus-weight .* pass --ferplus"):
        train.main(base + ["--ferplus-weight", "0.5"])
    with pytest.raises(ConvertError, match="--ferplus-weight 1.5 must be between 0"):
        train.main(base + ["--ferplus-weight", "1.5", "--ferplus", str(tmp_path / "v.csv")])
    data = write_folder(tmp_path / "fer", per_class=4, test_per_class=1)
    for face in (data / "train" / "fear").glob("*.png"):  # a class with no training faces: log prior −∞
        face.unlink()
    with pytest.raises(ConvertError, match="fear has no training faces: drop --logit-adjust"):
        train.main(["--data", str(data), "--out", str(tmp_path / "o"), "--logit-adjust", "1", "--widths", "8"])


def test_logit_adjust_error_is_one_line_on_the_command_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "convert.train", "--data", str(tmp_path), "--out",
                           str(tmp_path / "o"), "--logit-adjust", "-0.5"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2  # run_script: one line, status 2, like every bad input
    assert done.stderr.splitlines() == ["error: --logit-adjust -0.5 must be 0 (off) or positive (1 balances the "
                                        "classes): a negative value favours the frequent classes even more"]
