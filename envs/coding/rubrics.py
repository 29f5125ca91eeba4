"""The coding environment's reward as a rubric: the fraction of the task's tests that pass.

>>> from openenv_gym.envs.coding.models import CodingAction, CodingObservation
>>> TestsPassedRubric()(CodingAction(code=""), CodingObservation(tests_passed=3, tests_total=4))
0.75
>>> TestsPassedRubric()(CodingAction(code=""), CodingObservation())  # a free REPL
0.0
"""

from __future__ import annotations

from typing import Any

from openenv_gym.server.rubrics import Rubric


class TestsPassedRubric(Rubric):
    """``tests_passed / tests_total`` of the observation; 0.0 without tests."""

    __test__ = False  # not a pytest class, despite its name

    def forward(self, action: Any, observation: Any) -> float:
        total = observation.tests_total
        return observation.tests_passed / total if total else 0.0
