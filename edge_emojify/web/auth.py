"""Who may use the page: the token, the session cookie derived from it, and the CSRF checks.

Pure functions over strings and headers (no web library), so the rules are tested on their own
and the server only wires them in. The token is accepted from the ``Authorization: Bearer``
header or as a session cookie; never from the URL, where it would end up in browser history,
proxies and logs. The cookie and the CSRF value are HMACs of the token, so the token itself is
never stored in the browser, and rotating it ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit

COOKIE = "ee_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"


def _derive(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def session_value(token: str) -> str:
    """What the login cookie holds: proof of the token, not the token."""
    return _derive(token, "edge-emojify session")


def csrf_value(token: str) -> str:
    """The value a state-changing request must echo; readable only by a page on this origin."""
    return _derive(token, "edge-emojify csrf")


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def token_matches(given: str, token: str) -> bool:
    """A constant-time comparison, so the answer's timing says nothing about the token."""
    return bool(token) and _equal(given, token)


def authorized(headers: Mapping[str, str], cookies: Mapping[str, str], token: str) -> bool:
    """True for the Bearer token or the session cookie; a query string is never looked at."""
    scheme, _, given = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token_matches(given.strip(), token):
        return True
    cookie = cookies.get(COOKIE, "")
    return bool(cookie) and bool(token) and _equal(cookie, session_value(token))


def same_origin(headers: Mapping[str, str], host: str) -> bool:
    """Origin (else Referer), when the browser sends one, must name this very host.

    Browsers send Origin on every cross-site POST, so a page elsewhere cannot post here even
    before the CSRF value is checked; a script without either header passes this check alone.
    """
    origin = headers.get("Origin")
    if origin is None:
        referer = headers.get("Referer")
        if referer is None:
            return True
        origin = referer
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


def csrf_ok(given: str, token: str) -> bool:
    return bool(given) and _equal(given, csrf_value(token))
