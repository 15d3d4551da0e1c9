"""Face detection on real photos: the bundled public-domain portraits, alone and in groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from photos import ASTRONAUT_BOX, HOPPER_BOX, astronaut, close_up, group, hopper

from edge_emojify.config import DetectorConfig
from edge_emojify.detection.blazeface import (
    FULL_RANGE,
    SHORT_RANGE,
    SHORT_RANGE_CROP,
    SHORT_RANGE_WIDE,
    BlazeFaceSpec,
    make_anchors,
)
from edge_emojify.detection.detector import BlazeFaceDetector, square_tiles
from edge_emojify.types import iou

MODELS = Path(__file__).resolve().parent.parent / "models"


def detector(**kw) -> BlazeFaceDetector:
    return BlazeFaceDetector(DetectorConfig(**kw), MODELS)


def best_iou(found, box) -> float:
    if not found:
        return 0.0
    return float(iou(np.array(box, float), np.array([f.box for f in found])).max())


def test_anchor_counts_match_the_published_models():
    assert len(make_anchors(SHORT_RANGE)) == 896
    assert len(make_anchors(FULL_RANGE)) == 2304
    first = make_anchors(BlazeFaceSpec("x", 128, ((8, 2),)))
    assert np.allclose(first[:2], [[0.5 / 16, 0.5 / 16]] * 2)  # two anchors per cell, cell centre
    odd = make_anchors(BlazeFaceSpec("x", 24, ((8, 2),)))  # a 3 x 3 grid: every cell's centre twice, row by row
    assert np.allclose(odd, np.repeat([[(i % 3 + 0.5) / 3, (i // 3 + 0.5) / 3] for i in range(9)], 2, axis=0))
    # A wide input: 3 columns by 2 rows, row by row, x a share of the width and y of the height.
    wide = make_anchors(BlazeFaceSpec("x", 24, ((8, 1),), input_height=16))
    assert np.allclose(wide, [[(i % 3 + 0.5) / 3, (i // 3 + 0.5) / 2] for i in range(6)])
    assert len(make_anchors(SHORT_RANGE_WIDE)) == 16 * 10 * 2 + 8 * 5 * 6


@pytest.mark.parametrize("image,box", [(hopper, HOPPER_BOX), (astronaut, ASTRONAUT_BOX)])
@pytest.mark.parametrize("range_", ["short", "full", "auto"])
def test_finds_the_face_in_each_portrait(image, box, range_):
    faces = detector(range=range_).detect(image())
    assert len(faces) == 1
    assert best_iou(faces, box) > 0.7
    face = faces[0]
    right_eye, left_eye, nose = face.keypoints[:3]
    assert right_eye[0] < nose[0] < left_eye[0]  # subject's right eye is on the image's left
    x0, y0, x1, y1 = face.box
    assert all(x0 < x < x1 and y0 < y < y1 for x, y in (right_eye, left_eye, nose))  # on the face, letterboxed or not
    assert abs(face.roll) < 15
    assert 0.75 < face.score < 1  # the model's confidence, a probability: high, never a certainty


def test_keypoints_follow_a_rotated_head():
    import cv2

    image = hopper()
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -20, 1.0)  # turn the image 20° clockwise
    rotated = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    face = detector(range="short").detect(rotated)[0]
    assert 10 < face.roll < 30


@pytest.mark.parametrize("n", [1, 2, 4, 6])
def test_group_photos_with_small_faces_need_the_full_range_model(n):
    image, boxes = group(n, face_px=80)  # faces 1/16 of the frame width
    assert detector(range="short").detect(image) == []  # the short-range model's blind spot
    faces = detector(range="both").detect(image)
    assert len(faces) == n
    for box in boxes:
        assert best_iou(faces, box) > 0.5


def test_auto_mode_finds_far_faces_and_close_faces():
    image, boxes = group(4, face_px=80)
    found = detector(range="auto").detect(image)  # short range sees nobody → full range runs
    assert len(found) == 4
    close, box = close_up()
    found = detector(range="auto").detect(close)
    assert len(found) == 1 and best_iou(found, box) > 0.7


def test_max_faces_keeps_the_largest_and_min_face_drops_small_ones():
    image, boxes = group(6, face_px=80)
    faces = detector(range="both", max_faces=3).detect(image)
    assert len(faces) == 3
    assert detector(range="both", min_face=120).detect(image) == []


def test_square_tiles_cover_wide_and_tall_frames():
    assert square_tiles(640, 480) == [(0, 0, 640, 480)]
    tiles = square_tiles(1280, 720)
    assert tiles[0] == (0, 0, 720, 720) and tiles[-1] == (560, 0, 1280, 720)
    assert square_tiles(480, 1000)[-1] == (0, 520, 480, 1000)


def test_smaller_tiles_cover_a_large_frame_in_rows_and_columns_after_the_frame_high_ones_doubling():
    tiles = square_tiles(1920, 1080, smallest=768)
    assert tiles[:2] == square_tiles(1920, 1080)  # a face larger than the small tiles' overlap
    small = tiles[2:]
    assert len(small) == 6 and {(x1 - x0, y1 - y0) for x0, y0, x1, y1 in small} == {(768, 768)}
    covered = np.zeros((1080, 1920), bool)
    for x0, y0, x1, y1 in small:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert square_tiles(1280, 720, smallest=768) == square_tiles(1280, 720)  # no smaller than the frame asks
    assert square_tiles(640, 480, smallest=768) == [(0, 0, 640, 480)]
    assert square_tiles(1000, 800, smallest=768)[0] == (0, 0, 1000, 800)
    # A 12-megapixel photo: the whole frame, then 768-px tiles, then 1536-px ones (3000 is not shorter).
    sides = [x1 - x0 for x0, y0, x1, y1 in square_tiles(4000, 3000, smallest=768)]
    assert sides == [4000] + [768] * 24 + [1536] * 6


def test_nothing_in_a_blank_or_noisy_frame():
    d = detector(range="both")
    assert d.detect(np.zeros((480, 640, 3), np.uint8)) == []
    rng = np.random.default_rng(0)
    assert d.detect(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) == []


@pytest.mark.parametrize("spec", [SHORT_RANGE, FULL_RANGE, SHORT_RANGE_WIDE, SHORT_RANGE_CROP])
def test_each_detector_model_matches_its_card(spec):
    import hashlib
    import json

    model = MODELS / spec.filename
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert card["anchors"]["num_anchors"] == len(make_anchors(spec))
    assert card["input"]["shape"] == [1, spec.height, spec.input_size, 3]
    assert "Apache-2.0" in card["license"]


def test_far_faces_are_found_while_a_near_face_is_in_view():
    """auto: short range finds the near face every frame, and a full-range pass every few frames
    still finds the visitors at the back (their tracks carry them between passes)."""
    from edge_emojify.detection.detector import FULL_RANGE_EVERY

    image, far = group(3, frame=(1280, 720), face_px=60)
    image[:, 800:] = 150
    far = far[:2]  # the two on the left; the right third gets the near face
    near, box = close_up((640, 480))
    image[360:720, 800:1280] = cv2_resize(near, (480, 360))
    near_box = tuple(v * 0.75 + offset for v, offset in zip(box, (800, 360, 800, 360), strict=True))
    det = detector(range="auto")
    frames = [det.detect(image) for _ in range(2 * FULL_RANGE_EVERY)]
    assert all(best_iou(faces, near_box) > 0.5 for faces in frames)  # the near face, every frame
    with_far = [faces for faces in frames if all(best_iou(faces, box) > 0.4 for box in far)]
    assert len(with_far) == 2  # the far ones on each full-range pass, and only then (short range cannot)


def test_weighted_nms_averages_overlapping_boxes_by_score():
    """Averaging steadies the box from frame to frame; keeping only the best one makes the emoji jitter."""
    from edge_emojify.detection.blazeface import RawDetections
    from edge_emojify.detection.detector import weighted_nms

    boxes = np.array([[100, 100, 200, 200], [110, 104, 210, 204], [400, 400, 450, 450]], np.float32)
    kps = np.stack([np.tile(b[:2], (6, 1)) for b in boxes]).astype(np.float32)
    faces = weighted_nms(RawDetections(boxes, kps, np.array([0.9, 0.6, 0.8], np.float32)), 0.3)
    assert len(faces) == 2
    # By hand: (0.9 * 100 + 0.6 * 110) / 1.5 = 104, (0.9 * 100 + 0.6 * 104) / 1.5 = 101.6, …
    assert faces[0].box == pytest.approx((104, 101.6, 204, 201.6)) and faces[0].score == pytest.approx(0.9)
    assert faces[0].keypoints[0] == pytest.approx([104, 101.6])
    assert faces[1].box == pytest.approx((400, 400, 450, 450))


def test_the_box_of_a_still_face_barely_moves_under_sensor_noise():
    image = cv2_resize(hopper(), (640, 480))
    rng = np.random.default_rng(0)
    det = detector(range="short")
    centres = []
    for _ in range(20):
        noisy = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
        (face,) = det.detect(noisy)
        centres.append(face.center + (face.width,))
    spread = np.std(np.array(centres), axis=0)
    assert (spread < 1.0).all(), spread  # pixels: under a pixel of jitter, so the emoji holds still


def cv2_resize(image, size):
    import cv2

    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def test_keypoints_stay_on_their_faces_in_every_tile_of_a_wide_frame():
    # Far faces are found in square tiles of a 16:9 frame; each tile's landmarks are moved back with its boxes.
    image, boxes = group(4, face_px=80)
    faces = detector(range="full").detect(image)
    assert len(faces) == 4 and max(f.box[0] for f in faces) > 720  # some beyond the first tile
    for face in faces:
        x0, y0, x1, y1 = face.box
        right_eye, left_eye, nose = face.keypoints[:3]
        assert all(x0 < x < x1 and y0 < y < y1 for x, y in (right_eye, left_eye, nose))


def test_the_largest_faces_are_kept_largest_first():
    # The largest face is the main one (the panel's big emoji); with more faces than max_faces the smallest go.
    from edge_emojify.detection.blazeface import RawDetections
    from edge_emojify.detection.detector import finish

    boxes = np.array([[400, 0, 440, 40], [0, 0, 60, 90], [200, 0, 300, 40], [500, 0, 530, 30]], np.float32)
    kps = np.repeat(boxes[:, None, :2], 6, axis=1)
    found = finish([RawDetections(boxes, kps, np.array([0.9, 0.8, 0.7, 0.95], np.float32))],
                   DetectorConfig(max_faces=3))
    assert [f.box for f in found] == [(0, 0, 60, 90), (200, 0, 300, 40), (400, 0, 440, 40)]  # by area, not shape


def test_the_model_sees_the_frame_as_mediapipe_feeds_it():
    # Centred between black bars, in RGB order, 0..255 spread over -1..1: what BlazeFace was trained on.
    from edge_emojify.detection.blazeface import BlazeFace

    model = BlazeFace(SHORT_RANGE, MODELS)
    tall = np.zeros((200, 100, 3), np.uint8)
    tall[:] = (0, 128, 255)  # BGR: orange
    model.detect(tall, 0.5)
    seen = model._canvas  # the 128 x 128 input: the frame 64 px wide in the middle, 32 px bars each side
    assert (seen[:, :32] == -1).all() and (seen[:, 96:] == -1).all()
    assert seen[:, 32:96] == pytest.approx(np.broadcast_to([1.0, 128 / 127.5 - 1, -1.0], (128, 64, 3)), abs=1e-4)


def test_the_full_range_alone_runs_only_the_full_range_model():
    # A face filling the whole frame is the short-range model's case, beyond the full-range model's reach:
    # range = "full" runs the full-range model alone, "both" runs the two.
    import cv2

    x0, y0, x1, y1 = HOPPER_BOX
    mx, my = 0.05 * (x1 - x0), 0.05 * (y1 - y0)
    image = cv2.resize(hopper()[int(y0 - my):int(y1 + my), int(x0 - mx):int(x1 + mx)], (480, 480))
    assert len(detector(range="short").detect(image)) == 1
    assert detector(range="full").detect(image) == []
    assert len(detector(range="both").detect(image)) == 1


@pytest.mark.parametrize("spec", [SHORT_RANGE_WIDE, SHORT_RANGE_CROP])
def test_the_rebuilt_models_are_the_published_short_range_network_at_another_size(spec):
    """convert.rebuild_detector's translation is exact at the published size, and each shipped rebuild
    computes what the translated graph computes at its size: the same weights, nothing retrained."""
    pytest.importorskip("tensorflow")
    from ai_edge_litert.interpreter import Interpreter

    from convert.rebuild_detector import check_rebuild
    from convert.tflite_graph import graph_function

    assert check_rebuild(MODELS / SHORT_RANGE.filename, [hopper(), cv2_resize(astronaut(), (640, 480))]) < 1e-2
    shipped = Interpreter(model_path=str(MODELS / spec.filename))
    shipped.allocate_tensors()
    x = (cv2_resize(hopper(), (spec.input_size, spec.height))[:, :, ::-1].astype(np.float32) / 127.5 - 1)[None]
    shipped.set_tensor(shipped.get_input_details()[0]["index"], x)
    shipped.invoke()
    graph = graph_function(MODELS / SHORT_RANGE.filename, (spec.input_size, spec.height))
    rebuilt = {v.shape[-1]: v.numpy() for v in graph(x).values()}
    for detail in shipped.get_output_details():
        out = shipped.get_tensor(detail["index"])
        assert out.shape == (1, len(make_anchors(spec)), detail["shape"][-1])
        assert np.abs(out - rebuilt[out.shape[-1]]).max() < 0.05 * np.abs(out).max()  # float16 weights, both


def test_a_wide_frame_goes_through_the_wide_input_and_finds_what_the_square_one_finds():
    image, _ = group(2, frame=(1280, 720), face_px=250)
    det = detector(range="short")
    assert det.short_range(image) is det.wide and det.short_range(image[:, :960]) is det.short  # 16:9, 4:3
    wide = det.detect(image)
    det.wide = det.short  # the square input, letterboxed
    square = det.detect(image)
    assert len(wide) == len(square) == 2
    for face in square:
        assert best_iou(wide, face.box) > 0.9
