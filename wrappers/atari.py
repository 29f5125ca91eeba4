"""``AtariGymEnv``: the Gym face of an Atari session, with what Gymnasium's Atari wrappers read.

``gymnasium.wrappers.AtariPreprocessing`` reaches into ``env.unwrapped`` for ``ale``
(``lives()``, ``getScreenGrayscale(out)``, ``getScreenRGB(out)``), ``_frameskip`` and
``get_action_meanings()``. Here ``ale`` is an :class:`AleView`: the last observation and info
of the session, so the wrapper costs no extra round trip for the frame it already has (a
screen of another kind is converted exactly, or rendered by the server).

>>> import gymnasium as gym, openenv_gym
>>> env = gym.make("openenv/atari-breakout-v0", frameskip=1, provider="inprocess")
>>> obs, info = env.reset(seed=0)
>>> ale = env.unwrapped.ale
>>> ale.lives(), ale.getScreenGrayscale().shape, env.unwrapped.get_action_meanings()[:2]
(5, (210, 160), ['NOOP', 'FIRE'])
>>> env.close()

With ``opencv-python`` installed, ``AtariPreprocessing(env)`` then works as on ale-py's env.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, SupportsFloat

import numpy as np
from gymnasium.utils import seeding

from openenv_gym.envs.atari.roms import rom_id

from .env import GymEnv

_GRAY_WEIGHTS = np.array([2989, 5870, 1140], dtype=np.uint32)
"""ALE's luminance weights (x 10^4): gray = round(0.2989 R + 0.5870 G + 0.1140 B)."""


def grayscale(rgb: np.ndarray) -> np.ndarray:
    """ALE's grayscale screen computed from its RGB screen (bit-exact with ``getScreenGrayscale``).

    >>> grayscale(np.array([[[255, 255, 255], [92, 186, 92]]], dtype=np.uint8))
    array([[255, 147]], dtype=uint8)
    """
    return ((rgb.astype(np.uint32) @ _GRAY_WEIGHTS + 5000) // 10000).astype(np.uint8)


@dataclass(frozen=True)
class AleState:
    """An emulator state saved in the session by :meth:`AleView.cloneState` (ALE's ``ALEState``)."""

    handle: str


class AleView:
    """What ``ale_py.ALEInterface`` users and Gymnasium's, SB3's and Tianshou's Atari wrappers call,
    for a session.

    ``lives()`` and the screens answer from the session's last observation and info (no round
    trip); an RGB screen the observation does not hold (``obs_type`` grayscale or ram), the RAM,
    ``game_over()``, and ``act``/``cloneState``/``restoreState`` are asked of the server (the
    Atari environment's ``ale_*`` tools). After ``act`` or ``restoreState``, until the next
    ``step``/``reset``, every answer comes from the server.
    """

    OFFERED = ("lives", "game_over", "getRAM", "getScreenRGB", "getScreenGrayscale", "act", "cloneState",
               "restoreState", "getFrameNumber", "getEpisodeFrameNumber")

    def __init__(self, env: AtariGymEnv):
        self._env = env
        self._frame: np.ndarray | None = None
        self._info: dict[str, Any] = {}
        self._moved = False
        """The emulator moved since the last observation (``act``/``restoreState``)."""

    def update(self, frame: np.ndarray, info: dict[str, Any]) -> None:
        self._frame, self._info, self._moved = frame, info, False

    def _counter(self, key: str) -> int:
        return int((self._status() if self._moved else self._info).get(key, 0))

    def _status(self) -> dict[str, Any]:
        return dict(self._env.call_tool("ale_status"))

    def lives(self) -> int:
        return self._counter("lives")

    def getEpisodeFrameNumber(self) -> int:
        return self._counter("episode_frame_number")

    def getFrameNumber(self) -> int:
        return self._counter("frame_number")

    def game_over(self) -> bool:
        """Whether the game is over, asked of the server (ALE's ``game_over``)."""
        return bool(self._status()["game_over"])

    def getRAM(self, out: np.ndarray | None = None) -> np.ndarray:
        """The console's 128 bytes of RAM, written into ``out`` if given."""
        if self._env.obs_type == "ram" and not self._moved:
            return _into(out, self._frame)
        return _into(out, np.array(self._env.call_tool("ale_ram"), dtype=np.uint8))

    def getScreenRGB(self, out: np.ndarray | None = None) -> np.ndarray:
        """The RGB screen (210, 160, 3), written into ``out`` if given."""
        held = self._env.obs_type == "rgb" and not self._moved
        return _into(out, self._frame if held else self._env.screen_rgb())

    def getScreenGrayscale(self, out: np.ndarray | None = None) -> np.ndarray:
        """The grayscale screen (210, 160), written into ``out`` if given."""
        if self._env.obs_type == "grayscale" and not self._moved:
            return _into(out, self._frame)
        return _into(out, grayscale(self.getScreenRGB()))

    def act(self, action: Any, paddle_strength: float = 1.0) -> int:
        """One emulator frame with ALE action ``action`` (an ``ale_py.Action`` or 0-17); its reward.

        As ALE's ``act``: no frame skip, not an episode step (``env.step`` is).
        """
        index = int(getattr(action, "value", action))  # an ale_py.Action is not an int
        reward = self._env.call_tool("ale_act", action=index, paddle_strength=float(paddle_strength))
        self._moved = True
        return int(reward)

    def cloneState(self) -> AleState:
        """Save the emulator's state in the session (the last 1,000 are kept)."""
        return AleState(self._env.call_tool("ale_clone_state"))

    def restoreState(self, state: AleState) -> None:
        """Go back to a state :meth:`cloneState` saved in this session."""
        if not isinstance(state, AleState):
            raise TypeError("restoreState takes what this view's cloneState returned, "
                            f"not {type(state).__name__}")
        self._env.call_tool("ale_restore_state", handle=state.handle)
        self._moved = True

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the ALE runs in a server session: its view offers {', '.join(self.OFFERED)}, "
                             f"not {name!r}; step with env.step(action) (a NoFrameskip id steps one frame), "
                             "read the episode with env.unwrapped.state()")


def _into(out: np.ndarray | None, frame: np.ndarray | None) -> np.ndarray:
    if frame is None:
        raise RuntimeError("no screen yet: reset the environment first")
    if out is None:
        return np.array(frame)
    np.copyto(out, frame)
    return out


class AtariGymEnv(GymEnv):
    """An Atari session as a Gymnasium environment, usable under Gymnasium's Atari wrappers.

    Made by ``gym.make("openenv/atari-pong-v0")`` / ``gym.make("openenv/atari-v0", game=...)``;
    arguments as :class:`~openenv_gym.wrappers.GymEnv`, environment options as
    :class:`~openenv_gym.envs.atari.AtariEnvironment`. Like ale-py's ``AtariEnv`` it has
    ``ale``, ``get_action_meanings()`` and ``_frameskip``, and ``reset(seed=s)`` leaves
    ``np_random`` as ale-py's does (so ``AtariPreprocessing``'s no-op starts match too).
    """

    def __init__(self, env: str | None = "atari", **options: Any):
        if env == "atari" and options.get("base_url") is None:
            rom_id(options.get("game", "pong"))  # an unknown game fails here, before a server starts
        super().__init__(env, **options)
        try:
            described = self.state()
        except BaseException:
            self.close()
            raise
        self.game: str = described.get("game", "")
        self._frameskip: int | tuple[int, int] = _frameskip(described.get("frameskip", 4))
        self._action_meanings: list[str] = list(described.get("action_meanings", ()))
        self.obs_type = {3: "rgb", 2: "grayscale"}.get(len(self.observation_space.shape or ()), "ram")
        self.ale = AleView(self)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        if "seeds" in info:  # ale-py reseeds np_random from the seed's first word
            self._np_random, _ = seeding.np_random(int(info["seeds"][0]))
        self.ale.update(obs, info)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        self.ale.update(obs, info)
        return obs, reward, terminated, truncated, info

    def get_action_meanings(self) -> list[str]:
        """What each action index does, as ale-py's ``AtariEnv.get_action_meanings``."""
        return list(self._action_meanings)

    def screen_rgb(self) -> np.ndarray:
        """The current RGB screen, rendered by the server."""
        return np.asarray(self._client.render("rgb_array"), dtype=np.uint8)


def _frameskip(value: Any) -> int | tuple[int, int]:
    return tuple(value) if isinstance(value, list | tuple) else int(value)  # type: ignore[return-value]
