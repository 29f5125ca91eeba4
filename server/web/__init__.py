"""The web interface at ``/web``: a page in the browser that is one more ``/ws`` client, and
upstream 0.10's web API next to it (``/web/metadata``, ``/web/reset``, ``/web/step``,
``/web/state``, ``WS /ws/ui``; see :mod:`.api`).

Each browser tab opens its own WebSocket, so it gets its own session (its own environment
instance, counted toward the capacity and freed when the tab closes), unlike upstream's
Gradio page, whose users all share one global environment. The page is static HTML, CSS
and a small vanilla JavaScript module (no build step, nothing fetched from the network):
it reads ``GET /schema``, builds an action form from the action's JSON Schema and speaks the
``openenv-gym.v1`` JSON subprotocol with request ids.

Enabled by ``create_app(..., web=True)`` or, as upstream, by ``ENABLE_WEB_INTERFACE`` set to
``true``, ``1`` or ``yes``; ``/`` then redirects to ``/web/``. On a server that requires a
token, the page's files are public (they hold no data) and the page asks for the token; see
:mod:`.token` for how it reaches ``/ws``. The web API is not public: it needs the token.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from openenv_gym.types import Action

from .api import WebApi, web_router
from .channel import UI_SUBPROTOCOL
from .token import TOKEN_SUBPROTOCOL_PREFIX, token_subprotocol, without_token_subprotocols

__all__ = ["API_PATHS", "TOKEN_SUBPROTOCOL_PREFIX", "UI_SUBPROTOCOL", "WEB_VARIABLE", "WebApi",
           "is_web_asset", "mount_web", "token_subprotocol",
           "web_enabled", "without_token_subprotocols"]

WEB_VARIABLE = "ENABLE_WEB_INTERFACE"
"""Environment variable that switches the web interface on (upstream's name)."""
STATIC = Path(__file__).parent / "static"
_TRUE = {"true", "1", "yes"}
API_PATHS = frozenset({"/web/metadata", "/web/reset", "/web/step", "/web/state"})
"""The web API's HTTP routes (under ``/web`` but not files: they need the token)."""


def web_enabled(web: bool | None) -> bool:
    """``web`` if given, else whether ``ENABLE_WEB_INTERFACE`` is ``true``, ``1`` or ``yes``.

    >>> web_enabled(True), web_enabled(False)
    (True, False)
    """
    if web is not None:
        return web
    return os.environ.get(WEB_VARIABLE, "").strip().lower() in _TRUE


def is_web_asset(path: str) -> bool:
    """A path the web interface serves files (or the redirect to them) at.

    >>> is_web_asset("/web/app.js"), is_web_asset("/"), is_web_asset("/schema"), is_web_asset("/web/state")
    (True, True, False, False)
    """
    if path in API_PATHS or path.rstrip("/") in API_PATHS:
        return False
    return path in ("/", "/web") or path.startswith("/web/")


def mount_web(app: FastAPI, action_type: type[Action]) -> None:
    """Serve the web API (one session of ``app.state.sessions``, the metadata of
    ``app.state.description``), the page at ``/web/``, and redirect ``/`` there."""
    api = WebApi(action_type, app.state.sessions, app.state.description)
    app.state.web = api
    app.include_router(web_router(api))  # before the page's mount, which would take /web/*

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("web/")

    app.mount("/web", StaticFiles(directory=STATIC, html=True), name="web")
