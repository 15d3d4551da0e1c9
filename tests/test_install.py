"""systemd/install.sh, the unit file and the example config, checked without touching the host.

The installer runs under ``--root`` (a scratch directory; apt, useradd and systemctl are
skipped there) and ``--skip-pip`` (no venv, no network), so these tests are fast and offline.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import stat
import subprocess
import textwrap
import tomllib
from pathlib import Path

import pytest

from edge_emojify.config import Config, from_dict

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "systemd" / "install.sh"
UNIT = REPO / "systemd" / "edge-emojify.service"
EXAMPLE = REPO / "systemd" / "config.example.toml"
WANTS = "/etc/systemd/system/multi-user.target.wants/edge-emojify.service"
SYSTEMD_RUNNING = Path("/run/systemd/system").is_dir()  # sd_booted(3): what the installer checks


def install(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- the script itself


def test_script_is_valid_bash_and_executable() -> None:
    subprocess.run(["bash", "-n", str(INSTALL)], check=True, timeout=30)
    assert INSTALL.stat().st_mode & stat.S_IXUSR


def test_shellcheck_is_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt install shellcheck)")
    result = subprocess.run([shellcheck, str(INSTALL)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_help_and_bad_options() -> None:
    assert "--dry-run" in install("--help").stdout
    bad = install("--frobnicate", check=False)
    assert bad.returncode != 0 and "unknown option '--frobnicate'" in bad.stderr
    purge = install("--purge", check=False)
    assert purge.returncode != 0 and "--purge only goes with --uninstall" in purge.stderr


def test_dry_run_prints_every_step_and_changes_nothing(tmp_path) -> None:
    out = install("--dry-run").stdout
    assert "apt-get update" in out
    assert re.search(r"^env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
                     r"python3-venv python3-numpy python3-opencv python3-picamera2 .*python3-pygame$", out, re.M)
    assert "optional packages this OS's archive lacks are left out" in out
    # A machine with the mirror installed (CI's arm64 roots) keeps or upgrades the venv it has.
    if "# venv already has this checkout's edge-emojify" not in out:
        assert (re.search(r"-m venv --system-site-packages /opt/edge-emojify/venv$", out, re.M)
                or "# venv exists" in out)
        assert re.search(r"^/opt/edge-emojify/venv/bin/python -m pip install .* ai-edge-litert$", out, re.M)
    assert re.search(r"^useradd --system .* edge-emojify$", out, re.M) or "# user edge-emojify exists" in out
    assert "install -m 0640 -o root -g edge-emojify" in out or "config.toml exists" in out
    assert "install -d -m 0750 -o edge-emojify -g edge-emojify" in out
    if SYSTEMD_RUNNING:
        for step in ("daemon-reload", "enable edge-emojify", "restart edge-emojify"):
            assert re.search(rf"^systemctl {step}$", out, re.M), step
    else:
        assert "systemd is not running here" in out
        assert f"ln -s /etc/systemd/system/edge-emojify.service {WANTS}" in out or f"# {WANTS} exists" in out
    # Everything that is not a command is a comment: the output is a script one could read and run.
    commands = {"apt-get", "env", "useradd", "usermod", "mkdir", "/usr/bin/python3", "echo", "touch",
                "/opt/edge-emojify/venv/bin/python", "install", "sed", "chmod", "systemctl", "ln", "(umask", "rm"}
    assert all(line.startswith("#") or line.split()[0] in commands for line in out.splitlines())

    scratch = tmp_path / "never-created"
    install("--dry-run", "--root", str(scratch))
    assert not scratch.exists()


def test_dry_run_uninstall_prints_the_removal() -> None:
    out = install("--dry-run", "--uninstall", "--purge").stdout
    assert ("systemctl disable --now edge-emojify" in out) == SYSTEMD_RUNNING
    assert f"rm -f /etc/systemd/system/edge-emojify.service {WANTS}" in out
    assert "rm -rf /opt/edge-emojify" in out
    assert re.search(r"^userdel edge-emojify$", out, re.M)
    assert "rm -rf /etc/edge-emojify /var/lib/edge-emojify" in out
    kept = install("--dry-run", "--uninstall").stdout
    assert re.search(r"^userdel edge-emojify$", kept, re.M) and "rm -rf /etc/edge-emojify" not in kept


def test_install_under_root_places_unit_config_and_snapshot_folder(tmp_path) -> None:
    out = install("--root", str(tmp_path), "--no-start", "--skip-pip").stdout
    assert "skipped under --root: apt-get install" in out
    # An image build has no running systemd: enabled by the very link `systemctl enable` makes.
    link = tmp_path / WANTS.lstrip("/")
    assert link.is_symlink() and str(link.readlink()) == "/etc/systemd/system/edge-emojify.service"
    assert "the service starts at the next boot" in out

    unit = tmp_path / "etc/systemd/system/edge-emojify.service"
    assert mode(unit) == 0o644
    placed, source = unit.read_text().splitlines(), UNIT.read_text().splitlines()
    assert len(placed) == len(source)
    changed = [a for a, b in zip(placed, source, strict=True) if a != b]
    assert all(line.startswith("SupplementaryGroups=") for line in changed)

    # The example, with a new random web page token (printed this once) in place of its comment.
    token = re.search(r"^# web page token \(shown this once; .* web --token\): ([0-9a-f]{48})$", out, re.M)[1]
    config = tmp_path / "etc/edge-emojify/config.toml"
    assert mode(config) == 0o640
    assert config.read_text() == EXAMPLE.read_text().replace('# token = ""\n', f'token = "{token}"\n')
    assert from_dict(tomllib.loads(config.read_text())).web.token == token
    assert not list(config.parent.glob(".config.toml*"))  # the private draft is gone
    again = tmp_path / "again"
    assert token not in install("--root", str(again), "--no-start", "--skip-pip").stdout  # random each time
    assert (tmp_path / "etc/edge-emojify/config.example.toml").read_text() == EXAMPLE.read_text()
    snapshots = tmp_path / "var/lib/edge-emojify/snapshots"
    assert snapshots.is_dir() and mode(snapshots) == 0o750 and mode(snapshots.parent) == 0o750
    assert not (tmp_path / "opt/edge-emojify/venv").exists()  # --skip-pip


def tree_state(root: Path) -> dict[str, tuple]:
    """Every path under root with its type, mode, owner, size, mtime and link target."""
    state = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        target = str(path.readlink()) if path.is_symlink() else None
        state[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, target)
    return state


def test_second_run_changes_nothing(tmp_path) -> None:
    install("--root", str(tmp_path), "--no-start", "--skip-pip")
    before = tree_state(tmp_path)
    out = install("--root", str(tmp_path), "--no-start", "--skip-pip").stdout
    assert tree_state(tmp_path) == before
    assert "unit unchanged" in out and "multi-user.target.wants/edge-emojify.service exists" in out


def test_second_run_keeps_an_edited_config(tmp_path) -> None:
    install("--root", str(tmp_path), "--no-start", "--skip-pip")
    config = tmp_path / "etc/edge-emojify/config.toml"
    config.write_text('[display]\nmode = "debug"\n')
    out = install("--root", str(tmp_path), "--no-start", "--skip-pip").stdout
    assert "config.toml exists; kept as it is" in out
    assert config.read_text() == '[display]\nmode = "debug"\n'


def test_uninstall_removes_unit_and_venv_but_keeps_config_and_snapshots(tmp_path) -> None:
    install("--root", str(tmp_path), "--no-start", "--skip-pip")
    venv = tmp_path / "opt/edge-emojify/venv/bin"
    venv.mkdir(parents=True)  # stands in for the venv --skip-pip did not make
    (tmp_path / "var/lib/edge-emojify/snapshots/snapshot-1.jpg").write_bytes(b"jpeg")
    (tmp_path / "var/lib/edge-emojify/history.sqlite").write_bytes(b"the web page's hourly mood counts")
    install("--uninstall", "--root", str(tmp_path))
    assert (tmp_path / "var/lib/edge-emojify/history.sqlite").exists()
    assert not (tmp_path / "etc/systemd/system/edge-emojify.service").exists()
    assert not (tmp_path / WANTS.lstrip("/")).is_symlink()
    assert not (tmp_path / "opt/edge-emojify").exists()
    assert (tmp_path / "etc/edge-emojify/config.toml").exists()
    assert (tmp_path / "var/lib/edge-emojify/snapshots/snapshot-1.jpg").exists()

    install("--uninstall", "--purge", "--root", str(tmp_path))
    assert not (tmp_path / "etc/edge-emojify").exists()
    assert not (tmp_path / "var/lib/edge-emojify").exists()


# ---------------------------------------------------------------- the unit file


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_has_the_service_contract() -> None:
    s = unit_settings()
    expected = {"Type": "notify", "NotifyAccess": "main", "WatchdogSec": "10", "Restart": "on-failure",
                "RestartSec": "3", "TimeoutStopSec": "5", "User": "edge-emojify", "Group": "edge-emojify",
                "ExecStart": "/opt/edge-emojify/venv/bin/edge-emojify run",
                "ExecReload": "/bin/kill -HUP $MAINPID", "SupplementaryGroups": "video render gpio input",
                "Environment": "PYTHONUNBUFFERED=1", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                "ProtectHome": "yes", "PrivateTmp": "yes", "StateDirectory": "edge-emojify",
                "ConfigurationDirectory": "edge-emojify", "WantedBy": "multi-user.target"}
    assert {k: s.get(k, [None])[0] for k in expected} == expected
    # These would hide or block /dev/video*, /dev/dri, /dev/gpiochip*: the mirror needs them.
    assert "PrivateDevices" not in s and "ProtectClock" not in s and "DeviceAllow" not in s


def test_unit_passes_systemd_analyze_verify(tmp_path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify also checks that ExecStart exists, and the venv is not installed here.
    unit = tmp_path / "edge-emojify.service"
    unit.write_text(re.sub(r"(?m)^ExecStart=.*$", "ExecStart=/bin/true", UNIT.read_text()))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    # verify exits 0 even for unknown keys or bad values; it only warns, naming the file.
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "edge-emojify" in line]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr


# ---------------------------------------------------------------- the example config


def render_example() -> str:
    """systemd/config.example.toml as generated from config.py's fields, docs and defaults."""
    lines = ["# edge-emojify configuration: copy to /etc/edge-emojify/config.toml (install.sh does it once)",
             "# and uncomment the keys you want to change. Every key below is shown at its default.",
             "# After editing: `sudo systemctl reload edge-emojify` (or restart) to apply it.",
             "# Check it without starting the mirror: /opt/edge-emojify/venv/bin/edge-emojify config",
             "# prints the effective config, or names the bad key and what is allowed.", ""]

    def toml(value: object) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        return f'"{value}"' if isinstance(value, str) else repr(value)

    def number(value: float) -> str:
        return str(int(value)) if float(value).is_integer() else str(value)

    for section in dataclasses.fields(Config):
        lines.append(f"[{section.name}]")
        for f in dataclasses.fields(getattr(Config(), section.name)):
            extra = []
            if f.metadata.get("choices"):
                extra.append("one of: " + ", ".join(toml(c).strip('"') for c in f.metadata["choices"]))
            if f.metadata.get("lo") is not None and f.metadata.get("hi") is not None:
                extra.append(f"{number(f.metadata['lo'])} to {number(f.metadata['hi'])}")
            text = f.metadata["doc"] + (" (" + "; ".join(extra) + ")" if extra else "")
            lines += ["# " + line for line in textwrap.wrap(text, 96)]
            lines += [f"# {f.name} = {toml(f.default)}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def test_example_config_is_valid_as_shipped() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    assert all(table == {} for table in data.values())  # every key commented out
    assert from_dict(data, str(EXAMPLE)) == Config()


def test_example_config_lists_every_key_at_its_default() -> None:
    uncommented = re.sub(r"(?m)^# (\w+ = .*)$", r"\1", EXAMPLE.read_text())
    data = tomllib.loads(uncommented)
    regenerate = "config.py changed: run `python -m tests.test_install` to rewrite the example"
    assert from_dict(data, "uncommented example") == Config(), regenerate
    for section in dataclasses.fields(Config):
        keys = {f.name for f in dataclasses.fields(getattr(Config(), section.name))}
        assert set(data[section.name]) == keys, regenerate


if __name__ == "__main__":  # regenerate systemd/config.example.toml after changing config.py
    EXAMPLE.write_text(render_example())
    print(f"wrote {EXAMPLE}")
