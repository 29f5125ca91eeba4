"""Rubrics on their own: the base (hooks, children, bad scores), each container, trajectories, the scorer."""

from __future__ import annotations

import asyncio
import math
import time
from types import SimpleNamespace

import pytest

from openenv_gym.server.rubrics import (
    ExponentialDiscountingTrajectoryRubric,
    Gate,
    InvalidScoreError,
    Rubric,
    RubricDict,
    RubricList,
    RubricScorer,
    Sequential,
    WeightedSum,
)
from openenv_gym.types import Observation

pytestmark = pytest.mark.fast


class Fixed(Rubric):
    def __init__(self, score, log=None):
        super().__init__()
        self.score, self.log = score, log

    def forward(self, action, observation):
        if self.log is not None:
            self.log.append(self.score)
        return self.score


class AsyncFixed(Fixed):
    def __init__(self, score, log=None, delay=0.0):
        super().__init__(score, log)
        self.delay = delay

    async def forward(self, action, observation):
        await asyncio.sleep(self.delay)
        return super().forward(action, observation)


class Mated(ExponentialDiscountingTrajectoryRubric):
    def score_trajectory(self, trajectory):
        return 1.0 if trajectory[-1][0] == "mate" else 0.0


def obs(done=False):
    return SimpleNamespace(done=done)


async def resolve(value):
    return await value if asyncio.iscoroutine(value) else value


# --- the base ---------------------------------------------------------------------------------

def test_hooks_run_around_forward_and_see_the_score():
    events = []
    rubric = Fixed(0.5)
    rubric.register_forward_pre_hook(lambda r, a, o: events.append(("pre", a, r.last_score)))
    rubric.register_forward_hook(lambda r, a, o, score: events.append(("post", a, score)))
    assert rubric("act", None) == 0.5 and rubric.last_score == 0.5
    assert events == [("pre", "act", None), ("post", "act", 0.5)]


async def test_async_forward_and_async_hooks_are_awaited():
    events = []

    async def post(rubric, action, observation, score):
        events.append(score)

    sync = Fixed(0.3)
    sync.register_forward_hook(post)  # an async hook makes the call async
    for rubric in (AsyncFixed(0.7), sync):
        rubric.register_forward_hook(post)
        pending = rubric("a", None)
        assert asyncio.iscoroutine(pending)
        assert await pending == rubric.score == rubric.last_score
    assert events == [0.7, 0.3, 0.3]


async def test_a_sync_tree_returns_a_float_inside_a_running_loop():
    assert Sequential(Fixed(1.0), Fixed(0.4))("a", None) == 0.4  # upstream returns a coroutine here


def test_children_register_by_attribute_and_unregister_when_replaced():
    parent = Gate(Sequential(Fixed(1.0), Gate(Fixed(0.2))))
    assert [name for name, _ in parent.named_rubrics()] == [
        "rubric", "rubric.rubric_0", "rubric.rubric_1", "rubric.rubric_1.rubric"]
    assert parent.get_rubric("rubric.rubric_1.rubric").score == 0.2
    assert [type(c).__name__ for c in parent.children()] == ["Sequential"]
    assert len(list(parent.rubrics())) == 4
    parent.rubric = None
    assert list(parent.named_children()) == []


def test_get_rubric_names_the_known_paths():
    with pytest.raises(KeyError, match=r"Rubric path not found: rubric\.nope .*'rubric_0'"):
        Sequential(Fixed(1.0)).get_rubric("rubric.nope")


def test_forgetting_super_init_is_explained():
    class Forgot(Rubric):
        def __init__(self):
            self.child = Fixed(1.0)

        def forward(self, action, observation):
            return 1.0

    with pytest.raises(TypeError, match=r"Forgot.__init__ must call super\(\).__init__\(\)"):
        Forgot()


@pytest.mark.parametrize("bad", [math.nan, math.inf, None, "0.5", [1.0]])
def test_a_score_that_is_not_a_finite_number_raises_naming_the_rubric(bad):
    rubric = Fixed(bad)
    with pytest.raises(InvalidScoreError, match=f"Fixed.forward returned {bad!r}".replace("[", r"\[")):
        rubric("a", None)
    assert rubric.last_error.startswith("InvalidScoreError") and rubric.last_score is None


def test_state_dict_is_config_only_and_round_trips():
    rubric = Mated(gamma=0.9, intermediate_reward=0.1)
    rubric("e4", obs())
    state = rubric.state_dict()
    assert state == {"intermediate_reward": 0.1, "gamma": 0.9}
    other = Mated()
    other.load_state_dict(state)
    assert (other.gamma, other.intermediate_reward, other.trajectory) == (0.9, 0.1, [])
    assert Fixed(1.0).state_dict() == {}


# --- containers -------------------------------------------------------------------------------

@pytest.mark.parametrize(("scores", "expected", "called"), [
    ([1.0, 0.5, 0.8], 0.8, [1.0, 0.5, 0.8]),
    ([1.0, 0.0, 0.8], 0.0, [1.0, 0.0]),
    ([0.0, 1.0], 0.0, [0.0]),
    ([], 1.0, []),
])
async def test_sequential_fails_fast_on_zero_else_returns_the_last_score(scores, expected, called):
    for make in (Fixed, AsyncFixed):
        log: list[float] = []
        rubric = Sequential(*(make(s, log) for s in scores))
        assert await resolve(rubric("a", None)) == expected
        assert log == called
        assert len(rubric) == len(scores)


async def test_sequential_switches_to_async_midway():
    log: list[float] = []
    rubric = Sequential(Fixed(1.0, log), AsyncFixed(0.5, log), Fixed(0.0, log), Fixed(0.9, log))
    assert await rubric("a", None) == 0.0 and log == [1.0, 0.5, 0.0]
    assert rubric[1].last_score == 0.5


@pytest.mark.parametrize(("score", "threshold", "expected"), [(0.5, 0.5, 0.5), (0.49, 0.5, 0.0), (1.0, 1.0, 1.0),
                                                               (0.99, 1.0, 0.0)])
async def test_gate_passes_the_score_at_or_above_the_threshold(score, threshold, expected):
    assert Gate(Fixed(score), threshold)("a", None) == expected
    assert await Gate(AsyncFixed(score), threshold)("a", None) == expected


def test_weighted_sum_weights_and_validation():
    rubric = WeightedSum([Fixed(1.0), Fixed(0.5)], [0.25, 0.75])
    assert rubric("a", None) == 0.625 and rubric.weights == [0.25, 0.75]
    rubric.weights.append(1.0)
    assert rubric.weights == [0.25, 0.75]
    with pytest.raises(ValueError, match=r"Number of rubrics \(2\) must match number of weights \(1\)"):
        WeightedSum([Fixed(1.0), Fixed(0.5)], [1.0])
    with pytest.raises(ValueError, match=r"Weights must sum to 1.0, got 0.9.*normalise them"):
        WeightedSum([Fixed(1.0), Fixed(0.5)], [0.5, 0.4])


async def test_weighted_sum_runs_async_children_concurrently():
    rubric = WeightedSum([AsyncFixed(1.0, delay=1.0), Fixed(0.5), AsyncFixed(0.0, delay=1.0)], [0.5, 0.25, 0.25])
    started = time.perf_counter()
    assert await rubric("a", None) == 0.625
    assert time.perf_counter() - started < 1.7  # 1 s each: side by side ~1 s, one after the other 2 s


async def test_weighted_sum_closes_started_async_children_when_a_sync_one_raises():
    class Boom(Rubric):
        def forward(self, action, observation):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        WeightedSum([AsyncFixed(1.0), Boom()], [0.5, 0.5])("a", None)  # no "never awaited" warning


def test_rubric_list_and_dict_hold_children_without_aggregating():
    items = RubricList([Fixed(0.1)])
    items.extend([Fixed(0.2)])
    assert [r.score for r in items] == [0.1, 0.2] and items[1].score == 0.2 and len(items) == 2
    named = RubricDict({"pong": Fixed(0.3)})
    named["breakout"] = Fixed(0.4)
    assert list(named) == ["pong", "breakout"] and "pong" in named and named["breakout"].score == 0.4
    assert dict(named.items())["pong"] is named.pong
    holder = Gate(named)
    assert [p for p, _ in holder.named_rubrics()] == ["rubric", "rubric.pong", "rubric.breakout"]
    for container in (items, named):
        with pytest.raises(NotImplementedError, match="within a parent rubric that defines aggregation"):
            container("a", None)


@pytest.mark.parametrize(("key", "fragment"), [("reset", "clashes with RubricDict.reset"),
                                               ("a.b", "names without dots"), ("", "names without dots")])
def test_rubric_dict_rejects_keys_that_would_break_paths_or_methods(key, fragment):
    with pytest.raises(ValueError, match=fragment):
        RubricDict({key: Fixed(1.0)})


# --- trajectories ----------------------------------------------------------------------------

def test_trajectory_rubric_rewards_the_outcome_and_discounts_the_credit():
    rubric = Mated(gamma=0.5, intermediate_reward=0.01)
    rewards = [rubric(move, obs(done=move == "mate")) for move in ("e4", "Qh5", "Bc4", "mate")]
    assert rewards == [0.01, 0.01, 0.01, 1.0]
    assert rubric.compute_step_rewards() == [0.125, 0.25, 0.5, 1.0]
    assert [a for a, _ in rubric.trajectory] == ["e4", "Qh5", "Bc4", "mate"]
    rubric.reset()
    assert rubric.trajectory == [] and rubric.compute_step_rewards() == []


@pytest.mark.parametrize("gamma", [-0.1, 1.5])
def test_gamma_outside_zero_one_is_refused(gamma):
    with pytest.raises(ValueError, match=f"gamma must be in \\[0, 1\\], got {gamma}"):
        Mated(gamma=gamma)


# --- the scorer -------------------------------------------------------------------------------

def test_the_scorer_resets_every_rubric_of_the_tree_not_only_the_root():
    inner = Mated(gamma=1.0)
    scorer = RubricScorer(WeightedSum([inner, Fixed(1.0)], [0.5, 0.5]))
    scorer.score("e4", Observation())
    assert len(inner.trajectory) == 1
    scorer.reset()
    assert inner.trajectory == []


def test_the_scorer_reports_scores_credit_and_errors_in_metadata():
    scorer = RubricScorer(Sequential(Mated(gamma=0.5), Fixed(0.5)))
    first, last = Observation(metadata={"kept": 1}), Observation(done=True)
    for action, observation in (("e4", first), ("mate", last)):
        scorer.begin()
        scorer.finish(action, observation)
    assert first.reward == 0.0 and first.metadata == {
        "kept": 1, "rubric": {"total": 0.0, "rubric_0": 0.0, "rubric_1": None}}
    assert last.reward == 0.5 and last.metadata == {
        "rubric": {"total": 0.5, "rubric_0": 1.0, "rubric_1": 0.5},
        "rubric_step_rewards": {"rubric_0": [0.5, 1.0]}}


def test_an_unreported_scorer_leaves_metadata_alone():
    scorer = RubricScorer(Fixed(0.5), report=False)
    observation = Observation(metadata={"step": 1})
    scorer.begin()
    scorer.finish("a", observation)
    assert (observation.reward, observation.metadata) == (0.5, {"step": 1})


def test_an_unreported_scorer_still_hands_out_trajectory_credit_at_the_end():
    scorer = RubricScorer(Mated(gamma=1.0), report=False)
    steps = [Observation(metadata={"step": 1}), Observation(done=True, metadata={"step": 2})]
    for action, observation in zip(("e4", "mate"), steps, strict=True):
        scorer.begin()
        scorer.finish(action, observation)
    assert [o.metadata for o in steps] == [{"step": 1}, {"step": 2, "rubric_step_rewards": {"total": [1.0, 1.0]}}]


def test_a_scorer_needs_a_rubric():
    with pytest.raises(TypeError, match="MyEnv.rubric must be a Rubric"):
        RubricScorer(lambda a, o: 1.0, owner="MyEnv")  # type: ignore[arg-type]


async def test_an_async_tree_on_the_sync_path_inside_a_loop_falls_back_with_the_fix():
    scorer = RubricScorer(AsyncFixed(0.5), fallback=-1.0)
    assert scorer.score("a", Observation()) == -1.0
    assert "call `await self._apply_rubric_async(...)` in step_async" in scorer.errors["total"]


def test_an_async_tree_on_the_sync_path_in_a_thread_without_loop_is_run_there():
    assert RubricScorer(AsyncFixed(0.5)).score("a", Observation()) == 0.5


def test_a_failing_rubric_is_logged_with_its_traceback_and_not_the_action(caplog):
    class Boom(Rubric):
        def forward(self, action, observation):
            raise RuntimeError("boom")

    scorer = RubricScorer(WeightedSum([Boom(), Fixed(1.0)], [0.5, 0.5]), fallback=-1.0)
    with caplog.at_level("WARNING", logger="openenv_gym.server.rubrics.scoring"):
        assert scorer.score("SECRET-ACTION-4711", Observation()) == -1.0
    assert "Traceback (most recent call last)" in caplog.text and "RuntimeError: boom" in caplog.text
    assert "SECRET-ACTION-4711" not in caplog.text
