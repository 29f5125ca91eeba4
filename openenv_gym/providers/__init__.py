"""Where environment servers run.

- :class:`InProcessProvider`: in this process, no socket (the fastest path).
- :class:`ProcessProvider`: a uvicorn child process on 127.0.0.1 (the default).
- :class:`RemoteProvider`: any running server, ours or upstream.

>>> make_provider("echo", "inprocess")  # doctest: +ELLIPSIS
<openenv_gym.providers.inprocess.InProcessProvider object at ...>
"""

from __future__ import annotations

from typing import Any

from ..catalog import bundled
from .base import Provider, ServerProvider, SessionClient
from .inprocess import InProcessClient, InProcessProvider
from .process import ProcessProvider
from .remote import RemoteProvider

PROVIDERS = ("process", "inprocess")


def make_provider(env: str | None, provider: str | Provider = "process", *,
                  base_url: str | None = None,
                  env_kwargs: dict[str, Any] | None = None, token: str | None = None) -> Provider:
    """The provider for ``gym.make`` options: ``base_url`` wins, then ``provider``.

    ``token`` goes to the server providers made here (a Provider instance has its own).
    """
    if base_url is not None:
        return RemoteProvider(base_url, token=token)
    if isinstance(provider, Provider):
        return provider
    if env is None:
        raise ValueError("this environment has no bundled server: pass base_url=... "
                         "(e.g. base_url='http://127.0.0.1:8000')")
    if provider == "inprocess":
        return InProcessProvider(bundled(env), env_kwargs=env_kwargs)
    if provider == "process":
        return ProcessProvider(bundled(env).app, env_kwargs=env_kwargs, token=token)
    raise ValueError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}, "
                     "pass a Provider instance, or pass base_url=...")


__all__ = ["InProcessClient", "InProcessProvider", "ProcessProvider", "Provider",
           "RemoteProvider", "ServerProvider", "SessionClient", "make_provider"]
