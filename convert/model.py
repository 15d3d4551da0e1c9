"""The emotion CNN and its training-only augmentation, in backend-agnostic Keras 3.

Why this shape: FER2013 faces are 48×48 and low detail, so a plain VGG-style stack of 3×3
convolutions with batch norm is both accurate and fast under XNNPACK int8 on a Pi. Global
average pooling keeps the head tiny. Normalisation is the first layer, so the deployed input is a
raw 0..255 crop and the int8 input quantisation is exactly ``pixel - 128``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops

from convert.fer_data import IMAGE_SIZE  # the faces' size is a fact of the data set, written there once
from edge_emojify.labels import NUM_CLASSES


def build_classifier(widths: Sequence[int] = (16, 32, 64, 128), dropout: float = 0.3,
                     stem_stride: int = 1) -> keras.Model:
    """VGG-style net: one block of two 3×3 conv + BN + ReLU per width, max-pool between blocks.

    ``stem_stride=2`` halves the resolution in the first convolution, which cuts the MACs of the
    first block by four for a little accuracy.
    """
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="normalise")(inputs)
    for block, width in enumerate(widths):
        for conv in range(2):
            stride = stem_stride if (block == 0 and conv == 0) else 1
            x = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False,
                              name=f"b{block}c{conv}")(x)
            x = layers.BatchNormalization(name=f"b{block}bn{conv}")(x)
            x = layers.ReLU(name=f"b{block}relu{conv}")(x)
        if block < len(widths) - 1:
            x = layers.MaxPooling2D(2, name=f"b{block}pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="scores")(x)
    return keras.Model(inputs, outputs, name="emotion_cnn")


def build_augmenter(seed: int) -> keras.Sequential:
    """Geometric and photometric jitter that mimics what a live camera crop varies in.

    RandomRotation, RandomZoom and RandomTranslation say they cannot be XLA-compiled (true of
    TensorFlow's transform op), and Keras then runs the whole training step without XLA. TensorFlow
    still runs that as a graph; JAX runs it op by op, which cost a whole GPU run (convert/README,
    speed section). Under JAX these layers are plain jnp code, so they are marked compilable there.
    """
    augmenter = keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(12 / 360, fill_mode="nearest", seed=seed + 1),
            layers.RandomZoom(0.12, fill_mode="nearest", seed=seed + 2),
            layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 3),
            layers.RandomContrast(0.3, value_range=(0, 255), seed=seed + 4),
            layers.RandomBrightness(0.2, value_range=(0, 255), seed=seed + 5),
            layers.RandomErasing(factor=0.5, scale=(0.02, 0.15), value_range=(0, 255), seed=seed + 6),
        ],
        name="augment",
    )
    if keras.backend.backend() == "jax":
        for layer in augmenter.layers:
            layer.supports_jit = True
    return augmenter


def training_model(classifier: keras.Model, seed: int) -> keras.Model:
    """Wrap the classifier with augmentation that only acts when ``training=True``."""
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    x = build_augmenter(seed)(inputs)
    return keras.Model(inputs, classifier(x), name="train_wrapper")


TEACHER_NAME = "teacher"


@keras.saving.register_keras_serializable(package="edge_emojify")
class MirrorFaces(layers.Layer):
    """Left-right mirror image of a batch of faces (NHWC), always, not only in training."""

    def call(self, faces):
        return ops.flip(faces, axis=2)


@keras.saving.register_keras_serializable(package="edge_emojify")
class MixFaces(layers.Layer):
    """In training, blend each face with its neighbour in the batch, weight ~ Beta(alpha, alpha).

    Images only (mixup, Zhang et al. 2018, as in "function matching", Beyer et al. 2022): the labels
    are not mixed, so it serves distillation, where the teacher scores the very blend the student sees.
    On faces it trained on a teacher mostly repeats the label; blends are new to it, so there its
    scores say more.
    """

    def __init__(self, alpha: float, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.alpha, self.seed = alpha, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, faces, training=None):
        if not training:
            return faces
        weight = keras.random.beta((ops.shape(faces)[0], 1, 1, 1), self.alpha, self.alpha, seed=self.generator)
        return weight * faces + (1.0 - weight) * ops.roll(faces, 1, axis=0)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "seed": self.seed}


def distillation_model(student: keras.Model, teachers: Sequence[keras.Model], seed: int,
                       mirror: bool = False, mixup: float = 0.0) -> keras.Model:
    """Augment once, then output ``[student scores | frozen teacher scores]`` side by side.

    Why: the student is regularised by the teacher's soft scores on exactly the augmented image it
    sees, so the dark knowledge (which classes a face is confusable with) follows the jitter. Several
    teachers act as one ensemble: their probabilities are averaged. ``mirror`` also averages each
    teacher over the mirrored face (flip test-time augmentation), a stronger teacher for one more
    forward pass each. ``mixup`` > 0 blends faces after augmentation (see ``MixFaces``).
    """
    face = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    views = [face, MirrorFaces(name="mirror")(face)] if mirror else [face]
    wrapped = [keras.Model(t.input, t.output, name=f"member{i}") for i, t in enumerate(teachers)]
    members = [member(view) for member in wrapped for view in views]
    teacher = keras.Model(face, members[0] if len(members) == 1 else layers.Average()(members), name=TEACHER_NAME)
    teacher.trainable = False
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    x = build_augmenter(seed)(inputs)
    if mixup:
        x = MixFaces(mixup, seed + 7, name="mixup")(x)
    both = layers.Concatenate(name="student_teacher")([student(x), teacher(x, training=False)])
    return keras.Model(inputs, both, name="distill_wrapper")


def adjusted_log_scores(scores, shift=None):
    """``log p + shift``, renormalised: the logits of a softmax classifier moved by ``shift``.

    ``softmax(log p + s)`` equals ``softmax(logits + s)``, so the logit adjustment is exact without
    exposing logits. ``shift`` is ``tau·log(prior)`` (see :class:`LogitAdjustedLoss`) or ``None``.
    """
    log_p = ops.log(ops.clip(scores, 1e-7, 1.0))
    if shift is not None:
        log_p = log_p + ops.convert_to_tensor(shift, dtype=log_p.dtype)
    return ops.log_softmax(log_p, axis=-1)


def smoothed_crossentropy(y_true, log_q, label_smoothing: float):
    """Cross-entropy of (label-smoothed) targets against log-probabilities, as Keras smooths them."""
    y = y_true * (1.0 - label_smoothing) + label_smoothing / NUM_CLASSES
    return -ops.sum(y * log_q, axis=-1)


@keras.saving.register_keras_serializable(package="edge_emojify")
class LogitAdjustedLoss(keras.losses.Loss):
    """Balanced-softmax / logit-adjusted cross-entropy (Menon et al., 2021): ``CE(y, softmax(z + tau·log π))``.

    ``π`` is the class prior of the training targets. The shift acts inside the training loss only:
    the net learns ``z`` such that ``z + tau·log π`` fits the (imbalanced) labels, so the saved
    classifier's own scores ``softmax(z)`` are balanced and rare classes (disgust, fear) are no
    longer pushed down by their rarity. ``tau = 1`` is the Bayes-consistent choice for balanced error.
    Works with one-hot and soft (FER+) targets alike.
    """

    def __init__(self, shift, label_smoothing: float = 0.1, name: str = "logit_adjusted", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.shift, self.label_smoothing = [float(v) for v in shift], label_smoothing

    def call(self, y_true, y_pred):
        return smoothed_crossentropy(y_true, adjusted_log_scores(y_pred, self.shift), self.label_smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "shift": self.shift, "label_smoothing": self.label_smoothing}


def logit_shift(prior, tau: float) -> list[float]:
    """``tau·log(prior)`` per class: what :class:`LogitAdjustedLoss` adds to the logits in training."""
    import numpy as np

    return [float(v) for v in tau * np.log(np.asarray(prior, dtype=np.float64))]


@keras.saving.register_keras_serializable(package="edge_emojify")
class DistillationLoss(keras.losses.Loss):
    """``(1 - w)·CE(labels, student) + w·T²·KL(teacher_T ‖ student_T)`` (Hinton et al., 2015).

    Both halves of ``y_pred`` are softmax scores; ``softmax(log p / T)`` equals
    ``softmax(logits / T)``, so the temperature is exact without exposing logits.

    ``shift`` (``tau·log π``, see :class:`LogitAdjustedLoss`) moves the student's logits in both
    terms: the teacher learnt the imbalanced prior, so the student plus the prior is what should
    match it, and the student alone then scores balanced.
    """

    def __init__(self, weight: float = 0.5, temperature: float = 3.0, label_smoothing: float = 0.1,
                 shift=None, name: str = "distillation", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.weight, self.temperature, self.label_smoothing = weight, temperature, label_smoothing
        self.shift = None if shift is None else [float(v) for v in shift]

    def call(self, y_true, y_pred):
        student, teacher = y_pred[:, :NUM_CLASSES], y_pred[:, NUM_CLASSES:]
        if self.shift is None:
            hard = keras.losses.categorical_crossentropy(y_true, student, label_smoothing=self.label_smoothing)
        else:
            hard = smoothed_crossentropy(y_true, adjusted_log_scores(student, self.shift), self.label_smoothing)
        t = self.temperature
        log_s = ops.log_softmax(adjusted_log_scores(student, self.shift) / t, axis=-1)
        soft_t = ops.softmax(ops.log(ops.clip(teacher, 1e-7, 1.0)) / t, axis=-1)
        kl = ops.sum(soft_t * (ops.log(ops.clip(soft_t, 1e-7, 1.0)) - log_s), axis=-1)
        return (1.0 - self.weight) * hard + self.weight * t * t * kl

    def get_config(self) -> dict:
        return {**super().get_config(), "weight": self.weight, "temperature": self.temperature,
                "label_smoothing": self.label_smoothing, "shift": self.shift}


@keras.saving.register_keras_serializable(package="edge_emojify")
def student_accuracy(y_true, y_pred):
    """Top-1 accuracy of the student half of a distillation wrapper's output."""
    return ops.cast(ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred[:, :NUM_CLASSES], axis=-1)),
                    "float32")


def build_mini_xception() -> keras.Model:
    """The mini-Xception of Arriaga et al. (2017), the model the ``fer`` package ships.

    Used only as the latency yardstick: the issue's budget is about twice its time per face.
    """
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    for _ in range(2):
        x = layers.Conv2D(8, 3, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    for filters in (16, 32, 64, 128):
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
        residual = layers.BatchNormalization()(residual)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.Add()([x, residual])
    x = layers.Conv2D(NUM_CLASSES, 3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Softmax(name="scores")(x)
    return keras.Model(inputs, outputs, name="mini_xception")
