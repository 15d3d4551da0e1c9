"""FER2013 loaders: both public forms, one class order, FER+ votes, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from tinyfer import tiny_images, write_csv, write_folder

from convert.fer_data import (
    DatasetError,
    duplicate_test_paths,
    ferplus_majority,
    load,
    load_ferplus_votes,
    stratified_split,
)
from edge_emojify.labels import EMOTIONS


def test_folder_layout_loads_with_usage_from_file_names(tmp_path):
    data = load(write_folder(tmp_path / "fer"))
    assert data.images.shape == (7 * 16, 48, 48) and data.images.dtype == np.uint8
    assert set(data.usage) == {"Training", "PublicTest", "PrivateTest"}
    train = data.split("Training")
    assert len(train) == 7 * 12 and np.bincount(train.labels).tolist() == [12] * 7
    expected, _ = tiny_images(12, 0)
    assert np.array_equal(train.images, expected)  # class folders map to the CSV's order
    assert data.paths[0].startswith("train/angry/")


def test_csv_form_loads_the_same_way(tmp_path):
    path, images, labels = write_csv(tmp_path / "fer2013.csv")
    data = load(path)
    assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
    assert len(data.split(("PublicTest", "PrivateTest"))) == len(labels) * 2 // 3


def test_class_order_is_the_csv_order():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def _rename_class(root):
    (root / "train" / "sad").rename(root / "train" / "sadness")
    return root


def _corrupt_image(root):
    (root / "train" / "happy" / "Training_1.jpg").write_bytes(b"not a jpeg")
    return root


@pytest.mark.parametrize("breakage,message", [
    (lambda root: root / "nowhere", "does not exist"),
    (_rename_class, "class folder .*sad is missing"),
    (_corrupt_image, "cannot read image .*Training_1.jpg"),
])
def test_folder_errors_are_one_line_and_say_what_to_fix(tmp_path, breakage, message):
    root = write_folder(tmp_path / "fer", per_class=2, test_per_class=1)
    with pytest.raises(DatasetError, match=message) as err:
        load(breakage(root))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("content,message", [
    ("label,pixels\n", "lacks column"),
    ("emotion,pixels,Usage\n9," + " ".join(["0"] * 2304) + ",Training\n", "line 2: expected emotion 0..6"),
    ("emotion,pixels,Usage\n1,1 2 3,Training\n", "2304 pixels"),
    ("emotion,pixels,Usage\n1," + " ".join(["0"] * 2304) + ",Validation\n", "Usage 'Validation'"),
])
def test_csv_errors_name_the_line(tmp_path, content, message):
    path = tmp_path / "fer2013.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load(path)


def test_ferplus_votes_become_soft_targets_and_majority_labels(tmp_path):
    data = load(write_folder(tmp_path / "fer", per_class=1, test_per_class=1))
    votes = tmp_path / "votes.csv"
    header = "fer2013_path,usage,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
    votes.write_text(header
                     + f"{data.paths[0]},Training,2,8,0,0,0,0,0,0,0,0\n"
                     + f"{data.paths[1]},Training,5,5,0,0,0,0,0,0,0,0\n")
    soft = load_ferplus_votes(votes, data)
    assert soft[0, EMOTIONS.index("happy")] == pytest.approx(0.8)
    assert soft[0, EMOTIONS.index("neutral")] == pytest.approx(0.2)
    majority = ferplus_majority(soft)
    assert majority[0] == EMOTIONS.index("happy")
    assert majority[1] == -1  # a tie is no label
    assert (majority[2:] == -1).all()  # no votes


def test_stratified_split_keeps_class_shares_and_is_seeded():
    labels = np.repeat(np.arange(7), [100, 10, 50, 200, 80, 60, 90])
    train, val = stratified_split(labels, 0.1, seed=3)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(labels)
    assert np.bincount(labels[val]).tolist() == [10, 1, 5, 20, 8, 6, 9]
    assert np.array_equal(val, stratified_split(labels, 0.1, seed=3)[1])


def test_duplicates_file_marks_test_images_that_leak_from_train(tmp_path):
    path = tmp_path / "duplicates.csv"
    path.write_text("group,sha256,path,group_size,labels_conflict,spans_train_test\n"
                    "1,a,test/sad/PublicTest_1.jpg,2,0,1\n1,a,train/sad/Training_9.jpg,2,0,1\n"
                    "2,b,test/sad/PublicTest_2.jpg,2,0,0\n2,b,test/sad/PrivateTest_3.jpg,2,0,0\n")
    assert duplicate_test_paths(path) == {"test/sad/PublicTest_1.jpg"}


def test_real_fer2013_counts(fer_dir):
    data = load(fer_dir)
    assert len(data) == 35887
    assert np.bincount(data.split("Training").labels).tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert len(data.split("PublicTest")) == len(data.split("PrivateTest")) == 3589
