"""The Pi's heat and power: SoC temperature and the firmware's throttling flags.

A Pi in a closed museum case heats up and slows down; a weak power supply caps its clock. Both
show as a mirror that gets slower for no visible reason, so ``doctor`` and the service's STATUS
line say so. Read from sysfs (the kernel's thermal zone, and the Raspberry Pi firmware driver's
``get_throttled``), else from ``vcgencmd get_throttled``; anything absent (not a Pi) reads as
None. The root and the command are injectable so tests run on a fake sysfs tree.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# The firmware's get_throttled bits that are true *now* (bits 16-19 repeat them as "since boot").
THROTTLE_NOW = {0: "under-voltage", 1: "arm frequency capped", 2: "throttled", 3: "soft temperature limit"}
SINCE_BOOT = 16
FIRMWARE_THROTTLED = Path("devices/platform/soc/soc:firmware/get_throttled")


@dataclass(frozen=True)
class Thermal:
    celsius: float | None  # SoC temperature, None where there is no thermal zone
    throttled: int | None  # the firmware's get_throttled bits, None off a Pi

    @property
    def now(self) -> list[str]:
        """What limits the Pi at this moment (empty when nothing does, or off a Pi)."""
        return [name for bit, name in THROTTLE_NOW.items() if self.throttled and self.throttled >> bit & 1]

    @property
    def since_boot(self) -> list[str]:
        return [name for bit, name in THROTTLE_NOW.items()
                if self.throttled and self.throttled >> (bit + SINCE_BOOT) & 1]

    def describe(self) -> str:
        """One short phrase for STATUS and doctor: "62 °C", "81 °C, throttled now: ...", "" when unknown."""
        parts = [] if self.celsius is None else [f"{self.celsius:.0f} °C"]
        if self.now:
            parts.append("throttled now: " + ", ".join(self.now))
        elif self.since_boot:
            parts.append("throttled since boot: " + ", ".join(self.since_boot))
        return ", ".join(parts)


def _vcgencmd() -> str | None:
    if shutil.which("vcgencmd") is None:
        return None
    try:
        result = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=2)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def read_thermal(sys_root: Path = Path("/sys"), vcgencmd: Callable[[], str | None] = _vcgencmd) -> Thermal:
    """The temperature of the first thermal zone and the throttling flags, each None when unknown."""
    celsius = None
    try:
        celsius = int((sys_root / "class/thermal/thermal_zone0/temp").read_text().strip()) / 1000
    except (OSError, ValueError):
        pass
    throttled = None
    try:
        raw: str | None = (sys_root / FIRMWARE_THROTTLED).read_text()
    except OSError:
        raw = vcgencmd()  # older kernels: only the firmware's command knows ("throttled=0x50005")
    if raw is not None:
        try:
            throttled = int(raw.strip().removeprefix("throttled=").removeprefix("0x"), 16)
        except ValueError:
            log.debug("unreadable get_throttled: %r", raw)
    return Thermal(celsius, throttled)


class ThermalWatch:
    """Reads the state when asked and logs a change of throttling once, not on every read."""

    def __init__(self, read: Callable[[], Thermal] = read_thermal) -> None:
        self._read = read
        self._reported: tuple[str, ...] = ()
        self.latest = Thermal(None, None)

    def poll(self) -> Thermal:
        self.latest = self._read()
        now = tuple(self.latest.now)
        if now != self._reported:
            if now:
                log.warning("the Pi is limited (%s): the mirror slows down; check the power supply (5 V, "
                            "enough amps) and cooling", self.latest.describe())
            else:
                log.info("the Pi is no longer throttled (%s)", self.latest.describe() or "no reading")
            self._reported = now
        return self.latest
