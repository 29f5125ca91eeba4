"""Rubrics: rewards computed from actions and observations, composable like ``torch.nn`` modules.

The same API as upstream OpenEnv's ``openenv.core.rubrics`` (an upstream rubric ports by
changing its import), applied for the environment author: pass ``rubric=`` to
``Environment.__init__`` and the server scores every step, resets the rubric with every
episode, and reports each rubric's score to Gym users in ``info["rubric"]``. See
``docs/rubrics.md``.

>>> from openenv_gym.server.rubrics import Gate, Rubric, Sequential, WeightedSum
>>> class Fixed(Rubric):
...     def __init__(self, score):
...         super().__init__()
...         self.score = score
...     def forward(self, action, observation) -> float:
...         return self.score
>>> rubric = Sequential(Gate(Fixed(1.0)), WeightedSum([Fixed(0.9), Fixed(0.0)], [0.8, 0.2]))
>>> round(rubric("print('hi')", None), 2)
0.72
"""

from .base import InvalidScoreError, Rubric
from .chat_client import ChatClient, ChatError
from .containers import Gate, RubricDict, RubricList, Sequential, WeightedSum
from .llm_judge import LLMJudge
from .scoring import RubricScorer
from .trajectory import ExponentialDiscountingTrajectoryRubric, TrajectoryRubric

__all__ = [
    "ChatClient",
    "ChatError",
    "ExponentialDiscountingTrajectoryRubric",
    "Gate",
    "InvalidScoreError",
    "LLMJudge",
    "Rubric",
    "RubricDict",
    "RubricList",
    "RubricScorer",
    "Sequential",
    "TrajectoryRubric",
    "WeightedSum",
]
