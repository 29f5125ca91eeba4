"""The finance environment's reward as a rubric: the change of the portfolio value, scaled.

As FinRL's ``StockTradingEnv``: the reward of a step is the portfolio value after it (at the
next day's closes) minus the value before it, after transaction costs, times
``reward_scaling`` (1e-4 in FinRL's examples).

>>> from openenv_gym.envs.finance.models import FinanceObservation
>>> PortfolioChangeRubric(scaling=1e-4)(None, FinanceObservation(profit=2500.0))
0.25
"""

from __future__ import annotations

from typing import Any

from openenv_gym.server.rubrics import Rubric

REWARD_SCALING = 1e-4


class PortfolioChangeRubric(Rubric):
    """``scaling`` times the observation's ``profit`` (the step's change of portfolio value)."""

    def __init__(self, scaling: float = REWARD_SCALING) -> None:
        super().__init__()
        self.scaling = scaling

    def forward(self, action: Any, observation: Any) -> float:
        return self.scaling * observation.profit

    def state_dict(self) -> dict[str, Any]:
        return {"scaling": self.scaling}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scaling = state.get("scaling", self.scaling)
