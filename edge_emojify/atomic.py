"""Writing a file so that its name never holds half of it: a snapshot, a photo, the config."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int = 0o600, owner: tuple[int, int] | None = None) -> None:
    """Write ``data`` to a hidden temporary file beside ``path``, then rename it over ``path``.

    A full disk, a power cut or Ctrl-C leaves either the old file or the new one, never a
    truncated one, and the temporary file is removed on failure. ``mode`` and ``owner`` (uid,
    gid) are set before the rename, so the file is never readable by others, even briefly.
    Raises OSError; each caller says what it means for its file.
    """
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        if owner is not None:
            os.chown(temp, *owner)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def usual_mode() -> int:
    """The mode a plainly created file gets under this process's umask (mkstemp makes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
