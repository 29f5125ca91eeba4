"""``GymVectorEnv``: a native ``gymnasium.vector.VectorEnv`` over N OpenEnv sessions.

The sessions are stepped together on one event loop: against our servers a step of many
sub-environments is one ``batch`` frame per server; against upstream servers, one request per
session, all in flight at once; in-process, a plain loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, iterate

from openenv_gym.client.base import DEFAULT_ENCODING, DEFAULT_TIMEOUT
from openenv_gym.client.loop import LoopRunner
from openenv_gym.errors import (
    InvalidActionError,
    InvalidRequestError,
    OpenEnvGymError,
    ServerError,
    TransportError,
)
from openenv_gym.mcp_types import Tool
from openenv_gym.protocol import summarize_errors
from openenv_gym.protocol.tool_calls import TOOLS_CALL, TOOLS_LIST, rpc_request, tool_value, tools_of
from openenv_gym.providers import Provider
from openenv_gym.providers.opening import open_pool
from openenv_gym.types import StepResult
from openenv_gym.vector.groups import Request
from openenv_gym.vector.pool import SessionPool

from .env import offered_render_mode
from .space_codec import SpaceCodec
from .tool_actions import calls_tools

Outcome = StepResult[dict[str, Any]] | OpenEnvGymError


def _for_sub_env(exc: OpenEnvGymError, index: int, where: str) -> OpenEnvGymError:
    """The same error, its message naming the sub-environment and its server."""
    prefix = f"sub-env {index} ({where}): "
    if isinstance(exc, InvalidRequestError):
        reason = summarize_errors(exc.details.get("errors")) or exc.message
        return InvalidActionError(prefix + "invalid action: " + reason)
    if isinstance(exc, ServerError):
        return type(exc)(prefix + exc.message, code=exc.code, details=exc.details)
    return type(exc)(prefix + str(exc))


class GymVectorEnv(VectorEnv[Any, Any, Any]):
    """N sessions of an OpenEnv environment as one Gymnasium vector environment.

    Made by ``gym.make_vec("openenv/echo-v0", num_envs=64)`` (the ``vector_entry_point`` of
    every ``openenv/*`` id), or directly.

    Args:
        env: a bundled environment's name; ``None`` with ``base_url``.
        num_envs: number of sub-environments (sessions).
        provider: ``"process"`` (default: local server processes), ``"inprocess"``,
            ``"docker"`` (containers, started in parallel: one per session for an env without
            concurrent sessions), ``"swarm"`` (a Swarm service's replicas), ``"ray"`` (Ray
            actors over a Ray cluster), or a :class:`~openenv_gym.providers.Provider`
            instance (yours to stop; the servers it starts beyond its own, the vector env stops).
        provider_options: keyword arguments of the named provider's class (see ``GymEnv``).
        replicas: with ``provider="swarm"``, how many replicas the service runs (more if the
            sessions need more); the sessions are spread evenly over them.
        base_url: one running server, or a list of servers to spread the sessions over.
        num_servers: with ``provider="process"``, ``"docker"`` or ``"ray"``, how many servers
            share the sessions (default: process and docker one per core but one, left to the
            client, or one per core if the manifest says ``gym.compute_bound``, as Atari's; ray
            one per node; more if the environment allows fewer sessions per server).
        encoding: ``"msgpack"`` (default) or ``"json"`` frames (with our servers).
        autoreset_mode: Gymnasium's ``AutoresetMode`` (``NEXT_STEP`` by default).
        max_episode_steps: truncate each sub-environment's episode after this many steps.
        keep_going: if a sub-environment fails (its server died, its step raised), truncate
            it, say why in ``infos["error"]`` (SAME_STEP: ``infos["final_info"]["error"]``) and
            carry on; its next reset reopens its session (restarting its server if needed).
            By default the error is raised, naming the sub-environment, after the other
            sub-environments' results are recorded. Invalid actions are always raised.
        render_mode: ``"ansi"`` for the sub-environments' text renderings (a mode the
            environment does not offer: a warning, rendering off, as ``GymEnv``).
        tool_calls: actions are calls to the environment's MCP tools, as ``GymEnv``'s (by
            default on MCP tool environments).
        timeout: seconds to wait for each reply.
        token: bearer token of the servers (``base_url``), or the one started servers
            require; default ``$OPENENV_TOKEN``, none if unset.
        **env_kwargs: passed to the environment's constructor (bundled environments).

    >>> import gymnasium as gym, openenv_gym
    >>> envs = gym.make_vec("openenv/echo-v0", num_envs=3, provider="inprocess")
    >>> obs, infos = envs.reset(seed=0)
    >>> obs, rewards, terminations, truncations, infos = envs.step(["a", "bb", "héllo"])
    >>> obs["echoed_message"], rewards.round(2).tolist()
    (('a', 'bb', 'héllo'), [0.1, 0.2, 0.5])
    >>> envs.close()
    """

    def __init__(self, env: str | None = None, num_envs: int = 1, *,
                 provider: str | Provider = "process", base_url: str | Sequence[str] | None = None,
                 num_servers: int | None = None, encoding: str = DEFAULT_ENCODING,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 max_episode_steps: int | None = None, keep_going: bool = False,
                 render_mode: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 token: str | None = None, provider_options: dict[str, Any] | None = None,
                 replicas: int | None = None, tool_calls: bool | None = None, **env_kwargs: Any):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        if replicas is not None:
            if provider != "swarm":
                raise ValueError(f"replicas= is for provider='swarm', not {provider!r}: use num_servers=")
            provider_options = {**(provider_options or {}), "replicas": replicas}
        self.num_envs = num_envs
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {"autoreset_mode": self.autoreset_mode, "render_modes": []}
        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self.keep_going = keep_going
        self._runner = LoopRunner()
        try:
            self._pool: SessionPool = self._runner.run(open_pool(
                env, num_envs, provider=provider, base_url=base_url, num_servers=num_servers,
                env_kwargs=env_kwargs, timeout=timeout, encoding=encoding, token=token,
                provider_options=provider_options))
        except BaseException:
            self._runner.close()
            raise
        try:
            schema = self._runner.run(self._pool.schema())
            self._codec = SpaceCodec.from_schema(schema, tools=self._tools(schema, tool_calls))
            self.render_mode = offered_render_mode(render_mode, self._codec.render_modes,
                                                   str(env or base_url))
        except BaseException:
            self.close_extras()
            raise
        self.metadata.update(render_modes=list(self._codec.render_modes), render_fps=self._codec.render_fps)
        self.single_observation_space = self._codec.observation_space
        self.single_action_space = self._codec.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._wire_obs: list[dict[str, Any]] = [{} for _ in range(num_envs)]
        self._rewards = np.zeros(num_envs, dtype=np.float64)
        self._terminations = np.zeros(num_envs, dtype=np.bool_)
        self._truncations = np.zeros(num_envs, dtype=np.bool_)
        self._autoreset_envs = np.zeros(num_envs, dtype=np.bool_)
        self._elapsed = np.zeros(num_envs, dtype=np.int64)
        self._lost: set[int] = set()
        self._errors: list[tuple[int, OpenEnvGymError]] = []
        self._attributes: list[dict[str, Any]] = [{} for _ in range(num_envs)]

    # -- the Gymnasium API -----------------------------------------------------------------

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-environment, or those in ``options["reset_mask"]``."""
        if isinstance(seed, int):
            super().reset(seed=seed)
        seeds = self._seeds(seed)
        options = dict(options or {})
        mask = self._reset_mask(options.pop("reset_mask", None))
        self._terminations[mask] = self._truncations[mask] = self._autoreset_envs[mask] = False
        requests: dict[int, Request] = {
            int(i): ("reset", self._reset_kwargs(seeds[i], options)) for i in np.flatnonzero(mask)}
        env_infos = {i: self._record_reset(i, result) for i, result in self._run(requests).items()}
        self._raise_errors()
        return self._codec.observation.batch(self._wire_obs), self._batch_infos(env_infos, {})

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-environment; finished ones are reset as ``autoreset_mode`` says."""
        payloads = [self._action(i, a) for i, a in enumerate(self._per_env(actions))]
        if self.autoreset_mode is AutoresetMode.DISABLED and self._autoreset_envs.any():
            done = np.flatnonzero(self._autoreset_envs).tolist()
            raise RuntimeError(f"sub-envs {done} are done and autoreset is DISABLED: reset them with "
                               "reset(options={'reset_mask': mask}) before stepping")
        requests: dict[int, Request] = {}
        for i, payload in enumerate(payloads):
            reset = self.autoreset_mode is AutoresetMode.NEXT_STEP and self._autoreset_envs[i]
            requests[i] = ("reset", {}) if reset else ("step", payload)
        env_infos: dict[int, dict[str, Any]] = {}
        stepped: dict[int, StepResult[dict[str, Any]]] = {}
        for i, result in self._run(requests).items():
            if isinstance(result, OpenEnvGymError):
                env_infos[i] = self._failed(i, result)
            elif requests[i][0] == "reset":
                self._rewards[i], self._terminations[i], self._truncations[i] = 0.0, False, False
                env_infos[i] = self._record_reset(i, result)
            else:
                stepped[i] = result
        env_infos.update(self._record_steps(stepped))
        finals = self._reset_finished(env_infos) if self.autoreset_mode is AutoresetMode.SAME_STEP else {}
        self._autoreset_envs = self._terminations | self._truncations
        self._raise_errors()
        return (self._codec.observation.batch(self._wire_obs), self._rewards.copy(),
                self._terminations.copy(), self._truncations.copy(), self._batch_infos(env_infos, finals))

    def render(self) -> tuple[Any, ...] | None:  # type: ignore[override]
        """Each sub-environment's frame for ``render_mode`` (text or RGB array)."""
        if self.render_mode is None:
            return None
        outcomes = self._runner.run(self._pool.run(
            {i: ("render", {"mode": self.render_mode}) for i in range(self.num_envs)}))
        return tuple(self._unwrap(i, outcomes[i]) for i in range(self.num_envs))

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call ``state``, ``render``, ``list_tools`` or ``call_tool`` on every sub-environment.

        >>> import gymnasium as gym
        >>> envs = gym.make_vec("openenv/echo-v0", num_envs=2, provider="inprocess")
        >>> envs.call("call_tool", "echo_message", message="hi")
        ('hi', 'hi')
        >>> envs.close()
        """
        if name == "render" and not args and not kwargs:
            return self.render() or (None,) * self.num_envs
        if name == "state" and not args and not kwargs:
            return self._call_each("state", None, lambda data: data)
        if name == "list_tools" and not args and not kwargs:
            return self._call_each("mcp", rpc_request(TOOLS_LIST, None, 0), tools_of)
        if name == "call_tool" and len(args) == 1:
            request = rpc_request(TOOLS_CALL, {"name": args[0], "arguments": kwargs}, 0)
            return self._call_each("mcp", request, tool_value)
        raise AttributeError(f"sub-environments are OpenEnv sessions: call() supports 'state', 'render' "
                             f"and 'list_tools' without arguments and call_tool(name, **arguments), "
                             f"not {name!r}")

    def _call_each(self, kind: str, payload: Any, parse: Callable[[Any], Any]) -> tuple[Any, ...]:
        """Send one request to every sub-env; each reply parsed (errors name their sub-env)."""
        outcomes = self._runner.run(self._pool.run({i: (kind, payload) for i in range(self.num_envs)}))
        return tuple(self._unwrap(i, _parsed(parse, outcomes[i])) for i in range(self.num_envs))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Each sub-environment's attribute: one set by :meth:`set_attr`, or a shared one."""
        shared = {"observation_space": self.single_observation_space, "render_mode": self.render_mode,
                  "action_space": self.single_action_space, "spec": self.spec,
                  "max_episode_steps": self.max_episode_steps}
        if name not in shared and not all(name in a for a in self._attributes):
            raise AttributeError(f"sub-environments have no attribute {name!r}")
        return tuple(a.get(name, shared.get(name)) for a in self._attributes)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        """Set an attribute on each sub-environment (a sequence: one value each)."""
        if not isinstance(values, list | tuple):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"set_attr needs {self.num_envs} values, got {len(values)}")
        for attributes, value in zip(self._attributes, values, strict=True):
            attributes[name] = value

    def close_extras(self, **kwargs: Any) -> None:
        """End every session and stop the servers this vector env started."""
        try:
            self._runner.run(self._pool.close())
        finally:
            self._runner.close()

    def _batch_infos(self, env_infos: dict[int, dict[str, Any]],
                     finals: dict[int, dict[str, Any]]) -> dict[str, Any]:
        """Gymnasium's infos (arrays plus ``_key`` masks), built in one pass where possible."""
        infos = [env_infos.get(i, {}) for i in range(self.num_envs)]
        keys = infos[0].keys()
        simple = not finals and all(i.keys() == keys for i in infos) and all(
            type(v) in (int, float, bool) for v in infos[0].values())
        if not simple:  # Gymnasium's own merge, one sub-environment at a time, in its order
            merged: dict[str, Any] = {}
            for i in range(self.num_envs):
                if i in finals:
                    merged = self._add_info(merged, finals[i], i)
                if i in env_infos:
                    merged = self._add_info(merged, env_infos[i], i)
            return merged
        batched: dict[str, Any] = {}
        for key in keys:
            batched[key] = np.array([i[key] for i in infos], dtype=type(infos[0][key]))
            batched[f"_{key}"] = np.ones(self.num_envs, dtype=np.bool_)
        return batched

    # -- helpers -----------------------------------------------------------------------------

    def _seeds(self, seed: int | list[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, int):
            return [seed + i for i in range(self.num_envs)]
        if len(seed) != self.num_envs:
            raise ValueError(f"If seeds are passed as a list the length must match num_envs="
                             f"{self.num_envs} but got length={len(seed)}.")
        return list(seed)

    def _reset_mask(self, mask: Any) -> np.ndarray:
        if mask is None:
            return np.ones(self.num_envs, dtype=np.bool_)
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise TypeError(f"options['reset_mask'] must be a numpy bool array of shape "
                            f"({self.num_envs},), got {mask!r}")
        if not mask.any():
            raise ValueError("options['reset_mask'] must contain at least one True value")
        return mask

    @staticmethod
    def _reset_kwargs(seed: int | None, options: dict[str, Any]) -> dict[str, Any]:
        return options if seed is None else {**options, "seed": seed}

    def _tools(self, schema: dict[str, Any], tool_calls: bool | None) -> list[Tool] | None:
        """The tools whose calls are the actions (listed by sub-env 0), or ``None``."""
        if not calls_tools(schema, tool_calls):
            return None
        listed = self._runner.run(self._pool.run({0: ("mcp", rpc_request(TOOLS_LIST, None, 0))}))[0]
        return tools_of(self._unwrap(0, listed))

    def _per_env(self, actions: Any) -> Iterable[Any]:
        """Each sub-env's action: from Gymnasium's batch (a dict of batches for a ``Dict``
        space), or from a list with one action per sub-env (``[{...}, {...}]``)."""
        if isinstance(actions, list | tuple) and actions and all(isinstance(a, Mapping) for a in actions):
            if len(actions) != self.num_envs:
                raise ValueError(f"step() got {len(actions)} actions for {self.num_envs} sub-envs")
            return actions
        return iterate(self.action_space, actions)

    def _action(self, index: int, action: Any) -> dict[str, Any]:
        try:
            return self._codec.action_to_wire(action)
        except InvalidActionError as exc:
            raise InvalidActionError(f"sub-env {index}: {exc}") from exc

    def _run(self, requests: dict[int, Request]) -> dict[int, Any]:
        """Outcomes of the requests; sub-envs whose connection was lost are reopened first."""
        lost = sorted(self._lost & {i for i, (kind, _) in requests.items() if kind == "reset"})
        failed = self._runner.run(self._pool.reopen(lost)) if lost else {}
        self._lost.difference_update(set(lost) - failed.keys())
        outcomes = self._runner.run(self._pool.run({i: r for i, r in requests.items() if i not in failed}))
        return {**outcomes, **failed}

    def _unwrap(self, index: int, outcome: Any) -> Any:
        if isinstance(outcome, OpenEnvGymError):
            raise _for_sub_env(outcome, index, self._pool.label(index)) from outcome
        return outcome

    def _failed(self, index: int, error: OpenEnvGymError) -> dict[str, Any]:
        """The sub-env is truncated (and reopened on reset if its connection was lost).

        With ``keep_going`` the error goes into its info; otherwise it is raised once every
        other sub-env's result is recorded. An invalid action is always raised.
        """
        if isinstance(error, TransportError):
            self._lost.add(index)
        self._rewards[index], self._terminations[index], self._truncations[index] = 0.0, False, True
        if self.keep_going and not isinstance(error, InvalidRequestError):
            return {"error": f"{type(error).__name__}: {error}"}
        self._errors.append((index, error))
        return {}

    def _raise_errors(self) -> None:
        errors, self._errors = self._errors, []
        if errors:
            index, error = errors[0]
            raise _for_sub_env(error, index, self._pool.label(index)) from error

    def _record_reset(self, index: int, result: Outcome) -> dict[str, Any]:
        if isinstance(result, OpenEnvGymError):
            return self._failed(index, result)
        self._elapsed[index] = 0
        self._wire_obs[index] = result.observation
        return result.info

    def _record_steps(self, results: dict[int, StepResult[dict[str, Any]]]) -> dict[int, dict[str, Any]]:
        """Record the sub-envs' step results (the arrays written once per batch); their infos."""
        if not results:
            return {}
        index = np.fromiter(results, dtype=np.intp, count=len(results))
        values = list(results.values())
        for i, result in results.items():
            self._wire_obs[i] = result.observation
        self._rewards[index] = [r.reward_or_zero for r in values]
        self._terminations[index] = [r.terminated for r in values]
        self._elapsed[index] += 1
        truncated = np.array([r.truncated for r in values], dtype=np.bool_)
        if self.max_episode_steps is not None:
            truncated |= self._elapsed[index] >= self.max_episode_steps
        self._truncations[index] = truncated
        return {i: result.info for i, result in results.items()}

    def _reset_finished(self, env_infos: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """SAME_STEP: reset the finished sub-environments now; their final obs and info."""
        finished = [int(i) for i in np.flatnonzero(self._terminations | self._truncations)]
        finals = {i: {"final_obs": self._codec.observation_to_gym(self._wire_obs[i]),
                      "final_info": env_infos[i]} for i in finished}
        if finished:
            for i, result in self._run(dict.fromkeys(finished, ("reset", {}))).items():
                env_infos[i] = self._record_reset(i, result)
        return finals


def _parsed(parse: Callable[[Any], Any], outcome: Any) -> Any:
    """``parse(outcome)``, or the error the outcome is or that parsing raised (returned, not raised)."""
    if isinstance(outcome, OpenEnvGymError):
        return outcome
    try:
        return parse(outcome)
    except OpenEnvGymError as exc:
        return exc
