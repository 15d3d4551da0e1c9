"""The HTTP side: an aiohttp application on its own thread and event loop.

Every request needs the token (Bearer header or the login cookie) except the login form and its
stylesheet; every POST must come from this origin and carry the CSRF value; bodies over
:data:`MAX_BODY` get 413. Files are served from fixed lists (the page's three files, the
snapshot folder's own snapshots by name), never by joining a path from the URL. The access log
records method, path (without the query string), status and time: never a token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from edge_emojify.errors import UserError
from edge_emojify.snapshots import PREFIX, SUFFIX
from edge_emojify.web import auth
from edge_emojify.web.remote import ACTIONS
from edge_emojify.web.stream import JpegCache, multipart_part

if TYPE_CHECKING:
    from edge_emojify.web.remote import Remote

log = logging.getLogger(__name__)
access_log = logging.getLogger("edge_emojify.web.access")

MAX_BODY = 64 * 1024
BOUNDARY = "frame"
WRITE_TIMEOUT = 10.0  # seconds a stream client may take to accept a frame before it is dropped
FLUSH_EVERY = 60.0  # seconds between writes of the mood tally to its file
PUBLIC = frozenset({"/login", "/static/style.css"})
STATIC = ("index.html", "app.js", "style.css", "login.html")
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
REMOTE: web.AppKey[Remote] = web.AppKey("remote")


class PathOnlyAccessLogger(AbstractAccessLogger):
    """One DEBUG line per request without the query string, headers or body, so no secret is logged."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug("%s %s %s %d %.1f ms", request.remote, request.method, request.path,
                          response.status, time * 1e3)


def _static_files() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("edge_emojify.web") / "static"
    return {name: ((folder / name).read_bytes(), TYPES[Path(name).suffix] + "; charset=utf-8") for name in STATIC}


def _unauthorized(request: web.Request) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="edge-emojify"'}
    if request.path.startswith("/api/"):
        return web.json_response({"error": "token required"}, status=401, headers=headers)
    return web.Response(status=401, headers=headers, content_type="text/html",
                        text='<!doctype html><title>edge-emojify</title><p>Token required: '
                             '<a href="/login">log in</a>.</p>')


@web.middleware
async def guard(request: web.Request, handler):  # noqa: ANN001 - aiohttp's handler type
    """Size, token, origin and CSRF checks, in that order, before any handler runs."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    token = request.app[REMOTE].cfg.token
    if request.path not in PUBLIC and not auth.authorized(request.headers, request.cookies, token):
        return _unauthorized(request)
    if request.method not in ("GET", "HEAD"):
        if not auth.same_origin(request.headers, request.host):
            raise web.HTTPForbidden(text="cross-origin request refused")
        if request.path != "/login":
            given = request.headers.get(auth.CSRF_HEADER, "")
            if not given and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                given = str((await request.post()).get(auth.CSRF_FIELD, ""))
            if not auth.csrf_ok(given, token):
                raise web.HTTPForbidden(text="missing or wrong CSRF token")
    return await handler(request)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)


def create_app(remote: Remote) -> web.Application:
    """The page's routes around ``remote``; one per server thread."""
    files = _static_files()
    cache = JpegCache(remote.slot, remote.cfg.stream_width)
    closing = asyncio.Event()
    app = web.Application(client_max_size=MAX_BODY, middlewares=[guard])
    app[REMOTE] = remote
    app.on_response_prepare.append(_headers)

    def page(name: str, status: int = 200) -> web.Response:
        body, content_type = files[name]
        return web.Response(body=body, status=status, headers={"Content-Type": content_type})

    async def index(request: web.Request) -> web.Response:
        return page("index.html")

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in files or name == "login.html":
            raise web.HTTPNotFound()
        return page(name)

    async def login_form(request: web.Request) -> web.Response:
        return page("login.html")

    async def login(request: web.Request) -> web.Response:
        given = str((await request.post()).get("token", ""))
        if not auth.token_matches(given, remote.cfg.token):
            log.warning("web: failed login from %s", request.remote)
            return page("login.html", status=401)
        # A plain 303 response, not web.HTTPSeeOther: aiohttp deprecates returning its exceptions.
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(auth.COOKIE, auth.session_value(remote.cfg.token), httponly=True, samesite="Strict",
                            path="/", max_age=30 * 86400)
        return response

    answered: list = [None, b""]  # (the App's status value, errors, streams) and its JSON, for the next asker

    async def status(request: web.Request) -> web.Response:
        # The App hands over a new value a few times a second; scripts may ask far more often.
        key = (remote.status_value, remote.errors.emitted, remote.slot.watchers)
        if answered[0] is None or answered[0][0] is not key[0] or answered[0][1:] != key[1:]:
            answered[:] = [key, json.dumps(remote.status()).encode()]
        return web.Response(body=answered[1], content_type="application/json")

    async def history(request: web.Request) -> web.Response:
        data = await asyncio.get_running_loop().run_in_executor(None, remote.history.as_json)
        return web.json_response(data)

    async def history_csv(request: web.Request) -> web.Response:
        text = await asyncio.get_running_loop().run_in_executor(None, remote.history.as_csv)
        return web.Response(text=text, content_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="mood-history.csv"'})

    async def action(request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            try:
                data = json.loads(await request.read() or b"{}")
            except ValueError:
                raise web.HTTPBadRequest(text="body is not JSON") from None
            name = data.get("action") if isinstance(data, dict) else None
        else:
            name = (await request.post()).get("action")
        if name not in ACTIONS:
            raise web.HTTPBadRequest(text=f"unknown action; allowed: {', '.join(ACTIONS)}")
        if name == "snapshot" and remote.snapshot_folder is None:
            raise web.HTTPConflict(text="snapshots are off")
        remote.queue(name)
        return web.json_response({"queued": name}, status=202)

    def snapshot_names() -> list[str]:
        folder = remote.snapshot_folder
        if folder is None or not folder.is_dir():
            return []
        found = [p for p in folder.glob(f"{PREFIX}*{SUFFIX}") if p.is_file() and not p.is_symlink()]
        return [p.name for p in sorted(found, key=lambda p: p.name, reverse=True)]

    async def snapshots(request: web.Request) -> web.Response:
        return web.json_response({"enabled": remote.snapshot_folder is not None, "files": snapshot_names()[:50]})

    async def snapshot(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in snapshot_names():  # only a listed basename, never a path from the URL
            raise web.HTTPNotFound()
        return web.FileResponse(remote.snapshot_folder / name,
                                headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def stream(request: web.Request) -> web.StreamResponse:
        slot = remote.slot
        if slot.watchers >= remote.cfg.max_clients:
            raise web.HTTPServiceUnavailable(text=f"at most {remote.cfg.max_clients} live streams at once")
        slot.watchers += 1
        loop = asyncio.get_running_loop()
        response = web.StreamResponse(headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}"})
        try:
            await response.prepare(request)
            sent = 0
            while not closing.is_set():
                latest = slot.latest()
                if latest is not None and latest[0] != sent:
                    seq, jpeg = latest[0], cache.cached(latest[0])
                    if jpeg is None:  # the first client to want this frame encodes it, off the loop
                        newest = await loop.run_in_executor(None, cache.newest)  # cv2 lets go of the GIL
                        if newest is not None:
                            seq, jpeg = newest
                    if jpeg is not None:
                        sent = seq
                        await asyncio.wait_for(response.write(multipart_part(jpeg, BOUNDARY)), WRITE_TIMEOUT)
                        slot.sent += 1
                await asyncio.sleep(slot.period / 2)
        except (ConnectionError, TimeoutError):
            pass  # gone, or too slow to take a frame within WRITE_TIMEOUT: the slot is freed
        finally:
            slot.watchers -= 1
        return response

    app.router.add_get("/", index)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/stream.mjpg", stream)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/history", history)
    app.router.add_get("/api/history.csv", history_csv)
    app.router.add_post("/api/action", action)
    app.router.add_get("/api/snapshots", snapshots)
    app.router.add_get("/snapshots/{name}", snapshot)

    async def stop_streams(_app: web.Application) -> None:
        closing.set()

    app.on_shutdown.append(stop_streams)
    return app


class ServerThread:
    """Runs the page's event loop on a daemon thread; start() returns once it listens, or raises."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.port = remote.cfg.port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="edge-emojify-web", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise UserError("the web page did not start within 30 s")
        if self._error:
            raise UserError(self._error)

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(loop))
        except Exception as exc:  # noqa: BLE001 - reported to start() instead of dying silently
            self._error = f"the web page failed: {exc}"
            log.exception("web server failed")
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        cfg = self.remote.cfg
        self._stopping = asyncio.Event()
        runner = web.AppRunner(create_app(self.remote), access_log_class=PathOnlyAccessLogger,
                               access_log=access_log, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, cfg.bind, cfg.port)
        try:
            await site.start()
        except OSError as exc:
            self._error = (f"the web page cannot listen on {cfg.bind}:{cfg.port} ({exc.strerror or exc}); "
                           "set web.bind / web.port, or stop what uses the port")
            await runner.cleanup()
            return
        self.port = runner.addresses[0][1]
        self._loop = loop
        self._ready.set()
        flusher = loop.create_task(self._flush_history())
        try:
            await self._stopping.wait()
        finally:
            flusher.cancel()
            await runner.cleanup()

    async def _flush_history(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            try:
                await loop.run_in_executor(None, self.remote.history.flush)
            except Exception:  # noqa: BLE001 - a full disk must not stop the page; the journal says why
                log.exception("mood history: writing the hourly counts failed")
