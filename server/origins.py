"""Web pages may not drive a server: the ``Host``, ``Origin`` and JSON-body checks.

A page on any site can make the browser of someone on this machine send requests to
``http://127.0.0.1:8000``. Three checks, in one ASGI middleware (:class:`OriginGuard`) in
front of every route and WebSocket, keep such pages out while every non-browser client
(ours, upstream's, ``curl``) works as before:

- **Host** (DNS rebinding: a page whose site's name is made to resolve to 127.0.0.1 is
  "same-origin" with the server): a request that reached the server on a loopback address
  must name this machine in its ``Host``: ``localhost``, ``*.localhost``, a loopback or
  unspecified address (``127.0.0.1``, ``[::1]``, ``0.0.0.0``), the machine's host name, or
  the address the request reached (a server bound to ``10.0.0.5`` answers to ``10.0.0.5``),
  with any port. A request that reached a non-loopback address (a server bound to
  ``0.0.0.0`` reached from the network, a container, a Ray node) is not checked by default,
  as Jupyter does: such servers are meant to be reached under names they cannot know. Set
  ``OPENENV_ALLOWED_HOSTS`` (comma separated; ``.example.com`` also allows its
  subdomains; ``*``: any) and every request is checked, on every address, against this
  machine's names plus the list. Refused: HTTP 400.
- **Origin** (a cross-site page, or a cross-site WebSocket, which browsers never block): a
  request carrying an ``Origin`` header must come from the server's own origin (the web
  interface at ``/web``: the origin's host and port are the ``Host``) or from one listed in
  ``OPENENV_ALLOWED_ORIGINS`` (``https://app.example.com``, comma separated; ``*``: any).
  Requests without ``Origin`` are not from a page and pass. Refused: HTTP 403, and a
  refused WebSocket handshake makes no session. Listed origins also get CORS headers
  (Starlette's ``CORSMiddleware``); no origin listed, no CORS header.
- **JSON bodies**: a ``POST``/``PUT``/``PATCH``/``DELETE`` with a body must send it as
  ``Content-Type: application/json``, which a browser sends across sites only after asking
  (a CORS preflight), so a "simple" ``text/plain`` or form post cannot reach ``/mcp``,
  ``/reset``, ``/step``, the task API or the web API. Refused: HTTP 415.

Every refusal is a JSON ``{"detail": ...}`` that says which setting lets the request in.

=============================  ==========================  ========================================
variable                       ``create_app`` keyword      default
=============================  ==========================  ========================================
``OPENENV_ALLOWED_HOSTS``      ``allowed_hosts``           this machine's names, on loopback only
``OPENENV_ALLOWED_ORIGINS``    ``allowed_origins``         the server's own origin only
=============================  ==========================  ========================================

>>> def scope(*headers: tuple[bytes, bytes], method: str = "GET") -> dict:
...     return {"type": "http", "method": method, "server": ("127.0.0.1", 8000), "headers": list(headers)}
>>> policy = OriginPolicy.configured(None, None)
>>> policy.refusal(scope((b"host", b"evil.example:8000"))).status
400
>>> policy.refusal(scope((b"host", b"localhost:8000"))) is None
True
>>> policy.refusal(scope((b"host", b"127.0.0.1:8000"), (b"origin", b"https://evil.example"))).status
403
>>> policy.refusal(scope((b"content-type", b"text/plain"), (b"content-length", b"2"), method="POST")).status
415
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from openenv_gym.settings import ALLOWED_HOSTS_VARIABLE

from .limits import setting

ALLOWED_ORIGINS_VARIABLE = "OPENENV_ALLOWED_ORIGINS"
ANY = "*"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"
_SHOWN = 100
"""Characters of a refused name shown back in the refusal."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Names = str | Iterable[str] | None
"""A setting's value: names, or one string of comma-separated names; ``None``: not given."""


class Refusal(NamedTuple):
    """Why a request is refused: its HTTP status and the ``detail`` the client gets."""

    status: int
    detail: str

    async def send(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request (a WebSocket handshake: before it is accepted) with the refusal."""
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            if "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 1008})  # the ASGI server answers 403
                return
        await JSONResponse({"detail": self.detail}, status_code=self.status)(scope, receive, send)


def hostname(authority: str) -> str:
    """The name in a ``Host`` header (or a configured host): lower case, without port,
    brackets or final dot.

    >>> hostname("LocalHost.:8000"), hostname("[::1]:8000"), hostname("::1"), hostname("10.0.0.5")
    ('localhost', '::1', '::1', '10.0.0.5')
    """
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:].split("]", 1)[0]
    if authority.count(":") > 1:  # a bare IPv6 address
        return authority
    return authority.split(":", 1)[0].rstrip(".")


@functools.lru_cache(maxsize=1024)  # few names per server; parsing costs more than the rest of the check
def _address(name: str | None) -> IPAddress | None:
    """``name`` as an IP address (an IPv4-mapped IPv6 address as its IPv4 one), else ``None``."""
    try:
        address = ipaddress.ip_address(name or "")
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def is_this_machine(name: str) -> bool:
    """Does the name ``name`` always mean this machine (loopback, unspecified, ``*.localhost``)?

    >>> [is_this_machine(n) for n in ("localhost", "app.localhost", "127.0.0.2", "::1", "0.0.0.0")]
    [True, True, True, True, True]
    >>> is_this_machine("evil.example"), is_this_machine("10.0.0.5")
    (False, False)
    """
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _address(name)
    return address is not None and (address.is_loopback or address.is_unspecified)


def _same_address(name: str, local: str | None) -> bool:
    """Is ``name`` the address the request reached (``scope["server"]``)?"""
    if local is None:
        return False
    address = _address(name)
    return name == local.lower() if address is None else address == _address(local)


def _listed(name: str, entries: frozenset[str]) -> bool:
    """Is ``name`` in ``entries``, or under an entry ``.example.com``?"""
    return name in entries or any(entry.startswith(".") and (name.endswith(entry) or name == entry[1:])
                                  for entry in entries)


def _entries(given: Names, variable: str) -> frozenset[str] | None:
    """``given`` (a comma-separated string or names), else ``$variable``; ``None``: unset."""
    raw = given if given is not None else setting(None, variable, str)
    if raw is None:
        return None
    parts = raw.split(",") if isinstance(raw, str) else raw
    return frozenset(part.strip().lower() for part in parts if part.strip())


Headers = dict[bytes, list[str]]
_CHECKED = frozenset({b"host", b"origin", b"content-type", b"content-length", b"transfer-encoding"})


def _headers(scope: Scope) -> Headers:
    """The values of the headers the checks read, by name, in one pass over the request's."""
    found: Headers = {}
    for key, value in scope["headers"]:
        if key in _CHECKED:
            found.setdefault(key, []).append(value.decode("latin-1"))
    return found


def _first(headers: Headers, name: bytes, default: str) -> str:
    return headers[name][0] if name in headers else default


@dataclass(frozen=True)
class OriginPolicy:
    """Which ``Host`` and ``Origin`` headers a server accepts (see the module's docstring).

    Args:
        hosts: names allowed besides this machine's (``"*"``: any); ``None``: check only the
            requests that reached a loopback address, against this machine's names.
        origins: origins allowed besides the server's own (``"*"``: any).
        machine: this machine's host names (default: :func:`socket.gethostname`).
    """

    hosts: frozenset[str] | None = None
    origins: frozenset[str] = frozenset()
    machine: frozenset[str] = field(default_factory=lambda: frozenset({socket.gethostname().lower()}))

    @classmethod
    def configured(cls, hosts: Names, origins: Names) -> OriginPolicy:
        """From the keywords, else ``$OPENENV_ALLOWED_HOSTS`` and ``$OPENENV_ALLOWED_ORIGINS``.

        >>> policy = OriginPolicy.configured("Envs.Example.com:8000, .lab.example", "https://app.example/")
        >>> sorted(policy.hosts), sorted(policy.origins)
        (['.lab.example', 'envs.example.com'], ['https://app.example'])
        """
        listed = _entries(hosts, ALLOWED_HOSTS_VARIABLE)
        pages = _entries(origins, ALLOWED_ORIGINS_VARIABLE) or frozenset()
        return cls(hosts=None if listed is None else frozenset(map(hostname, listed)),
                   origins=frozenset(origin.rstrip("/") for origin in pages))

    def refusal(self, scope: Scope) -> Refusal | None:
        """Why the request (an HTTP or WebSocket scope) is refused, or ``None``."""
        headers = _headers(scope)
        host = headers[b"host"][0] if b"host" in headers else None
        server = scope.get("server")
        local = str(server[0]) if server else None
        if host is not None and not self.allows_host(hostname(host), local):
            return Refusal(400, _host_detail(hostname(host)))
        for origin in headers.get(b"origin", ()):
            if not self.allows_origin(origin, host):
                return Refusal(403, _origin_detail(origin))
        return _body_refusal(scope, headers)

    def allows_host(self, name: str, local: str | None) -> bool:
        """May a request naming ``name`` in its ``Host``, that reached address ``local``, be served?

        >>> default = OriginPolicy()
        >>> default.allows_host("evil.example", "127.0.0.1"), default.allows_host("evil.example", "10.0.0.5")
        (False, True)
        >>> OriginPolicy(hosts=frozenset({"envs.example"})).allows_host("evil.example", "10.0.0.5")
        False
        """
        if self.hosts is not None and (ANY in self.hosts or _listed(name, self.hosts)):
            return True
        if is_this_machine(name) or name in self.machine or _same_address(name, local):
            return True
        reached = _address(local)
        return self.hosts is None and not (reached is not None and reached.is_loopback)

    def allows_origin(self, origin: str, host: str | None) -> bool:
        """May a page of ``origin`` use the server that the request names ``host``?

        >>> OriginPolicy().allows_origin("http://127.0.0.1:8000", "127.0.0.1:8000")
        True
        >>> OriginPolicy().allows_origin("https://evil.example", "127.0.0.1:8000")
        False
        """
        origin = origin.strip().lower().rstrip("/")
        if ANY in self.origins or origin in self.origins:
            return True
        parts = urlsplit(origin)
        return (parts.scheme in ("http", "https") and bool(parts.netloc)
                and host is not None and parts.netloc == host.strip().lower())


def _body_refusal(scope: Scope, headers: Headers) -> Refusal | None:
    """A body that is not declared JSON (what a browser may send across sites unasked)."""
    if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
        return None
    if b"transfer-encoding" not in headers and _first(headers, b"content-length", "0").strip() in ("", "0"):
        return None
    media = _first(headers, b"content-type", "").split(";", 1)[0].strip().lower()
    if media == JSON:
        return None
    return Refusal(415, f"this server takes JSON bodies only: send the body with 'Content-Type: {JSON}' "
                        f"(got {media[:_SHOWN] or 'none'!r}); browsers send other types across sites "
                        "without asking first, so they are refused")


def _host_detail(name: str) -> str:
    shown = name[:_SHOWN]
    return (f"Host {shown!r} is not a name of this server (a web page whose site is made to resolve to "
            f"this machine, DNS rebinding, sends such a Host). It answers to localhost, loopback "
            f"addresses and the address it was reached at; if clients reach it as {shown!r}, set "
            f"{ALLOWED_HOSTS_VARIABLE}={shown} on the server (comma separated; * allows any Host).")


def _origin_detail(origin: str) -> str:
    shown = origin.strip()[:_SHOWN]
    return (f"Origin {shown!r} may not use this server: requests from web pages of other sites are "
            f"refused. To let that page use it, set {ALLOWED_ORIGINS_VARIABLE}={shown} on the server "
            "(comma separated; * allows any origin).")


class OriginGuard:
    """ASGI middleware: refuses what :class:`OriginPolicy` refuses before any route (or
    session) sees the request."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self.policy.refusal(scope) if scope["type"] in ("http", "websocket") else None
        if refused is None:
            await self.app(scope, receive, send)
        else:
            await refused.send(scope, receive, send)


def guard_origins(app: FastAPI, hosts: Names, origins: Names) -> None:
    """Put :class:`OriginGuard` in front of ``app`` (outermost: add it after the other
    middleware), and CORS for the listed origins behind it (in front of the bearer token's
    check: a preflight carries no token)."""
    policy = OriginPolicy.configured(hosts, origins)
    if policy.origins:
        app.add_middleware(CORSMiddleware, allow_origins=sorted(policy.origins), allow_methods=["*"],
                           allow_headers=["*"])
    app.add_middleware(OriginGuard, policy=policy)

