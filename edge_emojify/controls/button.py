"""The GPIO push button (and optional status LED), turned into the app's control events.

A short press (released before ``hold_seconds``) is :data:`NEXT`; keeping it down until
``hold_seconds`` is :data:`HOLD`, once, and the release that ends a hold is not also a NEXT.

gpiozero calls back from its own threads (the pin factory's edge thread and the hold
thread), so callbacks only push strings onto a thread-safe queue; the frame loop drains it
with :meth:`Button.poll` and handles button and keyboard events in one place.

A mirror without a working button is still a mirror: when gpiozero is missing, no pin
factory works (not a Pi) or the pin cannot be claimed (no access to /dev/gpiochip*), the
button logs one warning and becomes inert instead of stopping the app.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_emojify.config import ButtonConfig
from edge_emojify.controls import HOLD, NEXT

log = logging.getLogger(__name__)

# The LED blinks this fast while a hold is in progress: "hold registered, you can let go".
BLINK_SECONDS = 0.1


class Button:
    """A debounced push button on ``cfg.pin`` (BCM numbering) wired to GND.

    ``pin_factory`` is passed to gpiozero (``MockFactory()`` in tests); None means
    gpiozero's default (lgpio on Raspberry Pi OS Bookworm and later).
    """

    def __init__(self, cfg: ButtonConfig, pin_factory: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock  # for the debounce (injected in tests)
        self._events: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pressed = False
        self._held = False
        self._last_edge = float("-inf")
        self._bounce = cfg.bounce_ms / 1000
        self._button: Any = None
        self._led: Any = None
        if not cfg.enabled:
            log.info("GPIO button disabled in the config ([button] enabled = false)")
            return
        try:
            self._button = self._make_button(pin_factory)
        except Exception as exc:  # noqa: BLE001 - any failure here must leave the mirror running
            # On a Pi a missing button is a wiring or permission fault worth a warning; on a desktop
            # there is no GPIO to have, and a warning on every run would only be noise.
            log.log(logging.WARNING if on_a_pi() else logging.INFO,
                    "GPIO button on BCM %d disabled: %s; the mirror runs without it. On a Pi, "
                    "check `ls -l /dev/gpiochip*` and that the user is in the gpio group, or set "
                    "[button] enabled = false to silence this", cfg.pin, _reason(exc))
            return
        if cfg.led_pin >= 0:
            try:
                self._led = self._make_led(pin_factory)
                self._led.on()
            except Exception as exc:  # noqa: BLE001 - the LED is optional
                log.warning("status LED on BCM %d disabled: %s; check the pin number ([button] "
                            "led_pin)", cfg.led_pin, _reason(exc))
                self._led = None

    @property
    def active(self) -> bool:
        """True when the button is really wired up (False when inert)."""
        return self._button is not None

    def _make_button(self, pin_factory: Any) -> Any:
        import gpiozero  # on the Pi from apt (python3-gpiozero); elsewhere maybe absent

        with warnings.catch_warnings(record=True) as caught:
            # gpiozero warns once per pin library it tries before it finds one (or none);
            # the one warning the user needs is ours, so keep these for the debug log.
            warnings.simplefilter("always")
            button = gpiozero.Button(self.cfg.pin, pull_up=True, bounce_time=self._bounce or None,
                                     hold_time=self.cfg.hold_seconds, hold_repeat=False,
                                     pin_factory=pin_factory)
        for warning in caught:
            log.debug("gpiozero: %s", warning.message)
        button.when_pressed = self._on_pressed
        button.when_released = self._on_released
        button.when_held = self._on_held
        log.info("GPIO button on BCM %d (hold %.1f s, debounce %d ms)", self.cfg.pin,
                 self.cfg.hold_seconds, self.cfg.bounce_ms)
        return button

    def _make_led(self, pin_factory: Any) -> Any:
        import gpiozero

        return gpiozero.LED(self.cfg.led_pin, pin_factory=pin_factory)

    def _debounced(self) -> bool:
        """True when this edge is contact bounce: too soon after the last accepted edge.

        gpiozero's ``bounce_time`` already filters edges with lgpio, but not every pin
        backend does (the mock pins ignore it), and a double step is the one failure a user
        notices at once. Called with the lock held.
        """
        now = self.clock()
        if now - self._last_edge < self._bounce:
            return True
        self._last_edge = now
        return False

    def _on_pressed(self) -> None:
        with self._lock:
            if self._pressed or self._debounced():
                return
            self._pressed = True
            self._held = False

    def _on_released(self) -> None:
        with self._lock:
            if not self._pressed or self._debounced():
                return
            self._pressed = False
            was_held, self._held = self._held, False
            if was_held:
                self._led_do("on")
        if not was_held:
            self._events.put(NEXT)

    def _on_held(self) -> None:
        with self._lock:
            # Also guards the race where gpiozero's hold thread fires just after a release.
            if not self._pressed or self._held:
                return
            self._held = True
            # Under the lock: a release right after the hold then finds the LED blinking and
            # turns it steady, instead of the blink starting after it and never stopping.
            self._led_do("blink", on_time=BLINK_SECONDS, off_time=BLINK_SECONDS, background=True)
        self._events.put(HOLD)

    def _led_do(self, action: str, **kwargs: Any) -> None:
        """``on``/``off``/``blink`` the status LED, if there is one; never lets the LED break the button."""
        if self._led is not None:
            try:
                getattr(self._led, action)(**kwargs)
            except Exception as exc:  # noqa: BLE001
                log.debug("LED %s failed: %s", action, exc)

    def poll(self) -> list[str]:
        """The events since the last call, oldest first (never blocks)."""
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def close(self) -> None:
        """Release the pins (LED off) so the next run, or another program, can claim them."""
        with self._lock:  # not while the hold thread is setting the LED
            self._led_do("off")
            button, self._button = self._button, None
            led, self._led = self._led, None
        for device in (led, button):
            if device is None:
                continue
            try:
                device.close()
            except Exception as exc:  # noqa: BLE001 - closing must not raise
                log.debug("closing %r failed: %s", device, exc)

    def __enter__(self) -> Button:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


PI_MODEL = Path("/proc/device-tree/model")  # "Raspberry Pi 5 Model B Rev 1.0" on a Pi


def on_a_pi(model_file: Path | None = None) -> bool:
    try:
        return (model_file or PI_MODEL).read_bytes().startswith(b"Raspberry Pi")
    except OSError:
        return False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ImportError) and getattr(exc, "name", None) == "gpiozero":
        return "gpiozero is not installed (sudo apt install python3-gpiozero python3-lgpio)"
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
