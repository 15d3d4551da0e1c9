"""The operator's web page: live view of the screen, status, controls and a mood history.

Opt-in (``[web] enabled = true``) and locked by a token. The App sees only :class:`Remote`
(``remote.py``): it hands over the rendered image and a status value, and drains the actions
the page queued; the HTTP server runs on its own thread and event loop (``server.py``) and never
touches the App. aiohttp is imported only here, when the page is enabled, so the mirror itself
needs no web library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_emojify.errors import UserError

if TYPE_CHECKING:
    from edge_emojify.config import Config
    from edge_emojify.web.remote import Remote

MIN_TOKEN = 16  # characters; install.sh and `edge-emojify web --rotate` make 32 or more


def build_remote(cfg: Config, snapshots: bool) -> Remote:
    """The started web page for ``cfg.web``; a missing library or token is one line for the user."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise UserError("web.enabled = true needs aiohttp: pip install 'edge-emojify[web]' "
                        "(or set web.enabled = false)") from None
    if len(cfg.web.token) < MIN_TOKEN:
        raise UserError(f"web.enabled = true needs web.token of at least {MIN_TOKEN} characters; make one "
                        "with: sudo edge-emojify web --rotate")
    from edge_emojify.web.remote import Remote

    remote = Remote(cfg, snapshots=snapshots)
    remote.start()
    return remote
