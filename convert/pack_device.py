"""Pack what a training job needs on a lent GPU machine into ``.carry/`` (git-ignored).

    python -m convert.pack_device --data ../shared/data/fer2013

The GPU machine sees only the checkout plus at most 64 MiB of carried paths, has no network and no
Keras. So this writes the FER2013 training faces as one ``.npz`` of their JPEG bytes (the test
split never travels: nothing there may be chosen on it) and downloads the Keras wheels for the
machine's Python (3.12, see ``../shared/GPU.md``). ``python -m convert.run_plan`` installs them there.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from convert import ConvertError, run_script
from convert.fer_data import load_folder, save_npz

CARRY_LIMIT = 64 * 2**20
# What Keras 3.15.1 needs beyond what the GPU machine has (numpy, h5py, absl-py, rich, ml-dtypes);
# typing_extensions (for optree) came there with PyTorch, carried anyway so as not to depend on it.
WHEELS = ("keras==3.15.1", "namex==0.1.0", "optree==0.20.0", "typing_extensions==4.15.0")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def tree_bytes(root: Path) -> int:
    """Bytes of the files git would copy to the device: tracked plus untracked, not ignored."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                         capture_output=True, check=True).stdout
    return sum((root / name).stat().st_size for name in out.decode().split("\0") if name and (root / name).is_file())


def download_wheels(dest: Path, python_version: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", python_version, "--implementation", "cp",
           *[arg for platform in PLATFORMS for arg in ("--platform", platform)], "-d", str(dest), *WHEELS]
    if subprocess.run(cmd).returncode != 0:
        raise ConvertError(f"pip could not download {', '.join(WHEELS)} for Python {python_version}; "
                           "check the network or pass --no-wheels and carry them yourself")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.pack_device", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, help="FER2013 in the Kaggle folder layout (omit: fetch the wheels only)")
    p.add_argument("--out", type=Path, default=Path(".carry"), help="folder to carry (default .carry)")
    p.add_argument("--python-version", default="3.12", help="the GPU machine's Python, for the wheels")
    p.add_argument("--no-wheels", action="store_true", help="pack the data only")
    args = p.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_wheels:
        download_wheels(args.out / "whl", args.python_version)
        print(f"wheels for Python {args.python_version} in {args.out / 'whl'}", flush=True)
    if args.data is None:
        return 0
    print(f"loading the training faces of {args.data}", flush=True)
    train = load_folder(args.data, splits=("train",), progress=True)
    npz = args.out / "fer2013-train.npz"
    save_npz(train, npz, root=args.data)
    print(f"wrote {npz}: {len(train)} faces, {npz.stat().st_size / 2**20:.1f} MiB", flush=True)

    carried = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    tree = tree_bytes(Path.cwd())
    print(f"carry {carried / 2**20:.1f} MiB + working tree {tree / 2**20:.1f} MiB = "
          f"{(carried + tree) / 2**20:.1f} MiB of {CARRY_LIMIT / 2**20:.0f} MiB", flush=True)
    if carried + tree > CARRY_LIMIT:
        raise ConvertError(f"{args.out} and the working tree exceed {CARRY_LIMIT // 2**20} MiB: remove untracked "
                           "files from the checkout or pack fewer faces")
    return 0


if __name__ == "__main__":
    run_script(main)
