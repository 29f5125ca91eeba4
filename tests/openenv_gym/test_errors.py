"""The exception hierarchy: every server code has its class, and errors survive AsyncVectorEnv."""

from __future__ import annotations

import pickle

import pytest

import openenv_gym
from openenv_gym.errors import (
    SERVER_ERRORS,
    ErrorCode,
    InvalidRequestError,
    OpenEnvGymError,
    ServerError,
    server_error_from_frame,
)

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_has_its_own_class(code):
    error = server_error_from_frame({"message": "m", "code": code.value, "extra": 1})
    assert type(error) is SERVER_ERRORS[code.value]
    assert type(error) is not ServerError
    assert (error.code, error.message, error.details) == (code.value, "m", {"extra": 1})
    assert str(error) == f"m (code: {code.value})"


def test_unknown_codes_and_garbage_still_give_a_server_error():
    assert type(server_error_from_frame({"message": "new", "code": "FUTURE"})) is ServerError
    assert "server error" in str(server_error_from_frame("garbage"))


def test_errors_survive_async_vector_envs_reraise_and_pickling():
    error = server_error_from_frame({"message": "bad action", "code": "VALIDATION_ERROR",
                                     "errors": [{"loc": ["message"]}]})
    for copy in (type(error)(error), pickle.loads(pickle.dumps(error))):
        assert isinstance(copy, InvalidRequestError) and isinstance(copy, ValueError)
        assert (copy.code, copy.message, copy.details) == (error.code, error.message, error.details)


def test_every_public_error_is_an_openenv_gym_error():
    errors = [getattr(openenv_gym, name) for name in openenv_gym.__all__
              if name.endswith("Error") and name != "ErrorCode"]
    assert len(errors) >= 14
    assert all(issubclass(e, OpenEnvGymError) for e in errors)


def test_public_api_is_pinned():
    assert set(openenv_gym.__all__) == {
        "Action", "AuthenticationError", "CapacityReachedError", "EnvClient", "EnvironmentMetadata", "ErrorCode",
        "ExecutionError", "FactoryError", "InvalidActionError", "InvalidJSONError",
        "InvalidRequestError", "MessageTooLargeError", "Observation", "OpenEnvGymError",
        "ProtocolError", "ProviderError", "RateLimitedError", "RequestTimeoutError", "ServerError", "SessionError",
        "State", "StepResult", "StepTimeoutError", "SyncEnvClient", "ToolCallError", "TooManySessionsError",
        "TransportError", "UnknownTypeError",
        "__version__", "register_envs"}
