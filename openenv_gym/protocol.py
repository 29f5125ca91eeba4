"""OpenEnv's wire protocol, shared by the server and the client.

Baseline (exactly as upstream ``openenv-core``): JSON text frames on ``/ws``,
``{"type": "reset"|"step"|"state"|"close", "data": ...}`` from the client, and
``{"type": "observation"|"state"|"error", "data": ...}`` back.

Extensions are used only on a connection that negotiated :data:`SUBPROTOCOL` in the WebSocket
handshake: an upstream server never selects it, so a client detects a plain upstream server
for free and stays on the baseline. The extensions are listed in :data:`CAPABILITIES`
(``GET /capabilities`` publishes them) and documented in ``docs/protocol.md``.

>>> from openenv_gym.types import Observation
>>> envelope(Observation(reward=1, done=True, metadata={"k": 1}), extended=True)
{'observation': {}, 'reward': 1, 'done': True, 'truncated': False, 'info': {'k': 1}}
>>> result_from_reply({"type": "observation", "data": {"observation": {}, "reward": None, "done": False}})
StepResult(observation={}, reward=None, done=False, truncated=False, info={})
"""

from __future__ import annotations

from typing import Any

from .codecs import JSON, json_dumps, json_loads
from .errors import ErrorCode, ProtocolError, server_error_from_frame
from .types import ENVELOPE_FIELDS, Observation, StepResult

SUBPROTOCOL = JSON.subprotocol
"""WebSocket subprotocol that switches the extensions on (``openenv-gym.v1.msgpack`` too)."""

CAPABILITIES: tuple[str, ...] = (
    "request_id",  # "id" on a request is echoed on its reply: a late reply is never misread
    "info",  # Observation.metadata reaches the client as "info" (upstream drops it)
    "truncated",  # "truncated" in the envelope, next to "done"
    "render",  # {"type": "render"} returns the environment's text rendering
    "message_too_large",  # an oversized frame gets an error reply; the session lives on
    "batch",  # {"type": "open"} adds sessions to a connection, {"type": "batch"} steps many at once
    "msgpack",  # subprotocol openenv-gym.v1.msgpack: binary frames, numpy arrays as raw bytes
    "spaces",  # GET /schema carries exact Gymnasium spaces an environment declares
    "rubric",  # info carries rubric scores ("rubric"), episode credit, rubric errors
    "resume",  # a dropped session comes back within a grace period (RESUME_HEADER)
    "step_timeout",  # a reset/step past the server's step timeout gets STEP_TIMEOUT; session lives on
)

RESUME_HEADER = "x-openenv-resume"
"""Handshake header: the server's response names the session's resume token; a client that
sends it back on a new connection gets the same session (and episode) again."""

MESSAGE_TYPES = ("reset", "step", "state", "close", "render")

_ENVELOPE_EXCLUDE = set(ENVELOPE_FIELDS)
dumps = json_dumps
loads = json_loads


def envelope(observation: Observation, *, extended: bool) -> dict[str, Any]:
    """The ``data`` of an observation reply: the observation without its envelope fields."""
    data: dict[str, Any] = {
        "observation": observation.model_dump(exclude=_ENVELOPE_EXCLUDE),
        "reward": observation.reward,
        "done": observation.done,
    }
    if extended:
        data["truncated"] = observation.truncated
        data["info"] = observation.metadata
    return data


def error_frame(code: ErrorCode, message: str, **details: Any) -> dict[str, Any]:
    """An upstream-format error frame."""
    return {"type": "error", "data": {"message": message, "code": code.value, **details}}


def summarize_errors(errors: Any) -> str:
    """pydantic error dicts as one line: ``"message: Field required; x: Extra inputs ..."``.

    >>> summarize_errors([{"loc": ["message"], "msg": "Field required"}])
    'message: Field required'
    """
    if not isinstance(errors, list):
        return ""
    return "; ".join(f"{'.'.join(map(str, e.get('loc', ()))) or 'action'}: {e.get('msg', e)}"
                     for e in errors if isinstance(e, dict))


def result_from_envelope(data: Any) -> StepResult[dict[str, Any]]:
    """Build a :class:`StepResult` from an observation envelope (ours or upstream's)."""
    if not isinstance(data, dict) or not isinstance(data.get("observation"), dict):
        raise ProtocolError(f"observation reply without an observation dict: {data!r:.200}")
    reward = data.get("reward")
    return StepResult(
        observation=data["observation"],
        reward=None if reward is None else float(reward),
        done=bool(data.get("done", False)),
        truncated=bool(data.get("truncated", False)),
        info=dict(data.get("info") or {}),
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
