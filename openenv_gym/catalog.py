"""The environments bundled with openenv-gym, by name, imported only when used.

>>> bundled("echo").app
'openenv_gym.envs.echo.app:app'
>>> bundled("ecko")
Traceback (most recent call last):
...
KeyError: "no bundled environment 'ecko'. Did you mean 'echo'? Bundled: atari, chess, echo, finance"
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BundledEnv:
    """Where a bundled environment's classes live (``openenv_gym.envs.<name>``)."""

    name: str
    environment: str
    action: str
    observation: str

    @property
    def module(self) -> str:
        return f"openenv_gym.envs.{self.name}"

    @property
    def app(self) -> str:
        """The ASGI app as ``module:attribute``, for uvicorn and the process provider."""
        return f"{self.module}.app:app"

    def load(self) -> tuple[Any, Any, Any]:
        """Import and return ``(EnvironmentClass, ActionModel, ObservationModel)``."""
        module = importlib.import_module(self.module)
        return (getattr(module, self.environment), getattr(module, self.action),
                getattr(module, self.observation))


BUNDLED: dict[str, BundledEnv] = {
    env.name: env for env in (
        BundledEnv("echo", "EchoEnvironment", "EchoAction", "EchoObservation"),
        BundledEnv("chess", "ChessEnvironment", "ChessAction", "ChessObservation"),
        BundledEnv("atari", "AtariEnvironment", "AtariAction", "AtariObservation"),
        BundledEnv("finance", "FinanceEnvironment", "FinanceAction", "FinanceObservation"),
    )
}


def bundled(name: str) -> BundledEnv:
    """The bundled environment called ``name``; the error suggests the closest name."""
    try:
        return BUNDLED[name]
    except KeyError:
        close = difflib.get_close_matches(name, BUNDLED, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no bundled environment {name!r}.{hint} "
                       f"Bundled: {', '.join(sorted(BUNDLED))}") from None
