"""``GymEnv``: a real ``gymnasium.Env`` over one OpenEnv session."""

from __future__ import annotations

import json
import warnings
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from openenv_gym.client.base import DEFAULT_ENCODING, DEFAULT_TIMEOUT
from openenv_gym.errors import InvalidActionError, InvalidRequestError
from openenv_gym.mcp_types import Tool
from openenv_gym.protocol import summarize_errors
from openenv_gym.providers import Provider, make_provider

from .space_codec import SpaceCodec
from .tool_actions import calls_tools


def offered_render_mode(render_mode: str | None, available: tuple[str, ...], name: str) -> str | None:
    """``render_mode`` if the environment offers it; else ``None`` (rendering off), with a warning.

    Gymnasium's own environments warn and go on, and libraries rely on that: Stable-Baselines3's
    ``make_vec_env`` asks every environment for ``"rgb_array"``.

    >>> offered_render_mode("ansi", ("ansi",), "echo")
    'ansi'
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     offered_render_mode("rgb_array", ("ansi",), "echo")
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    render_mode='rgb_array' is not offered by echo (it offers ['ansi']): rendering is off, ...
    """
    if render_mode is None or render_mode in available:
        return render_mode
    warnings.warn(f"render_mode={render_mode!r} is not offered by {name} (it offers {list(available)}): "
                  "rendering is off, render() returns None", UserWarning, stacklevel=3)
    return None


class GymEnv(gym.Env[Any, Any]):
    """One OpenEnv session as a Gymnasium environment.

    Usually made through the registry (``import openenv_gym`` registers the ids)::

        env = gym.make("openenv/echo-v0")                               # local server process
        env = gym.make("openenv/echo-v0", provider="inprocess")         # no socket
        env = gym.make("openenv/coding-v0", provider="docker")          # in a container (docs/docker.md)
        env = gym.make("openenv/remote-v0", base_url="http://127.0.0.1:8000")  # any server

    Args:
        env: a bundled environment's name (``"echo"``); ``None`` for a remote server.
        provider: ``"process"`` (default), ``"inprocess"``, ``"docker"``, ``"swarm"``, ``"ray"``
            (a Ray actor on a Ray cluster, docs/scale-out.md), or a :class:`Provider` instance
            (which the caller keeps and stops).
        provider_options: keyword arguments of the named provider's class, e.g.
            ``{"memory": "2g", "internet": True}`` for ``DockerProvider``; an unknown one is a
            ``ValueError`` that lists them.
        base_url: connect to this running server instead of starting one.
        render_mode: ``"ansi"`` (the environment's text rendering, or the observation as
            JSON) or ``"rgb_array"`` where the environment renders frames; a mode the
            environment does not offer is a warning and no rendering, as in Gymnasium's envs.
        timeout: seconds to wait for each reply from a server.
        encoding: frames with our servers, ``"msgpack"`` (default; arrays as raw bytes) or ``"json"``.
        tool_calls: make the actions calls to the environment's MCP tools (an action space
            built from ``tools/list``, see :mod:`openenv_gym.wrappers.tool_actions`); by
            default only where the action model is upstream's ``CallToolAction`` (an MCP tool
            environment). ``True`` for an environment that has tools besides its own actions
            (echo); ``False`` keeps the action model's fields.
        token: bearer token of the server (``base_url``), or the one the started server
            requires; default ``$OPENENV_TOKEN``, none if unset.
        **env_kwargs: passed to the environment's constructor (bundled environments).

    The observation and action spaces come from the environment's models (see
    :mod:`openenv_gym.wrappers.spaces`). ``terminated`` is the server's ``done``; ``info`` is
    the observation's ``metadata`` (ours and ``openenv`` 0.10 send it; 0.3.0 servers do not:
    ``{}``); ``truncated`` comes from our servers' extension (False from upstream servers;
    ``gym.make(max_episode_steps=...)`` truncates on the client).

    >>> import gymnasium as gym, openenv_gym
    >>> env = gym.make("openenv/echo-v0", provider="inprocess")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step("Hello, World!")
    >>> obs["echoed_message"], round(reward, 2), terminated, truncated
    ('Hello, World!', 1.3, False, False)
    >>> env.close()
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"]}
    """Every mode an OpenEnv environment may offer; an instance lists its environment's own."""

    def __init__(self, env: str | None = None, *, provider: str | Provider = "process",
                 base_url: str | None = None, render_mode: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, encoding: str = DEFAULT_ENCODING,
                 token: str | None = None, provider_options: dict[str, Any] | None = None,
                 tool_calls: bool | None = None, **env_kwargs: Any):
        self._arguments: dict[str, Any] = dict(
            env=env, provider=provider, base_url=base_url, render_mode=render_mode, timeout=timeout,
            encoding=encoding, token=token, provider_options=provider_options, tool_calls=tool_calls,
            **env_kwargs)
        """What made this environment: a copy (pickle, ``copy.deepcopy``) is made again from it."""
        self.render_mode = render_mode
        self.name = env or base_url or "remote"
        self._provider = make_provider(env, provider, base_url=base_url, env_kwargs=env_kwargs,
                                       token=token, options=provider_options)
        self._owns_provider = not isinstance(provider, Provider) or base_url is not None
        try:
            self._client = self._provider.connect(timeout=timeout, encoding=encoding)
            schema = self._client.schema()
            self._codec = SpaceCodec.from_schema(schema, tools=self._tools(schema, tool_calls))
            self.metadata = {"render_modes": list(self._codec.render_modes),
                             "render_fps": self._codec.render_fps}
            self.render_mode = offered_render_mode(render_mode, self._codec.render_modes, self.name)
        except BaseException:
            self.close()
            raise
        self.observation_space = self._codec.observation_space
        self.action_space = self._codec.action_space
        self._last_observation: dict[str, Any] = {}

    def _tools(self, schema: dict[str, Any], tool_calls: bool | None) -> list[Tool] | None:
        """The tools whose calls are the actions, or ``None`` (the action model's fields)."""
        return self._client.list_tools() if calls_tools(schema, tool_calls) else None

    def __getstate__(self) -> dict[str, Any]:
        """A pickle holds what made the environment; loading it opens a new session (reset it).

        An environment on a :class:`Provider` instance (the caller's server) does not pickle:
        its copy could not start that server again.

        >>> import pickle
        >>> env = gym.make("openenv/echo-v0", provider="inprocess")
        >>> copy = pickle.loads(pickle.dumps(env))
        >>> copy.reset(seed=0)[0]["echoed_message"], copy.spec.id
        ('Echo environment ready!', 'openenv/echo-v0')
        >>> copy.close(), env.close()
        (None, None)
        """
        provider = self._arguments["provider"]
        if isinstance(provider, Provider) and self._arguments["base_url"] is None:
            raise TypeError(f"cannot pickle {self.name!r} on a {type(provider).__name__} instance: a copy "
                            "could not start that server again; make the env with provider='process' (or "
                            "another provider's name) or base_url=..., which a copy opens a new session on")
        return {"arguments": self._arguments, "spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        with warnings.catch_warnings():  # the original warned already, e.g. of its render_mode
            warnings.simplefilter("ignore")
            self.__init__(**state["arguments"])  # type: ignore[misc]
        self.spec = state["spec"]

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Start an episode; ``seed`` and ``options`` (reset arguments) go to the environment."""
        super().reset(seed=seed)
        kwargs = dict(options or {})
        if seed is not None:
            kwargs["seed"] = seed
        result = self._client.reset(**kwargs)
        self._last_observation = result.observation
        return self._codec.observation_to_gym(result.observation), result.info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply one action; an action the environment rejects raises :class:`InvalidActionError`."""
        payload = self._codec.action_to_wire(action)
        try:
            result = self._client.step(payload)
        except InvalidRequestError as exc:
            reason = summarize_errors(exc.details.get("errors")) or exc.message
            raise InvalidActionError(f"invalid action {action!r:.100} for {self.name}: {reason}") from exc
        self._last_observation = result.observation
        return (self._codec.observation_to_gym(result.observation), result.reward_or_zero,
                result.terminated, result.truncated, result.info)

    def render(self) -> Any:
        """The frame for ``render_mode``: text for ``"ansi"`` (the observation as JSON where the
        environment has no text rendering), an RGB array for ``"rgb_array"``."""
        if self.render_mode is None:
            return None
        frame = self._client.render(self.render_mode)
        if frame is None and self.render_mode == "ansi":
            frame = json.dumps(self._last_observation, ensure_ascii=False, indent=1)
        if self.render_mode == "rgb_array" and frame is not None:
            frame = np.asarray(frame, dtype=np.uint8)  # JSON frames arrive as nested lists
        return frame

    def state(self) -> dict[str, Any]:
        """The OpenEnv state of the episode (``episode_id``, ``step_count``, env fields)."""
        return self._client.state()

    def list_tasks(self, split: str | None = None) -> list[Any]:
        """The tasks of ``split`` (default: the first), from upstream's task API; start task ``i``
        with ``env.reset(options={"task_index": i})`` (see :mod:`openenv_gym.client.tasks`).

        >>> env = gym.make("openenv/coding-v0", provider="inprocess")
        >>> [task["name"] for task in env.unwrapped.list_tasks()][:3]
        ['fizzbuzz', 'reverse_words', 'is_palindrome']
        >>> env.close()
        """
        from openenv_gym.client.tasks import tasks_of

        return tasks_of(self._client, split)

    def list_tools(self) -> list[Tool]:
        """The environment's MCP tools (name, description, JSON Schema of the arguments).

        >>> env = gym.make("openenv/echo-v0", provider="inprocess")
        >>> [tool.name for tool in env.unwrapped.list_tools()]
        ['echo_message', 'echo_with_length']
        >>> env.unwrapped.call_tool("echo_with_length", message="héllo")
        {'message': 'héllo', 'length': 5}
        """
        return self._client.list_tools()

    def call_tool(self, name: str, **arguments: Any) -> Any:
        """Call the environment's tool ``name`` in this session; what it returned.

        Raises :class:`~openenv_gym.errors.ToolCallError` for an unknown tool, invalid
        arguments or a failing tool.
        """
        return self._client.call_tool(name, **arguments)

    def close(self) -> None:
        """End the session and stop the server this environment started (idempotent)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            if hasattr(self, "_client"):
                self._client.close()
        finally:
            self._stop_provider()

    def _stop_provider(self) -> None:
        if self._owns_provider:
            self._provider.stop()
