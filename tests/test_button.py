"""The GPIO button against gpiozero's MockFactory: presses, holds, bounce, LED, no GPIO."""

from __future__ import annotations

import logging
import sys

import pytest
from waits import wait_for

gpiozero = pytest.importorskip("gpiozero")
from gpiozero import Device  # noqa: E402
from gpiozero.pins.mock import MockFactory, MockPin  # noqa: E402

from edge_emojify.config import ButtonConfig  # noqa: E402
from edge_emojify.controls import HOLD, NEXT  # noqa: E402
from edge_emojify.controls.button import Button  # noqa: E402

HOLD_S = 0.3  # the shortest hold the config allows (gpiozero's hold thread runs on real time)
GAP = 0.06  # longer than the 50 ms debounce, so separate presses count separately


class Clock:
    """The button's debounce clock, moved by the test instead of by sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


CLOCK = Clock()


@pytest.fixture
def factory():
    f = MockFactory(pin_class=MockPin)
    yield f
    f.reset()


def make(factory, **changes) -> Button:
    return Button(ButtonConfig(hold_seconds=HOLD_S, **changes), pin_factory=factory, clock=CLOCK)


def press(pin, seconds: float = GAP) -> None:
    pin.drive_low()  # pull-up: pressing the button connects the pin to GND (callbacks run at once)
    CLOCK.advance(seconds)
    pin.drive_high()
    CLOCK.advance(GAP)


def events_when(button: Button, done, seconds: float = 10.0) -> list[str]:
    """Collect the button's events until ``done(events)``: waits for gpiozero's hold thread, never longer."""
    events: list[str] = []

    def collected() -> bool:
        if not done(events):
            events.extend(button.poll())
        return done(events)

    wait_for(collected, seconds, what=lambda: f"the button's events, with {events} so far")
    return events


def test_short_presses_step_in_order(factory) -> None:
    button = make(factory)
    pin = factory.pin(17)
    assert button.active and button.poll() == []
    for _ in range(3):
        press(pin)
    assert button.poll() == [NEXT, NEXT, NEXT]
    assert button.poll() == []
    button.close()


def test_event_comes_on_release_not_on_press(factory) -> None:
    button = make(factory)
    pin = factory.pin(17)
    pin.drive_low()
    CLOCK.advance(GAP)
    assert button.poll() == []  # it might still become a hold
    pin.drive_high()
    assert button.poll() == [NEXT]
    button.close()


def test_hold_emits_hold_once_and_no_next(factory) -> None:
    button = make(factory)
    pin = factory.pin(17)
    pin.drive_low()
    assert events_when(button, lambda e: e) == [HOLD]
    # Still down, half a hold time past when a repeat would fire (gpiozero repeats only with hold_repeat);
    # its hold thread runs on real time, so this waits on gpiozero's own count of the hold, not a sleep.
    wait_for(lambda: (button._button.held_time or 0) >= HOLD_S * 1.5)
    CLOCK.advance(1.0)
    pin.drive_high()
    assert button.poll() == []
    CLOCK.advance(GAP)
    press(pin)  # the next short press is a normal step again
    assert button.poll() == [NEXT]
    button.close()


def test_contact_bounce_does_not_double_step(factory) -> None:
    button = make(factory, bounce_ms=50)
    pin = factory.pin(17)
    # gpiozero hands bounce_time to the pin, but MockPin (like some real backends) ignores it.
    assert pin.bounce == pytest.approx(0.05)
    for _ in range(3):  # a noisy press: low/high chatter within a few milliseconds
        pin.drive_low()
        pin.drive_high()
    CLOCK.advance(0.1)
    for _ in range(3):  # a noisy release
        pin.drive_high()
        pin.drive_low()
    pin.drive_high()
    assert button.poll() == [NEXT]
    button.close()


def test_bounce_zero_counts_every_edge(factory) -> None:
    button = make(factory, bounce_ms=0)
    pin = factory.pin(17)
    for _ in range(2):
        pin.drive_low()
        pin.drive_high()
    assert button.poll() == [NEXT, NEXT]
    button.close()


def test_global_pin_factory_is_used_by_default(monkeypatch) -> None:
    mock = MockFactory(pin_class=MockPin)
    monkeypatch.setattr(Device, "pin_factory", mock)
    button = Button(ButtonConfig(pin=5, hold_seconds=HOLD_S), clock=CLOCK)
    press(mock.pin(5))
    assert button.poll() == [NEXT]
    button.close()
    mock.reset()


def test_status_led_on_while_running_blinks_on_hold_and_goes_off_at_close(factory) -> None:
    button = make(factory, led_pin=27)
    led, pin = factory.pin(27), factory.pin(17)
    assert led.state
    steady = len(led.states)  # the pin's history so far: off at start, then on
    pin.drive_low()
    assert events_when(button, lambda e: e) == [HOLD]
    events_when(button, lambda _: any(not s.state for s in led.states[steady:]))  # it blinks: off again
    CLOCK.advance(1.0)
    pin.drive_high()
    assert led.state  # steady on again after the hold, at once
    button.close()
    assert not led.state


def test_close_releases_the_pins(factory) -> None:
    button = make(factory, led_pin=27)
    button.close()
    button.close()  # twice is fine
    again = make(factory, led_pin=27)  # would raise GPIOPinInUse if the pins were still claimed
    assert again.active
    again.close()


def on_a_pi(monkeypatch, tmp_path, model: bytes) -> None:
    (tmp_path / "model").write_bytes(model)
    monkeypatch.setattr("edge_emojify.controls.button.PI_MODEL", tmp_path / "model")


def test_no_gpio_logs_one_warning_and_stays_inert(monkeypatch, caplog, tmp_path) -> None:
    on_a_pi(monkeypatch, tmp_path, b"Raspberry Pi 4 Model B Rev 1.5\x00")
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-pin-library")  # like a PC: nothing loads
    with caplog.at_level(logging.DEBUG, logger="edge_emojify"):
        button = Button(ButtonConfig(led_pin=27))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "disabled" in warnings[0].getMessage() and "gpio group" in warnings[0].getMessage()
    assert not button.active and button.poll() == []
    button.close()


@pytest.mark.parametrize("model,level", [
    (b"Raspberry Pi 5 Model B Rev 1.0\x00", logging.WARNING),  # on a Pi it is a fault worth a warning
    (b"QEMU Virtual Machine\x00", logging.INFO),  # off a Pi there is no GPIO to have
    (None, logging.INFO),  # a PC has no device tree at all
])
def test_missing_gpiozero_is_one_line_a_warning_only_on_a_pi(monkeypatch, caplog, tmp_path, model, level) -> None:
    if model is None:
        monkeypatch.setattr("edge_emojify.controls.button.PI_MODEL", tmp_path / "absent")
    else:
        on_a_pi(monkeypatch, tmp_path, model)
    monkeypatch.setitem(sys.modules, "gpiozero", None)
    with caplog.at_level(logging.INFO):
        button = Button(ButtonConfig())
    assert [r.levelno for r in caplog.records] == [level]
    assert "apt install python3-gpiozero" in caplog.records[0].getMessage()
    assert button.poll() == []
    button.close()


def test_disabled_button_is_quiet(factory, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        button = make(factory, enabled=False)
    assert caplog.records == [] and not button.active
    button.close()
