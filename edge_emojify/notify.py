"""systemd's notify protocol (sd_notify) with the standard library only.

The unit runs with ``Type=notify`` and ``WatchdogSec=``: systemd waits for ``READY=1``
before it counts the mirror as started, and restarts it when ``WATCHDOG=1`` stops coming.
The protocol is one datagram of ``KEY=VALUE`` lines to the AF_UNIX socket named in
``$NOTIFY_SOCKET`` (a path, or an abstract name written with a leading ``@``), so libsystemd
is not needed. Outside systemd the variable is unset and every call is a cheap no-op.

The watchdog is fed by the frame loop itself (:class:`Watchdog`), never by a timer thread:
a thread would keep pinging while the camera, the model or the display hangs, which is
exactly when systemd should restart the service.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def _address(value: str | None) -> str | None:
    """The socket address from $NOTIFY_SOCKET, or None when unset or of a kind we cannot use."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]  # Linux abstract namespace
    if value.startswith("/"):
        return value
    # systemd 254+ may also name vsock:CID:PORT (for VMs); not something a Pi service gets.
    log.warning("NOTIFY_SOCKET=%r is not a path or an abstract socket; systemd notifications are off",
                value)
    return None


class Notifier:
    """Sends service state to systemd. Every method returns True when a message was sent.

    Failures (systemd gone, socket full) are logged once at debug level and never raised:
    a notification must not be able to stop the mirror.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._addr = _address(env.get("NOTIFY_SOCKET"))
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")
        self._sock: socket.socket | None = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notify socket."""
        return self._addr is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields as one message (what sd_notify(3) does)."""
        if self._addr is None:
            return False
        data = "\n".join(fields).encode("utf-8")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never wait: a full receive queue (systemd busy, max_dgram_qlen is 10) would stall the
            # frame loop. A dropped message is an error like any other; the next one tries again.
            self._sock.sendto(data, socket.MSG_DONTWAIT, self._addr)
        except OSError as exc:
            if not self._failed:
                log.debug("systemd notification failed (%s); further failures are not logged", exc)
                self._failed = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up (or a reload) is complete: systemd marks the service active."""
        return self.notify("READY=1", *self._status_field(status))

    def status(self, text: str) -> bool:
        """A one-line state shown by ``systemctl status edge-emojify``."""
        return self.notify(*self._status_field(text))

    def watchdog(self) -> bool:
        """Tell systemd the service is alive (resets the WatchdogSec= timer)."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown has begun (so systemd does not treat the exit as a crash mid-start)."""
        return self.notify("STOPPING=1", *self._status_field(status))

    def reloading(self, status: str | None = None) -> bool:
        """A config reload has begun; send :meth:`ready` when it is done.

        MONOTONIC_USEC (CLOCK_MONOTONIC in µs) lets systemd 253+ match this message to the
        reload it asked for; older versions ignore the field.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}", *self._status_field(status))

    def watchdog_interval(self) -> float | None:
        """Seconds within which systemd expects WATCHDOG=1, or None when no watchdog applies.

        Like sd_watchdog_enabled(3): from $WATCHDOG_USEC, and only for the process named in
        $WATCHDOG_PID when that is set (a child that inherited the variables must not ping).
        """
        if not self._watchdog_usec:
            return None
        if self._watchdog_pid:
            try:
                if int(self._watchdog_pid) != os.getpid():
                    return None
            except ValueError:
                return None
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            log.warning("WATCHDOG_USEC=%r is not a number; the systemd watchdog is ignored",
                        self._watchdog_usec)
            return None
        return usec / 1_000_000 if usec > 0 else None

    @staticmethod
    def _status_field(text: str | None) -> list[str]:
        if text is None:
            return []
        return ["STATUS=" + " ".join(text.split("\n"))]  # one line: a newline ends the field

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


class Watchdog:
    """Feeds systemd's watchdog from the frame loop: call :meth:`frame_done` once per frame.

    It pings at most every ``interval / 2`` (systemd's advice), so frames at 30 fps cost one
    datagram every few seconds. Because nothing else pings, a stage that hangs (camera read,
    inference, display flip) stops the pings, and systemd restarts the service after
    ``WatchdogSec=``.
    """

    def __init__(self, notifier: Notifier, interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.notifier = notifier
        self.interval = interval if interval is not None else notifier.watchdog_interval()
        self.period = self.interval / 2 if self.interval else None
        self._clock = clock
        self._last = float("-inf")
        self.pings = 0

    @property
    def enabled(self) -> bool:
        return self.period is not None and self.notifier.enabled

    def frame_done(self) -> bool:
        """A frame went all the way through; ping if half the interval has passed. True if pinged."""
        if not self.enabled:
            return False
        now = self._clock()
        if now - self._last < self.period:
            return False
        self._last = now
        if self.notifier.watchdog():
            self.pings += 1
            return True
        return False
