"""Stable-Baselines3's ``VecEnv`` over a Gymnasium ``VectorEnv``: our batched envs in SB3 (``[sb3]`` extra).

SB3 takes only its own ``VecEnv`` (``step_async``/``step_wait``, ``dones``, one info dict per
sub-environment with ``terminal_observation``, reset inside the step), not Gymnasium's
``VectorEnv``. :class:`SB3VecEnv` maps one onto the other, for the batched
``gym.make_vec("openenv/...")`` (one event loop, batched frames) or any Gymnasium vector env
made with ``autoreset_mode=SAME_STEP`` (SB3's convention). :func:`make_sb3_vec_env` makes one
as SB3's ``make_vec_env`` does (seeded, episode statistics by ``VecMonitor``)::

    pip install "openenv-gym[sb3]"

>>> from stable_baselines3 import PPO
>>> from openenv_gym.wrappers.sb3 import make_sb3_vec_env
>>> venv = make_sb3_vec_env("openenv/finance-v0", n_envs=2, seed=0, provider="inprocess")
>>> model = PPO("MultiInputPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, seed=0)
>>> model.learn(total_timesteps=32).num_timesteps
32
>>> venv.close()

SB3 has no ``Text`` space (SB3 issue 1704): environments with text observations or actions
(echo, chess, coding) are refused with an :class:`~openenv_gym.errors.UnsupportedSpaceError`
naming the fields; finance and the Atari games fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from openenv_gym.errors import UnsupportedSpaceError


class Attributes(Protocol):
    """What Gymnasium's ``SyncVectorEnv``/``AsyncVectorEnv`` and our ``GymVectorEnv`` add to the
    ``VectorEnv`` base (which lacks them): the sub-environments' attributes and methods."""

    def get_attr(self, name: str) -> tuple[Any, ...]: ...

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None: ...

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]: ...


SB3_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
"""The spaces SB3's policies take (observations may also be a flat ``Dict`` of them)."""


def unsupported_fields(space: spaces.Space[Any], name: str) -> list[str]:
    """Where ``space`` holds something SB3 cannot take (an observation may be one flat ``Dict``).

    >>> unsupported_fields(spaces.Dict(a=spaces.Box(0, 1), b=spaces.Text(5)), "observation")
    ["observation['b'] (Text)"]
    """
    if isinstance(space, spaces.Dict) and name == "observation":
        return [field for key, sub in space.spaces.items() for field in _unsupported(sub, f"{name}[{key!r}]")]
    return _unsupported(space, name)


def _unsupported(space: spaces.Space[Any], name: str) -> list[str]:
    return [] if isinstance(space, SB3_SPACES) else [f"{name} ({type(space).__name__})"]


def check_sb3_spaces(observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                     name: str) -> None:
    """Raise :class:`UnsupportedSpaceError` naming each field SB3 cannot take."""
    fields = unsupported_fields(observation_space, "observation") + unsupported_fields(action_space, "action")
    if fields:
        raise UnsupportedSpaceError(
            f"Stable-Baselines3 cannot use {name}: {', '.join(fields)}. SB3 takes Box, Discrete, "
            "MultiDiscrete, MultiBinary and a flat Dict of them, no Text (SB3 issue 1704); of the "
            "bundled environments finance and the Atari games fit, echo, chess and coding do not")


class SB3VecEnv(VecEnv):
    """A Gymnasium ``VectorEnv`` (autoreset ``SAME_STEP``) as a Stable-Baselines3 ``VecEnv``.

    Args:
        vector_env: made with ``autoreset_mode=AutoresetMode.SAME_STEP``, e.g.
            ``gym.make_vec("openenv/atari-pong-v0", num_envs=8, autoreset_mode="SameStep")``.

    ``step_wait`` gives SB3's 4-tuple: ``dones = terminated | truncated``, and per
    sub-environment the step's info with ``TimeLimit.truncated`` (where an episode ended: its
    final info with ``terminal_observation``, its reset info in ``reset_infos``), as SB3's
    ``DummyVecEnv``. ``seed()``/``set_options()`` reach the next ``reset()``; ``get_attr``,
    ``set_attr`` and ``env_method`` go to the vector env's ``get_attr``/``set_attr``/``call``.
    """

    def __init__(self, vector_env: gym.vector.VectorEnv[Any, Any, Any]):
        mode = vector_env.metadata.get("autoreset_mode")
        if mode is not AutoresetMode.SAME_STEP:
            raise ValueError(f"SB3 resets a sub-environment in the step that ends its episode: make the "
                             f"vector env with autoreset_mode=AutoresetMode.SAME_STEP, not {mode} "
                             "(make_sb3_vec_env does)")
        name = vector_env.spec.id if vector_env.spec else type(vector_env).__name__
        check_sb3_spaces(vector_env.single_observation_space, vector_env.single_action_space, name)
        self.vector_env = vector_env
        self._attributes = cast(Attributes, vector_env)
        self._actions: np.ndarray | None = None
        super().__init__(vector_env.num_envs, vector_env.single_observation_space,
                         vector_env.single_action_space)

    def reset(self) -> Any:
        seeds: Any = None if all(s is None for s in self._seeds) else list(self._seeds)  # a list: per env
        obs, infos = self.vector_env.reset(seed=seeds, options=self._shared_options())
        self.reset_infos = unbatch_infos(infos, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return obs

    def _shared_options(self) -> dict[str, Any] | None:
        first = self._options[0]
        if any(options != first for options in self._options):
            raise ValueError("a Gymnasium vector env resets with one options dict for all sub-environments: "
                             "set_options(dict), not a list of different ones")
        return first or None

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, infos = self.vector_env.step(self._actions)
        dones = terminated | truncated
        step_infos = unbatch_infos(infos, self.num_envs)
        final_infos = unbatch_infos(infos.get("final_info", {}), self.num_envs)
        final_obs = infos.get("final_obs")
        out = []
        for i in range(self.num_envs):
            info = step_infos[i]
            if dones[i]:
                self.reset_infos[i] = info
                info = {**final_infos[i], "terminal_observation": final_obs[i]}  # type: ignore[index]
            info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            out.append(info)
        return obs, rewards.astype(np.float32), dones, out

    def close(self) -> None:
        self.vector_env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames: Any = self.vector_env.render() if self.render_mode == "rgb_array" else None
        return list(frames) if frames is not None else [None] * self.num_envs

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        values = self._attributes.get_attr(attr_name)
        return [values[i] for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        try:
            values = list(self._attributes.get_attr(attr_name))
        except AttributeError:
            values = [None] * self.num_envs
        for i in self._get_indices(indices):
            values[i] = value
        self._attributes.set_attr(attr_name, values)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        results = self._attributes.call(method_name, *method_args, **method_kwargs)
        return [results[i] for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """False: the sub-environments of a vector env are not wrapped one by one."""
        return [False for _ in self._get_indices(indices)]


def unbatch_infos(infos: dict[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Gymnasium's batched infos (values plus ``_key`` masks) as one dict per sub-environment.

    >>> unbatch_infos({"lives": np.array([3, 0]), "_lives": np.array([True, False])}, 2)
    [{'lives': 3}, {}]
    """
    out: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for key, value in infos.items():
        if key.startswith("_") or key in ("final_obs", "final_info"):
            continue
        mask = infos.get(f"_{key}", np.ones(num_envs, dtype=np.bool_))
        per_env = unbatch_infos(value, num_envs) if isinstance(value, dict) else value
        for i in np.flatnonzero(mask):
            out[i][key] = _scalar(per_env[i])
    return out


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def make_sb3_vec_env(env_id: str, n_envs: int = 1, *, seed: int | None = None, monitor: bool = True,
                     **kwargs: Any) -> VecEnv:
    """``n_envs`` sessions of ``env_id`` in one batched vector env, as an SB3 ``VecEnv``.

    As SB3's ``make_vec_env``: sub-environment ``i`` is seeded ``seed + i`` at the first
    ``reset()``, and ``VecMonitor`` records episode returns and lengths (``monitor=False``: not).
    ``kwargs`` go to ``gym.make_vec`` (``provider=``, ``max_episode_steps=``, env options).
    """
    vector_env = gym.make_vec(env_id, num_envs=n_envs, autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
    try:
        venv: VecEnv = SB3VecEnv(vector_env)
    except BaseException:
        vector_env.close()
        raise
    if seed is not None:
        venv.seed(seed)
        venv.action_space.seed(seed)
    return VecMonitor(venv) if monitor else venv
