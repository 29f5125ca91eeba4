"""The environment variables both sides read: the server and the clients (and the providers, which
set them for the servers they start), named once.

>>> resolve_token("s3cret"), resolve_token("")
('s3cret', None)
"""

from __future__ import annotations

import os

TOKEN_VARIABLE = "OPENENV_TOKEN"
"""Environment variable holding the bearer token (read by servers and clients alike)."""
ENV_KWARGS_VARIABLE = "OPENENV_ENV_KWARGS"
"""Environment variable holding a JSON object of keyword arguments for a server's env factory
(how providers configure the servers they start)."""
ALLOWED_HOSTS_VARIABLE = "OPENENV_ALLOWED_HOSTS"
"""Environment variable listing the ``Host`` names a server answers to besides this machine's
(read by servers, ``server/origins.py``; set by the Docker provider)."""


def resolve_token(token: str | None) -> str | None:
    """The bearer token to use: ``token``, else ``$OPENENV_TOKEN``; ``""`` means none.

    """
    if token is None:
        token = os.environ.get(TOKEN_VARIABLE)
    return token or None
