"""Train Stable-Baselines3's PPO, unmodified, on ``openenv/atari-pong-v0`` through our vector env.

    pip install torch stable-baselines3        # optional extra, not a dependency of openenv-gym
    python examples/sb3_atari.py               # a brief run: 1,024 env-steps over 4 served envs

SB3 has its own ``VecEnv`` API (``step_async``/``step_wait``, ``dones``, a list of infos with
``terminal_observation``, reset inside ``step``), not Gymnasium's ``VectorEnv``: the small
:class:`SB3VecEnv` adapter below maps one onto the other. Our vector env runs with Gymnasium's
``SAME_STEP`` autoreset, which is SB3's convention.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv

import openenv_gym  # noqa: F401  (registers the openenv/* ids)


class SB3VecEnv(VecEnv):
    """A Gymnasium ``VectorEnv`` (autoreset ``SAME_STEP``) as a Stable-Baselines3 ``VecEnv``."""

    def __init__(self, envs: gym.vector.VectorEnv):
        self.envs = envs
        self._actions: np.ndarray | None = None
        super().__init__(envs.num_envs, envs.single_observation_space, envs.single_action_space)

    def reset(self) -> np.ndarray:
        obs, _ = self.envs.reset(seed=self._seeds[0] if any(s is not None for s in self._seeds) else None)
        self._reset_seeds()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, terminated, truncated, infos = self.envs.step(self._actions)
        dones = terminated | truncated
        finals = infos.get("final_obs", [None] * self.num_envs)
        out = [{"TimeLimit.truncated": bool(truncated[i] and not terminated[i])}
               for i in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            out[i]["terminal_observation"] = finals[i]
        return obs, rewards.astype(np.float32), dones, out

    def close(self) -> None:
        self.envs.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name, None)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        raise NotImplementedError(f"sub-environments are server sessions: no {method_name}()")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--num-envs", type=int, default=4)
    args.add_argument("--timesteps", type=int, default=1024)
    ns = args.parse_args()
    envs = gym.make_vec("openenv/atari-pong-v0", num_envs=ns.num_envs,
                        autoreset_mode=AutoresetMode.SAME_STEP)
    venv = SB3VecEnv(envs)
    model = PPO("CnnPolicy", venv, n_steps=128, batch_size=128, n_epochs=1, verbose=1, seed=0)
    started = time.perf_counter()
    model.learn(total_timesteps=ns.timesteps)
    print(f"trained {model.num_timesteps} env-steps in {time.perf_counter() - started:.1f}s")
    venv.close()


if __name__ == "__main__":
    main()
