"""Video files in and out through PyAV: decoded pictures with their timestamps, audio copied as packets.

Why PyAV and not OpenCV: OpenCV's writer drops the sound, knows no timestamps (a variable-frame-rate
phone clip would drift) and ignores rotation. Here every picture keeps the presentation time it
had in the input, audio packets are copied without decoding (bit for bit, so the sound cannot
change), and a phone's rotation flag is applied to the pixels so the result plays upright anywhere.

The output is written to a temporary name beside the target and renamed only when complete, so an
interrupted or failed run never leaves a half-written file under the name asked for.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_emojify.atomic import usual_mode
from edge_emojify.errors import UserError
from edge_emojify.types import Rect

log = logging.getLogger(__name__)

# The oldest PyAV this works with (display-matrix rotation, stream templates): Debian Trixie's
# python3-av. The video extra (pyproject.toml) asks for it, and CI runs the video tests on it.
MIN_PYAV = (14, 2)
FLOOR = ".".join(map(str, MIN_PYAV))
INSTALL_HINT = (f"install it with: pip install 'edge-emojify[video]'; on the Pi: sudo apt install python3-av "
                f"python3-tqdm python3-matplotlib, and on Bookworm, whose python3-av is 10, also "
                f"sudo /opt/edge-emojify/venv/bin/pip install 'av>={FLOOR}'")
H264 = ("libx264", "h264", "mpeg4")
# Output suffix → FFmpeg's container format and the video encoders to try, best first.
CONTAINERS = {".mp4": ("mp4", H264), ".mov": ("mov", H264), ".mkv": ("matroska", H264),
              ".webm": ("webm", ("libvpx-vp9", "libvpx")), ".avi": ("avi", ("mpeg4",))}
VIDEO_SUFFIXES = tuple(CONTAINERS)
# ultrafast: 30 % less time per 720p frame than superfast (and superfast 35 % less than veryfast),
# for files about 1.4 times the size; at crf 20 they look alike. Encoding is most of the budget.
ENCODER_OPTIONS = {"libx264": {"preset": "ultrafast", "crf": "20"},
                   "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"}}


def import_av() -> Any:
    """PyAV, or a one-line UserError saying how to install it (also for one too old to use)."""
    try:
        import av
    except ImportError:
        raise UserError(f"emojifying a video needs PyAV {FLOOR} or newer; {INSTALL_HINT}") from None
    if _version(av.__version__) < MIN_PYAV:
        raise UserError(f"emojifying a video needs PyAV {FLOOR} or newer, this is {av.__version__}; {INSTALL_HINT}")
    return av


def _version(text: str) -> tuple[int, ...]:
    """'14.2.0' → (14, 2, 0); what follows the leading numbers (a pre-release tag) is ignored."""
    parts = []
    for part in text.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@dataclass(frozen=True)
class Picture:
    """One decoded video frame, upright, with its presentation time."""

    image: np.ndarray  # (H, W, 3) uint8 BGR
    pts: int  # in the input stream's time base
    time: float  # seconds from the start of the stream
    index: int
    luma: np.ndarray | None = None  # (H, W) its limited-range Y plane, upright, where it was 4:2:0
    yuv: np.ndarray | None = None  # as decoded, I420 (H * 3/2, W), where it was 4:2:0 and upright already

    @property
    def nbytes(self) -> int:
        """The memory it holds (the decoded planes as well as the BGR picture)."""
        return self.image.nbytes + (self.yuv.nbytes if self.yuv is not None else 0)


@dataclass(frozen=True)
class AudioPacket:
    """A compressed audio packet passed through untouched."""

    packet: Any  # av.Packet


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display-matrix rotation (degrees counter-clockwise, as PyAV reports it) to the pixels."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def bgr_and_i420(frame: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A decoded frame as BGR, and as I420 where it is 4:2:0 (nearly every camera and phone): that
    goes through OpenCV, 2-3× faster than swscale, and its planes serve twice more: the Y plane
    is a free grey image, and the writer re-encodes them with only what was drawn converted."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        i420 = np.ascontiguousarray(frame.to_ndarray(format="yuv420p"))  # `_planes` takes views of it
        return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420), i420
    return frame.to_ndarray(format="bgr24"), None


def patch_i420(i420: np.ndarray, image: np.ndarray, changed: Sequence[Rect]) -> np.ndarray:
    """``i420`` (the picture as decoded) with the ``changed`` rectangles of ``image`` (the same
    picture drawn on) converted into it, in place: what a recording draws is a few faces, and
    converting those instead of the whole picture saves up to 0.8 ms a 720p frame. Rectangles
    are widened to even edges, so whole 2x2 chroma blocks are converted: inside them the result
    is what converting all of ``image`` gives, and outside them the decoded pixels are kept
    exactly (no round trip through BGR)."""
    h, w = image.shape[:2]
    planes = _planes(i420, h, w)
    for x0, y0, x1, y1 in changed:
        x0, y0 = max(0, x0 & ~1), max(0, y0 & ~1)
        x1, y1 = min(w, x1 + (x1 & 1)), min(h, y1 + (y1 & 1))
        if x1 <= x0 or y1 <= y0:
            continue
        patch = _planes(cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2YUV_I420), y1 - y0, x1 - x0)
        planes[0][y0:y1, x0:x1] = patch[0]
        for plane, part in zip(planes[1:], patch[1:], strict=True):
            plane[y0 // 2:y1 // 2, x0 // 2:x1 // 2] = part
    return i420


def _planes(i420: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of a contiguous I420 array of an ``h`` x ``w`` picture."""
    flat = i420.reshape(-1)  # a view, as the array is contiguous: writes to the planes land in it
    quarter = (h // 2) * (w // 2)
    return (flat[:h * w].reshape(h, w), flat[h * w:h * w + quarter].reshape(h // 2, w // 2),
            flat[h * w + quarter:h * w + 2 * quarter].reshape(h // 2, w // 2))


class MediaReader:
    """A video file's pictures (in presentation order) and its audio packets, interleaved as stored."""

    def __init__(self, path: Path) -> None:
        av = import_av()
        self.path = path
        if not path.is_file():
            raise UserError(f"{path} does not exist; check the name")
        try:
            self._container = av.open(str(path), metadata_errors="ignore")
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise UserError(f"{path} is not a video FFmpeg can read ({exc.__class__.__name__}); "
                            "check the file, or convert it to MP4 (H.264)") from None
        if not self._container.streams.video:
            self.close()
            raise UserError(f"{path} has no video stream; pass a video file")
        self.video = self._container.streams.video[0]
        if self.video.codec_context is None or not self.video.codec_context.codec.is_decoder:
            self.close()
            raise UserError(f"{path}: its video codec cannot be decoded here; convert it to MP4 (H.264)")
        self.video.thread_type = "AUTO"  # frame threads where FFmpeg has them: decoding is not the budget
        self.audio = list(self._container.streams.audio)
        self.rate: Fraction = self.video.average_rate or self.video.guessed_rate or Fraction(30)
        self.time_base: Fraction = self.video.time_base
        seconds = float(self.video.duration * self.time_base) if self.video.duration else (
            self._container.duration / 1e6 if self._container.duration else 0.0)
        self.duration = seconds
        self.frames = self.video.frames or round(seconds * float(self.rate))  # an estimate for progress

    def __iter__(self) -> Iterator[Picture | AudioPacket]:
        av = import_av()
        index = 0
        start: int | None = None
        last_pts: int | None = None
        step = max(1, round(1 / (float(self.rate) * self.time_base))) if self.time_base else 1
        try:
            for packet in self._container.demux(self.video, *self.audio):
                if packet.stream.type == "audio":
                    if packet.dts is not None:  # the demuxer's empty flush packets are not data
                        yield AudioPacket(packet)
                    continue
                for frame in packet.decode():
                    pts = frame.pts if frame.pts is not None else (last_pts + step if last_pts is not None else 0)
                    if last_pts is not None and pts <= last_pts:  # a broken stream: keep time moving forward
                        pts = last_pts + 1
                    last_pts = pts
                    start = pts if start is None else start
                    decoded, i420 = bgr_and_i420(frame)
                    rotation = int(frame.rotation)
                    image = upright(decoded, rotation)
                    luma = None if i420 is None else upright(i420[:frame.height], rotation)
                    yield Picture(image, pts, float((pts - start) * self.time_base), index, luma,
                                  i420 if image is decoded else None)  # turned pictures have no planes to reuse
                    index += 1
        except av.error.FFmpegError as exc:
            raise UserError(f"{self.path}: cannot decode frame {index} ({exc.__class__.__name__}); the file "
                            "may be damaged: try re-encoding it") from None

    def close(self) -> None:
        self._container.close()


class MediaWriter:
    """Writes pictures at the input's timestamps and copies the input's audio, into a temporary file.

    ``commit`` renames the finished file into place; ``discard`` removes it. Every write error
    (a full disk, a removed folder) becomes a UserError naming the output and the fix.
    """

    def __init__(self, path: Path, reader: MediaReader, size: tuple[int, int]) -> None:
        self._av = av = import_av()  # checked once here, not again for every picture
        self.path = path
        suffix = path.suffix.lower()
        if suffix not in CONTAINERS:
            raise UserError(f"output {path} must end in {', '.join(VIDEO_SUFFIXES)}; change -o")
        folder = path.parent if str(path.parent) else Path(".")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{suffix}", dir=folder)
            os.close(fd)
        except OSError as exc:
            raise UserError(f"cannot write to {folder} ({exc.strerror}); choose another -o") from None
        self.temp = Path(temp)
        self.frames = 0
        self._wrap: bool | None = None  # whether this PyAV wraps a 4:2:0 array as it is (`_wrap_i420`)
        try:
            self._container = av.open(str(self.temp), "w", format=CONTAINERS[suffix][0])
            self._video = self._add_video(av, suffix, reader, size)
            self._audio = {stream.index: self._add_audio(stream) for stream in reader.audio}
        except Exception:
            self.discard()
            raise

    def _add_video(self, av: Any, suffix: str, reader: MediaReader, size: tuple[int, int]) -> Any:
        encoders = CONTAINERS[suffix][1]
        codec = next((c for c in encoders if _has_encoder(av, c)), None)
        if codec is None:
            raise UserError(f"this FFmpeg has no encoder for {suffix} ({', '.join(encoders)}); "
                            "choose an .mp4 or .avi output")
        stream = self._container.add_stream(codec, rate=reader.rate, options=ENCODER_OPTIONS.get(codec, {}))
        stream.width, stream.height = size
        # x264's 4:2:0 needs even sizes; an odd-sized clip keeps its size in 4:4:4 rather than being cropped.
        stream.pix_fmt = "yuv420p" if size[0] % 2 == 0 and size[1] % 2 == 0 else "yuv444p"
        stream.codec_context.time_base = reader.time_base  # the input's clock, so VFR timing survives
        stream.time_base = reader.time_base
        stream.thread_type = "AUTO"
        return stream

    def _add_audio(self, stream: Any) -> Any:
        name = stream.codec_context.name
        if name not in self._container.supported_codecs:
            raise UserError(f"the audio ({name}) of the input cannot be stored in {self.path.suffix}; name "
                            "the output .mkv, which takes any audio")
        # Its time base comes from the template (PyAV 14 refuses to set it on a copied stream); each
        # packet keeps its own, and the muxer rescales it to whatever the container settles on.
        return self._container.add_stream_from_template(stream)

    def write(self, picture: Picture, image: np.ndarray, changed: Sequence[Rect] | None = None) -> None:
        """Encode ``image``, which is ``picture`` drawn on: where ``changed`` says which rectangles
        differ from it (None: maybe all), only those are converted into the decoded planes."""
        if self._video.pix_fmt == "yuv420p":  # OpenCV converts 2-3× faster than swscale
            if changed is not None and picture.yuv is not None and image.shape == picture.image.shape:
                yuv = patch_i420(picture.yuv, image, changed)
            else:
                yuv = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
            frame = self._wrap_i420(yuv)
        else:
            frame = self._av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = picture.pts
        frame.time_base = self._video.codec_context.time_base
        self._mux(self._video.encode(frame))
        self.frames += 1

    def _wrap_i420(self, yuv: np.ndarray) -> Any:
        """A frame around an I420 array (OpenCV's, or the decoded planes patched) without copying it
        (0.01 against 0.57 ms at 720p): the array is new for each picture and the encoder copies
        what it keeps. A PyAV that cannot wrap
        4:2:0, or lays the planes out otherwise (checked on the first picture), gets a copy."""
        av = self._av
        if self._wrap is not False:
            try:
                frame = av.VideoFrame.from_numpy_buffer(yuv, format="yuv420p")
                if self._wrap is None:
                    self._wrap = bool(np.array_equal(frame.to_ndarray(format="yuv420p"), yuv))
                if self._wrap:
                    return frame
            except (AttributeError, ValueError):
                self._wrap = False
        return av.VideoFrame.from_ndarray(yuv, format="yuv420p")

    def copy_audio(self, audio: AudioPacket) -> None:
        packet = audio.packet
        packet.stream = self._audio[packet.stream_index]
        self._mux([packet])

    def _mux(self, packets: list[Any]) -> None:
        try:
            for packet in packets:
                self._container.mux(packet)
        except OSError as exc:
            raise self._write_error(exc) from None

    def _write_error(self, exc: OSError) -> UserError:
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return UserError(f"the disk is full writing {self.path} ({os.strerror(exc.errno)}); free some space "
                             "or choose another -o; nothing was written")
        return UserError(f"cannot write {self.path} ({exc.strerror or exc}); choose another -o")

    def commit(self) -> None:
        """Flush the encoder, close the file and move it to the name asked for."""
        try:
            self._mux(self._video.encode(None))
            self._container.close()
        except UserError:
            self.discard()
            raise
        except OSError as exc:
            self.discard()
            raise self._write_error(exc) from None
        os.chmod(self.temp, usual_mode())  # mkstemp's 0600 is for the unfinished file only
        os.replace(self.temp, self.path)

    def discard(self) -> None:
        """Close and remove the temporary file (on an error or Ctrl-C): nothing half-written remains."""
        container = getattr(self, "_container", None)
        if container is not None:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - a broken file is being thrown away anyway
                pass
        self.temp.unlink(missing_ok=True)


class Output:
    """A reader's pictures and audio on their way into ``path``: the writer opens at the first picture
    (the output takes its upright size), and audio that comes before it is kept until then. A
    decoder with frame threads hands out its first picture several packets late, so on a many-core
    machine (a Pi) the first audio packets arrive before any picture and must wait for the writer."""

    def __init__(self, path: Path, reader: MediaReader) -> None:
        self.path = path
        self._reader = reader
        self.writer: MediaWriter | None = None
        self._early: list[AudioPacket] = []

    def audio(self, packet: AudioPacket) -> None:
        if self.writer is None:
            self._early.append(packet)
        else:
            self.writer.copy_audio(packet)

    def open(self, picture: Picture) -> MediaWriter:
        """The writer, opened at ``picture``'s size the first time (with the audio kept so far)."""
        if self.writer is None:
            h, w = picture.image.shape[:2]
            self.writer = MediaWriter(self.path, self._reader, (w, h))
            for packet in self._early:
                self.writer.copy_audio(packet)
            self._early.clear()
        return self.writer


def _has_encoder(av: Any, name: str) -> bool:
    try:
        return av.codec.Codec(name, "w") is not None
    except Exception:  # noqa: BLE001 - UnknownCodecError and friends differ between PyAV versions
        return False
