"""The web page (edge_emojify.web) against a real aiohttp server on 127.0.0.1, and through the real App loop.

Requests go over real sockets with http.client (which sends a path exactly as written, so
traversal attempts reach the server unnormalised); nothing of aiohttp is mocked.
"""

from __future__ import annotations

import csv
import dataclasses
import http.client
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

pytest.importorskip("aiohttp")

from fakes import FlakySource, RecordingSink  # noqa: E402
from test_app import IMAGES, make_app  # noqa: E402
from waits import wait_for  # noqa: E402

from edge_emojify.config import Config, DisplayConfig, SnapshotConfig, SourceConfig, WebConfig  # noqa: E402
from edge_emojify.errors import UserError  # noqa: E402
from edge_emojify.render.draw import message_screen  # noqa: E402
from edge_emojify.web import auth, build_remote, server  # noqa: E402
from edge_emojify.web.history import MoodHistory, hour_of  # noqa: E402
from edge_emojify.web.remote import DEBUG_NOT_STREAMED, Remote  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "t0ken-" + "s3cret" * 5
BEARER = {"Authorization": f"Bearer {TOKEN}"}
CSRF = auth.csrf_value(TOKEN)


def web_config(tmp_path: Path, **web) -> Config:
    return Config(source=SourceConfig(kind="camera", timeout=0.5), display=DisplayConfig(mirror=False),
                  snapshots=SnapshotConfig(folder=str(tmp_path / "snapshots")),
                  web=WebConfig(enabled=True, port=0, token=TOKEN, history_path=str(tmp_path / "history.sqlite"),
                                **web))


@pytest.fixture
def remote(tmp_path):
    r = Remote(web_config(tmp_path), snapshots=True)
    r.start()
    yield r
    r.close()


def call(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    """(status, headers, body) of one request; the path goes out byte for byte."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def post_action(port: int, action: str, headers: dict | None = None):
    hdrs = {**BEARER, "Content-Type": "application/json", auth.CSRF_HEADER: CSRF, **(headers or {})}
    return call(port, "POST", "/api/action", hdrs, json.dumps({"action": action}).encode())


def status(port: int) -> dict:
    code, _, body = call(port, "GET", "/api/status", BEARER)
    assert code == 200
    return json.loads(body)


# ---------------------------------------------------------------- who gets in


def test_every_request_without_the_token_gets_401(remote):
    for path in ("/", "/api/status", "/stream.mjpg", "/static/app.js", "/api/history.csv", "/nowhere"):
        assert call(remote.port, "GET", path)[0] == 401, path
        assert call(remote.port, "GET", path, {"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401, path
        # Never from the URL (history, proxies, logs), nor as a raw cookie.
        assert call(remote.port, "GET", f"{path}?token={TOKEN}")[0] == 401, path
        assert call(remote.port, "GET", path, {"Cookie": f"{auth.COOKIE}={TOKEN}"})[0] == 401, path
    code, headers, _ = call(remote.port, "GET", "/api/status")
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert call(remote.port, "GET", "/api/status", BEARER)[0] == 200


def test_login_form_sets_a_strict_httponly_cookie_that_works(remote):
    code, _, page = call(remote.port, "GET", "/login")
    assert code == 200 and b'name="token"' in page
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert call(remote.port, "POST", "/login", form, b"token=wrong")[0] == 401
    code, headers, _ = call(remote.port, "POST", "/login", form, f"token={TOKEN}".encode())
    assert code == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    value = cookie.split(";")[0]
    assert call(remote.port, "GET", "/api/status", {"Cookie": value})[0] == 200
    assert call(remote.port, "GET", "/", {"Cookie": value})[0] == 200
    # A login posted from another site is refused before the token is even looked at.
    evil = {**form, "Origin": "http://evil.example"}
    assert call(remote.port, "POST", "/login", evil, f"token={TOKEN}".encode())[0] == 403


def test_state_changes_need_post_csrf_and_this_origin(remote):
    body = json.dumps({"action": "next"}).encode()
    plain = {**BEARER, "Content-Type": "application/json"}
    assert call(remote.port, "POST", "/api/action", plain, body)[0] == 403  # no CSRF value
    assert call(remote.port, "POST", "/api/action", {**plain, auth.CSRF_HEADER: "0" * 64}, body)[0] == 403
    assert post_action(remote.port, "next", {"Origin": "http://evil.example"})[0] == 403
    assert post_action(remote.port, "next", {"Referer": "http://evil.example/page"})[0] == 403
    assert post_action(remote.port, "next", {"Origin": "null"})[0] == 403
    assert call(remote.port, "GET", "/api/action", BEARER)[0] == 405
    assert call(remote.port, "GET", "/api/action?action=next", BEARER)[0] == 405
    assert remote.poll_actions() == []  # nothing refused reached the queue
    host = f"http://127.0.0.1:{remote.port}"
    assert post_action(remote.port, "next", {"Origin": host})[0] == 202
    assert post_action(remote.port, "mode:debug", {"Referer": host + "/"})[0] == 202
    # The page's form way: the session cookie and the CSRF value as a form field.
    cookie = {"Cookie": f"{auth.COOKIE}={auth.session_value(TOKEN)}",
              "Content-Type": "application/x-www-form-urlencoded"}
    assert call(remote.port, "POST", "/api/action", cookie, f"action=snapshot&csrf={CSRF}".encode())[0] == 202
    assert call(remote.port, "POST", "/api/action", cookie, b"action=snapshot")[0] == 403
    assert post_action(remote.port, "format_disk")[0] == 400
    assert post_action(remote.port, "mode:nope")[0] == 400
    assert remote.poll_actions() == ["next", "mode:debug", "snapshot"]


def test_oversized_requests_get_413(remote):
    big = json.dumps({"action": "next", "pad": "x" * 100_000}).encode()
    hdrs = {**BEARER, "Content-Type": "application/json", auth.CSRF_HEADER: CSRF}
    assert call(remote.port, "POST", "/api/action", hdrs, big)[0] == 413
    assert call(remote.port, "POST", "/api/action", {"Content-Type": "application/json"}, big)[0] == 413
    # Chunked, so no Content-Length announces it: refused when the body is read.
    conn = http.client.HTTPConnection("127.0.0.1", remote.port, timeout=10)
    conn.request("POST", "/api/action", body=iter([big[:50_000], big[50_000:]]), headers=hdrs,
                 encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()
    assert remote.poll_actions() == []


SECRET = b"THE-SECRET-FILE-CONTENTS"


def test_no_path_leaves_the_page_or_snapshot_files(tmp_path, remote):
    folder = tmp_path / "snapshots"
    folder.mkdir()
    (folder / "snapshot-20261202-140000.jpg").write_bytes(b"\xff\xd8jpeg")
    (folder / "notes.txt").write_bytes(SECRET)
    (tmp_path / "config.toml").write_bytes(SECRET)
    (folder / "snapshot-link.jpg").symlink_to(tmp_path / "config.toml")
    attempts = ["/static/../config.py", "/static/%2e%2e/config.py", "/static/%2e%2e%2fconfig.py",
                "/static/..%2f..%2fedge_emojify%2fconfig.py", "/static/..%5cconfig.py", "/static/login.html/..",
                "/static/", "/static/%2fetc%2fpasswd", "/snapshots/../config.toml", "/snapshots/%2e%2e%2fconfig.toml",
                "/snapshots/notes.txt", "/snapshots/snapshot-link.jpg", "/snapshots/..%2fconfig.toml",
                "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"]
    for path in attempts:
        code, _, body = call(remote.port, "GET", path, BEARER)
        assert code in (400, 403, 404), (path, code)
        assert SECRET not in body and b"import" not in body and b"root:" not in body, path
    code, headers, body = call(remote.port, "GET", "/snapshots/snapshot-20261202-140000.jpg", BEARER)
    assert code == 200 and body == b"\xff\xd8jpeg" and "attachment" in headers["Content-Disposition"]
    listed = json.loads(call(remote.port, "GET", "/api/snapshots", BEARER)[2])
    assert listed == {"enabled": True, "files": ["snapshot-20261202-140000.jpg"]}
    code, headers, body = call(remote.port, "GET", "/static/app.js", BEARER)
    assert code == 200 and headers["Content-Type"].startswith("text/javascript") and b"fetch(" in body


def test_the_token_never_reaches_the_log(remote, caplog):
    caplog.set_level(logging.DEBUG)
    call(remote.port, "GET", f"/api/status?token={TOKEN}")
    call(remote.port, "GET", "/api/status", BEARER)
    call(remote.port, "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"},
         f"token={TOKEN}".encode())
    call(remote.port, "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"}, b"token=guess")
    wait_for(lambda: sum("/api/status" in r.getMessage() for r in caplog.records) >= 2)  # the access log
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and CSRF not in logged and auth.session_value(TOKEN) not in logged
    assert "failed login" in logged


def test_web_needs_a_token_aiohttp_and_a_free_port(tmp_path, monkeypatch):
    cfg = web_config(tmp_path)
    with pytest.raises(UserError, match="web.token of at least 16 characters.*web --rotate"):
        build_remote(dataclasses.replace(cfg, web=dataclasses.replace(cfg.web, token="short")), snapshots=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = dataclasses.replace(cfg, web=dataclasses.replace(cfg.web, port=busy.getsockname()[1]))
        with pytest.raises(UserError, match=r"cannot listen on 127\.0\.0\.1:\d+ .*set web.bind / web.port"):
            build_remote(taken, snapshots=False)
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if the web extra were not installed
    with pytest.raises(UserError, match=r"pip install 'edge-emojify\[web\]'"):
        build_remote(cfg, snapshots=False)


# ---------------------------------------------------------------- the live view


class StreamReader:
    """A client of /stream.mjpg that reads JPEG parts (or, with ``stall``, never reads at all)."""

    def __init__(self, port: int, stall: bool = False) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if stall:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        auth_line = BEARER["Authorization"]
        self.sock.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth_line}\r\n\r\n"
                          .encode())
        self.file = self.sock.makefile("rb")

    def status(self) -> int:
        line = self.file.readline()
        code = int(line.split()[1])
        while self.file.readline() not in (b"\r\n", b""):
            pass
        return code

    def frame(self) -> np.ndarray:
        while (line := self.file.readline()) != b"--frame\r\n":
            assert line, "stream ended"
        length = 0
        while (line := self.file.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        image = cv2.imdecode(np.frombuffer(self.file.read(length), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        return image

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def like(a: np.ndarray, b: np.ndarray, tolerance: float = 4) -> bool:
    """The same picture through JPEG: shapes equal, mean absolute difference small."""
    return a.shape == b.shape and float(np.abs(a.astype(int) - b.astype(int)).mean()) < tolerance


def test_a_client_that_never_reads_does_not_slow_publishing(remote, monkeypatch):
    monkeypatch.setattr(server, "WRITE_TIMEOUT", 1.0)
    ticks = iter(range(10**9))
    remote.slot.clock = lambda: next(ticks) * remote.slot.period  # every publish is kept: the worst case
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (720, 1280, 3), np.uint8) for _ in range(4)]  # big, incompressible JPEGs
    stalled = StreamReader(remote.port, stall=True)
    wait_for(lambda: remote.slot.watchers == 1)
    sent_at: list[int] = []  # frames the server had sent at each publish

    def frame_loop_turn() -> bool:
        """One turn of a 100 fps frame loop that publishes; True once the stalled client is gone."""
        remote.publish_frame(noise[len(sent_at) % 4], "mirror")
        sent_at.append(remote.slot.sent)
        time.sleep(0.01)  # the camera's frame period, as FlakySource has it
        return remote.slot.watchers == 0

    wait_for(frame_loop_turn, 60, what="the client that never reads to be dropped after WRITE_TIMEOUT")
    stalled.close()
    stuck = sent_at[-1]
    assert 0 < stuck < len(sent_at)  # some frames went out before its buffers filled, most never did
    # Every turn of the loop published, the turns while the client sat stalled included.
    assert remote.slot.published == len(sent_at)
    assert len(sent_at) - sent_at.index(stuck) >= 20


def test_one_stream_more_than_max_clients_gets_503(tmp_path):
    r = Remote(web_config(tmp_path, max_clients=2), snapshots=False)
    r.start()
    try:
        clients = [StreamReader(r.port) for _ in range(2)]
        assert [c.status() for c in clients] == [200, 200]
        wait_for(lambda: r.slot.watchers == 2)
        extra = StreamReader(r.port)
        assert extra.status() == 503
        extra.close()
        clients.pop().close()
        r.publish_frame(IMAGES[0], "mirror")  # the server notices a gone client when it writes to it
        wait_for(lambda: r.slot.watchers == 1 or r.publish_frame(IMAGES[1], "mirror"))
        again = StreamReader(r.port)
        assert again.status() == 200
        again.close()
        clients[0].close()
    finally:
        r.close()


# ---------------------------------------------------------------- through the real App loop


def run_app(app):
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    wait_for(lambda: app.remote is not None and app.frames >= 2)
    return thread


def test_actions_flow_through_the_app_loop_like_the_button(tmp_path):
    reloads, saved = [], []
    cfg = web_config(tmp_path)
    sink = RecordingSink()
    app = make_app([FlakySource(IMAGES), FlakySource(IMAGES)], sink, cfg=cfg,
                   reload_config=lambda: reloads.append(1) or cfg,
                   snapshot=lambda image, c: saved.append(image.shape) or "snap.jpg")
    thread = run_app(app)
    port = app.remote.port
    try:
        assert post_action(port, "next")[0] == 202
        wait_for(lambda: app.renderer.mode == "panel")
        assert post_action(port, "mode:emoji")[0] == 202
        wait_for(lambda: status(port)["mode"] == "emoji")
        assert post_action(port, "snapshot")[0] == 202
        wait_for(lambda: saved == [(240, 320, 3)])
        assert post_action(port, "reload")[0] == 202
        wait_for(lambda: reloads == [1])
        assert post_action(port, "privacy_on")[0] == 202
        wait_for(lambda: app.privacy and status(port)["camera"]["state"] == "paused")
        stream = StreamReader(port)
        assert stream.status() == 200
        blank = message_screen(np.zeros((240, 320, 3), np.uint8), ["privacy mode", "hold the button to resume"])
        assert like(stream.frame(), blank)  # the stream is as blank as the screen
        assert post_action(port, "privacy_off")[0] == 202
        wait_for(lambda: not app.privacy and status(port)["camera"]["state"] == "ok")
        wait_for(lambda: not like(stream.frame(), blank))
        stream.close()
        s = status(port)
        assert s["faces"] >= 1 and s["fps"] > 0 and s["camera"] == {"state": "ok", "losses": 0, "retries": 0}
        assert s["model"]["name"] == "emotion.tflite" and 0.5 < s["model"]["accuracy"] < 1
        assert s["uptime_s"] >= 0 and s["modes"] == ["mirror", "panel", "emoji", "debug"]
    finally:
        app.stop()
        thread.join(15)
    assert not thread.is_alive() and app.remote is None  # the page stopped with the mirror


@pytest.mark.parametrize("allow", [False, True])
def test_the_stream_is_the_screen_and_debug_only_when_allowed(tmp_path, allow):
    cfg = web_config(tmp_path, allow_debug_stream=allow)
    sink = RecordingSink()
    app = make_app([FlakySource(IMAGES)], sink, cfg=cfg)
    thread = run_app(app)
    try:
        stream = StreamReader(app.remote.port)
        assert stream.status() == 200
        frame = stream.frame()
        assert any(like(frame, shown) for shown in sink.shown[-200:])  # what the screen showed, emojis on
        app.handle("mode:debug")  # from this thread: a test shortcut for the queue's path
        not_streamed = message_screen(np.zeros((240, 320, 3), np.uint8), DEBUG_NOT_STREAMED)
        if allow:
            def debug_streamed() -> bool:
                frame = stream.frame()
                # Fine text and dots lose more to JPEG than the mirror's picture does.
                return not like(frame, not_streamed, 20) and any(like(frame, s, 8) for s in sink.shown[-200:])

            wait_for(debug_streamed)
        else:
            wait_for(lambda: like(stream.frame(), not_streamed))
            for _ in range(5):
                assert like(stream.frame(), not_streamed)
        stream.close()
    finally:
        app.stop()
        thread.join(15)


def test_a_lost_camera_shows_in_status(tmp_path):
    from edge_emojify.sources.base import SourceError

    sink = RecordingSink()
    app = make_app([FlakySource(IMAGES, ["frame"] * 3 + ["error"])] + [SourceError("gone")] * 50, sink,
                   cfg=web_config(tmp_path))
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: app.remote is not None)
        wait_for(lambda: status(app.remote.port)["camera"]["state"] == "lost")
        wait_for(lambda: status(app.remote.port)["camera"]["retries"] >= 1)
        assert status(app.remote.port)["camera"]["losses"] == 1
    finally:
        app.stop()
        thread.join(15)


# ---------------------------------------------------------------- the mood history


def track(track_id: int, label: str):
    return SimpleNamespace(track_id=track_id, label=label)


def test_history_counts_each_face_once_keeps_only_hourly_counts_and_prunes(tmp_path):
    now = [1_796_200_000.0]  # 2026-12-02
    path = tmp_path / "h.sqlite"
    h = MoodHistory(path, days=2, clock=lambda: now[0])
    for _ in range(30):  # one face, many frames: one count
        h.observe([track(1, "happy")])
    h.observe([track(1, "sad")])  # the same face changing its mood is still one face
    h.observe([track(2, "unsure")])  # not counted while unsure...
    h.observe([track(2, "unsure"), track(3, "neutral")])
    h.observe([track(2, "surprise"), track(3, "neutral")])  # ...but once it shows an emotion
    hour = hour_of(now[0])
    assert h.rows() == [(hour, "happy", 1), (hour, "neutral", 1), (hour, "surprise", 1)]
    h.observe([])  # everyone left
    h.observe([track(4, "happy")])
    now[0] += 3600
    h.observe([track(5, "happy")])
    rows = list(csv.DictReader(io.StringIO(h.as_csv())))
    assert rows[0] == {"hour": hour, "label": "happy", "count": "2"}
    assert rows[-1] == {"hour": hour_of(now[0]), "label": "happy", "count": "1"}
    assert h.as_json()["rows"][0] == {"hour": hour, "label": "happy", "count": 2}
    h.close()
    # Only (hour, label, count) is stored: no scores, boxes, images or ids.
    import sqlite3

    with sqlite3.connect(path) as db:
        assert [c[1] for c in db.execute("PRAGMA table_info(mood)")] == ["hour", "label", "count"]
        assert [t[0] for t in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["mood"]
    again = MoodHistory(path, days=2, clock=lambda: now[0])  # kept across restarts
    assert len(again.rows()) == 4
    now[0] += 2 * 86400  # the first hour is now older than history_days
    assert [r[0] for r in again.rows()] == [hour_of(now[0] - 2 * 86400)]
    again.close()


def test_history_api_serves_json_and_csv(tmp_path, remote):
    remote.observe([track(1, "happy"), track(2, "fear")])
    data = json.loads(call(remote.port, "GET", "/api/history", BEARER)[2])
    assert data["labels"][0] == "angry" and {r["label"] for r in data["rows"]} == {"happy", "fear"}
    code, headers, body = call(remote.port, "GET", "/api/history.csv", BEARER)
    assert code == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["hour", "label", "count"] and sorted(r[1] for r in rows[1:]) == ["fear", "happy"]


def test_a_bad_history_path_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="cannot open the mood history .*set web.history_path"):
        MoodHistory(tmp_path / "file" / "h.sqlite", days=1)


# ---------------------------------------------------------------- the load script


def test_the_load_script_prints_its_figures():
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    out = subprocess.run([sys.executable, "-m", "edge_emojify.web.load", "--seconds", "3"], capture_output=True,
                         text=True, timeout=180, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "no clients:" in out.stdout and "5 streams + 50 status/s:" in out.stdout and "p95 ratio" in out.stdout


# ---------------------------------------------------------------- edge-emojify web --token / --rotate


def test_web_token_shows_and_rotate_replaces_it_keeping_the_file(tmp_path, capsys):
    from edge_emojify.cli import main

    config = tmp_path / "config.toml"
    config.write_text('# the mirror in the hall\n[display]\nmode = "panel"  # kids like it\n\n[web]\n'
                      '# token = ""\nenabled = false\n\n[button]\nhold_action = "privacy"\n')
    config.chmod(0o640)
    assert main(["web", "--token", "--config", str(config)]) == 2
    assert "has no [web] token; make one with: edge-emojify web --rotate" in capsys.readouterr().err
    assert main(["web", "--rotate", "--config", str(config)]) == 0
    first = capsys.readouterr().out.strip()
    assert len(first) >= 32 and f'token = "{first}"' in config.read_text()
    assert config.read_text().replace(f'token = "{first}"', '# token = ""') == (
        '# the mirror in the hall\n[display]\nmode = "panel"  # kids like it\n\n[web]\n'
        '# token = ""\nenabled = false\n\n[button]\nhold_action = "privacy"\n')
    assert config.stat().st_mode & 0o777 == 0o640
    assert main(["web", "--token", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == first
    assert main(["web", "--rotate", "--config", str(config)]) == 0
    second = capsys.readouterr().out.strip()
    assert second != first and config.read_text().count("token = ") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no draft left behind


def test_the_effective_config_never_prints_the_token(tmp_path, capsys):
    from edge_emojify.cli import main

    config = tmp_path / "config.toml"
    config.write_text('[web]\ntoken = "s3cret-s3cret-s3cret-s3cret-s3cret"\n')
    assert main(["config", "--config", str(config)]) == 0
    shown = capsys.readouterr().out
    assert "s3cret" not in shown and "edge-emojify web --token shows it" in shown


def test_rotate_adds_a_web_section_where_there_is_none(tmp_path, capsys):
    from edge_emojify.cli import main

    config = tmp_path / "config.toml"
    config.write_text('[display]\nmode = "emoji"\n')
    assert main(["web", "--rotate", "--config", str(config)]) == 0
    token = capsys.readouterr().out.strip()
    assert config.read_text() == f'[display]\nmode = "emoji"\n\n[web]\ntoken = "{token}"\n'
    assert main(["web", "--rotate", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    config.write_text("[web]\nport = 99999\n")
    assert main(["web", "--rotate", "--config", str(config)]) == 2
    assert "[web].port is 99999; allowed: 1 to 65535" in capsys.readouterr().err
    assert config.read_text() == "[web]\nport = 99999\n"  # a bad file is left as it was


def test_status_shows_the_last_warnings_and_a_new_value_at_once(remote):
    remote.publish_status({"mode": "mirror"})
    assert status(remote.port)["mode"] == "mirror" and status(remote.port)["errors"] == []
    for i in range(12):
        logging.getLogger("edge_emojify.app").warning("camera hiccup %d", i)
    logging.getLogger("edge_emojify.app").info("not a problem")
    errors = status(remote.port)["errors"]
    assert len(errors) == 10 and errors[-1].endswith("WARNING edge_emojify.app: camera hiccup 11")
    remote.publish_status({"mode": "panel"})
    assert status(remote.port)["mode"] == "panel"


def test_the_mirror_without_the_page_never_loads_aiohttp():
    code = ("import sys; import edge_emojify.app, edge_emojify.cli, edge_emojify.config; "
            "assert 'aiohttp' not in sys.modules and 'edge_emojify.web.server' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=ROOT)


def test_answers_carry_the_security_headers(remote):
    for path, headers in (("/", BEARER), ("/login", {}), ("/api/status", BEARER), ("/nowhere", {})):
        _, got, _ = call(remote.port, "GET", path, headers)
        assert got["X-Frame-Options"] == "DENY" and "default-src 'self'" in got["Content-Security-Policy"], path
        assert got["X-Content-Type-Options"] == "nosniff" and got["Cache-Control"] == "no-store", path
