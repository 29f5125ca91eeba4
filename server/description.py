"""What ``GET /metadata``, ``GET /schema`` and ``GET /web/metadata`` answer, read once per server.

The description is read from the first environment the server builds for any reason (a
session, a stateless request), in the thread that built it, before anything else uses it; a
server asked for its schema before it built any environment builds one for that (counted
toward the capacity and the client's limit, as every environment is) and closes it. So a
client that opened its session first and reads the schema next, as Gym environments do, never
needs a second environment, even on a server whose capacity is one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from openenv_gym.protocol.space_json import space_to_json
from openenv_gym.types import Action, Observation, State

from .environment import Environment

if TYPE_CHECKING:
    from .sessions import SessionManager

logger = logging.getLogger(__name__)

Describe = Callable[[Environment], dict[str, Any]]


def schema_of(action_type: type[Action], observation_type: type[Observation],
              env: Environment | None = None) -> dict[str, Any]:
    """What ``GET /schema`` returns: upstream's shape, plus ``"spaces"`` an environment declares.

    ``reset_observation`` is the model ``reset()`` returns (the environment's
    :attr:`~.Environment.RESET_OBSERVATION`, else the step observation), always sent, as
    ``openenv`` 0.10 does.
    """
    reset_type = (env.RESET_OBSERVATION if env is not None else None) or observation_type
    schema: dict[str, Any] = {"action": action_type.model_json_schema(),
              "observation": observation_type.model_json_schema(),
              "reset_observation": reset_type.model_json_schema(),
              "state": State.model_json_schema()}
    if env is None:
        return schema
    declared = env.declared_spaces()
    if declared:
        schema["spaces"] = {side: space_to_json(space) for side, space in declared.items()}
    schema["render_modes"] = list(env.RENDER_MODES)
    if env.RENDER_FPS is not None:
        schema["render_fps"] = env.RENDER_FPS
    return schema


class Description:
    """The server's ``{"metadata": ..., "schema": ...}``, read from one environment instance.

    >>> from openenv_gym.envs.echo import EchoAction, EchoEnvironment, EchoObservation
    >>> description = Description(EchoAction, EchoObservation)
    >>> description.read(EchoEnvironment())
    >>> description.value["metadata"]["name"], sorted(description.value["schema"])[:2]
    ('EchoEnvironment', ['action', 'observation'])
    """

    def __init__(self, action_type: type[Action], observation_type: type[Observation]):
        self._types = (action_type, observation_type)
        self.value: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    def describe(self, env: Environment) -> dict[str, Any]:
        """The description of ``env``; raises what the environment raises."""
        return {"metadata": env.get_metadata().model_dump(), "schema": schema_of(*self._types, env)}

    def read(self, env: Environment) -> None:
        """Keep the description of ``env`` if none is kept yet (the ``on_built`` of the server's
        :class:`~.sessions.SessionManager`: it never raises, so no session fails for it)."""
        if self.value is not None:
            return
        try:
            self.value = self.describe(env)
        except Exception:  # the schema route builds its own instance and reports the error there
            logger.exception("reading the server's metadata and schema from a new environment failed")

    async def get(self, manager: SessionManager, client: str) -> dict[str, Any]:
        """The description; the first call on a server that built no environment yet builds one
        for ``client`` (one at a time). Raises what :meth:`SessionManager.temporary_env` raises,
        or what the environment raises."""
        if self.value is None:
            async with self._lock:
                if self.value is None:
                    async with manager.temporary_env(client) as env:  # read() ran on it
                        if self.value is None:  # and failed: the error, raised here
                            self.value = await asyncio.to_thread(self.describe, env)
        return self.value
