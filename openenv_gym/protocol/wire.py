"""What travels on ``/ws``: the names, the envelope a server sends, error frames.

The dialects are decided here, once. A connection that negotiated one of our subprotocols
(:data:`SUBPROTOCOL`, see :mod:`openenv_gym.protocol.frames`) speaks the extensions in
:data:`CAPABILITIES`; any other speaks upstream's baseline, in the shape ``openenv`` 0.10
sends it, which ``openenv-core`` 0.3.0 clients read too:

========================  ==========================  ==============================
observation ``metadata``  baseline (0.3.0 / 0.10)      extended (ours)
========================  ==========================  ==============================
inside ``observation``    yes (0.10; 0.3.0 drops it)  no
top-level ``metadata``    when not empty (0.10)       no: ``info`` instead
``truncated``             no                          yes
========================  ==========================  ==============================

>>> from openenv_gym.types import Observation
>>> envelope(Observation(reward=1, done=True, metadata={"k": 1}), extended=True)
{'observation': {}, 'reward': 1, 'done': True, 'truncated': False, 'info': {'k': 1}}
>>> envelope(Observation(reward=1, done=True, metadata={"k": 1}), extended=False)
{'observation': {'metadata': {'k': 1}}, 'reward': 1, 'done': True, 'metadata': {'k': 1}}
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter

from ..errors import ErrorCode, error_data
from ..types import ENVELOPE_FIELDS, Observation
from .frames import JSON

SUBPROTOCOL = JSON.subprotocol
"""WebSocket subprotocol that switches the extensions on (``openenv-gym.v1.msgpack`` too)."""

CAPABILITIES: tuple[str, ...] = (
    "request_id",  # "id" on a request is echoed on its reply: a late reply is never misread
    "info",  # Observation.metadata reaches the client as "info"
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

METADATA = "metadata"
_EXTENDED_EXCLUDE = set(ENVELOPE_FIELDS)
_BASELINE_EXCLUDE = set(ENVELOPE_FIELDS - {METADATA})


def envelope(observation: Observation, *, extended: bool) -> dict[str, Any]:
    """The ``data`` of an observation reply in the connection's dialect (table above)."""
    if extended:
        return {"observation": observation.model_dump(exclude=_EXTENDED_EXCLUDE),
                "reward": observation.reward, "done": observation.done,
                "truncated": observation.truncated, "info": observation.metadata}
    data: dict[str, Any] = {"observation": observation.model_dump(exclude=_BASELINE_EXCLUDE),
                            "reward": observation.reward, "done": observation.done}
    if observation.metadata:
        data[METADATA] = data["observation"][METADATA]
    return data


def envelopes(observations: list[Observation]) -> list[dict[str, Any]]:
    """The extended :func:`envelope` of each observation (a batch's replies): those of one model
    dumped with one call.

    >>> [e["observation"] for e in envelopes([Observation(reward=1), Observation(done=True)])]
    [{}, {}]
    """
    model = type(observations[0]) if observations else Observation
    if len(observations) < 2 or any(type(o) is not model for o in observations):
        return [envelope(o, extended=True) for o in observations]
    dumped = _list_of(model).dump_python(observations, exclude={"__all__": _EXTENDED_EXCLUDE})
    return [{"observation": fields, "reward": o.reward, "done": o.done, "truncated": o.truncated,
             "info": o.metadata} for fields, o in zip(dumped, observations, strict=True)]


@lru_cache(maxsize=64)
def _list_of(model: type[Observation]) -> TypeAdapter[list[Observation]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def error_frame(code: ErrorCode, message: str, **details: Any) -> dict[str, Any]:
    """An upstream-format error frame (quoting at most an excerpt of any input: :func:`error_data`)."""
    return {"type": "error", "data": error_data(message, code.value, details)}


def summarize_errors(errors: Any) -> str:
    """pydantic error dicts as one line: ``"message: Field required; x: Extra inputs ..."``.

    >>> summarize_errors([{"loc": ["message"], "msg": "Field required"}])
    'message: Field required'
    """
    if not isinstance(errors, list):
        return ""
    return "; ".join(f"{'.'.join(map(str, e.get('loc', ()))) or 'action'}: {e.get('msg', e)}"
                     for e in errors if isinstance(e, dict))
