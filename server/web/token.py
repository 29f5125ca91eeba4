"""The bearer token on a browser's WebSocket, which cannot carry an ``Authorization`` header.

The page offers the token as one more WebSocket subprotocol,
``openenv-gym.token.<base64url of the token, unpadded>`` (base64url, because a subprotocol
must be an HTTP token and a bearer token may hold ``/`` or ``=``). The server never selects
that entry, and :class:`~openenv_gym.server.app.BearerAuth` removes it from the handshake
before the application sees it. The browser does not put the subprotocol list in a URL or in
its history, which a ``?token=`` query parameter would (and uvicorn's access log would too);
the server's logs redact it like an ``Authorization`` header.

>>> token_subprotocol("s3cret")
'openenv-gym.token.czNjcmV0'
"""

from __future__ import annotations

import base64

from starlette.types import Scope

TOKEN_SUBPROTOCOL_PREFIX = "openenv-gym.token."


def token_subprotocol(token: str) -> str:
    """The subprotocol entry that carries ``token`` (as the page's ``tokenSubprotocol``)."""
    encoded = base64.urlsafe_b64encode(token.encode()).rstrip(b"=").decode()
    return TOKEN_SUBPROTOCOL_PREFIX + encoded


def without_token_subprotocols(scope: Scope) -> Scope:
    """``scope`` of a WebSocket handshake with every token entry removed from its subprotocols.

    >>> scope = {"subprotocols": ["openenv-gym.v1", "openenv-gym.token.czNjcmV0"],
    ...          "headers": [(b"sec-websocket-protocol", b"openenv-gym.v1, openenv-gym.token.czNjcmV0")]}
    >>> cleaned = without_token_subprotocols(scope)
    >>> cleaned["subprotocols"], cleaned["headers"]
    (['openenv-gym.v1'], [(b'sec-websocket-protocol', b'openenv-gym.v1')])
    """
    offered = [p for p in scope.get("subprotocols", []) if not p.startswith(TOKEN_SUBPROTOCOL_PREFIX)]
    headers = [(name, value) for name, value in scope["headers"] if name.lower() != b"sec-websocket-protocol"]
    if offered:
        headers.append((b"sec-websocket-protocol", ", ".join(offered).encode()))
    return {**scope, "subprotocols": offered, "headers": headers}
