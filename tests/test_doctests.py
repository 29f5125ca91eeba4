"""The ``>>>`` examples in every module's docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import openenv_gym
import openenv_gym.envs
import openenv_gym.server
import openenv_gym.wrappers

PACKAGES = (openenv_gym, openenv_gym.server, openenv_gym.envs, openenv_gym.wrappers)
MODULES = sorted(
    {package.__name__ for package in PACKAGES}
    | {info.name for package in PACKAGES
       for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
       if not info.name.endswith("__main__")}
)
STARTS_A_SERVER = {"openenv_gym.providers.process", "openenv_gym.client.sync_client"}
"""Modules whose examples start a server process: outside the ``fast`` selection."""


@pytest.mark.fast


def test_the_layers_are_all_found():
    assert {"openenv_gym.server.app", "openenv_gym.envs.echo.environment",
            "openenv_gym.wrappers.schema"} <= set(MODULES)


@pytest.mark.parametrize("name", [pytest.param(name, marks=() if name in STARTS_A_SERVER else pytest.mark.fast)
                                  for name in MODULES])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
