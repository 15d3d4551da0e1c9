"""The sd_notify protocol against real AF_UNIX datagram sockets, as systemd listens."""

from __future__ import annotations

import os
import socket
import time
import uuid

import pytest

from edge_emojify.notify import Notifier, Watchdog


@pytest.fixture
def listener(tmp_path):
    """A socket bound where systemd's would be; yields (sock, NOTIFY_SOCKET value)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(1.0)
    yield sock, str(path)
    sock.close()


@pytest.fixture
def abstract_listener():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"edge-emojify-test-{uuid.uuid4().hex}"
    sock.bind("\0" + name)
    sock.settimeout(1.0)
    yield sock, "@" + name
    sock.close()


def received(sock: socket.socket, timeout: float = 1.0) -> list[str]:
    """Every message waiting now (or arriving within ``timeout`` of the last one)."""
    messages = []
    sock.settimeout(timeout)
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            return messages
        sock.settimeout(0.05)


def test_ready_status_watchdog_stopping_arrive(listener) -> None:
    sock, address = listener
    notifier = Notifier({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready(status="mirror running")
    assert notifier.status("12.3 fps, 2 faces\nsecond line")
    assert notifier.watchdog()
    assert notifier.stopping()
    assert received(sock) == ["READY=1\nSTATUS=mirror running", "STATUS=12.3 fps, 2 faces second line",
                              "WATCHDOG=1", "STOPPING=1"]
    notifier.close()


def test_abstract_socket(abstract_listener) -> None:
    sock, address = abstract_listener
    notifier = Notifier({"NOTIFY_SOCKET": address})
    assert notifier.ready() and notifier.watchdog()
    assert received(sock) == ["READY=1", "WATCHDOG=1"]
    notifier.close()


def test_reloading_carries_the_monotonic_time(listener) -> None:
    sock, address = listener
    notifier = Notifier({"NOTIFY_SOCKET": address})
    before = time.monotonic_ns() // 1000
    assert notifier.reloading(status="reloading config")
    after = time.monotonic_ns() // 1000
    (message,) = received(sock)
    fields = dict(line.split("=", 1) for line in message.split("\n"))
    assert fields["RELOADING"] == "1" and fields["STATUS"] == "reloading config"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after
    notifier.close()


def test_without_notify_socket_everything_is_a_quiet_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.watchdog() and not notifier.status("x")
    assert notifier.watchdog_interval() is None
    assert not Watchdog(notifier).frame_done()


def test_gone_systemd_does_not_raise(tmp_path, caplog) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert not notifier.ready()
    assert not notifier.watchdog()


def test_watchdog_interval_from_environment() -> None:
    pid = str(os.getpid())
    assert Notifier({"WATCHDOG_USEC": "10000000"}).watchdog_interval() == 10.0
    assert Notifier({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": pid}).watchdog_interval() == 10.0
    assert Notifier({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}).watchdog_interval() is None
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_interval() is None
    assert Notifier({"WATCHDOG_USEC": "soon"}).watchdog_interval() is None


def test_watchdog_pings_at_most_every_half_interval() -> None:
    now = [100.0]
    sent = []

    class Recorder(Notifier):
        def watchdog(self) -> bool:
            sent.append(now[0])
            return True

    dog = Watchdog(Recorder({"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "10000000"}),
                   clock=lambda: now[0])
    assert dog.period == 5.0
    for _ in range(300):  # 30 fps for 10 s
        dog.frame_done()
        now[0] += 1 / 30
    assert len(sent) == 2 and sent[1] - sent[0] == pytest.approx(5.0, abs=1 / 30)


def test_stalled_frames_stop_the_pings(listener) -> None:
    """The frame loop is the only pinger: while a stage hangs, systemd hears nothing."""
    sock, address = listener
    notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"})  # 0.2 s: ping every 0.1 s
    now = [100.0]
    dog = Watchdog(notifier, clock=lambda: now[0])

    def frames(count: int) -> None:  # the frame loop at 100 fps, on the watchdog's clock
        for _ in range(count):
            now[0] += 0.01
            dog.frame_done()

    frames(35)
    assert received(sock) == ["WATCHDOG=1"] * 4  # at 0, 0.1, 0.2 and 0.3 s
    now[0] += 1.0  # a stage hangs for a second, five watchdog intervals: no frame comes through
    # Real time as well: a pinger of its own (a timer thread, what this rules out) would ping within 0.1 s.
    assert received(sock, timeout=0.5) == []
    frames(1)  # the stage recovers
    assert received(sock) == ["WATCHDOG=1"]
    notifier.close()
