"""Render the emotion emoji PNGs from the Noto Color Emoji font.

Why a script rather than hand-exported images: the artwork must be reproducible and its
licence traceable. The glyphs come from Debian's ``fonts-noto-color-emoji`` (SIL OFL 1.1),
the code points from ``edge_emojify.labels.EMOJI_CODEPOINTS`` so the pictures can never drift
from the class list. Each glyph is cropped to its alpha bounding box, centred on a square
transparent canvas and resized to a fixed size so the app can overlay it without maths.
Alongside the PNGs it writes ``LICENSE.txt`` (the OFL text from the Debian copyright file)
and ``README.md`` (command, font version, code point per file).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from convert import ConvertError, run_script
from edge_emojify.labels import EMOJI_CODEPOINTS

DEFAULT_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
DEFAULT_COPYRIGHT = Path("/usr/share/doc/fonts-noto-color-emoji/copyright")
FONT_PACKAGE = "fonts-noto-color-emoji"
BITMAP_SIZE = 109  # CBDT fonts only load at their strike size; Noto Color Emoji's is 109 px.




def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m convert.make_emojis", description=__doc__.split("\n\n")[0])
    p.add_argument("--font", type=Path, default=DEFAULT_FONT, help="NotoColorEmoji.ttf (CBDT bitmap font)")
    p.add_argument("--copyright", type=Path, default=DEFAULT_COPYRIGHT, help="Debian copyright (OFL text)")
    p.add_argument("--out", type=Path, default=Path("emojis"), help="output folder (default: emojis)")
    p.add_argument("--size", type=int, default=128, help="square output size in pixels (default: 128)")
    return p.parse_args(argv)


def render(font: ImageFont.FreeTypeFont, char: str, size: int) -> Image.Image:
    """Draw one glyph in colour, crop to its alpha bbox, pad to a square and resize."""
    canvas = Image.new("RGBA", (BITMAP_SIZE * 2, BITMAP_SIZE * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((BITMAP_SIZE // 2, BITMAP_SIZE // 2), char, font=font, embedded_color=True)
    bbox = canvas.getchannel("A").getbbox()
    if bbox is None:
        raise ConvertError(f"font has no glyph for U+{ord(char):04X}; is {FONT_PACKAGE} up to date?")
    glyph = canvas.crop(bbox)
    side = max(glyph.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    return square.resize((size, size), Image.Resampling.LANCZOS)


def package_version(name: str) -> str:
    """Debian package version, or 'unknown' off Debian; recorded so the artwork is traceable."""
    try:
        cmd = ["dpkg-query", "-W", "-f=${Version}", name]
        out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    except FileNotFoundError:
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def ofl_text(copyright_file: Path) -> str:
    """The SIL OFL 1.1 stanza of a Debian copyright file, un-folded (' .' lines are blank)."""
    lines = copyright_file.read_text(encoding="utf-8").splitlines()
    # The stand-alone stanza (first line of a paragraph), not the "License:" field of a Files stanza.
    heads = [i for i, s in enumerate(lines) if s.startswith("License:") and "SIL" in s and not lines[i - 1]]
    if not heads:
        raise ConvertError(f"{copyright_file} has no SIL OFL licence stanza")
    body: list[str] = []
    for line in lines[heads[0] + 1 :]:
        if not line or not line[0].isspace():
            break  # end of the stanza
        body.append("" if line.strip() == "." else line[1:])
    return "\n".join(body).strip() + "\n"


def write_docs(out: Path, args: argparse.Namespace, version: str, copyright_file: Path) -> None:
    header = (
        "The emoji images in this folder are rendered from Noto Color Emoji\n"
        f"(Debian package {FONT_PACKAGE} {version}, https://github.com/googlefonts/noto-emoji).\n"
        "Copyright 2013-2017 Google Inc., Arjen Nienhuis. The font is licensed under the\n"
        "SIL Open Font License 1.1; these PNGs are derived from the Font Software and are\n"
        "distributed under the same licence.\n\n"
    )
    (out / "LICENSE.txt").write_text(header + ofl_text(copyright_file), encoding="utf-8")
    rows = "\n".join(
        f"| `{name}.png` | U+{ord(char):04X} | {char} |" for name, char in EMOJI_CODEPOINTS.items()
    )
    command = f"python -m convert.make_emojis --out {args.out} --size {args.size}"
    (out / "README.md").write_text(
        "# Emoji artwork\n\n"
        f"{args.size}x{args.size} RGBA PNGs, transparent background, one per class in "
        "`edge_emojify.labels.EMOJI_CODEPOINTS`.\n\n"
        f"Made with `{command}` (from the repo root) from `{args.font}` at its {BITMAP_SIZE} px "
        f"bitmap strike, Debian package `{FONT_PACKAGE}` version `{version}`. Each glyph is cropped to "
        "its alpha bounding box, centred on a square transparent canvas and resized with Lanczos.\n\n"
        "| file | code point | emoji |\n|---|---|---|\n"
        f"{rows}\n\n"
        "Licence: SIL Open Font License 1.1, see `LICENSE.txt`.\n",
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for path, hint in ((args.font, "font"), (args.copyright, "copyright file")):
        if not path.is_file():
            raise ConvertError(f"{hint} {path} not found; install it with: apt-get install {FONT_PACKAGE}")
    font = ImageFont.truetype(str(args.font), size=BITMAP_SIZE, layout_engine=ImageFont.Layout.BASIC)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, char in EMOJI_CODEPOINTS.items():
        path = args.out / f"{name}.png"
        render(font, char, args.size).save(path, optimize=True)
        print(f"{path}: U+{ord(char):04X} {path.stat().st_size} bytes")
    version = package_version(FONT_PACKAGE)
    write_docs(args.out, args, version, args.copyright)
    print(f"{args.out}/LICENSE.txt and README.md written ({FONT_PACKAGE} {version})")
    return 0


if __name__ == "__main__":
    run_script(main)
