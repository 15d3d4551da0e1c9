"""BlazeFace (MediaPipe face detection) on a TFLite interpreter: letterbox, invoke, decode.

Two published variants share one decoder: *short range* (128×128 input, 896 anchors, faces
within ~2 m that fill a good part of the image) and *full range* (192×192, 2304 anchors, small
and distant faces). Short range rebuilt for other inputs makes two more: 128×80 (560 anchors) for
a wide frame, and 64×64 (224 anchors) to read a crop around a tracked face. Anchors follow
MediaPipe's SsdAnchorsCalculator with fixed anchor size, so each anchor is just a grid-cell centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_emojify.resample import shrink
from edge_emojify.runtime import load_interpreter


@dataclass(frozen=True)
class BlazeFaceSpec:
    """What differs between the BlazeFace variants."""

    filename: str
    input_size: int  # width in pixels
    layers: tuple[tuple[int, int], ...]  # (stride, anchors per grid cell)
    input_height: int = 0  # 0: square
    halve_while: int = 4  # `shrink`: halve the image first while this many times the input is left

    @property
    def height(self) -> int:
        return self.input_height or self.input_size


SHORT_RANGE = BlazeFaceSpec("face_detection_short_range.tflite", 128, ((8, 2), (16, 6)))
# The short-range network rebuilt for other inputs (``convert/rebuild_detector.py``), the same
# weights: 128×80 for a wide frame, which a square input would letterbox with 44 % black
# (`WIDE_ASPECT`), and 64×64 for a crop in which a tracked face is already large.
SHORT_RANGE_WIDE = BlazeFaceSpec("face_detection_short_range_wide.tflite", 128, SHORT_RANGE.layers, 80)
SHORT_RANGE_CROP = BlazeFaceSpec("face_detection_short_range_crop.tflite", 64, SHORT_RANGE.layers)
# Full range halves its tile while twice its input is left (720 px: 1.9 instead of 3.8 ms): it
# found the same 400 of 798 small faces in group photos. The short-range inputs keep to four
# times: halving a crop down to twice made a still face's box tremble 45 % more (centre 0.13 →
# 0.19 % of a 160-px face a frame), and halving the whole frame lost a face of a class photo.
FULL_RANGE = BlazeFaceSpec("face_detection_full_range.tflite", 192, ((4, 1),), halve_while=2)
WIDE_ASPECT = 1.5  # frames at least this wide for their height (16:9, 2:1) go through the wide input


def make_anchors(spec: BlazeFaceSpec) -> np.ndarray:
    """Anchor centres ``(N, 2)`` in 0..1 input coordinates (x of the width, y of the height), in the
    model's output order: row by row, each cell's anchors together."""
    rows = []
    for stride, per_cell in spec.layers:
        cols, lines = spec.input_size // stride, spec.height // stride
        ys, xs = np.meshgrid(np.arange(lines), np.arange(cols), indexing="ij")
        centres = np.stack([(xs + 0.5) / cols, (ys + 0.5) / lines], axis=-1).reshape(-1, 1, 2)
        rows.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(rows).astype(np.float32)


@dataclass(frozen=True)
class RawDetections:
    """Decoded candidates in source-image pixels: boxes (N,4) x0y0x1y1, keypoints (N,6,2), scores (N,)."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def where(self, keep: np.ndarray) -> RawDetections:
        """The candidates where the boolean mask ``keep`` is true."""
        return RawDetections(self.boxes[keep], self.keypoints[keep], self.scores[keep])


class BlazeFace:
    """One BlazeFace model: ``detect(image_bgr)`` returns every candidate above ``min_score``."""

    def __init__(self, spec: BlazeFaceSpec, model_dir: Path, threads: int = 1) -> None:
        self.spec = spec
        self.interpreter = load_interpreter(model_dir / spec.filename, threads, "face detector")
        inp = self.interpreter.get_input_details()[0]
        if tuple(inp["shape"]) != (1, spec.height, spec.input_size, 3):
            raise ValueError(f"{spec.filename}: expected input (1,{spec.height},{spec.input_size},3), "
                             f"got {inp['shape']}")
        self._input_index = inp["index"]
        outputs = sorted(self.interpreter.get_output_details(), key=lambda d: d["shape"][-1])
        self._scores_index, self._regressors_index = outputs[0]["index"], outputs[1]["index"]
        self.anchors = make_anchors(spec) * np.float32([spec.input_size, spec.height])  # in input pixels
        if outputs[1]["shape"][1] != len(self.anchors):
            raise ValueError(f"{spec.filename}: {outputs[1]['shape'][1]} outputs but {len(self.anchors)} anchors")
        self._canvas = np.zeros((spec.height, spec.input_size, 3), np.float32)

    def _letterbox(self, image_bgr: np.ndarray) -> tuple[float, float, float]:
        """Fit the image into the input, centred; returns (scale, pad_x, pad_y) in input pixels."""
        h, w = image_bgr.shape[:2]
        width, height = self.spec.input_size, self.spec.height
        scale = min(width / w, height / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        small = shrink(image_bgr, nw, nh, self.spec.halve_while)
        pad_x, pad_y = (width - nw) // 2, (height - nh) // 2
        canvas = self._canvas
        canvas.fill(-1.0)  # black padding, as MediaPipe pads
        # BGR → RGB, then 0..255 → -1..1 in float32 in the preallocated canvas.
        region = canvas[pad_y:pad_y + nh, pad_x:pad_x + nw]
        region[:] = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        region *= np.float32(2 / 255)
        region -= np.float32(1)
        return scale, pad_x, pad_y

    def detect(self, image_bgr: np.ndarray, min_score: float) -> RawDetections:
        scale, pad_x, pad_y = self._letterbox(image_bgr)
        self.interpreter.set_tensor(self._input_index, self._canvas[None])
        self.interpreter.invoke()
        logits = self.interpreter.get_tensor(self._scores_index)[0, :, 0]
        keep = np.flatnonzero(logits > np.log(min_score / (1 - min_score)))
        if keep.size == 0:
            empty = np.zeros((0,), np.float32)
            return RawDetections(np.zeros((0, 4), np.float32), np.zeros((0, 6, 2), np.float32), empty)
        raw = self.interpreter.get_tensor(self._regressors_index)[0, keep]
        anchors = self.anchors[keep]
        centre = raw[:, 0:2] + anchors
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        # Undo the letterbox: input pixels → source pixels.
        offset = np.array([pad_x, pad_y], np.float32)
        boxes = (boxes - np.tile(offset, 2)) / scale
        keypoints = (keypoints - offset) / scale
        scores = 1 / (1 + np.exp(-np.clip(logits[keep], -80, 80)))
        return RawDetections(boxes.astype(np.float32), keypoints.astype(np.float32), scores.astype(np.float32))
