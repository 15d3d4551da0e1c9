"""Sinks that write files: a video (mp4/avi through OpenCV) or a numbered PNG sequence."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from edge_emojify.sinks.base import SinkError

log = logging.getLogger(__name__)

# Container → codec that stock OpenCV wheels and Debian's python3-opencv can both write.
FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class VideoSink:
    name = "video"

    def __init__(self, path: Path, size: tuple[int, int], fps: float) -> None:
        self.path = path
        self.size = size
        if path.suffix.lower() not in FOURCC:
            raise SinkError(f"video output {path} must end in {', '.join(FOURCC)}; change display.output")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create the folder of video output {path} ({exc.strerror}); change "
                            "--output or display.output") from None
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*FOURCC[path.suffix.lower()]),
                                       fps, size)
        if not self._writer.isOpened():
            raise SinkError(f"cannot write video {path}; check the folder is writable or try a .avi name")
        self.frames = 0
        log.info("writing video to %s (%dx%d at %.0f fps)", path, size[0], size[1], fps)

    def show(self, image: np.ndarray) -> None:
        self._writer.write(image)
        self.frames += 1

    def poll(self) -> list[str]:
        return []

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("wrote %d frames to %s", self.frames, self.path)


class PngSink:
    name = "png"

    def __init__(self, folder: Path, size: tuple[int, int]) -> None:
        self.folder = folder
        self.size = size
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create PNG folder {folder} ({exc.strerror}); change display.output") from None
        self.frames = 0

    def show(self, image: np.ndarray) -> None:
        path = self.folder / f"frame_{self.frames:06d}.png"
        if not cv2.imwrite(str(path), image):
            raise SinkError(f"cannot write {path}; is the disk full?")
        self.frames += 1

    def poll(self) -> list[str]:
        return []

    def close(self) -> None:
        pass
