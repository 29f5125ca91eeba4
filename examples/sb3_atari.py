"""Train Stable-Baselines3's PPO, unmodified, on ``openenv/atari-pong-v0`` through our batched vector env.

    pip install "openenv-gym[atari,sb3]"      # torch's CPU build first: see the README
    python examples/sb3_atari.py               # a brief run: 1,024 env-steps over 4 served envs

SB3 takes only its own ``VecEnv``: :func:`openenv_gym.wrappers.sb3.make_sb3_vec_env` makes
``gym.make_vec(..., autoreset_mode=SAME_STEP)`` (N sessions on one event loop, binary frames)
and adapts it (:class:`~openenv_gym.wrappers.sb3.SB3VecEnv`), seeded and with ``VecMonitor``
as SB3's ``make_vec_env``.
"""

from __future__ import annotations

import argparse
import time

from stable_baselines3 import PPO

from openenv_gym.wrappers.sb3 import make_sb3_vec_env


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--num-envs", type=int, default=4)
    args.add_argument("--timesteps", type=int, default=1024)
    ns = args.parse_args()
    venv = make_sb3_vec_env("openenv/atari-pong-v0", n_envs=ns.num_envs, seed=0)
    model = PPO("CnnPolicy", venv, n_steps=128, batch_size=128, n_epochs=1, verbose=1, seed=0)
    started = time.perf_counter()
    model.learn(total_timesteps=ns.timesteps)
    print(f"trained {model.num_timesteps} env-steps in {time.perf_counter() - started:.1f}s")
    venv.close()


if __name__ == "__main__":
    main()
