"""Delayed rewards: rubrics that score a whole episode once it is done.

Same semantics as upstream's ``openenv.core.rubrics.trajectory``: a :class:`TrajectoryRubric`
records each ``(action, observation)`` and returns ``intermediate_reward`` until an observation
has ``done``, then ``score_trajectory(trajectory)``. ``compute_step_rewards()`` spreads the
outcome over the steps (credit assignment). Served by an environment, that per-step credit
reaches the Gym user in ``info["rubric_step_rewards"]`` on the episode's last step (upstream
keeps it on the server).

>>> from types import SimpleNamespace as Obs
>>> class Won(ExponentialDiscountingTrajectoryRubric):
...     def score_trajectory(self, trajectory):
...         _, last = trajectory[-1]
...         return 1.0 if last.won else 0.0
>>> rubric = Won(gamma=0.5)
>>> [rubric(move, Obs(done=move == "mate", won=True)) for move in ("e4", "Qh5", "mate")]
[0.0, 0.0, 1.0]
>>> rubric.compute_step_rewards()
[0.25, 0.5, 1.0]
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from .base import Rubric

Trajectory = list[tuple[Any, Any]]


class TrajectoryRubric(Rubric):
    """Scores an episode from its whole trajectory; ``intermediate_reward`` until it is done.

    Subclasses implement :meth:`score_trajectory` and :meth:`compute_step_rewards`. The
    trajectory is kept in memory until :meth:`reset` (the environment resets it with each
    episode); observations holding large arrays are kept too.
    """

    def __init__(self, intermediate_reward: float = 0.0) -> None:
        super().__init__()
        self.intermediate_reward = intermediate_reward
        self._trajectory: Trajectory = []

    def forward(self, action: Any, observation: Any) -> float:
        self._trajectory.append((action, observation))
        if getattr(observation, "done", False):
            return self.score_trajectory(self._trajectory)
        return self.intermediate_reward

    @abstractmethod
    def score_trajectory(self, trajectory: Trajectory) -> float:
        """The episode's score (typically 0.0 to 1.0); called on its ``done`` step."""

    @abstractmethod
    def compute_step_rewards(self) -> list[float]:
        """One reward per recorded step: the credit each step gets for the outcome."""

    def reset(self) -> None:
        """Forget the trajectory (a new episode starts)."""
        self._trajectory = []

    @property
    def trajectory(self) -> Trajectory:
        """A copy of the recorded ``(action, observation)`` pairs."""
        return list(self._trajectory)

    def state_dict(self) -> dict[str, Any]:
        return {"intermediate_reward": self.intermediate_reward}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "intermediate_reward" in state:
            self.intermediate_reward = state["intermediate_reward"]


class ExponentialDiscountingTrajectoryRubric(TrajectoryRubric):
    """Step ``t`` of ``T`` gets ``gamma ** (T - 1 - t) * R_final`` (later steps get more).

    ``gamma=1`` gives every step the outcome, ``gamma=0`` only the last one.

    Raises:
        ValueError: ``gamma`` is outside ``[0, 1]``.
    """

    def __init__(self, gamma: float = 0.99, intermediate_reward: float = 0.0) -> None:
        super().__init__(intermediate_reward=intermediate_reward)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.gamma = gamma

    def compute_step_rewards(self) -> list[float]:
        if not self._trajectory:
            return []
        final = self.score_trajectory(self._trajectory)
        steps = len(self._trajectory)
        return [final * (self.gamma ** (steps - 1 - t)) for t in range(steps)]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "gamma": self.gamma}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "gamma" in state:
            self.gamma = state["gamma"]
