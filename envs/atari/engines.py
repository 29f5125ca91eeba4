"""The two emulator engines an Atari session can run on.

- :class:`PythonEngine` (``engine="python"``, the default) is ale-py's ``AtariEnv``: frames,
  rewards and infos exactly as ``gym.make("ALE/<Game>-v5")`` for the same seed and actions.
- :class:`VectorEngine` (``engine="vector"``) is the C++ engine behind ale-py's
  ``AtariVectorEnv`` (``ALEVectorInterface``), one per session: it steps in its own thread
  without the GIL, so a server steps a batch of sessions on every core at once, and it
  preprocesses in C++ (resize, grayscale, max-pool, frame stack, no-op starts, ...). Its frames
  are exactly ``AtariVectorEnv``'s for the same settings, seeds and actions.

Both split a step into :meth:`send` (start it) and :meth:`recv` (its result), so that
:meth:`AtariEnvironment.step_batch <openenv_gym.envs.atari.environment.AtariEnvironment.step_batch>`
starts every session's step before it waits for any.

>>> engine = VectorEngine("pong", frameskip=4, repeat_action_probability=0.0,
...                       img_height=84, img_width=84, grayscale=True, stack_num=4)
>>> frame, info = engine.reset(seed=0)
>>> frame.shape, info
((4, 84, 84), {'lives': 0, 'episode_frame_number': 0, 'frame_number': 0})
>>> engine.send(1)
>>> frame, reward, terminated, truncated, info = engine.recv()
>>> reward, terminated, info["episode_frame_number"]
(0.0, False, 4)
>>> engine.observation_space
Box(0, 255, (4, 84, 84), uint8)
>>> engine.close()
"""

from __future__ import annotations

import os
from typing import Any, Literal

import ale_py
import numpy as np
from ale_py import roms
from ale_py.env import AtariEnv
from gymnasium.spaces import Box, Discrete

ObsType = Literal["rgb", "grayscale", "ram"]
Step = tuple[np.ndarray, float, bool, bool, dict[str, Any]]
SEED_LIMIT = 2**31
"""The vector engine's seeds are C ints: 0 <= seed < 2**31."""
PREPROCESSING = ("img_height", "img_width", "stack_num", "maxpool", "noop_max", "use_fire_reset",
                 "episodic_life", "reward_clipping")
"""The vector engine's preprocessing options (:class:`VectorEngine`'s keywords; their defaults
give raw frames, as ``ALE/<Game>-v5``)."""


def _plain_info(info: dict[str, Any]) -> dict[str, Any]:
    """ALE's info with plain Python numbers (``seeds`` as a list of ints)."""
    return {key: [int(v) for v in value] if isinstance(value, tuple) else int(value)
            for key, value in info.items()}


def _rom_path(game: str) -> os.PathLike[str]:
    path = roms.get_rom_path(game)
    if path is None:
        raise ValueError(f"ale-py has no ROM {game!r}")
    return path


class PythonEngine:
    """ale-py's ``AtariEnv``: ``ALE/<Game>-v5`` exactly (the step runs in :meth:`recv`)."""

    def __init__(self, game: str, *, obs_type: ObsType, frameskip: int | tuple[int, int],
                 repeat_action_probability: float, full_action_space: bool,
                 mode: int | None, difficulty: int | None, max_num_frames_per_episode: int | None):
        self.env = AtariEnv(game, obs_type=obs_type, frameskip=frameskip,
                            repeat_action_probability=repeat_action_probability,
                            full_action_space=full_action_space, mode=mode, difficulty=difficulty,
                            max_num_frames_per_episode=max_num_frames_per_episode,
                            render_mode="rgb_array")
        self.ale: ale_py.ALEInterface | None = self.env.ale
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.action_meanings: list[str] = self.env.get_action_meanings()
        self._action = 0

    def reset(self, seed: int | None) -> tuple[np.ndarray, dict[str, Any]]:
        frame, info = self.env.reset(seed=seed)
        return frame, _plain_info(dict(info))

    def send(self, action: int) -> None:
        self._action = action

    def recv(self) -> Step:
        frame, reward, terminated, truncated, info = self.env.step(self._action)
        return frame, float(reward), terminated, truncated, _plain_info(dict(info))

    def screen_rgb(self) -> np.ndarray:
        """ALE's RGB screen now."""
        return self.env.ale.getScreenRGB()

    def close(self) -> None:
        self.env.close()


class VectorEngine:
    """ale-py's C++ vector engine for one session: the step runs in its thread between
    :meth:`send` and :meth:`recv`. With ``stack_num == 1`` a frame is ``(H, W[, 3])`` as ALE's;
    otherwise ``(stack_num, H, W[, 3])`` as ``AtariVectorEnv``'s."""

    ale: ale_py.ALEInterface | None = None  # the emulator lives in C++: no ALEInterface to reach

    def __init__(self, game: str, *, frameskip: int, repeat_action_probability: float,
                 full_action_space: bool = False, max_num_frames_per_episode: int | None = 108_000,
                 grayscale: bool = False, img_height: int = 210, img_width: int = 160,
                 stack_num: int = 1, maxpool: bool = False, noop_max: int = 0,
                 use_fire_reset: bool = False, episodic_life: bool = False,
                 reward_clipping: bool = False):
        self._ale = ale_py.ALEVectorInterface(
            _rom_path(game), 1, frameskip, stack_num, img_height, img_width, grayscale,
            maxpool, noop_max, use_fire_reset, episodic_life, False, reward_clipping,
            max_num_frames_per_episode or 2**31 - 1, repeat_action_probability, full_action_space,
            0, 1, -1, "NextStep")
        shape = (stack_num, img_height, img_width) + (() if grayscale else (3,))
        self._squeeze = stack_num == 1
        self.observation_space = Box(0, 255, shape[1:] if self._squeeze else shape, np.uint8)
        self.action_meanings = [action.name for action in self._ale.get_action_set()]
        self.action_space = Discrete(len(self.action_meanings))
        self._action = np.zeros(1, np.int32)
        self._strength = np.ones(1, np.float32)
        self._newest = np.zeros(shape[1:], np.uint8)
        self.episode_over = True  # until the first reset: a step would autoreset in C++

    def reset(self, seed: int | None) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None and not 0 <= seed < SEED_LIMIT:
            raise ValueError(f"engine='vector' takes seeds 0 <= seed < 2**31 (ALE's C int), got {seed}")
        frames, info = self._ale.reset(np.zeros(1, np.int64), np.array([-1 if seed is None else seed]))
        self.episode_over = False
        return self._frame(frames), self._info(info)

    def send(self, action: int) -> None:
        if self.episode_over:
            raise RuntimeError("the episode is over: reset the environment before stepping it "
                               "(engine='vector' would otherwise start a new episode unasked)")
        self._action[0] = action
        self._ale.send(self._action, self._strength)

    def recv(self) -> Step:
        frames, rewards, terminated, truncated, info = self._ale.recv()
        self.episode_over = bool(terminated[0] or truncated[0])
        return (self._frame(frames), float(rewards[0]), bool(terminated[0]), bool(truncated[0]),
                self._info(info))

    def _frame(self, frames: np.ndarray) -> np.ndarray:
        self._newest = frames[0, -1]
        return frames[0, 0] if self._squeeze else frames[0]

    def screen_rgb(self) -> np.ndarray:
        """The newest frame of the last observation, as RGB (a grayscale frame in three channels)."""
        frame = self._newest
        return np.repeat(frame[..., None], 3, axis=-1) if frame.ndim == 2 else frame

    @staticmethod
    def _info(info: dict[str, np.ndarray]) -> dict[str, Any]:
        return {"lives": int(info["lives"][0]), "episode_frame_number": int(info["episode_frame_number"][0]),
                "frame_number": int(info["frame_number"][0])}

    def close(self) -> None:
        self.__dict__.pop("_ale", None)  # its threads stop when the interface is freed
