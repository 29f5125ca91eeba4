"""Reading a server's replies, whichever dialect it speaks (ours, 0.3.0's or 0.10's).

>>> result_from_reply({"type": "observation", "data": {"observation": {}, "reward": None, "done": False}})
StepResult(observation={}, reward=None, done=False, truncated=False, info={})

An ``openenv`` 0.10 server sends the observation's metadata inside the observation and at the
top level; it becomes ``info`` and leaves the observation, as ours does:

>>> result_from_envelope({"observation": {"x": 1, "metadata": {"k": 2}}, "reward": 1, "done": False,
...                       "metadata": {"k": 2}})
StepResult(observation={'x': 1}, reward=1.0, done=False, truncated=False, info={'k': 2})
"""

from __future__ import annotations

from typing import Any

from ..errors import ProtocolError, server_error_from_frame
from ..types import StepResult
from .wire import METADATA


def result_from_envelope(data: Any) -> StepResult[dict[str, Any]]:
    """Build a :class:`StepResult` from an observation envelope (any dialect)."""
    if not isinstance(data, dict) or not isinstance(data.get("observation"), dict):
        raise ProtocolError(f"observation reply without an observation dict: {data!r:.200}")
    observation: dict[str, Any] = data["observation"]
    metadata = data.get(METADATA)
    if METADATA in observation:  # upstream 0.10 keeps it inside too (for its typed clients)
        metadata = observation[METADATA] if metadata is None else metadata
        observation = {k: v for k, v in observation.items() if k != METADATA}
    info = data.get("info", metadata)
    reward = data.get("reward")
    return StepResult(
        observation=observation,
        reward=None if reward is None else float(reward),
        done=bool(data.get("done", False)),
        truncated=bool(data.get("truncated", False)),
        info=dict(info or {}),
    )


def check_reply(reply: Any, expected: str) -> Any:
    """Return the ``data`` of a reply of type ``expected``; raise the server's error if any."""
    if not isinstance(reply, dict) or "type" not in reply:
        raise ProtocolError(f"reply is not an OpenEnv message: {reply!r:.200}")
    if reply["type"] == "error":
        raise server_error_from_frame(reply.get("data"))
    if reply["type"] != expected:
        raise ProtocolError(f"expected a {expected!r} reply, got {reply['type']!r}")
    return reply.get("data")


def result_from_reply(reply: Any) -> StepResult[dict[str, Any]]:
    """The :class:`StepResult` of a reset/step reply, or the server's error raised."""
    return result_from_envelope(check_reply(reply, "observation"))
