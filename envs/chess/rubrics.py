"""Chess's win/loss as a trajectory rubric: the outcome, credited back over the game's moves.

The environment's own rewards stay (outcome at the end, penalties for illegal moves); the
rubric adds the discounted per-move credit of the outcome, which a Gym user receives in
``info["rubric_step_rewards"]`` on the last step of a game (upstream computes it but drops it).

>>> from types import SimpleNamespace as Obs
>>> rubric = ChessOutcomeRubric(gamma=0.5)
>>> [rubric(None, Obs(reward=r, done=d)) for r, d in [(0.0, False), (0.0, False), (1.0, True)]]
[0.0, 0.0, 1.0]
>>> rubric.compute_step_rewards()
[0.25, 0.5, 1.0]
"""

from __future__ import annotations

from typing import Any

from openenv_gym.server.rubrics import ExponentialDiscountingTrajectoryRubric


class ChessOutcomeRubric(ExponentialDiscountingTrajectoryRubric):
    """+1 / -1 / 0 from the agent's side when the game ends, discounted by ``gamma`` per move."""

    def score_trajectory(self, trajectory: list[tuple[Any, Any]]) -> float:
        _, last = trajectory[-1]
        return float(last.reward or 0.0)
