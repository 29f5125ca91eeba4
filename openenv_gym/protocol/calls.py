"""Each request a client can make, as a value: the message to send and how to read its reply.

Every transport (the async and blocking WebSocket clients, the in-process session, the vector
env's session groups) sends ``call.message`` its own way and hands the raw reply to
``call.parse``; no transport writes a message or reads a reply itself.

>>> c = step({"message": "hi"})
>>> c.message
{'type': 'step', 'data': {'message': 'hi'}}
>>> c.parse({"type": "observation", "data": {"observation": {"echoed_message": "hi"}, "done": False}})
StepResult(observation={'echoed_message': 'hi'}, reward=None, done=False, truncated=False, info={})
>>> outcome(state(), {"type": "error", "data": {"message": "no", "code": "EXECUTION_ERROR"}})
ExecutionError('no')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from ..errors import OpenEnvGymError
from ..types import StepResult
from .replies import check_reply, result_from_reply
from .tool_calls import mcp_message, mcp_result

T = TypeVar("T")

CLOSE: dict[str, Any] = {"type": "close"}
"""Ends the session (no reply)."""


@dataclass(slots=True)
class Call(Generic[T]):
    """One request: ``message`` to send, ``parse`` for its reply (raises the server's error).

    ``extension`` names the capability the server must speak for it (``None``: baseline).
    A value: never changed once made (not ``frozen``, which would triple the cost of making
    one, once per sub-environment and step of a vector env).
    """

    message: dict[str, Any]
    parse: Callable[[Any], T]
    extension: str | None = None


def action_payload(action: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    """The JSON fields of an action given as a dict or a pydantic model."""
    if type(action) is dict:  # the common case first: the ABC checks below cost ~0.2 us
        return dict(action)
    if isinstance(action, BaseModel):
        return action.model_dump()
    if isinstance(action, Mapping):
        return dict(action)
    raise TypeError(f"an action must be a dict or a pydantic model, not {type(action).__name__}")


def _data_of(kind: str) -> Callable[[Any], Any]:
    def parse(reply: Any) -> Any:
        return check_reply(reply, kind)

    return parse


def _frame(reply: Any) -> Any:
    return check_reply(reply, "render")["frame"]


def _sessions(reply: Any) -> list[int]:
    return list(check_reply(reply, "opened")["sessions"])


def _replies(reply: Any) -> list[Any]:
    return list(check_reply(reply, "batch"))


def reset(kwargs: Mapping[str, Any]) -> Call[StepResult[dict[str, Any]]]:
    """Start an episode; ``kwargs`` (``seed``, ``episode_id``, env-specific) go to ``reset``."""
    return Call({"type": "reset", "data": dict(kwargs)}, result_from_reply)


def step(action: Mapping[str, Any] | BaseModel) -> Call[StepResult[dict[str, Any]]]:
    """Apply one action (a dict of the Action's fields, or the Action model)."""
    return Call({"type": "step", "data": action_payload(action)}, result_from_reply)


def state() -> Call[dict[str, Any]]:
    """The episode's state (``episode_id``, ``step_count`` and the env's own fields)."""
    return Call({"type": "state"}, _data_of("state"))


def render(mode: str = "ansi") -> Call[Any]:
    """The environment's rendering in ``mode`` (text, or an RGB array)."""
    return Call({"type": "render", "data": {"mode": mode}}, _frame, "render")


def open_sessions(count: int) -> Call[list[int]]:
    """Open ``count`` more sessions on the connection; their indices."""
    return Call({"type": "open", "data": {"count": count}}, _sessions, "batch")


def batch(requests: list[dict[str, Any]]) -> Call[list[Any]]:
    """Many sessions' requests (``{"session": i, "type": ..., "data": ...}``) in one frame; each
    request's raw reply, in order (read each with :func:`outcome`)."""
    return Call({"type": "batch", "data": requests}, _replies, "batch")


def mcp(method: str, params: dict[str, Any] | None, rpc_id: int) -> Call[Any]:
    """One JSON-RPC request to the session's environment; its ``result``."""
    return Call(mcp_message(method, params, rpc_id), mcp_result)


def rpc(request: dict[str, Any]) -> Call[Any]:
    """A JSON-RPC request already written (see :func:`~openenv_gym.protocol.tool_calls.rpc_request`)."""
    return Call({"type": "mcp", "data": request}, mcp_result)


PER_SESSION: dict[str, Callable[[Any], Call[Any]]] = {
    "reset": reset, "step": step, "state": lambda _: state(), "render": lambda data: render(**data),
    "mcp": rpc,
}
"""The requests a vector env sends each session, by kind (what a ``batch`` item may hold)."""


def by_kind(kind: str, payload: Any) -> Call[Any]:
    """The call of ``kind`` with ``payload`` (``("state", None)``, ``("step", {...})``, ...)."""
    return PER_SESSION[kind](payload)


def outcome(call: Call[T], reply: Any) -> T | OpenEnvGymError:
    """The parsed reply, or the error it carries returned (not raised): one sub-env's error
    never hides the others' results."""
    try:
        return call.parse(reply)
    except OpenEnvGymError as exc:
        return exc
