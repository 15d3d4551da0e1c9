"""Run a plan of trainings in timed stages, concurrently within a stage; pack the results to bring back.

    python -m convert.run_plan convert/plans/h200.toml --out /tmp/r --rehearse 500   # here, first
    python3 -m convert.run_plan convert/plans/h200.toml --out "$OUT"                 # on the GPU machine
    python -m convert.run_plan --unpack FILES_AT --into runs                         # back here

Why: a lent GPU comes with a few minutes of device time, one command at a time, up to 10 minutes
each, and a few files back. Small CNNs leave one GPU mostly idle, so the runs of a stage share it as
separate processes, each with ``convert.train --minutes`` set to the stage's length; a later stage
may name an earlier run's classifier as ``{name}`` (a teacher, an ``--init-from``). Results come back
as a tar split into parts that fit the device tool's limits (8 files, 16 MiB each).

A plan is TOML::

    data = ".carry/fer2013-train.npz"
    [[stages]]
    minutes = 4
    runs.s3 = "--widths 40,80,160,320 --stem-stride 2 --seed 3 --split-seed 2 --epochs 1000"
    [[stages]]
    minutes = 3
    runs.fm = "... --init-from {s3} --teacher {s3} --mixup 0.5 --kd-weight 1 --epochs 1000"
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from convert import ConvertError, run_script

PART_BYTES = 15 * 2**20  # under the device tool's 16 MiB per file
MAX_PARTS = 7  # 8 files come back; one is the log
GRACE_MINUTES = 1.0  # loading the data, building and compiling come before --minutes starts counting
RESULT_FILES = ("best.keras", "config.json", "log.csv", "state.json", "train.out")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Stage:
    minutes: float
    runs: dict[str, str]  # run name -> convert.train arguments


@dataclass(frozen=True)
class Plan:
    data: str
    stages: tuple[Stage, ...]

    @property
    def minutes(self) -> float:
        return sum(stage.minutes + GRACE_MINUTES for stage in self.stages)


def read_plan(path: Path) -> Plan:
    """Parse and check a plan: every ``{name}`` must be a run of an earlier stage."""
    try:
        raw = tomllib.loads(path.read_text())
        stages = tuple(Stage(float(s["minutes"]), {str(k): str(v) for k, v in s["runs"].items()})
                       for s in raw["stages"])
        plan = Plan(str(raw["data"]), stages)
    except FileNotFoundError:
        raise ConvertError(f"plan {path} not found; see convert/plans/ for examples") from None
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConvertError(f"plan {path} is not valid ({exc.__class__.__name__}: {exc}); it needs data and "
                           "[[stages]] with minutes and runs") from None
    earlier: set[str] = set()
    for number, stage in enumerate(plan.stages, start=1):
        if not stage.runs:
            raise ConvertError(f"plan {path}: stage {number} has no runs; add runs.NAME = \"train arguments\"")
        for name, args in stage.runs.items():
            unknown = set(PLACEHOLDER.findall(args)) - earlier
            if unknown:
                raise ConvertError(f"plan {path}: run {name} names {{{', '.join(sorted(unknown))}}}, which is not "
                                   "a run of an earlier stage")
            if name in earlier:
                raise ConvertError(f"plan {path}: run {name} appears in two stages; give each run its own name")
            if "--minutes" in args or "--out" in args or "--data" in args:
                raise ConvertError(f"plan {path}: run {name} sets --minutes, --out or --data; the plan sets those")
        earlier |= set(stage.runs)
    return plan


def check_ready(plan: Plan, path: Path, budget_minutes: float) -> None:
    """What must hold before the first minute is spent: the plan fits, and its inputs are here."""
    if plan.minutes > budget_minutes:
        raise ConvertError(f"plan {path} needs {plan.minutes:g} min with {GRACE_MINUTES:g} min of start-up per "
                           f"stage, over --budget-minutes {budget_minutes:g}: shorten its stages")
    if not Path(plan.data).is_file():
        raise ConvertError(f"plan data {plan.data} not found: run python -m convert.pack_device and carry .carry")
    # A later stage's missing classifier would otherwise show only after the earlier stages' minutes are spent.
    for stage in plan.stages:
        for name, args in stage.runs.items():
            for file in shlex.split(args):
                if file.endswith(".keras") and not PLACEHOLDER.search(file) and not Path(file).is_file():
                    raise ConvertError(f"plan {path}: run {name} needs {file}, which is not in this checkout")


def keras_site(carry: Path) -> str | None:
    """Install the carried Keras wheels where Keras is missing (the GPU machine); return the folder."""
    try:
        import keras  # noqa: F401

        return None
    except ImportError:
        pass
    wheels = sorted(str(w) for w in (carry / "whl").glob("*.whl"))
    if not wheels:
        raise ConvertError(f"Keras is not installed and {carry / 'whl'} holds no wheels: run "
                           "python -m convert.pack_device here and carry .carry")
    site = str((carry / "site").resolve())
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--upgrade",
                          "--target", site, *wheels], capture_output=True, text=True)
    if pip.returncode != 0:
        last = (pip.stderr.strip().splitlines() or ["(no message)"])[-1]
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        raise ConvertError(f"the wheels in {carry / 'whl'} do not install on this Python {version} ({last}); "
                           f"make them with python -m convert.pack_device --python-version {version}")
    print(f"installed {', '.join(Path(w).name for w in wheels)} into {site}", flush=True)
    return site


def _pump(proc: subprocess.Popen, own: Path, name: str, log: io.TextIOBase, lock: threading.Lock) -> None:
    """Copy one run's output to its own train.out and, prefixed, to the merged log; echo the epochs."""
    with own.open("w") as fh:
        for line in proc.stdout:
            fh.write(line)
            with lock:
                log.write(f"[{name}] {line}")
                log.flush()
                if line.startswith(("backend ", "epoch ", "time budget", "done", "error", "Traceback", "classifier")):
                    print(f"[{name}] {line}", end="", flush=True)


class Stopped(Exception):
    """SIGTERM reached the plan: the device tool's time limit, or someone stopping it."""


def _stopped(signum: int, frame: object) -> None:
    raise Stopped


def run_stage(stage: Stage, plan: Plan, runs_dir: Path, env: dict[str, str], log: io.TextIOBase,
              failed: set[str], live: list[subprocess.Popen], extra: tuple[str, ...] = ()) -> None:
    """Start every run of the stage, wait for all; kill any still going GRACE_MINUTES past the stage.

    Started processes are appended to ``live`` so that a stop from outside can end them; ``extra``
    arguments go last on every run's command line (a rehearsal's ``--limit`` and ``--epochs``).
    """
    lock = threading.Lock()
    procs: dict[str, tuple[subprocess.Popen, threading.Thread]] = {}
    stage_env = {**env, "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / len(stage.runs):.2f}"}
    for name, args in stage.runs.items():
        missing = sorted({n for n in PLACEHOLDER.findall(args) if n in failed})
        if missing:
            print(f"[{name}] skipped: {', '.join(missing)} failed", flush=True)
            failed.add(name)
            continue
        args = PLACEHOLDER.sub(lambda m: str(runs_dir / m.group(1) / "best.keras"), args)
        out = runs_dir / name
        cmd = [sys.executable, "-m", "convert.train", "--data", plan.data, "--out", str(out),
               "--minutes", f"{stage.minutes:g}", *shlex.split(args), *extra]
        out.mkdir(parents=True, exist_ok=True)
        with lock:
            log.write(f"[{name}] $ {shlex.join(cmd)}\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=stage_env)
        pump = threading.Thread(target=_pump, args=(proc, out / "train.out", name, log, lock), daemon=True)
        pump.start()
        procs[name] = (proc, pump)
        live.append(proc)
    deadline = time.monotonic() + 60 * (stage.minutes + GRACE_MINUTES)
    for name, (proc, pump) in procs.items():
        killed = False
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            killed = True
            print(f"[{name}] killed {GRACE_MINUTES:g} min past its stage; its best checkpoint stays", flush=True)
        pump.join()
        if not (runs_dir / name / "best.keras").is_file() or (proc.returncode != 0 and not killed):
            failed.add(name)
            print(f"[{name}] failed (exit {proc.returncode}); see {runs_dir / name / 'train.out'}", flush=True)


def pack_results(plan: Plan, runs_dir: Path, out: Path) -> list[Path]:
    """Tar each run's results, latest stage first, split into parts; drop early classifiers if too big."""
    order = [name for stage in reversed(plan.stages) for name in stage.runs]
    budget = PART_BYTES * MAX_PARTS
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in order:
            for file in RESULT_FILES:
                path = runs_dir / name / file
                if not path.is_file():
                    continue
                if file == "best.keras" and buf.tell() + path.stat().st_size > budget - 2**20:
                    print(f"[{name}] best.keras left behind: the results would not fit in {MAX_PARTS} parts",
                          flush=True)
                    continue
                tar.add(path, arcname=f"{name}/{file}")
    data = buf.getvalue()
    for stale in out.glob("results.tar.*"):
        stale.unlink()
    parts = []
    for i in range(0, len(data), PART_BYTES):
        parts.append(out / f"results.tar.{i // PART_BYTES:02d}")
        parts[-1].write_bytes(data[i:i + PART_BYTES])
    return parts


def unpack(files_at: Path, into: Path) -> None:
    """Join the parts, extract the run folders into ``into`` and draw their training curves."""
    parts = sorted(files_at.rglob("results.tar.*"))
    if not parts:
        raise ConvertError(f"no results.tar.NN parts under {files_at}; pass the folder the device tool returned")
    from convert.train import plot_curve

    with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in parts))) as tar:
        tar.extractall(into, filter="data")
        names = sorted({m.name.split("/")[0] for m in tar.getmembers()})
    for name in names:
        run = into / name
        if (run / "log.csv").is_file():
            plot_curve(run / "log.csv", run / "curve.png")
        state = json.loads((run / "state.json").read_text()) if (run / "state.json").is_file() else {}
        kept = "best.keras" if (run / "best.keras").is_file() else "logs only"
        config = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
        teachers = (f", its teachers together {config['teachers_validation']['together']:.4f}"
                    if "teachers_validation" in config else "")
        print(f"{run}: {state.get('epochs_done', 0)} epochs in {state.get('seconds', 0) / 60:.1f} min, best validation "
              f"{state.get('best_val', 0):.4f}{teachers} ({kept})", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.run_plan", description=__doc__.split("\n\n")[0])
    p.add_argument("plan", type=Path, nargs="?", help="plan .toml (see convert/plans/)")
    p.add_argument("--out", type=Path, help="where the packed results go (on the device: $OUT)")
    p.add_argument("--runs", type=Path, help="run folders (default runs/; in a rehearsal OUT/runs)")
    p.add_argument("--carry", type=Path, default=Path(".carry"), help="carried wheels and data (default .carry)")
    p.add_argument("--budget-minutes", type=float, default=9.5,
                   help="refuse a plan longer than this (the device tool stops a command at 10 minutes)")
    p.add_argument("--rehearse", type=int, metavar="FACES",
                   help="rehearse the plan here first: every run trains one epoch on FACES faces, so that a "
                        "mistake in it shows before it costs device minutes")
    p.add_argument("--data", help="train on this instead of the plan's data (a rehearsal's small set)")
    p.add_argument("--unpack", type=Path, metavar="FILES_AT", help="back here: extract results from this folder")
    p.add_argument("--into", type=Path, default=Path("runs"), help="with --unpack: where the run folders go")
    args = p.parse_args(argv)
    if args.unpack:
        unpack(args.unpack, args.into)
        return 0
    if not args.plan or not args.out:
        raise ConvertError("pass a plan and --out (or --unpack FILES_AT)")
    plan = read_plan(args.plan)
    if args.data:
        plan = replace(plan, data=args.data)
    extra = ("--limit", str(args.rehearse), "--epochs", "1") if args.rehearse else ()
    args.runs = args.runs or (args.out / "runs" if args.rehearse else Path("runs"))
    check_ready(plan, args.plan, args.budget_minutes)
    env = dict(os.environ, CONVERT_QUIET="1", PYTHONUNBUFFERED="1")
    site = keras_site(args.carry)
    if site:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [site, str(Path.cwd()), env.get("PYTHONPATH")]))
        env.setdefault("KERAS_BACKEND", "jax")
    args.runs.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    failed: set[str] = set()
    live: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, _stopped)
    with (args.out / "plan.log").open("w") as log:
        try:
            for number, stage in enumerate(plan.stages, start=1):
                print(f"stage {number}/{len(plan.stages)}: {', '.join(stage.runs)} for {stage.minutes:g} min",
                      flush=True)
                run_stage(stage, plan, args.runs, env, log, failed, live, extra)
                # After every stage, so that a command stopped later still returns the stages done.
                pack_results(plan, args.runs, args.out)
        except Stopped:
            # The device tool's time limit (SIGTERM): the runs' best checkpoints so far are still worth having.
            for proc in live:
                proc.kill()
            parts = pack_results(plan, args.runs, args.out)
            print(f"stopped from outside: {len(parts)} part(s) of what was done in {args.out}", flush=True)
            return 124
    parts = sorted(args.out.glob("results.tar.*"))
    print(f"results: {len(parts)} part(s) in {args.out}; failed: {', '.join(sorted(failed)) or 'none'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    run_script(main)
