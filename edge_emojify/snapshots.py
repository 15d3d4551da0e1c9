"""Saving what the mirror shows as JPEG files, in a folder that cannot fill the SD card.

The hold action calls :func:`save_snapshot`. A kiosk runs unattended for months, so every
save also deletes the oldest snapshots until the folder is back under ``max_mb``; a full SD
card would stop the whole Pi, not just the mirror.
"""

from __future__ import annotations

import errno
import logging
import os
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from edge_emojify.atomic import write_atomically
from edge_emojify.config import SnapshotConfig
from edge_emojify.errors import UserError

log = logging.getLogger(__name__)

PREFIX = "snapshot-"
SUFFIX = ".jpg"
JPEG_QUALITY = 90
FOLDER_MODE = 0o750  # snapshots show faces: no access for other users


def _snapshot_files(folder: Path) -> list[Path]:
    """Our snapshots only (by name), oldest first; other files in the folder are never touched."""
    files = []
    for path in folder.glob(f"{PREFIX}*{SUFFIX}"):
        try:
            if path.is_file():
                files.append((path.stat().st_mtime, path.name, path))
        except OSError:
            continue  # deleted meanwhile
    return [path for _, _, path in sorted(files)]


def _problem(folder: Path, exc: OSError) -> UserError:
    if exc.errno == errno.EROFS:
        return UserError(f"cannot write snapshots to {folder}: read-only file system; the service may "
                         "only write under /var/lib/edge-emojify, so use a folder there or allow this one "
                         "with ReadWritePaths= (sudo systemctl edit edge-emojify)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UserError(f"cannot write snapshots to {folder}: {exc.strerror}; make it writable by the "
                         f"user running edge-emojify (sudo chown edge-emojify: {folder}) or change "
                         "[snapshots] folder")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"cannot write snapshots to {folder}: the disk is full; free some space or "
                         "lower [snapshots] max_mb")
    return UserError(f"cannot write snapshots to {folder}: {exc.strerror or exc}; check the path in "
                     "[snapshots] folder")


def _ensure_folder(folder: Path) -> None:
    if folder.is_dir():
        return
    try:
        folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        raise UserError(f"snapshot folder {folder} exists but is not a folder; remove it or change "
                        "[snapshots] folder") from None
    except OSError as exc:
        raise _problem(folder, exc) from None


def _unique_name(folder: Path, when: datetime) -> Path:
    stem = f"{PREFIX}{when:%Y%m%d-%H%M%S}-{when.microsecond // 1000:03d}"
    path = folder / f"{stem}{SUFFIX}"
    n = 1
    while path.exists():  # two saves in one millisecond (or a clock step back)
        path = folder / f"{stem}-{n}{SUFFIX}"
        n += 1
    return path


def prune(folder: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete the oldest snapshots until their total size is at most ``max_bytes``.

    ``keep`` (the snapshot just taken) is never deleted, even when it alone is larger.
    Returns the deleted paths. Failures are logged, not raised: the new snapshot is saved.
    """
    files = _snapshot_files(folder)
    sizes = {}
    for path in files:
        try:
            sizes[path] = path.stat().st_size
        except OSError:
            sizes[path] = 0
    total = sum(sizes.values())
    deleted = []
    for path in files:
        if total <= max_bytes:
            break
        if keep is not None and path == keep:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not delete old snapshot %s: %s", path, exc.strerror or exc)
            continue
        total -= sizes[path]
        deleted.append(path)
    if deleted:
        log.info("deleted %d old snapshot(s) to stay under %.1f MB", len(deleted), max_bytes / 2**20)
    return deleted


def save_snapshot(image_bgr: np.ndarray, cfg: SnapshotConfig, now: datetime | None = None) -> Path:
    """Write ``image_bgr`` as a timestamped JPEG into ``cfg.folder``; returns its path.

    The file appears complete or not at all (written under a temporary name, then renamed),
    so a power cut never leaves a broken JPEG behind.
    """
    folder = Path(cfg.folder).expanduser()
    image = np.asarray(image_bgr)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise UserError(f"cannot save a snapshot of a {image.dtype} array shaped {image.shape}; "
                        "expected an 8-bit BGR image (this is a bug, please report it)")
    ok, encoded = cv2.imencode(SUFFIX, image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise UserError(f"OpenCV could not encode the snapshot as JPEG (image {image.shape}); check "
                        "that this OpenCV build has JPEG support")
    _ensure_folder(folder)
    path = _unique_name(folder, now or datetime.now())
    try:
        write_atomically(path, encoded.tobytes(), 0o640)  # the service's group may read them
    except OSError as exc:
        raise _problem(folder, exc) from None
    log.debug("snapshot written: %s (%d KB)", path, len(encoded) // 1024)
    prune(folder, int(cfg.max_mb * 2**20), keep=path)
    return path
