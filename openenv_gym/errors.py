"""The one exception hierarchy of openenv-gym.

Every error the package raises is an :class:`OpenEnvGymError`::

    OpenEnvGymError
    ├── TransportError (ConnectionError)     the server could not be reached or went away
    │   ├── RequestTimeoutError (TimeoutError)  no reply within the client's timeout
    │   └── AuthenticationError               the server wants a (different) bearer token
    ├── ProtocolError                        a frame that is not OpenEnv's protocol
    ├── ServerError                          the server answered with an error frame
    │   ├── InvalidJSONError                     INVALID_JSON
    │   ├── UnknownTypeError                     UNKNOWN_TYPE
    │   ├── InvalidRequestError (ValueError)     VALIDATION_ERROR (e.g. an invalid action)
    │   ├── ExecutionError                       EXECUTION_ERROR (the environment raised)
    │   ├── CapacityReachedError                 CAPACITY_REACHED
    │   │   └── TooManySessionsError             TOO_MANY_SESSIONS (extension)
    │   ├── FactoryError (TypeError)             FACTORY_ERROR
    │   ├── SessionError                         SESSION_ERROR
    │   ├── RateLimitedError                     RATE_LIMITED (extension)
    │   ├── MessageTooLargeError                 MESSAGE_TOO_LARGE (extension)
    │   └── StepTimeoutError (TimeoutError)      STEP_TIMEOUT (extension)
    ├── ToolCallError                        an MCP tool call failed (JSON-RPC error)
    ├── InvalidActionError (ValueError)      a Gym action the environment's Action model rejects
    ├── ManifestError (ValueError)           an ``openenv.yaml`` that is missing or invalid
    ├── UsageError (ValueError)              a command line that cannot be carried out as given
    ├── UnsupportedSpaceError (TypeError)    a library cannot take the env's spaces (SB3 and Text)
    ├── ProviderError                        a server could not be started
    └── SandboxError                         a code sandbox's worker could not be started

Server error frames are translated to these classes in exactly one place,
:func:`server_error_from_frame`. Every constructor takes the message as its only positional
argument, so Gymnasium's ``AsyncVectorEnv`` can re-raise them in the parent process
(it calls ``type(e)(e)``).

>>> err = server_error_from_frame({"message": "Server at capacity", "code": "CAPACITY_REACHED"})
>>> type(err).__name__, err.code
('CapacityReachedError', 'CAPACITY_REACHED')
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from .excerpts import MESSAGE_CHARS, excerpt


class ErrorCode(str, Enum):
    """Error codes of ``{"type": "error"}`` frames (upstream's ``WSErrorCode`` plus ours)."""

    INVALID_JSON = "INVALID_JSON"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    CAPACITY_REACHED = "CAPACITY_REACHED"
    FACTORY_ERROR = "FACTORY_ERROR"
    SESSION_ERROR = "SESSION_ERROR"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    TOO_MANY_SESSIONS = "TOO_MANY_SESSIONS"
    RATE_LIMITED = "RATE_LIMITED"
    STEP_TIMEOUT = "STEP_TIMEOUT"


class OpenEnvGymError(Exception):
    """Base class of every error raised by openenv-gym."""


class TransportError(OpenEnvGymError, ConnectionError):
    """The server could not be reached, or the connection to it was lost."""


class RequestTimeoutError(TransportError, TimeoutError):
    """The server did not answer within the client's timeout; the session is dropped."""


class AuthenticationError(TransportError):
    """The server refused the session or request: no bearer token, or not the one it expects.

    Pass ``token=...`` (or set ``OPENENV_TOKEN``); the message never contains a token.
    """


class ProtocolError(OpenEnvGymError):
    """The peer sent something that is not OpenEnv's wire protocol."""


class ServerError(OpenEnvGymError):
    """The server answered a request with an error frame.

    Attributes:
        code: the frame's error code (an :class:`ErrorCode` value, or another string from a
            newer server).
        details: the other keys of the frame's ``data`` (e.g. pydantic ``errors``).
    """

    default_code: str = "SERVER_ERROR"

    def __init__(self, message: Any, *, code: str | None = None, details: dict | None = None):
        original = message if isinstance(message, ServerError) else None
        self.message: str = original.message if original else str(message)
        self.code: str = code or (original.code if original else self.default_code)
        self.details: dict = details if details is not None else (
            original.details if original else {})
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} (code: {self.code})"

    def to_frame(self) -> dict[str, Any]:
        """The upstream-format error frame that carries this error."""
        return {"type": "error", "data": error_data(self.message, self.code, self.details)}


def error_data(message: str, code: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """The ``data`` of an error frame: its message, code and details, each quoting no more of
    a client's input than an excerpt (:mod:`.excerpts`): every error frame is built here.

    >>> data = error_data("Invalid action", "VALIDATION_ERROR", {"errors": [{"input": "x" * 10**6}]})
    >>> data["code"], data["errors"][0]["input"][-24:]
    ('VALIDATION_ERROR', 'xx… (1000000 characters)')
    """
    return {"message": excerpt(message, MESSAGE_CHARS), "code": code, **excerpt(dict(details))}


class InvalidJSONError(ServerError):
    """The server could not parse a frame as JSON."""

    default_code = ErrorCode.INVALID_JSON.value


class UnknownTypeError(ServerError):
    """The server does not know the message ``type``."""

    default_code = ErrorCode.UNKNOWN_TYPE.value


class InvalidRequestError(ServerError, ValueError):
    """The message or the action failed validation on the server (``details["errors"]``)."""

    default_code = ErrorCode.VALIDATION_ERROR.value


class ExecutionError(ServerError):
    """The environment raised while handling the request; the session is still usable."""

    default_code = ErrorCode.EXECUTION_ERROR.value


class CapacityReachedError(ServerError):
    """The server holds its maximum number of sessions; the connection was refused."""

    default_code = ErrorCode.CAPACITY_REACHED.value


class TooManySessionsError(CapacityReachedError):
    """This client (its address) holds the server's per-client maximum of sessions.

    Close some, or ask the operator to raise ``OPENENV_MAX_SESSIONS_PER_CLIENT``.
    """

    default_code = ErrorCode.TOO_MANY_SESSIONS.value


class FactoryError(ServerError, TypeError):
    """The server could not create an environment for this session.

    Also a ``TypeError``, as calling the environment's constructor in-process with arguments it
    rejects: code that retries a constructor without an argument on ``TypeError`` (TorchRL's
    ``GymEnv`` drops ``frameskip=``) works with every provider.
    """

    default_code = ErrorCode.FACTORY_ERROR.value


class SessionError(ServerError):
    """The server could not set up the session."""

    default_code = ErrorCode.SESSION_ERROR.value


class MessageTooLargeError(ServerError):
    """A frame was larger than the server accepts; the connection was closed."""

    default_code = ErrorCode.MESSAGE_TOO_LARGE.value


class RateLimitedError(ServerError):
    """The connection sent messages faster than the server's rate limit; this one was dropped.

    ``details["retry_after"]`` is the number of seconds until the server takes a message again.
    """

    default_code = ErrorCode.RATE_LIMITED.value


class StepTimeoutError(ServerError, TimeoutError):
    """A ``reset``/``step`` ran past the server's step timeout.

    The episode is abandoned; the session has a fresh environment: ``reset()`` and go on.
    """

    default_code = ErrorCode.STEP_TIMEOUT.value


class ToolCallError(OpenEnvGymError):
    """An MCP request failed: unknown tool, invalid arguments, the tool raised, or no tools.

    Attributes:
        rpc_code: the JSON-RPC error code (e.g. -32602 invalid params).
        data: the error's ``data``, if any.
    """

    def __init__(self, message: Any, *, rpc_code: int | None = None, data: Any = None):
        if isinstance(message, ToolCallError):  # AsyncVectorEnv re-raises with type(e)(e)
            rpc_code, data = message.rpc_code, message.data
        self.rpc_code: int | None = rpc_code
        self.data: Any = data
        super().__init__(str(message))


class InvalidActionError(OpenEnvGymError, ValueError):
    """A Gym action could not be turned into the environment's ``Action`` model."""


class ManifestError(OpenEnvGymError, ValueError):
    """An environment's ``openenv.yaml`` manifest is missing, unreadable or invalid."""


class UsageError(OpenEnvGymError, ValueError):
    """An ``openenv-gym`` command line that cannot be carried out as given (exit code 2)."""


class UnsupportedSpaceError(OpenEnvGymError, TypeError):
    """A library cannot take the environment's spaces (e.g. Stable-Baselines3 and ``Text``)."""


class ProviderError(OpenEnvGymError):
    """A provider could not start (or reach) an environment server."""


class SandboxError(OpenEnvGymError):
    """A code sandbox's worker process could not be started (the coding environment)."""


SERVER_ERRORS: dict[str, type[ServerError]] = {
    cls.default_code: cls
    for cls in (
        InvalidJSONError,
        UnknownTypeError,
        InvalidRequestError,
        ExecutionError,
        CapacityReachedError,
        FactoryError,
        SessionError,
        MessageTooLargeError,
        TooManySessionsError,
        RateLimitedError,
        StepTimeoutError,
    )
}


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """A hint naming the closest of ``names`` to ``name``, for error messages ("" if none is close).

    >>> did_you_mean("ecko", ["echo", "chess"])
    " Did you mean 'echo'?"
    """
    close = difflib.get_close_matches(name, list(names), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def server_error_from_frame(data: Any) -> ServerError:
    """Translate the ``data`` of an error frame into the matching :class:`ServerError`."""
    if not isinstance(data, dict):
        return ServerError(f"server error: {data!r}")
    code = str(data.get("code", ServerError.default_code))
    message = str(data.get("message", "server error"))
    details = {k: v for k, v in data.items() if k not in ("code", "message")}
    cls = SERVER_ERRORS.get(code, ServerError)
    return cls(message, code=code, details=details)
