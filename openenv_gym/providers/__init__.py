"""Where environment servers run.

- :class:`InProcessProvider`: in this process, no socket (the fastest path).
- :class:`ProcessProvider`: a uvicorn child process on 127.0.0.1 (the default).
- :class:`DockerProvider`: a container of the env's image (the ``[docker]`` extra).
- :class:`SwarmProvider`: replicas of it as a Docker Swarm service, over a cluster.
- :class:`RayProvider`: servers as Ray actors, placed over a Ray cluster (the ``[ray]`` extra).
- :class:`RemoteProvider`: any running server, ours or upstream.

Other packages add providers through the entry-point group ``openenv_gym.providers`` (name =
the ``provider=`` name, value = ``module:Class``, a :class:`Provider` subclass with a
``from_catalog`` classmethod), as environments are added through ``openenv_gym.envs``::

    [project.entry-points."openenv_gym.providers"]
    k8s = "my_package.k8s:KubernetesProvider"

>>> make_provider("echo", "inprocess")  # doctest: +ELLIPSIS
<openenv_gym.providers.inprocess.InProcessProvider object at ...>
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any

from ..catalog import bundled, unclaimed_entry_points
from ..registration import gym_section
from .base import Provider, ServerProvider, SessionClient
from .containers.images import build_image
from .docker import DockerProvider
from .inprocess import InProcessClient, InProcessProvider
from .process import ProcessProvider
from .ray import RayProvider
from .remote import RemoteProvider
from .swarm import SwarmProvider

PROVIDERS: dict[str, type[Provider]] = {"process": ProcessProvider, "inprocess": InProcessProvider,
                                        "docker": DockerProvider, "swarm": SwarmProvider,
                                        "ray": RayProvider}
"""The bundled providers, by the name ``gym.make(..., provider=name)`` takes."""
ENTRY_POINT_GROUP = "openenv_gym.providers"
SET_BY_GYM = ("env", "app", "env_kwargs", "token")
"""Constructor arguments that come from ``gym.make``'s own arguments, not ``provider_options``."""


@functools.cache
def installed_providers() -> dict[str, type[Provider]]:
    """The providers other packages install (entry point group ``openenv_gym.providers``).

    A broken one, or one whose name is taken, is left out with a warning, so that it cannot
    break ``import openenv_gym``.
    """
    found: dict[str, type[Provider]] = {}
    for point in unclaimed_entry_points(ENTRY_POINT_GROUP, PROVIDERS, "provider"):
        try:
            cls = point.load()
        except Exception as exc:  # any import error of a third-party package: warn, go on
            warnings.warn(f"provider {point.name!r} ({point.value}) is left out: it does not import: "
                          f"{type(exc).__name__}: {exc}", stacklevel=2)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            warnings.warn(f"provider {point.name!r} ({point.value}) is left out: it is not a Provider "
                          "subclass", stacklevel=2)
            continue
        found[point.name] = cls
    return found


def providers() -> dict[str, type[Provider]]:
    """Every provider by name: the bundled ones, then the installed ones.

    >>> sorted(providers())[:3]
    ['docker', 'inprocess', 'process']
    """
    return {**PROVIDERS, **installed_providers()}


def make_provider(env: str | None, provider: str | Provider = "process", *,
                  base_url: str | None = None, env_kwargs: dict[str, Any] | None = None,
                  token: str | None = None, options: dict[str, Any] | None = None) -> Provider:
    """The provider for ``gym.make`` options: ``base_url`` wins, then ``provider``.

    ``token`` goes to the server providers made here (a Provider instance has its own);
    ``options`` are keyword arguments of the provider's class (see :func:`provider_options`).
    """
    options = check_provider_options(provider, options, base_url)
    if base_url is not None:
        return RemoteProvider(base_url, token=token)
    if isinstance(provider, Provider):
        return provider
    if env is None:
        raise ValueError("this environment has no bundled server: pass base_url=... "
                         "(e.g. base_url='http://127.0.0.1:8000')")
    catalog_env = bundled(env)
    made = providers()[provider].from_catalog(catalog_env, env_kwargs=env_kwargs or {}, token=token,
                                              **options)
    if isinstance(made, ServerProvider):
        made.compute_bound = gym_section(catalog_env).compute_bound
    return made


def check_provider_options(provider: str | Provider, options: dict[str, Any] | None,
                           base_url: object = None) -> dict[str, Any]:
    """``options`` checked against the constructor of the provider named ``provider``.

    >>> check_provider_options("docker", {"memroy": "2g"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown provider_options ['memroy'] for provider='docker'; it takes: base_image, cpus, ...
    """
    if options and (base_url is not None or isinstance(provider, Provider)):
        raise ValueError("provider_options apply to a provider made by name ('docker', ...): pass "
                         "them to the Provider you construct instead")
    if isinstance(provider, Provider):
        return {}
    known = providers()
    if provider not in known:
        raise ValueError(f"unknown provider {provider!r}; choose one of {', '.join(known)}, "
                         "pass a Provider instance, or pass base_url=...")
    parameters = inspect.signature(known[provider]).parameters
    takes = sorted(name for name, p in parameters.items()
                   if p.kind is p.KEYWORD_ONLY and name not in SET_BY_GYM)
    unknown = sorted(set(options or {}) - set(takes))
    if unknown:
        raise ValueError(f"unknown provider_options {unknown} for provider={provider!r}; "
                         f"it takes: {', '.join(takes) or 'none'}")
    return dict(options or {})


__all__ = ["PROVIDERS", "DockerProvider", "InProcessClient", "InProcessProvider", "ProcessProvider",
           "Provider", "RayProvider", "RemoteProvider", "ServerProvider", "SessionClient", "SwarmProvider",
           "build_image", "check_provider_options", "installed_providers", "make_provider", "providers"]
