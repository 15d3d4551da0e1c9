"""Snapshots: timestamped JPEGs in a private folder that never grows past max_mb."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from datetime import datetime

import cv2
import numpy as np
import pytest

from edge_emojify import snapshots
from edge_emojify.config import SnapshotConfig
from edge_emojify.errors import UserError
from edge_emojify.snapshots import prune, save_snapshot

WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456)


def picture(h: int = 120, w: int = 160) -> np.ndarray:
    image = np.zeros((h, w, 3), np.uint8)
    image[:, : w // 2] = (255, 0, 0)  # blue left half, in BGR
    return image


def test_saves_a_timestamped_jpeg_in_a_private_new_folder(tmp_path) -> None:
    folder = tmp_path / "state" / "snapshots"
    old_umask = os.umask(0o022)
    try:
        path = save_snapshot(picture(), SnapshotConfig(folder=str(folder)), now=WHEN)
    finally:
        os.umask(old_umask)
    assert path == folder / "snapshot-20240506-070809-123.jpg"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    back = cv2.imread(str(path))
    assert back.shape == (120, 160, 3)
    assert back[60, 10, 0] > 200 and back[60, 150, 0] < 50  # colours survived, BGR order kept
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temporary file left


def test_existing_folder_mode_is_left_alone(tmp_path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    save_snapshot(picture(), SnapshotConfig(folder=str(folder)), now=WHEN)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_two_snapshots_in_the_same_millisecond_get_different_names(tmp_path) -> None:
    cfg = SnapshotConfig(folder=str(tmp_path))
    first = save_snapshot(picture(), cfg, now=WHEN)
    second = save_snapshot(picture(), cfg, now=WHEN)
    assert first != second and first.exists() and second.exists()


def test_grayscale_images_are_saved_too(tmp_path) -> None:
    path = save_snapshot(np.full((40, 50), 128, np.uint8), SnapshotConfig(folder=str(tmp_path)), now=WHEN)
    assert cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).shape == (40, 50)


def test_oldest_snapshots_are_deleted_to_stay_under_max_mb(tmp_path) -> None:
    mib = 2**20
    old = []
    for i in range(4):  # 4 x 0.4 MiB of older snapshots, oldest first
        path = tmp_path / f"snapshot-2024010{i + 1}-000000-000.jpg"
        path.write_bytes(b"\xff" * int(0.4 * mib))
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
        old.append(path)
    other = tmp_path / "holiday.jpg"  # not ours: never deleted, not counted
    other.write_bytes(b"\xff" * (2 * mib))
    new = save_snapshot(picture(), SnapshotConfig(folder=str(tmp_path), max_mb=1.0), now=WHEN)
    remaining = sorted(p.name for p in tmp_path.glob("snapshot-*.jpg"))
    assert remaining == sorted([old[2].name, old[3].name, new.name])
    assert sum(p.stat().st_size for p in tmp_path.glob("snapshot-*.jpg")) <= mib
    assert other.exists()


def test_prune_keeps_the_newest_even_when_it_alone_is_too_big(tmp_path) -> None:
    big = tmp_path / "snapshot-20240101-000000-000.jpg"
    big.write_bytes(b"\xff" * 5000)
    assert prune(tmp_path, 1000, keep=big) == []
    assert big.exists()


def test_folder_that_is_a_file_is_a_user_error(tmp_path) -> None:
    blocker = tmp_path / "snapshots"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match=f"snapshot folder {blocker} exists but is not a folder"):
        save_snapshot(picture(), SnapshotConfig(folder=str(blocker)))


def test_permission_denied_names_the_folder_and_the_fix(tmp_path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(UserError) as info:
        save_snapshot(picture(), SnapshotConfig(folder=str(tmp_path)))
    message = str(info.value)
    assert str(tmp_path) in message and "chown edge-emojify" in message and "\n" not in message


def test_disk_full_leaves_no_partial_file(tmp_path, monkeypatch) -> None:
    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(snapshots.os, "replace", full)
    with pytest.raises(UserError, match="disk is full.*max_mb"):
        save_snapshot(picture(), SnapshotConfig(folder=str(tmp_path)))
    assert list(tmp_path.iterdir()) == []


def test_not_an_image_is_refused(tmp_path) -> None:
    with pytest.raises(UserError, match="8-bit BGR"):
        save_snapshot(np.zeros((4, 4, 3), np.float32), SnapshotConfig(folder=str(tmp_path)))
