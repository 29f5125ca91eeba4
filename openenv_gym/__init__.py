"""openenv-gym: OpenEnv environments as real Gymnasium environments.

Importing the package registers the ``openenv/*`` ids:

>>> import gymnasium as gym
>>> import openenv_gym
>>> env = gym.make("openenv/echo-v0", provider="inprocess")
>>> env.reset(seed=0)[0]["echoed_message"]
'Echo environment ready!'
>>> env.close()
"""

from .client import EnvClient, SyncEnvClient
from .errors import (
    AuthenticationError,
    CapacityReachedError,
    ErrorCode,
    ExecutionError,
    FactoryError,
    InvalidActionError,
    InvalidJSONError,
    InvalidRequestError,
    MessageTooLargeError,
    OpenEnvGymError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    SessionError,
    StepTimeoutError,
    ToolCallError,
    TooManySessionsError,
    TransportError,
    UnknownTypeError,
)
from .registration import register_envs
from .types import Action, EnvironmentMetadata, Observation, State, StepResult

__version__ = "0.1.0"

register_envs()

__all__ = [
    "Action",
    "AuthenticationError",
    "CapacityReachedError",
    "EnvClient",
    "EnvironmentMetadata",
    "ErrorCode",
    "ExecutionError",
    "FactoryError",
    "InvalidActionError",
    "InvalidJSONError",
    "InvalidRequestError",
    "MessageTooLargeError",
    "Observation",
    "OpenEnvGymError",
    "ProtocolError",
    "ProviderError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServerError",
    "SessionError",
    "State",
    "StepResult",
    "StepTimeoutError",
    "SyncEnvClient",
    "ToolCallError",
    "TooManySessionsError",
    "TransportError",
    "UnknownTypeError",
    "__version__",
    "register_envs",
]
