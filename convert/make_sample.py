"""Build the sample clip the app plays when no camera is attached.

Why: a demo and the end-to-end tests need moving faces without a camera, and we may only ship
images we are free to redistribute. Both portraits are US-government works in the public
domain that already ship inside well-known packages: Grace Hopper (US Navy photo, in
matplotlib's sample data) and astronaut Eileen Collins (NASA photo, ``skimage.data.astronaut``).
The clip pans and zooms over each portrait, plays a mirrored pass, then shows both side by side
(a two-face frame), with eased motion so a tracker sees faces that move smoothly. It also saves
the two stills (tests run face detection on them) and a provenance README.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from convert import ConvertError, run_script

OUT_DIR = Path("edge_emojify/data")
WIDTH, HEIGHT = 640, 480
SEGMENTS = ("hopper", "astronaut", "hopper, mirrored", "both side by side")




def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m convert.make_sample", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default: {OUT_DIR})")
    p.add_argument("--fps", type=int, default=15, help="frame rate (default: 15)")
    p.add_argument("--seconds", type=float, default=6.0, help="clip length (default: 6)")
    p.add_argument("--max-bytes", type=int, default=2_000_000, help="size budget for the clip")
    return p.parse_args(argv)


def load_portraits() -> dict[str, np.ndarray]:
    """Both portraits as BGR uint8, straight from the packages that ship them."""
    try:
        from matplotlib import cbook
        from skimage import data
    except ImportError as exc:
        raise ConvertError(f"{exc.name} is missing; run: pip install matplotlib scikit-image") from None
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return {"hopper": hopper, "astronaut": astronaut}


def ease(t: float) -> float:
    """Smooth 0→1→0 over one segment, so motion starts and stops without jumps."""
    return 0.5 - 0.5 * math.cos(2 * math.pi * t)


def view(
    image: np.ndarray, cx: float, cy: float, zoom: float, size: tuple[int, int] = (WIDTH, HEIGHT)
) -> np.ndarray:
    """A ``size`` window on ``image`` centred near (cx, cy) (fractions of the image), ``zoom`` times the
    scale that just covers the window; clamped so no border (and no reflected extra face) shows."""
    h, w = image.shape[:2]
    out_w, out_h = size
    scale = max(out_w / w, out_h / h) * zoom
    tx = min(0.0, max(out_w - w * scale, out_w / 2 - cx * w * scale))
    ty = min(0.0, max(out_h - h * scale, out_h / 2 - cy * h * scale))
    m = np.float32([[scale, 0, tx], [0, scale, ty]])
    return cv2.warpAffine(image, m, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def frames(portraits: dict[str, np.ndarray], n: int) -> Iterator[np.ndarray]:
    """Four equal segments: each portrait, the mirrored pass, then both faces at once."""
    hopper, astro = portraits["hopper"], portraits["astronaut"]
    per = max(1, n // len(SEGMENTS))
    half = (WIDTH // 2, HEIGHT)
    for i in range(n):
        seg, t = min(i // per, len(SEGMENTS) - 1), (i % per) / per
        e = ease(t)
        if seg == 0:  # Hopper: zoom in on the face and drift sideways
            yield view(hopper, 0.51 - 0.06 * e, 0.37, 1.0 + 0.4 * e)
        elif seg == 1:  # Collins: pan so the face travels across and down the frame
            yield view(astro, 0.30 + 0.25 * e, 0.2 + 0.1 * e, 1.2 + 0.3 * e)
        elif seg == 2:  # the mirrored pass: Hopper flipped left-right, zooming out, drifting the other way
            yield view(np.ascontiguousarray(hopper[:, ::-1]), 0.49 + 0.06 * e, 0.37, 1.4 - 0.4 * e)
        else:  # two faces: one portrait per half, bobbing in opposite directions
            left = view(hopper, 0.51, 0.40 - 0.06 * e, 1.1, half)
            right = view(astro, 0.41, 0.22 + 0.06 * e, 1.4, half)
            yield np.hstack([left, right])


def write_clip(path: Path, fourcc: str, fps: int, images: list[np.ndarray], scale: float) -> bool:
    """Write the frames (optionally downscaled); False if OpenCV cannot encode this format."""
    size = (round(WIDTH * scale) // 2 * 2, round(HEIGHT * scale) // 2 * 2)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        return False
    for img in images:
        writer.write(img if scale == 1 else cv2.resize(img, size, interpolation=cv2.INTER_AREA))
    writer.release()
    return path.is_file() and path.stat().st_size > 0


def verify(path: Path) -> tuple[int, int, int]:
    """Read the clip back: (frames, width, height); what the app's file source will see."""
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    size = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    return count, *size


def save_still(image: np.ndarray, path: Path) -> None:
    if image.shape[1] > WIDTH:
        image = cv2.resize(image, (WIDTH, round(image.shape[0] * WIDTH / image.shape[1])), cv2.INTER_AREA)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"{path}: {image.shape[1]}x{image.shape[0]}, {path.stat().st_size} bytes")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    portraits = load_portraits()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, img in portraits.items():
        save_still(img, args.out / f"{name}.jpg")
    n = round(args.fps * args.seconds)
    images = list(frames(portraits, n))
    print(f"rendered {n} frames at {WIDTH}x{HEIGHT}, {args.fps} fps: {', '.join(SEGMENTS)}")
    clip = None
    for suffix, fourcc in ((".mp4", "mp4v"), (".avi", "MJPG")):
        for scale in (1.0, 0.75, 0.5):
            path = args.out / f"sample{suffix}"
            if not write_clip(path, fourcc, args.fps, images, scale):
                print(f"{fourcc}: OpenCV cannot write {path.name} here, trying the next format")
                path.unlink(missing_ok=True)
                break
            print(f"{path}: {fourcc} at scale {scale}, {path.stat().st_size} bytes")
            if path.stat().st_size <= args.max_bytes:
                clip = path
                break
        if clip:
            break
    if clip is None:
        raise ConvertError("no format fit the size budget; raise --max-bytes or lower --seconds")
    for other in args.out.glob("sample.*"):
        if other != clip and other.suffix in (".mp4", ".avi"):
            other.unlink()
    count, w, h = verify(clip)
    if count != n:
        raise ConvertError(f"{clip} reads back {count} frames instead of {n}; the codec is broken here")
    print(f"verified {clip}: {count} frames, {w}x{h}")
    write_readme(args, clip, w, h)
    return 0


def write_readme(args: argparse.Namespace, clip: Path, w: int, h: int) -> None:
    (args.out / "README.md").write_text(
        "# Bundled sample data\n\n"
        "| file | what |\n|---|---|\n"
        f"| `{clip.name}` | {args.seconds:g} s loop, {w}x{h}, {args.fps} fps: {'; '.join(SEGMENTS)} |\n"
        "| `hopper.jpg` | Grace Hopper, still (JPEG q90), used by the face-detection tests |\n"
        "| `astronaut.jpg` | Eileen Collins, still (JPEG q90), used by the face-detection tests |\n\n"
        "Made with `python -m convert.make_sample` from the repo root "
        "(needs matplotlib and scikit-image, which the app itself does not).\n\n"
        "## Provenance and licence\n\n"
        "* **Grace Hopper**: official US Navy portrait of Commodore Grace M. Hopper (1984), "
        "taken from matplotlib's sample data (`matplotlib.cbook.get_sample_data('grace_hopper.jpg')`).\n"
        "* **Eileen Collins**: official NASA portrait of astronaut Eileen Collins, "
        "taken from scikit-image (`skimage.data.astronaut()`).\n\n"
        "Both are works of the United States federal government (US Navy and NASA) made as part of "
        "the photographers' official duties, and are therefore in the public domain in the United "
        "States (17 U.S.C. § 105). No FER2013 or other dataset images are included here.\n",
        encoding="utf-8",
    )
    print(f"{args.out / 'README.md'} written")


if __name__ == "__main__":
    run_script(main)
