"""Server modes, as upstream: ``simulation`` (the default) and ``production``.

A production server has no simulation controls: ``POST /reset``, ``POST /step`` and
``GET /state`` are not routes (404, and absent from ``/openapi.json``, which is how upstream's
``openenv validate --url`` tells the mode). Everything else stays: ``/health``, ``/metadata``,
``/schema``, ``/capabilities``, ``POST /mcp``, ``WS /ws`` (an episode of one session) and the
task API. Chosen by ``create_app(mode=...)``, else by ``$OPENENV_MODE``.

>>> resolve_mode(None), resolve_mode("PRODUCTION")
(<ServerMode.SIMULATION: 'simulation'>, <ServerMode.PRODUCTION: 'production'>)
>>> resolve_mode("prod")
Traceback (most recent call last):
...
ValueError: invalid server mode 'prod' (from create_app(mode=...) or $OPENENV_MODE); choose one of ...
"""

from __future__ import annotations

import enum
import os

MODE_VARIABLE = "OPENENV_MODE"
"""Environment variable that chooses the mode (upstream's name)."""


class ServerMode(str, enum.Enum):
    """What a server exposes: simulation controls too, or only what production agents need."""

    SIMULATION = "simulation"
    PRODUCTION = "production"


def resolve_mode(mode: ServerMode | str | None) -> ServerMode:
    """``mode`` if given, else ``$OPENENV_MODE``, else simulation; any case, as upstream."""
    if mode is None:
        mode = os.environ.get(MODE_VARIABLE, "").strip() or ServerMode.SIMULATION
    if isinstance(mode, ServerMode):
        return mode
    try:
        return ServerMode(mode.lower())
    except ValueError:
        raise ValueError(f"invalid server mode {mode!r} (from create_app(mode=...) or ${MODE_VARIABLE}); "
                         f"choose one of {[m.value for m in ServerMode]}") from None
