"""The same rubric trees and inputs, scored by upstream's ``openenv-core`` rubrics and by ours: same numbers.

Each tree is built twice by one function that takes the rubrics module (upstream's or ours),
so the only difference is the import, as for a user porting an upstream rubric.
"""

from __future__ import annotations

import asyncio
import inspect
from types import ModuleType, SimpleNamespace

import openenv.core.rubrics as upstream
import pytest

import openenv_gym.server.rubrics as ours

pytestmark = pytest.mark.fast


def leaves(m: ModuleType) -> SimpleNamespace:
    """The leaf rubrics a test tree is made of, subclassing ``m.Rubric``."""

    class Compiles(m.Rubric):
        def forward(self, action, observation):
            return 1.0 if observation.exit_code == 0 else 0.0

    class Field(m.Rubric):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def forward(self, action, observation):
            return getattr(observation, self.name)

    class AsyncField(Field):
        async def forward(self, action, observation):
            await asyncio.sleep(0)
            return getattr(observation, self.name)

    class Won(m.ExponentialDiscountingTrajectoryRubric):
        def score_trajectory(self, trajectory):
            _, last = trajectory[-1]
            return last.outcome

    return SimpleNamespace(Compiles=Compiles, Field=Field, AsyncField=AsyncField, Won=Won)


def issue_tree(m):
    r = leaves(m)
    return m.Sequential(m.Gate(r.Compiles(), threshold=1.0), m.WeightedSum([r.Field("tests"), r.Field("style")],
                                                                          [0.8, 0.2]))


def nested_tree(m):
    r = leaves(m)
    inner = m.WeightedSum([r.Field("tests"), m.Gate(r.Field("style"), threshold=0.5)], [0.3, 0.7])
    return m.WeightedSum([m.Sequential(r.Compiles(), inner), r.Field("style"), m.Gate(r.Field("tests"), 0.25)],
                         [0.5, 0.125, 0.375])


def async_tree(m):
    r = leaves(m)
    return m.Sequential(r.Compiles(), m.WeightedSum([r.AsyncField("tests"), r.Field("style"),
                                                     m.Gate(r.AsyncField("style"), 0.3)], [0.6, 0.3, 0.1]))


def empty_sequential(m):
    return m.WeightedSum([m.Sequential(), leaves(m).Field("tests")], [0.5, 0.5])


TREES = {"issue": issue_tree, "nested": nested_tree, "async": async_tree, "empty-sequential": empty_sequential}
OBSERVATIONS = [
    SimpleNamespace(exit_code=0, tests=0.9, style=0.1),
    SimpleNamespace(exit_code=0, tests=0.3, style=0.7),
    SimpleNamespace(exit_code=1, tests=1.0, style=1.0),
    SimpleNamespace(exit_code=0, tests=0.0, style=0.5),
    SimpleNamespace(exit_code=0, tests=0.2, style=0.0),
    SimpleNamespace(exit_code=0, tests=1.0, style=1.0),
]


def run(rubric, action, observation):
    """Score like an environment would: in a running loop if the tree is async, else without one."""
    if any(inspect.iscoroutinefunction(r.forward) for r in (rubric, *rubric.rubrics())):
        async def awaited():
            result = rubric(action, observation)
            return await result if inspect.isawaitable(result) else result
        return asyncio.run(awaited())
    return rubric(action, observation)


def last_scores(rubric):
    return {path: r.last_score for path, r in rubric.named_rubrics()}


@pytest.mark.parametrize("build", TREES.values(), ids=TREES.keys())
def test_trees_score_the_same_and_leave_the_same_last_scores(build):
    theirs, mine = build(upstream), build(ours)
    assert [p for p, _ in theirs.named_rubrics()] == [p for p, _ in mine.named_rubrics()]
    for observation in OBSERVATIONS:
        assert run(mine, "code", observation) == run(theirs, "code", observation)
        assert last_scores(mine) == last_scores(theirs)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.99, 1.0])
@pytest.mark.parametrize("outcome", [1.0, 0.5, 0.0])
def test_trajectory_discounting_gives_the_same_rewards_and_credit(gamma, outcome):
    theirs = leaves(upstream).Won(gamma=gamma, intermediate_reward=0.05)
    mine = leaves(ours).Won(gamma=gamma, intermediate_reward=0.05)
    for episode in range(2):
        steps = [SimpleNamespace(done=t == 4 + episode, outcome=outcome) for t in range(5 + episode)]
        assert [mine(t, o) for t, o in enumerate(steps)] == [theirs(t, o) for t, o in enumerate(steps)]
        assert mine.compute_step_rewards() == theirs.compute_step_rewards()
        assert mine.state_dict() == theirs.state_dict()
        mine.reset()
        theirs.reset()


def test_llm_judge_parses_answers_the_same():
    class Client:
        async def complete(self, prompt):
            return prompt.split("|")[1]

    answers = ["Score: 0.8", "7", "1.5 stars", "-0.2", "no score", "0.25 then 0.9", "3.", ""]
    for normalize in (True, False):
        kwargs = {"default_score": 0.3, "normalize": normalize}
        theirs = upstream.LLMJudge("judge |{action}|", Client(), **kwargs)
        mine = ours.LLMJudge("judge |{action}|", Client(), **kwargs)
        for answer in answers:
            assert asyncio.run(mine(answer, None)) == asyncio.run(theirs(answer, None)), answer
        assert mine.state_dict() == theirs.state_dict()


def test_the_public_names_match_upstreams():
    assert set(upstream.__all__) <= set(ours.__all__)
