"""The emotion stage: crops, the int8 model through its card, and accuracy on real FER2013 faces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from photos import HOPPER_BOX, hopper

from edge_emojify.config import DetectorConfig
from edge_emojify.detection.detector import BlazeFaceDetector
from edge_emojify.emotion import EmotionModel, crop_face
from edge_emojify.errors import UserError
from edge_emojify.labels import EMOTIONS
from edge_emojify.types import Face

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "emotion.tflite"
# The shipped int8 model must beat this on the fixed subset (conftest's fer_private_subset: every
# 5th PrivateTest face, 718; longfm scores 69.8 %, s2w40fm before it 69.9 %): a retrained model that
# falls below it should not ship.
ACCURACY_FLOOR = 0.68


@pytest.fixture(scope="module")
def model() -> EmotionModel:
    return EmotionModel(MODEL)


def test_card_matches_the_model_file():
    import hashlib

    card = json.loads(MODEL.with_suffix(".json").read_text())
    assert card["labels"] == list(EMOTIONS)
    assert card["sha256"] == hashlib.sha256(MODEL.read_bytes()).hexdigest()
    assert card["size_bytes"] == MODEL.stat().st_size <= 2_000_000


def test_crop_turns_a_tilted_head_upright():
    det = BlazeFaceDetector(DetectorConfig(range="short"), ROOT / "models")
    gray = cv2.cvtColor(hopper(), cv2.COLOR_BGR2GRAY)
    upright = crop_face(gray, det.detect(hopper())[0], 48, 0.15, True)
    h, w = gray.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -25, 1.0)
    tilted_bgr = cv2.warpAffine(hopper(), m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    face = det.detect(tilted_bgr)[0]
    tilted_gray = cv2.cvtColor(tilted_bgr, cv2.COLOR_BGR2GRAY)
    aligned = crop_face(tilted_gray, face, 48, 0.15, True)
    unaligned = crop_face(tilted_gray, face, 48, 0.15, False)

    def corr(a, b):  # on 12×12 thumbnails, so a pixel or two of box jitter does not count
        a, b = (cv2.resize(x, (12, 12), interpolation=cv2.INTER_AREA).astype(float) for x in (a, b))
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    assert face.roll > 15
    assert corr(aligned, upright) > 0.65
    assert corr(aligned, upright) > corr(unaligned, upright) + 0.2


def test_crop_at_the_image_edge_is_padded_not_shrunk():
    from edge_emojify.types import Face

    gray = np.full((100, 100), 200, np.uint8)
    face = Face((-20, -20, 30, 30), np.zeros((6, 2)), 0.9)
    crop = crop_face(gray, face, 48, 0.2, False)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8


def test_one_invoke_for_all_faces_equals_one_by_one(model, fer_test):
    crops = fer_test.images[:5]
    together = model.predict_crops(crops)
    single = np.concatenate([model.predict_crops(c[None]) for c in crops])
    assert together.shape == (5, 7)
    assert np.allclose(together, single, atol=1e-6)
    assert np.allclose(together.sum(1), 1, atol=0.03)


def test_rejects_crops_of_the_wrong_shape(model):
    with pytest.raises(ValueError, match="48"):
        model.predict_crops(np.zeros((2, 64, 64), np.uint8))


def test_accuracy_on_fixed_fer2013_subset(model, fer_private_subset):
    pred = model.predict_crops(fer_private_subset.images).argmax(1)
    accuracy = float((pred == fer_private_subset.labels).mean())
    assert accuracy > ACCURACY_FLOOR, f"accuracy {accuracy:.3f} on {len(fer_private_subset)} PrivateTest faces"


@pytest.mark.parametrize("change,message", [
    (lambda c: c.update(labels=list(reversed(c["labels"]))), "labels"),
    (lambda c: c.update(labels=c["labels"][:6]), "lists labels"),  # 6 labels for a 7-score model
    (lambda c: c["input"].update(size=64), "card says 64"),
    (lambda c: c.pop("crop"), "unreadable"),
])
def test_card_that_does_not_match_the_model_is_a_one_line_error(tmp_path, change, message):
    shutil.copy(MODEL, tmp_path / "emotion.tflite")
    card = json.loads(MODEL.with_suffix(".json").read_text())
    change(card)
    (tmp_path / "emotion.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match=message) as err:
        EmotionModel(tmp_path / "emotion.tflite")
    assert "\n" not in str(err.value)


def test_missing_or_truncated_model_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="missing"):
        EmotionModel(tmp_path / "emotion.tflite")
    (tmp_path / "emotion.tflite").write_bytes(MODEL.read_bytes()[:5000])
    shutil.copy(MODEL.with_suffix(".json"), tmp_path / "emotion.json")
    with pytest.raises(UserError, match="cannot be loaded") as err:
        EmotionModel(tmp_path / "emotion.tflite")
    assert "\n" not in str(err.value)


def test_readme_model_card_is_the_current_rendering():
    from convert.model_card import render

    card = render(json.loads(MODEL.with_suffix(".json").read_text()))
    assert card in (ROOT / "README.md").read_text(), "regenerate with: python -m convert.model_card"


def _copy_model_with_card(tmp_path: Path, change) -> Path:
    shutil.copy(MODEL, tmp_path / "emotion.tflite")
    card = json.loads(MODEL.with_suffix(".json").read_text())
    change(card)
    (tmp_path / "emotion.json").write_text(json.dumps(card))
    return tmp_path / "emotion.tflite"


def test_the_app_applies_the_cards_prior_correction(tmp_path):
    crops = np.stack([cv2.resize(cv2.cvtColor(hopper(), cv2.COLOR_BGR2GRAY), (48, 48))] * 2)
    raw = EmotionModel(MODEL, prior_correction=False).predict_crops(crops)
    prior = [0.14, 0.02, 0.14, 0.25, 0.17, 0.11, 0.17]
    path = _copy_model_with_card(tmp_path, lambda c: c.update(prior_correction={"prior": prior, "tau": 0.7}))
    corrected = EmotionModel(path).predict_crops(crops)
    expected = raw / np.array(prior) ** 0.7  # by hand: divide by prior ** tau, renormalise
    assert np.allclose(corrected, expected / expected.sum(1, keepdims=True), atol=1e-5)
    assert corrected[0, 1] > raw[0, 1]  # disgust (the rarest class) gains
    assert np.allclose(EmotionModel(path, prior_correction=False).predict_crops(crops), raw)


def test_the_shipped_card_carries_the_tau_the_app_applies():
    card = json.loads(MODEL.with_suffix(".json").read_text())
    model = EmotionModel(MODEL)
    assert model.tau == card["prior_correction"]["tau"] > 0
    assert model.card.prior == pytest.approx(card["prior_correction"]["prior"])
    assert sum(model.card.prior) == pytest.approx(1, abs=1e-4) and min(model.card.prior) > 0


def test_a_card_without_prior_correction_still_loads_with_tau_0(tmp_path):
    path = _copy_model_with_card(tmp_path, lambda c: c.pop("prior_correction", None))
    model = EmotionModel(path)
    crops = np.full((1, 48, 48), 128, np.uint8)
    assert model.tau == 0 and np.allclose(model.predict_crops(crops), EmotionModel(MODEL, prior_correction=False)
                                          .predict_crops(crops))


def test_a_tau_without_a_usable_prior_is_a_one_line_error(tmp_path):
    path = _copy_model_with_card(tmp_path, lambda c: c.update(prior_correction={"prior": [0.5, 0.5], "tau": 1}))
    with pytest.raises(UserError, match="convert.fit_prior") as err:
        EmotionModel(path)
    assert "\n" not in str(err.value)


def test_a_flat_crop_is_lifted_to_the_cards_contrast_and_the_others_left_as_they_are():
    from edge_emojify.emotion import lift_contrast

    rng = np.random.default_rng(0)
    normal = np.clip(rng.normal(120, 50, (48, 48)), 0, 255).astype(np.uint8)
    dark = np.clip(rng.normal(30, 8, (48, 48)), 0, 255).astype(np.uint8)
    out = lift_contrast(np.stack([normal, dark]), below=28.0, mean=130.0, std=54.0)
    assert np.array_equal(out[0], normal)
    assert out[1].mean() == pytest.approx(130, abs=1) and out[1].std() == pytest.approx(54, abs=1.5)
    assert np.corrcoef(out[1].ravel(), dark.ravel())[0, 1] > 0.99  # the same picture, stretched
    both = np.stack([normal, normal])
    assert lift_contrast(both, 28.0, 130.0, 54.0) is both  # nothing flat: nothing copied


def test_a_face_in_the_dark_is_read_as_it_is_in_the_light_once_lifted():
    gray = cv2.cvtColor(hopper(), cv2.COLOR_BGR2GRAY)
    face = Face(tuple(float(v) for v in HOPPER_BOX), np.zeros((6, 2), np.float32), 0.9)
    lit = crop_face(gray, face, 48, 0.15, False)
    dark = (lit * 0.15).astype(np.uint8)  # a face lit from behind
    lifted, plain = EmotionModel(MODEL), EmotionModel(MODEL, lift=False)
    assert lifted.lift_below > dark.std() and lit.std() > lifted.lift_below
    light = plain.predict_crops(lit[None])[0]
    assert np.abs(lifted.predict_crops(dark[None])[0] - light).max() < 0.05
    assert np.abs(plain.predict_crops(dark[None])[0] - light).max() > 0.2


def test_a_contrast_lift_without_a_usable_target_is_a_one_line_error(tmp_path):
    path = _copy_model_with_card(tmp_path, lambda c: c.update(contrast={"below_std": 28, "mean": 130, "std": 10}))
    with pytest.raises(UserError, match="convert.fit_contrast") as err:
        EmotionModel(path)
    assert "\n" not in str(err.value)
    assert EmotionModel(_copy_model_with_card(tmp_path, lambda c: c.pop("contrast"))).lift_below == 0


def test_crops_use_the_cards_margin_and_the_pi_lores_scale(model):
    """On a Pi, faces are found in the 1280-px main image but cropped from the 640-px lores Y plane."""
    from edge_emojify.types import Face

    main = cv2.cvtColor(cv2.resize(hopper(), (1280, 960)), cv2.COLOR_BGR2GRAY)
    lores = cv2.resize(main, (640, 480), interpolation=cv2.INTER_AREA)
    det = BlazeFaceDetector(DetectorConfig(range="short"), ROOT / "models")
    (face,) = det.detect(cv2.cvtColor(main, cv2.COLOR_GRAY2BGR))  # in main-image coordinates
    card = model.card
    assert card.margin == 0.15
    full = crop_face(main, face, 48, card.margin, card.align)
    from_lores = model.crops(lores, [face], gray_scale=2.0)[0]
    assert np.abs(from_lores.astype(int) - full).mean() < 6  # the same face, from half the pixels

    def differs(a, b):
        return np.abs(a.astype(int) - b).mean() > 10

    assert differs(from_lores, model.crops(lores, [face], gray_scale=1.0)[0])  # scale ignored: wrong place
    assert differs(full, crop_face(main, face, 48, 0.0, card.align))  # margin ignored: a tighter crop
    shifted = Face(tuple(v / 2 for v in face.box), face.keypoints / 2, face.score)
    assert np.array_equal(model.crops(lores, [shifted])[0], crop_face(lores, shifted, 48, card.margin, card.align))


def _face(x0, y0, x1, y1, roll=0.0) -> Face:
    """A face box with its eyes level, or turned by ``roll`` degrees about the box centre."""
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 4
    dx, dy = half * np.cos(np.radians(roll)), half * np.sin(np.radians(roll))
    return Face((x0, y0, x1, y1), np.array([[cx - dx, cy - dy], [cx + dx, cy + dy]] + [[cx, cy]] * 4), 0.9)


def _bright_extent(line: np.ndarray) -> tuple[int, float]:
    """How many pixels of a crop's row or column are the bright face, and where their middle is."""
    on = np.flatnonzero(line > 125)
    return len(on), (on[0] + on[-1] + 1) / 2


def test_crop_is_the_face_box_plus_the_margin_centred():
    # The model was trained on faces that fill 1/(1+margin) of the crop, centred; a wider or shifted
    # crop shows it a smaller or cut face and scores it worse.
    gray = np.full((480, 640), 30, np.uint8)
    gray[100:180, 200:300] = 220  # a face box 100 wide, 80 high
    crop = crop_face(gray, _face(200, 100, 300, 180), 48, 0.25, True)
    width, x_mid = _bright_extent(crop[24])
    height, y_mid = _bright_extent(crop[:, 24])
    assert abs(width - 48 / 1.25) <= 1 and abs(height - 48 / 1.25 * 0.8) <= 1  # the longer side sets the scale
    assert abs(x_mid - 24) <= 0.5 and abs(y_mid - 24) <= 0.5


def test_a_tilted_face_is_turned_upright_about_its_centre():
    rng = np.random.default_rng(3)
    gray = cv2.GaussianBlur(rng.integers(0, 256, (300, 400)).astype(np.uint8), (5, 5), 0)
    upright = crop_face(gray, _face(150, 100, 250, 200), 48, 0.15, True)
    turn = cv2.getRotationMatrix2D((200, 150), -30, 1.0)  # the head turned 30° clockwise about the box centre
    tilted = cv2.warpAffine(gray, turn, (400, 300), flags=cv2.INTER_LINEAR)
    aligned = crop_face(tilted, _face(150, 100, 250, 200, roll=30), 48, 0.15, True)
    assert np.abs(aligned.astype(int) - upright).mean() < 6
    # align off (a card option): the roll is ignored, the crop is the same as for a level head
    assert np.array_equal(crop_face(tilted, _face(150, 100, 250, 200, roll=30), 48, 0.15, False),
                          crop_face(tilted, _face(150, 100, 250, 200), 48, 0.15, True))


@pytest.mark.parametrize("box", [(-30, -20, 50, 60), (90, 70, 190, 170), (-40, -60, 200, 180)],
                         ids=["top-left", "bottom-right", "larger-than-the-image"])
def test_a_face_cut_by_the_image_edge_is_cropped_as_if_the_edge_pixels_went_on(box):
    # Padded by repeating the edge, not shrunk or stretched: a face half out of the picture keeps its size.
    gray = np.random.default_rng(5).integers(0, 256, (120, 160)).astype(np.uint8)
    pad = 200  # even, so rounding the shifted box is the same
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    x0, y0, x1, y1 = box
    inside = crop_face(padded, _face(x0 + pad, y0 + pad, x1 + pad, y1 + pad, roll=10), 48, 0.15, True)
    assert np.array_equal(crop_face(gray, _face(*box, roll=10), 48, 0.15, True), inside)


def test_a_large_face_with_fine_texture_is_not_aliased():
    # A 600-px face from the 12 MP camera brought down to 48 px: fine stripes average to grey, not moiré.
    stripes = np.zeros((1200, 1200), np.uint8)
    stripes[:, ::3] = 255
    crop = crop_face(stripes, _face(300, 300, 900, 900), 48, 0.15, True)
    assert crop.std() < 8


def test_a_face_wholly_outside_the_gray_image_gives_a_blank_crop():
    # A box past the lores image's edge (e.g. a scale off by a frame): a blank crop, not a crash in OpenCV.
    crop = crop_face(np.full((120, 160), 90, np.uint8), _face(400, 300, 480, 380), 48, 0.15, True)
    assert crop.shape == (48, 48) and not crop.any()


def test_predict_gives_one_row_of_probabilities_per_face_and_none_without_faces(model):
    gray = cv2.cvtColor(hopper(), cv2.COLOR_BGR2GRAY)
    faces = [_face(40, 30, 200, 190), _face(60, 50, 180, 170, roll=10)]
    scores = model.predict(gray, faces)
    assert scores.shape == (2, 7) and np.allclose(scores.sum(axis=1), 1, atol=1e-3)
    assert model.predict(gray, []).shape == (0, 7)  # no face, no row: nothing for the tracker to pair up


@pytest.mark.parametrize("scale", [2.5, 4.0])
def test_a_large_face_halved_before_its_area_resize_reads_as_the_plain_area_resize_does(model, scale, monkeypatch):
    # A face close to the camera (over 400 px here) is halved first for speed; what the model sees
    # must stay the average of every pixel, within a grey level or so, and read the same.
    import edge_emojify.emotion as emotion

    det = BlazeFaceDetector(DetectorConfig(range="short"), ROOT / "models")
    big = cv2.resize(hopper(), None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    face = det.detect(big)[0]
    gray = cv2.cvtColor(big, cv2.COLOR_BGR2GRAY)
    crop = crop_face(gray, face, 48, model.card.margin, True)
    monkeypatch.setattr(emotion, "shrink", lambda image, w, h: cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA))
    plain = crop_face(gray, face, 48, model.card.margin, True)  # the same square, area-resized in one step
    assert face.width > 400 and np.abs(crop.astype(int) - plain).mean() < 2  # halved down to the input: 6-8
    assert model.predict_crops(crop[None]).argmax() == model.predict_crops(plain[None]).argmax()
