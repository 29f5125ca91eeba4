"""The ``Environment`` base class that every OpenEnv environment implements.

Same contract as upstream's ``openenv.core.env_server.Environment``: ``reset``, ``step`` and the
``state`` property, async variants that default to the sync ones, ``get_metadata`` and
``close``. Ours adds :meth:`Environment.render` (a text rendering, served to Gym's
``render_mode="ansi"``) and MCP-style tools (methods marked with :func:`~.tools.tool`).

Rewards may come from a rubric (``openenv_gym.server.rubrics``): pass ``rubric=`` to
``__init__`` and the server applies it for you, on every step (``obs.reward``, and the named
scores in ``info["rubric"]``) and reset; upstream's ``_apply_rubric`` / ``_reset_rubric``
helpers work too, for ported environments, and the server then does not apply it again.

>>> from openenv_gym.types import Action, Observation, State
>>> class Add(Action):
...     delta: int
>>> class Value(Observation):
...     value: int = 0
>>> class Counter(Environment[Add, Value, State]):
...     SUPPORTS_CONCURRENT_SESSIONS = True
...     def __init__(self):
...         super().__init__()
...         self._state, self._value = State(), 0
...     def reset(self, seed=None, episode_id=None, **kwargs):
...         self._state, self._value = State(episode_id=episode_id), 0
...         return Value(value=0)
...     def step(self, action, timeout_s=None, **kwargs):
...         self._state.step_count += 1
...         self._value += action.delta
...         return Value(value=self._value, reward=action.delta, done=self._value >= 3)
...     @property
...     def state(self):
...         return self._state
>>> env = Counter()
>>> env.reset().value, env.step(Add(delta=3)).done
(0, True)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from gymnasium.spaces import Space

from openenv_gym.types import Action, EnvironmentMetadata, Observation, State

from .rubrics import Rubric, RubricScorer
from .tools import ToolBox

ActT = TypeVar("ActT", bound=Action)
ObsT = TypeVar("ObsT", bound=Observation)
StateT = TypeVar("StateT", bound=State)
EnvT = TypeVar("EnvT", bound="Environment[Any, Any, Any]")


class Environment(ABC, Generic[ActT, ObsT, StateT]):
    """One environment instance; the server creates one per WebSocket session.

    Class attributes a subclass may set:
        SUPPORTS_CONCURRENT_SESSIONS: instances are independent, so one server may hold many
            sessions (otherwise its capacity is one session).
        FAST_STEP: ``reset``/``step`` return within microseconds and never block, so the
            server calls them on its event loop instead of handing them to a worker thread.
            May be set per instance where it depends on the configuration (chess: on unless
            a Stockfish opponent thinks).
        RENDER_MODES: what :meth:`render` can produce (``"ansi"``, ``"rgb_array"``).
        RENDER_FPS: the rate a viewer or a video recorder should show renders at (Gymnasium's
            ``metadata["render_fps"]``); 4 by default, as Gymnasium's text environments.
        RESET_OBSERVATION: the model :meth:`reset` returns where it differs from the step
            observation (a task's question before the answers' feedback); served in
            ``GET /schema`` as ``reset_observation``, as upstream's
            ``create_app(..., reset_observation_cls=...)``. Gym clients then observe the fields
            of both models. ``None`` (default): reset returns the step observation model.
        RUBRIC_FALLBACK: the reward of a step whose rubric raised, returned a non-number or
            timed out (the failure is named in ``info["rubric_errors"]``).
        RUBRIC_TIMEOUT_S: how long an async rubric (an LLM judge) may take per step.
        RUBRIC_INFO: report every rubric's score in ``info["rubric"]`` each step; trajectory
            credit (``info["rubric_step_rewards"]``) and errors are reported regardless.

    Args:
        rubric: computes each step's reward; the server applies it (see the module docstring).
    """

    SUPPORTS_CONCURRENT_SESSIONS: ClassVar[bool] = False
    FAST_STEP: bool = False  # a class default; an instance may set its own (chess)
    RENDER_MODES: ClassVar[tuple[str, ...]] = ("ansi",)
    RENDER_FPS: ClassVar[int | None] = 4
    RESET_OBSERVATION: ClassVar[type[Observation] | None] = None
    RUBRIC_FALLBACK: ClassVar[float] = 0.0
    RUBRIC_TIMEOUT_S: ClassVar[float] = 60.0
    RUBRIC_INFO: ClassVar[bool] = True

    rubric: Rubric | None

    def __init__(self, *, rubric: Rubric | None = None) -> None:
        self.tools = ToolBox.of(self)
        if rubric is not None or not hasattr(self, "rubric"):  # keep one a subclass set before
            self.rubric = rubric

    @abstractmethod
    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> ObsT:
        """Start a new episode and return its first observation."""

    @abstractmethod
    def step(self, action: ActT, timeout_s: float | None = None, **kwargs: Any) -> ObsT:
        """Apply one action and return the next observation (with reward and done)."""

    @property
    @abstractmethod
    def state(self) -> StateT:
        """The episode's state (``episode_id``, ``step_count`` and the env's own fields)."""

    @classmethod
    def step_batch(cls: type[EnvT], envs: Sequence[EnvT], actions: Sequence[Any]) -> list[Any]:
        """Step several instances of this class, one action each: the sessions of a ``batch``
        frame whose environments answer inline (``FAST_STEP``). Returns each instance's
        observation, or the exception its step raised (that item alone fails).

        By default a loop over :meth:`step`; override it where stepping many instances
        together is cheaper (a vectorized simulator, observations built in one call). The
        server scores each step with its rubric afterwards, unless the step did.
        """
        results: list[Any] = []
        for env, action in zip(envs, actions, strict=True):
            try:
                results.append(env.step(action))
            except Exception as exc:  # this item's error, returned: the others' steps stand
                results.append(exc)
        return results

    async def reset_async(self, seed: int | None = None, episode_id: str | None = None,
                          **kwargs: Any) -> ObsT:
        """Async variant of :meth:`reset`; override it for natively async environments."""
        return self.reset(seed=seed, episode_id=episode_id, **kwargs)

    async def step_async(self, action: ActT, timeout_s: float | None = None,
                         **kwargs: Any) -> ObsT:
        """Async variant of :meth:`step`; override it for natively async environments."""
        return self.step(action, timeout_s=timeout_s, **kwargs)

    @property
    def is_async(self) -> bool:
        """True if the subclass overrides :meth:`reset_async` or :meth:`step_async`."""
        cls = type(self)
        return (cls.reset_async is not Environment.reset_async
                or cls.step_async is not Environment.step_async)

    def declared_spaces(self) -> dict[str, Space[Any]]:
        """Exact Gymnasium spaces, ``{"observation": ..., "action": ...}`` (either may be left out).

        Declare them where the models cannot say it: image shapes and dtypes, a discrete
        move encoding, bounded boards. The ``action`` space is that of the action's single
        field, or a ``Dict`` over its fields; the ``observation`` space a ``Dict`` over the
        observation's fields, or (another space) that of its single field, which is then the
        Gym observation (an Atari frame). By default none: clients derive spaces from the
        JSON Schemas.
        """
        return {}

    def render(self, mode: str = "ansi") -> Any:
        """A rendering in one of :attr:`RENDER_MODES`: text for ``"ansi"``, an RGB array for
        ``"rgb_array"``; ``None`` if there is none (Gym users then get the observation as JSON)."""
        return None

    @property
    def rubric_scorer(self) -> RubricScorer | None:
        """What applies :attr:`rubric` to this instance's steps; ``None`` without a rubric."""
        rubric = getattr(self, "rubric", None)
        if rubric is None:
            return None
        scorer: RubricScorer | None = self.__dict__.get("_rubric_scorer")
        if scorer is None or scorer.rubric is not rubric:
            scorer = RubricScorer(rubric, fallback=self.RUBRIC_FALLBACK, timeout_s=self.RUBRIC_TIMEOUT_S,
                                  report=self.RUBRIC_INFO, owner=type(self).__name__)
            self.__dict__["_rubric_scorer"] = scorer
        return scorer

    def _apply_rubric(self, action: ActT, observation: ObsT) -> float:
        """The rubric's reward for a step (0.0 without a rubric), as upstream's helper.

        Only for ported environments: the server applies the rubric itself, and does not apply
        it again after a step that called this.
        """
        scorer = self.rubric_scorer
        return 0.0 if scorer is None else scorer.score(action, observation)

    def _score(self, action: ActT, observation: ObsT) -> ObsT:
        """Score the step with the rubric now, as the server would: ``observation.reward`` is set
        (and ``info`` annotated); the server then leaves the step alone. For environments that
        are also stepped directly, without a server, and want their reward there too."""
        scorer = self.rubric_scorer
        if scorer is not None and not scorer.is_async:
            scorer.begin()
            scorer.finish(action, observation)
        return observation

    async def _apply_rubric_async(self, action: ActT, observation: ObsT) -> float:
        """:meth:`_apply_rubric` for ``step_async`` (awaits async rubrics, within the timeout)."""
        scorer = self.rubric_scorer
        return 0.0 if scorer is None else await scorer.score_async(action, observation)

    def _reset_rubric(self) -> None:
        """Reset every rubric of the tree, as upstream's helper (the server does it on reset)."""
        scorer = self.rubric_scorer
        if scorer is not None:
            scorer.reset()

    async def _reset_rubric_async(self) -> None:
        """:meth:`_reset_rubric` for ``reset_async``."""
        self._reset_rubric()

    def get_metadata(self) -> EnvironmentMetadata:
        """Name, description and version, served at ``GET /metadata``."""
        return EnvironmentMetadata(name=type(self).__name__, description=(type(self).__doc__ or "").strip())

    def close(self) -> None:
        """Release what the instance holds (processes, files); called once per session."""
