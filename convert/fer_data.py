"""Load FER2013 in both public forms, and FER+ crowd votes, into plain numpy arrays.

Two layouts exist in the wild and both are accepted:

* the Kaggle folder layout: ``ROOT/train/<class>/*.jpg`` and ``ROOT/test/<class>/*.jpg``,
  where test file names start with ``PublicTest_`` or ``PrivateTest_``;
* the original ``fer2013.csv`` with columns ``emotion,pixels,Usage``.

A third, ``.npz``, is this project's own transport form (:func:`save_npz`): the image files' bytes
in one array, small enough to travel to a GPU machine that cannot see the dataset.

Labels always use ``edge_emojify.labels.EMOTIONS`` (the CSV's order). Every problem with the
input raises :class:`DatasetError` with a one-line message that says what to fix.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convert import ConvertError
from edge_emojify.labels import EMOTIONS, NUM_CLASSES

IMAGE_SIZE = 48
USAGES = ("Training", "PublicTest", "PrivateTest")

# FER+ vote columns mapped to our class names (contempt, unknown and NF have no FER2013 class).
FERPLUS_COLUMNS = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}


class DatasetError(ConvertError):
    """A dataset problem the user can fix; the message is one line naming the fix."""


@dataclass(frozen=True)
class FerSet:
    """Images ``(N, 48, 48) uint8``, labels ``(N,) int64`` in EMOTIONS order, and provenance."""

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray  # (N,) str: Training / PublicTest / PrivateTest
    paths: tuple[str, ...] = field(default=())  # relative paths (folder layout) or "csv:<row>"

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, mask: np.ndarray) -> FerSet:
        """Return the subset where ``mask`` (bool or index array) holds."""
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)
        paths = tuple(self.paths[i] for i in idx) if self.paths else ()
        return FerSet(self.images[idx], self.labels[idx], self.usage[idx], paths)

    def split(self, usage: str | tuple[str, ...]) -> FerSet:
        """Return the rows whose usage is ``usage`` (or any of a tuple of usages)."""
        wanted = (usage,) if isinstance(usage, str) else usage
        return self.select(np.isin(self.usage, wanted))


def _usage_from_name(name: str, split_dir: str) -> str:
    for usage in USAGES:
        if name.startswith(usage + "_"):
            return usage
    # Other copies of the folder layout drop the prefix; test/ then counts as PublicTest+PrivateTest.
    return "Training" if split_dir == "train" else "Test"


def _decode_jpeg(path: Path, content: bytes | None = None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path if content is None else io.BytesIO(content)) as im:
            arr = np.asarray(im.convert("L"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc.__class__.__name__}; "
                           "re-download the dataset or delete that file") from None
    if arr.shape != (IMAGE_SIZE, IMAGE_SIZE):
        from PIL import Image as _Image

        arr = np.asarray(_Image.fromarray(arr).resize((IMAGE_SIZE, IMAGE_SIZE)), dtype=np.uint8)
    return arr


def load_folder(root: str | Path, splits: tuple[str, ...] = ("train", "test"),
                progress: bool = False) -> FerSet:
    """Load the Kaggle folder layout under ``root`` (which holds ``train/`` and/or ``test/``)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; pass the folder that holds "
                           "train/ and test/ (e.g. ../shared/data/fer2013)")
    images: list[np.ndarray] = []
    labels: list[int] = []
    usage: list[str] = []
    paths: list[str] = []
    for split_dir in splits:
        base = root / split_dir
        if not base.is_dir():
            raise DatasetError(f"{base} is missing; the dataset folder must hold {'/ and '.join(splits)}/")
        for label, name in enumerate(EMOTIONS):
            class_dir = base / name
            if not class_dir.is_dir():
                raise DatasetError(f"class folder {class_dir} is missing; expected one folder per "
                                   f"class: {', '.join(EMOTIONS)}")
            files = sorted(p for p in class_dir.iterdir()
                           if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            for path in files:
                images.append(_decode_jpeg(path))
                labels.append(label)
                usage.append(_usage_from_name(path.name, split_dir))
                paths.append(f"{split_dir}/{name}/{path.name}")
            if progress:
                print(f"  loaded {split_dir}/{name}: {len(files)} images", flush=True)
    if not images:
        raise DatasetError(f"no images found under {root}; expected <split>/<class>/*.jpg")
    return FerSet(np.stack(images), np.asarray(labels, np.int64), np.asarray(usage), tuple(paths))


def load_csv(path: str | Path) -> FerSet:
    """Load the original ``fer2013.csv`` (``emotion,pixels,Usage``; labels already in our order)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"CSV file {path} does not exist; pass the path of fer2013.csv")
    images: list[np.ndarray] = []
    labels: list[int] = []
    usage: list[str] = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{path} lacks column(s) {', '.join(sorted(missing))}; "
                               "expected the Kaggle fer2013.csv header emotion,pixels,Usage")
        for row_no, row in enumerate(reader, start=2):
            try:
                label = int(row["emotion"])
                pixels = np.array(row["pixels"].split(), dtype=np.uint8)
            except ValueError:
                raise DatasetError(f"{path} line {row_no}: emotion or pixels is not numeric; "
                                   "fix or delete that line") from None
            if not 0 <= label < NUM_CLASSES or pixels.size != IMAGE_SIZE * IMAGE_SIZE:
                raise DatasetError(f"{path} line {row_no}: expected emotion 0..6 and 2304 pixels, "
                                   f"got {label} and {pixels.size}; fix or delete that line")
            if row["Usage"] not in USAGES:
                raise DatasetError(f"{path} line {row_no}: Usage {row['Usage']!r} is not one of "
                                   f"{', '.join(USAGES)}")
            images.append(pixels.reshape(IMAGE_SIZE, IMAGE_SIZE))
            labels.append(label)
            usage.append(row["Usage"])
    if not images:
        raise DatasetError(f"{path} has no rows")
    paths = tuple(f"csv:{i}" for i in range(len(images)))
    return FerSet(np.stack(images), np.asarray(labels, np.int64), np.asarray(usage), paths)


def pixels_sha256(data: FerSet) -> str:
    """Hash of the decoded faces: tells whether two machines see the very same pixels."""
    return hashlib.sha256(data.images.tobytes()).hexdigest()


def save_npz(data: FerSet, path: str | Path, root: str | Path | None = None) -> None:
    """Write ``data`` as one ``.npz``: each image's file bytes, labels, usage and paths.

    With ``root`` (the folder layout it was loaded from) the original JPEG bytes are kept, the
    smallest form; otherwise each face is stored as a lossless PNG. The bytes every file shares
    at its start and end are stored once: FER2013's JPEGs all begin with the same 328 bytes of
    headers and tables, a fifth of each file, so its training faces take 34 MiB instead of 43
    and leave room in the GPU machine's 64 MiB for the teachers kept in the checkout. The hash of
    the decoded pixels goes along, so the loader can tell whether its image decoder sees the same
    faces as this one did.
    """
    from PIL import Image

    blobs = []
    for i, rel in enumerate(data.paths or [""] * len(data)):
        if root is not None and rel:
            blobs.append((Path(root) / rel).read_bytes())
        else:
            buf = io.BytesIO()
            Image.fromarray(data.images[i]).save(buf, format="PNG")
            blobs.append(buf.getvalue())
    head = os.path.commonprefix(blobs) if blobs else b""
    tail = os.path.commonprefix([b[len(head):][::-1] for b in blobs])[::-1] if blobs else b""
    middles = [b[len(head):len(b) - len(tail)] for b in blobs]
    offsets = np.cumsum([0] + [len(b) for b in middles], dtype=np.int64)
    # Byte strings, not numpy's 4-byte-per-character unicode: the paths alone would add 4 MB.
    # Compressed: the paths shrink to a seventh; the JPEG bytes hardly, and decompress in a second.
    np.savez_compressed(path, files=np.frombuffer(b"".join(middles), np.uint8), offsets=offsets,
                        head=np.frombuffer(head, np.uint8), tail=np.frombuffer(tail, np.uint8),
                        labels=data.labels.astype(np.int8), usage=np.char.encode(data.usage.astype(str)),
                        paths=np.char.encode(np.asarray(data.paths, dtype=str)),
                        pixels_sha256=np.asarray(pixels_sha256(data)))


def load_npz(path: str | Path, progress: bool = False) -> FerSet:
    """Load a :func:`save_npz` file; warn (not fail) if this decoder's pixels differ from the packer's."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"packed dataset {path} does not exist; make it with python -m convert.pack_device")
    try:
        with np.load(path, allow_pickle=False) as z:
            files, offsets = z["files"].tobytes(), z["offsets"]
            head, tail = (z[k].tobytes() if k in z.files else b"" for k in ("head", "tail"))  # older files: none
            labels, usage, paths, expected = z["labels"], z["usage"], z["paths"], str(z["pixels_sha256"])
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"{path} is not a packed FER2013 file ({exc.__class__.__name__}); "
                           "make it again with python -m convert.pack_device") from None
    paths = [p.decode() for p in paths]
    images = np.stack([_decode_jpeg(Path(f"{path}:{paths[i]}"), head + files[offsets[i]:offsets[i + 1]] + tail)
                       for i in range(len(labels))])
    data = FerSet(images, labels.astype(np.int64), np.char.decode(usage), tuple(paths))
    if progress:
        print(f"  loaded {len(data)} images from {path}", flush=True)
    if pixels_sha256(data) != expected:
        # Training is still sound (the split depends on labels and seed only), but validation hashes
        # will not match runs made from the folder elsewhere, so teachers from there are refused.
        print(f"warning: this image decoder gives other pixels than the one that packed {path}", flush=True)
    return data


def load(source: str | Path, progress: bool = False) -> FerSet:
    """Load any form: a ``.csv`` file, a packed ``.npz`` or a folder in the Kaggle layout."""
    source = Path(source)
    if source.suffix.lower() == ".csv":
        return load_csv(source)
    if source.suffix.lower() == ".npz":
        return load_npz(source, progress=progress)
    return load_folder(source, progress=progress)


def load_ferplus_votes(votes_csv: str | Path, data: FerSet) -> np.ndarray:
    """Return FER+ vote distributions ``(N, 7)`` aligned with ``data.paths`` (rows sum to 1).

    Images that FER+ has no 7-class vote for get an all-zero row; callers treat those as
    unlabelled (soft-target training falls back to the FER2013 label for them).
    """
    votes_csv = Path(votes_csv)
    if not votes_csv.is_file():
        raise DatasetError(f"FER+ votes file {votes_csv} does not exist; pass ../shared/data/ferplus/votes.csv")
    index = {p: i for i, p in enumerate(data.paths)}
    out = np.zeros((len(data), NUM_CLASSES), np.float32)
    with votes_csv.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if "fer2013_path" not in (reader.fieldnames or ()):
            raise DatasetError(f"{votes_csv} has no fer2013_path column; expected the joined votes.csv")
        for row in reader:
            i = index.get(row["fer2013_path"])
            if i is None:
                continue
            for column, name in FERPLUS_COLUMNS.items():
                out[i, EMOTIONS.index(name)] = float(row[column])
    totals = out.sum(axis=1, keepdims=True)
    np.divide(out, totals, out=out, where=totals > 0)
    return out


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """Majority-vote labels from :func:`load_ferplus_votes`; -1 where there is no vote or a tie."""
    labels = votes.argmax(axis=1)
    top = votes.max(axis=1)
    ties = (votes == top[:, None]).sum(axis=1) > 1
    labels[(top <= 0) | ties] = -1
    return labels


def duplicate_test_paths(duplicates_csv: str | Path) -> set[str]:
    """Test images that have a byte-identical twin in train (the known FER2013 leakage)."""
    path = Path(duplicates_csv)
    if not path.is_file():
        return set()
    groups: dict[str, list[str]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            groups.setdefault(row["group"], []).append(row["path"])
    leaked: set[str] = set()
    for members in groups.values():
        if any(p.startswith("train/") for p in members):
            leaked.update(p for p in members if p.startswith("test/"))
    return leaked


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, validation), ``fraction`` of every class going to validation."""
    rng = np.random.default_rng(seed)
    val: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        val.append(idx[: max(1, round(len(idx) * fraction))])
    val_idx = np.sort(np.concatenate(val))
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return train_idx, val_idx
