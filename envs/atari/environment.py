"""The Atari environment: one ALE per session, on ale-py's Python or C++ vector engine."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

from ale_py import Action as AleAction
from ale_py import ALEInterface, ALEState
from gymnasium.spaces import Space

from openenv_gym.server import Environment, tool
from openenv_gym.types import EnvironmentMetadata

from .engines import PREPROCESSING, ObsType, PythonEngine, VectorEngine
from .models import AtariAction, AtariObservation, AtariState
from .roms import rom_id

Engine = Literal["python", "vector"]
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


class AtariEnvironment(Environment[AtariAction, AtariObservation, AtariState]):
    """An Atari 2600 game through the Arcade Learning Environment, exactly as ``ALE/<Game>-v5``.

    The parameters and their defaults are ale-py's v5 ones; ``reset(seed=...)`` seeds the ALE
    as ``gym.make("ALE/Pong-v5").reset(seed=...)`` does, so with the same seed and actions every
    frame and reward is the same. The observation is the frame, the info ALE's
    (``lives``, ``episode_frame_number``, ``frame_number``, and ``seeds`` on a seeded reset).

    ``engine="vector"`` runs the session on ale-py's C++ vector engine instead (what
    ``AtariVectorEnv`` runs; :mod:`.engines`): a server's sessions then step on every core at
    once, and the frames can be preprocessed there, before they travel (``img_height``,
    ``img_width``, ``stack_num``, ``maxpool``, ``noop_max``, ``use_fire_reset``,
    ``episodic_life``, ``reward_clipping``; ``obs_type`` "rgb" or "grayscale"). Frames, rewards
    and infos are then ``AtariVectorEnv``'s for the same settings and seeds.

    Args:
        game: a ROM id (``"pong"``, ``"space_invaders"``; ``"SpaceInvaders"`` works too).
        obs_type: ``"rgb"`` (210x160x3), ``"grayscale"`` (210x160) or ``"ram"`` (128 bytes).
        frameskip: frames per step (an int, or ``(low, high)`` for a random skip).
        repeat_action_probability: sticky actions (0.25 as v5; 0.0 for none).
        full_action_space: all 18 actions instead of the game's minimal set.
        mode, difficulty: game mode and difficulty (ALE's defaults when None).
        max_num_frames_per_episode: truncate the episode after this many frames.
        engine: ``"python"`` (ale-py's ``AtariEnv``) or ``"vector"`` (its C++ vector engine).
        preprocessing: with ``engine="vector"``, ``AtariVectorEnv``'s preprocessing options.

    >>> env = AtariEnvironment("pong", repeat_action_probability=0.0)
    >>> obs = env.reset(seed=0)
    >>> obs.screen.shape, obs.screen.dtype, obs.metadata["lives"]
    ((210, 160, 3), dtype('uint8'), 0)
    >>> obs = env.step(AtariAction(action_id=1))
    >>> obs.reward, obs.done, obs.metadata["episode_frame_number"]
    (0.0, False, 4)
    >>> env.declared_spaces()
    {'observation': Box(0, 255, (210, 160, 3), uint8), 'action': Discrete(6)}
    >>> fast = AtariEnvironment("pong", engine="vector", obs_type="grayscale", img_height=84,
    ...                         img_width=84, stack_num=4)
    >>> fast.reset(seed=0).screen.shape
    (4, 84, 84)
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
                 max_num_frames_per_episode: int | None = V5_MAX_NUM_FRAMES_PER_EPISODE,
                 engine: Engine = "python", **preprocessing: Any):
        super().__init__()
        self.game = rom_id(game)
        self.obs_type = obs_type
        self.frameskip = list(frameskip) if isinstance(frameskip, tuple | list) else frameskip
        if obs_type not in ("rgb", "grayscale", "ram"):
            raise ValueError(f"obs_type must be 'rgb', 'grayscale' or 'ram', got {obs_type!r}")
        self._engine: PythonEngine | VectorEngine
        if engine == "vector":
            _check_vector(obs_type, frameskip, mode, difficulty, preprocessing)
            self._engine = VectorEngine(self.game, frameskip=int(frameskip),  # type: ignore[arg-type]
                                        repeat_action_probability=repeat_action_probability,
                                        full_action_space=full_action_space,
                                        max_num_frames_per_episode=max_num_frames_per_episode,
                                        grayscale=obs_type == "grayscale", **preprocessing)
        elif engine == "python":
            if preprocessing:
                raise TypeError(f"{', '.join(sorted(preprocessing))}: preprocessing runs in ale-py's "
                                f"vector engine: pass engine='vector' (options: {', '.join(PREPROCESSING)})")
            self._engine = PythonEngine(self.game, obs_type=obs_type, frameskip=_frameskip(frameskip),
                                        repeat_action_probability=repeat_action_probability,
                                        full_action_space=full_action_space, mode=mode, difficulty=difficulty,
                                        max_num_frames_per_episode=max_num_frames_per_episode)
        else:
            raise ValueError(f"engine must be 'python' or 'vector', got {engine!r}")
        self.engine = engine
        self._actions = len(self._engine.action_meanings)
        self._episode_id = str(uuid.uuid4())
        self._steps = 0
        self._episode_reward = 0.0
        self._info: dict[str, Any] = {"lives": 0, "episode_frame_number": 0, "frame_number": 0}
        self._saved: OrderedDict[str, ALEState] = OrderedDict()

    def reset(self, seed: int | None = None, episode_id: str | None = None,
              **kwargs: Any) -> AtariObservation:
        frame, self._info = self._engine.reset(seed)
        self._episode_id = episode_id or str(uuid.uuid4())
        self._steps, self._episode_reward = 0, 0.0
        return AtariObservation(screen=frame, reward=0.0, metadata=self._info)

    def step(self, action: AtariAction, timeout_s: float | None = None,
             **kwargs: Any) -> AtariObservation:
        self._send(action)
        return self._recv()

    @classmethod
    def step_batch(cls, envs: Sequence[AtariEnvironment], actions: Sequence[AtariAction]) -> list[Any]:
        """Every session's step started before any is awaited: vector-engine sessions step
        side by side in their C++ threads, on every core."""
        started: list[Exception | None] = []
        for env, action in zip(envs, actions, strict=True):
            try:
                env._send(action)
                started.append(None)
            except Exception as exc:  # this item's error: the others' steps stand
                started.append(exc)
        return [error or env._recv() for env, error in zip(envs, started, strict=True)]

    def _send(self, action: AtariAction) -> None:
        if action.action_id >= self._actions:
            raise ValueError(f"action_id {action.action_id} is out of range: {self.game} has "
                             f"{self._actions} actions (0..{self._actions - 1}): "
                             f"{', '.join(self.action_meanings)}")
        self._engine.send(action.action_id)

    def _recv(self) -> AtariObservation:
        frame, reward, terminated, truncated, self._info = self._engine.recv()
        self._steps += 1
        self._episode_reward += reward
        return AtariObservation(screen=frame, reward=reward, done=terminated, truncated=truncated,
                                metadata=self._info)

    @property
    def state(self) -> AtariState:
        return AtariState(episode_id=self._episode_id, step_count=self._steps, game=self.game,
                          obs_type=self.obs_type, frameskip=self.frameskip,
                          action_meanings=self.action_meanings, **self._status())

    def _status(self) -> dict[str, int]:
        """Lives and frame counters now (the last step's, on the vector engine)."""
        ale = self._engine.ale
        if ale is None:
            return dict(self._info)  # the vector engine's info is exactly these
        return {"lives": ale.lives(), "episode_frame_number": ale.getEpisodeFrameNumber(),
                "frame_number": ale.getFrameNumber()}

    @property
    def action_meanings(self) -> list[str]:
        """What each action index does (``NOOP``, ``FIRE``, ``RIGHT``, ...)."""
        return self._engine.action_meanings

    def declared_spaces(self) -> dict[str, Space[Any]]:
        return {"observation": self._engine.observation_space, "action": self._engine.action_space}

    def render(self, mode: str = "rgb_array") -> Any:
        """The RGB screen (``"rgb_array"``; on the vector engine the newest frame of the last
        observation, as it was preprocessed), or a one-line summary (``"ansi"``)."""
        if mode == "ansi":
            return (f"{self.game}: step {self._steps}, lives {self._status()['lives']}, "
                    f"episode reward {self._episode_reward:g}")
        return self._engine.screen_rgb()

    def _ale(self, what: str) -> ALEInterface:
        """The session's ALEInterface (the Python engine's); the vector engine has none to reach."""
        if self._engine.ale is None:
            raise ValueError(f"cannot {what} with engine='vector': its emulator lives in C++ "
                             f"(use engine='python' for ALE's own interface)")
        return self._engine.ale

    def get_metadata(self) -> EnvironmentMetadata:
        return EnvironmentMetadata(
            name="atari", version="0.1.0",
            description=f"Atari 2600 {self.game} through ale-py (ALE v5 semantics); actions: "
                        f"{', '.join(self.action_meanings)}")

    @tool
    def ale_ram(self) -> list[int]:
        """The console's 128 bytes of RAM (ALE's getRAM)."""
        return [int(byte) for byte in self._ale("read the RAM").getRAM()]

    @tool
    def ale_status(self) -> dict[str, Any]:
        """ALE's lives, game_over and frame counters now."""
        return {"game_over": self._ale("read the status").game_over(), **self._status()}

    @tool
    def ale_act(self, action: int, paddle_strength: float = 1.0) -> int:
        """One emulator frame with ALE action ``action`` (0-17, ALE's full set); its reward (ALE's act)."""
        if not 0 <= action < len(AleAction.__members__):
            raise ValueError(f"ALE actions are 0..{len(AleAction.__members__) - 1}, got {action}")
        return int(self._ale("act").act(AleAction(action), paddle_strength))

    @tool
    def ale_clone_state(self) -> str:
        """Save the emulator's state (ALE's cloneState) in this session; its handle for ale_restore_state."""
        handle = uuid.uuid4().hex
        self._saved[handle] = self._ale("clone the state").cloneState()
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
        self._ale("restore a state").restoreState(self._saved[handle])

    def close(self) -> None:
        self._engine.close()


def _check_vector(obs_type: str, frameskip: Any, mode: int | None, difficulty: int | None,
                  preprocessing: dict[str, Any]) -> None:
    """What ale-py's vector engine cannot do, named."""
    unknown = sorted(set(preprocessing) - set(PREPROCESSING))
    if unknown:
        raise TypeError(f"unknown option{'s' * (len(unknown) > 1)} {', '.join(unknown)} for "
                        f"engine='vector': it takes {', '.join(PREPROCESSING)}")
    if obs_type == "ram":
        raise ValueError("engine='vector' gives screens ('rgb' or 'grayscale'), not 'ram': "
                         "use engine='python'")
    if not isinstance(frameskip, int):
        raise ValueError(f"engine='vector' takes a fixed frameskip (an int), got {frameskip!r}")
    if mode is not None or difficulty is not None:
        raise ValueError("engine='vector' plays the default mode and difficulty: use engine='python'")
