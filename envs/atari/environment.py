"""The Atari environment: one ALE (ale-py's ``AtariEnv``, v5 semantics) per session."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Any, Literal

import numpy as np
from ale_py import Action as AleAction
from ale_py import ALEState
from ale_py.env import AtariEnv
from gymnasium.spaces import Space

from openenv_gym.server import Environment, tool
from openenv_gym.types import EnvironmentMetadata

from .models import AtariAction, AtariObservation, AtariState
from .roms import rom_id

ObsType = Literal["rgb", "grayscale", "ram"]
V5_FRAMESKIP = 4
V5_REPEAT_ACTION_PROBABILITY = 0.25
V5_MAX_NUM_FRAMES_PER_EPISODE = 108_000
SAVED_STATES = 1_000
"""Emulator states a session keeps for ``ale_restore_state`` (the oldest go first; ~8 kB each)."""


def _frameskip(frameskip: int | tuple[int, ...] | list[int]) -> int | tuple[int, int]:
    """ALE's frameskip: a number of frames, or a ``(low, high)`` range drawn from per step."""
    if isinstance(frameskip, int):
        return frameskip
    low, high = frameskip
    return (int(low), int(high))


def _plain_info(info: dict[str, Any]) -> dict[str, Any]:
    """ALE's info with plain Python numbers (``seeds`` as a list of ints)."""
    return {key: [int(v) for v in value] if isinstance(value, tuple) else int(value)
            for key, value in info.items()}


class AtariEnvironment(Environment[AtariAction, AtariObservation, AtariState]):
    """An Atari 2600 game through the Arcade Learning Environment, exactly as ``ALE/<Game>-v5``.

    The parameters and their defaults are ale-py's v5 ones; ``reset(seed=...)`` seeds the ALE
    as ``gym.make("ALE/Pong-v5").reset(seed=...)`` does, so with the same seed and actions every
    frame and reward is the same. The observation is the frame, the info ALE's
    (``lives``, ``episode_frame_number``, ``frame_number``, and ``seeds`` on a seeded reset).

    Args:
        game: a ROM id (``"pong"``, ``"space_invaders"``; ``"SpaceInvaders"`` works too).
        obs_type: ``"rgb"`` (210x160x3), ``"grayscale"`` (210x160) or ``"ram"`` (128 bytes).
        frameskip: frames per step (an int, or ``(low, high)`` for a random skip).
        repeat_action_probability: sticky actions (0.25 as v5; 0.0 for none).
        full_action_space: all 18 actions instead of the game's minimal set.
        mode, difficulty: game mode and difficulty (ALE's defaults when None).
        max_num_frames_per_episode: truncate the episode after this many frames.

    >>> env = AtariEnvironment("pong", repeat_action_probability=0.0)
    >>> obs = env.reset(seed=0)
    >>> obs.screen.shape, obs.screen.dtype, obs.metadata["lives"]
    ((210, 160, 3), dtype('uint8'), 0)
    >>> obs = env.step(AtariAction(action_id=1))
    >>> obs.reward, obs.done, obs.metadata["episode_frame_number"]
    (0.0, False, 4)
    >>> env.declared_spaces()
    {'observation': Box(0, 255, (210, 160, 3), uint8), 'action': Discrete(6)}
    """

    SUPPORTS_CONCURRENT_SESSIONS = True
    FAST_STEP = True
    RENDER_MODES = ("rgb_array", "ansi")
    RENDER_FPS = 30  # ale-py's AtariEnv.metadata["render_fps"]

    def __init__(self, game: str = "pong", *, obs_type: ObsType = "rgb",
                 frameskip: int | tuple[int, int] | list[int] = V5_FRAMESKIP,
                 repeat_action_probability: float = V5_REPEAT_ACTION_PROBABILITY,
                 full_action_space: bool = False, mode: int | None = None,
                 difficulty: int | None = None,
                 max_num_frames_per_episode: int | None = V5_MAX_NUM_FRAMES_PER_EPISODE):
        super().__init__()
        self.game = rom_id(game)
        self.obs_type = obs_type
        self.frameskip = list(frameskip) if isinstance(frameskip, tuple | list) else frameskip
        if obs_type not in ("rgb", "grayscale", "ram"):
            raise ValueError(f"obs_type must be 'rgb', 'grayscale' or 'ram', got {obs_type!r}")
        self._ale = AtariEnv(self.game, obs_type=obs_type,
                             frameskip=_frameskip(frameskip),
                             repeat_action_probability=repeat_action_probability,
                             full_action_space=full_action_space, mode=mode, difficulty=difficulty,
                             max_num_frames_per_episode=max_num_frames_per_episode,
                             render_mode="rgb_array")
        self._actions = int(self._ale.action_space.n)  # type: ignore[attr-defined]  # Discrete
        self._episode_id = str(uuid.uuid4())
        self._steps = 0
        self._episode_reward = 0.0
        self._saved: OrderedDict[str, ALEState] = OrderedDict()

    def reset(self, seed: int | None = None, episode_id: str | None = None,
              **kwargs: Any) -> AtariObservation:
        frame, info = self._ale.reset(seed=seed)
        self._episode_id = episode_id or str(uuid.uuid4())
        self._steps, self._episode_reward = 0, 0.0
        return AtariObservation(screen=frame, reward=0.0, metadata=_plain_info(dict(info)))

    def step(self, action: AtariAction, timeout_s: float | None = None,
             **kwargs: Any) -> AtariObservation:
        if action.action_id >= self._actions:
            raise ValueError(f"action_id {action.action_id} is out of range: {self.game} has "
                             f"{self._actions} actions (0..{self._actions - 1}): "
                             f"{', '.join(self.action_meanings)}")
        frame, reward, terminated, truncated, info = self._ale.step(action.action_id)
        self._steps += 1
        self._episode_reward += reward
        return AtariObservation(screen=frame, reward=float(reward), done=terminated,
                                truncated=truncated, metadata=_plain_info(dict(info)))

    @property
    def state(self) -> AtariState:
        ale = self._ale.ale
        return AtariState(episode_id=self._episode_id, step_count=self._steps, game=self.game,
                          obs_type=self.obs_type, frameskip=self.frameskip,
                          action_meanings=self.action_meanings, lives=ale.lives(),
                          episode_frame_number=ale.getEpisodeFrameNumber(),
                          frame_number=ale.getFrameNumber())

    @property
    def action_meanings(self) -> list[str]:
        """What each action index does (``NOOP``, ``FIRE``, ``RIGHT``, ...)."""
        return self._ale.get_action_meanings()

    def declared_spaces(self) -> dict[str, Space[Any]]:
        return {"observation": self._ale.observation_space, "action": self._ale.action_space}

    def render(self, mode: str = "rgb_array") -> Any:
        """The RGB screen (``"rgb_array"``), or a one-line summary (``"ansi"``)."""
        if mode == "ansi":
            return (f"{self.game}: step {self._steps}, lives {self._ale.ale.lives()}, "
                    f"episode reward {self._episode_reward:g}")
        frame: np.ndarray = self._ale.ale.getScreenRGB()
        return frame

    def get_metadata(self) -> EnvironmentMetadata:
        return EnvironmentMetadata(
            name="atari", version="0.1.0",
            description=f"Atari 2600 {self.game} through ale-py (ALE v5 semantics); actions: "
                        f"{', '.join(self.action_meanings)}")

    @tool
    def ale_ram(self) -> list[int]:
        """The console's 128 bytes of RAM (ALE's getRAM)."""
        return [int(byte) for byte in self._ale.ale.getRAM()]

    @tool
    def ale_status(self) -> dict[str, Any]:
        """ALE's lives, game_over and frame counters now."""
        ale = self._ale.ale
        return {"lives": ale.lives(), "game_over": ale.game_over(), "frame_number": ale.getFrameNumber(),
                "episode_frame_number": ale.getEpisodeFrameNumber()}

    @tool
    def ale_act(self, action: int, paddle_strength: float = 1.0) -> int:
        """One emulator frame with ALE action ``action`` (0-17, ALE's full set); its reward (ALE's act)."""
        if not 0 <= action < len(AleAction.__members__):
            raise ValueError(f"ALE actions are 0..{len(AleAction.__members__) - 1}, got {action}")
        return int(self._ale.ale.act(AleAction(action), paddle_strength))

    @tool
    def ale_clone_state(self) -> str:
        """Save the emulator's state (ALE's cloneState) in this session; its handle for ale_restore_state."""
        handle = uuid.uuid4().hex
        self._saved[handle] = self._ale.ale.cloneState()
        while len(self._saved) > SAVED_STATES:
            self._saved.popitem(last=False)
        return handle

    @tool
    def ale_restore_state(self, handle: str) -> None:
        """Restore a state saved by ale_clone_state in this session (ALE's restoreState)."""
        if handle not in self._saved:
            raise ValueError(f"no saved state {handle[:40]!r} in this session: states live in the session "
                             f"that saved them, the last {SAVED_STATES}")
        self._saved.move_to_end(handle)
        self._ale.ale.restoreState(self._saved[handle])

    def close(self) -> None:
        self._ale.close()
