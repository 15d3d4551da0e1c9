"""What the web page costs the mirror: the frame loop's p50/p95 with no clients, then under load.

    python -m edge_emojify.web.load [--seconds 60]

Runs the real App loop on the bundled sample into a null sink with the page on 127.0.0.1 (a
random port, a throw-away token and history file), measures the loop's milliseconds per frame
for ``--seconds`` with nobody connected, then for as long again with 5 MJPEG clients reading
the stream and 50 ``/api/status`` requests a second (from a child process, as if from other
machines), and prints both and their ratio. Every wait is bounded; nothing listens beyond
localhost.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import queue
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from edge_emojify.app import App
from edge_emojify.config import ButtonConfig, Config, DisplayConfig, SourceConfig, WebConfig


class TimedApp(App):
    """The App as it runs, also keeping each frame's loop time (source read to shown)."""

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.frame_ms: list[float] = []

    def _frame_done(self, t0: float, stage_ms: dict[str, float]) -> None:
        super()._frame_done(t0, stage_ms)
        self.frame_ms.append(self.stats.stage_ms["frame"])


def _streamer(port: int, token: str, stop: threading.Event, frames: list[int]) -> None:
    """A stream client that reads everything it is sent, as a browser does."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        while not stop.is_set():
            try:
                data = sock.recv(1 << 16)
            except TimeoutError:
                continue
            if not data:
                return
            frames[0] += data.count(b"--frame\r\n")


def _poller(port: int, token: str, rate: float, stop: threading.Event, done: list[int]) -> None:
    """``rate`` status requests a second on one keep-alive connection, on a fixed schedule."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    due = time.monotonic()
    while not stop.is_set():
        conn.request("GET", "/api/status", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        resp.read()
        done[0 if resp.status == 200 else 1] += 1
        due += 1.0 / rate
        stop.wait(max(0.0, due - time.monotonic()))
    conn.close()


def _clients(port: int, token: str, streams: int, rate: float, seconds: float, ready, results) -> None:  # noqa: ANN001
    """The load, in a child process: ``streams`` MJPEG readers and ``rate`` status requests a second."""
    stop = threading.Event()
    frames, done = [0], [0, 0]
    workers = [threading.Thread(target=_streamer, args=(port, token, stop, frames), daemon=True)
               for _ in range(streams)]
    if rate > 0:
        workers.append(threading.Thread(target=_poller, args=(port, token, rate, stop, done), daemon=True))
    for w in workers:
        w.start()
    ready.set()
    stop.wait(seconds + 1)  # a little past the parent's window, so the load covers all of it
    stop.set()
    for w in workers:
        w.join(10)
    results.put((frames[0], done[0], done[1]))


def _figures(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def run(seconds: float, streams: int = 5, rate: float = 50.0) -> int:
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config(source=SourceConfig(kind="sample"), display=DisplayConfig(sink="null"),
                     button=ButtonConfig(enabled=False),
                     web=WebConfig(enabled=True, port=0, token=token, max_clients=max(streams, 1),
                                   history_path=str(Path(tmp) / "history.sqlite")))
        app = TimedApp(cfg)
        loop = threading.Thread(target=app.run, name="frame-loop", daemon=True)
        loop.start()
        deadline = time.monotonic() + 120
        while (app.remote is None or len(app.frame_ms) < 10) and loop.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if app.remote is None or len(app.frame_ms) < 10:
            print("edge-emojify: error: the mirror did not start within 120 s", file=sys.stderr)
            app.stop()
            return 2
        port = app.remote.port

        start = len(app.frame_ms)
        time.sleep(seconds)
        idle = app.frame_ms[start:]

        # The clients run in a process of their own, as they would on other machines: their
        # Python must not take this interpreter's lock from the frame loop being measured.
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        ready = ctx.Event()
        clients = ctx.Process(target=_clients, args=(port, token, streams, rate, seconds, ready, results), daemon=True)
        clients.start()
        if not ready.wait(60):
            print("edge-emojify: error: the load clients did not start within 60 s", file=sys.stderr)
            clients.kill()
            app.stop()
            return 2
        start = len(app.frame_ms)
        time.sleep(seconds)
        loaded = app.frame_ms[start:]
        frames, done = [0], [0, 0]
        try:
            frames[0], done[0], done[1] = results.get(timeout=30)
        except queue.Empty:
            print("edge-emojify: warning: the load clients did not report", file=sys.stderr)
        clients.join(10)
        if clients.is_alive():
            clients.kill()
        app.stop()
        loop.join(30)

    (p50, p95), (lp50, lp95) = _figures(idle), _figures(loaded)
    print(f"frame loop on the sample, null sink, {seconds:g} s each:")
    print(f"  no clients:               p50 {p50:.2f} ms, p95 {p95:.2f} ms ({len(idle)} frames)")
    print(f"  {streams} streams + {rate:g} status/s:  p50 {lp50:.2f} ms, p95 {lp95:.2f} ms ({len(loaded)} frames; "
          f"{done[0]} status answers, {done[1]} refused; {frames[0]} stream frames received)")
    print(f"  p95 ratio (loaded / none): {lp95 / p95:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_emojify.web.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each of the two runs (1 to 600)")
    parser.add_argument("--streams", type=int, default=5, help="stream clients in the second run (0 to 10)")
    parser.add_argument("--rate", type=float, default=50.0, help="status requests a second in the second run "
                                                                  "(0 to 500)")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 600 or not 0 <= args.streams <= 10 or not 0 <= args.rate <= 500:
        print("edge-emojify: error: --seconds must be 1 to 600, --streams 0 to 10, --rate 0 to 500", file=sys.stderr)
        return 2
    return run(args.seconds, args.streams, args.rate)


if __name__ == "__main__":
    sys.exit(main())
