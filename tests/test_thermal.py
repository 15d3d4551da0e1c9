"""Heat and throttling, read from a fake sysfs tree laid out like a Raspberry Pi's."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge_emojify.doctor import FAIL, OK, WARN, check_heat
from edge_emojify.thermal import FIRMWARE_THROTTLED, Thermal, ThermalWatch, read_thermal


def pi_sysfs(root: Path, millicelsius: str | None = "52078", throttled: str | None = "0") -> Path:
    if millicelsius is not None:
        zone = root / "class/thermal/thermal_zone0"
        zone.mkdir(parents=True)
        (zone / "temp").write_text(millicelsius + "\n")
    if throttled is not None:
        (root / FIRMWARE_THROTTLED).parent.mkdir(parents=True)
        (root / FIRMWARE_THROTTLED).write_text(throttled + "\n")
    return root


def no_vcgencmd() -> None:
    return None


def test_a_cool_pi_reads_its_temperature_and_no_throttling(tmp_path):
    state = read_thermal(pi_sysfs(tmp_path), no_vcgencmd)
    assert state == Thermal(52.078, 0)
    assert state.describe() == "52 °C" and state.now == [] and state.since_boot == []


def test_the_firmware_flags_are_hex_and_split_into_now_and_since_boot(tmp_path):
    state = read_thermal(pi_sysfs(tmp_path, "84000", "50005"), no_vcgencmd)  # the classic weak supply
    assert state.throttled == 0x50005
    assert state.now == ["under-voltage", "throttled"]
    assert state.since_boot == ["under-voltage", "throttled"]
    assert state.describe() == "84 °C, throttled now: under-voltage, throttled"
    past = read_thermal(pi_sysfs(tmp_path / "b", "60000", "80000"), no_vcgencmd)
    assert past.now == [] and past.describe() == "60 °C, throttled since boot: soft temperature limit"


def test_older_kernels_ask_vcgencmd_and_other_machines_read_nothing(tmp_path):
    state = read_thermal(pi_sysfs(tmp_path, throttled=None), lambda: "throttled=0x2\n")
    assert state.throttled == 2 and state.now == ["arm frequency capped"]
    nothing = read_thermal(tmp_path / "none", no_vcgencmd)
    assert nothing == Thermal(None, None) and nothing.describe() == ""
    garbled = read_thermal(pi_sysfs(tmp_path / "g", "hot", "zz"), no_vcgencmd)
    assert garbled == Thermal(None, None)


@pytest.mark.parametrize("celsius,flags,status", [
    ("52000", "0", OK), ("81500", "0", WARN), ("60000", "50000", WARN), ("70000", "4", FAIL),
])
def test_doctor_names_heat_and_power_problems_with_a_fix(tmp_path, celsius, flags, status):
    root = pi_sysfs(tmp_path, celsius, flags)
    check = check_heat(lambda: read_thermal(root, no_vcgencmd))
    assert check.status == status
    assert (check.fix == "") == (status == OK)
    assert check.detail.startswith(f"{int(celsius) / 1000:.0f} °C")
    assert check_heat(lambda: Thermal(None, None)).status == OK


def test_a_throttled_pi_is_logged_once_per_change_not_every_frame(caplog):
    states = iter([Thermal(70, 0), Thermal(85, 4), Thermal(86, 4), Thermal(86, 4), Thermal(75, 0x40000),
                   Thermal(74, 0x40000)])
    watch = ThermalWatch(lambda: next(states))
    with caplog.at_level(logging.INFO, logger="edge_emojify.thermal"):
        for _ in range(6):
            watch.poll()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("the Pi is limited (85 °C, throttled now: throttled)")
    assert messages[1] == "the Pi is no longer throttled (75 °C, throttled since boot: throttled)"
    assert watch.latest == Thermal(74, 0x40000)
