"""The :class:`Rubric` base: a reward computed from an action and its observation.

Same API as upstream's ``openenv.core.rubrics.Rubric`` (modelled on ``torch.nn.Module``):
implement ``forward`` (sync or ``async def``); calling the rubric runs the pre-hooks,
``forward`` and the post-hooks and stores ``last_score``; rubrics assigned as attributes become
children, reachable by dot path. Differences from upstream, each deliberate:

- ``last_error``: why the last call failed (``"ValueError: boom"``), or ``None``; a rubric that
  degrades gracefully (an LLM judge falling back to its default score) may set it itself.
- A score that is not a real number, or is NaN or infinite, raises :class:`InvalidScoreError`
  naming the rubric (upstream passes it on, and a parent fails somewhere further away).
- Pre-hooks of a container fire before its children run (upstream: after, on the sync path).
- A sync rubric returns a float even inside a running event loop (upstream's ``Sequential``
  returns a coroutine there); a call returns a coroutine only when something in it is async.

>>> class Shouting(Rubric):
...     def forward(self, action, observation) -> float:
...         return 1.0 if action.isupper() else 0.0
>>> class Polite(Rubric):
...     def __init__(self):
...         super().__init__()
...         self.shouting = Shouting()
...     def forward(self, action, observation) -> float:
...         return 1.0 - self.shouting(action, observation)
>>> polite = Polite()
>>> polite("HELLO", None), polite.get_rubric("shouting").last_score
(0.0, 1.0)
>>> [name for name, _ in polite.named_rubrics()]
['shouting']
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

PreHook = Callable[["Rubric", Any, Any], Any]
"""``hook(rubric, action, observation)``, called before ``forward`` (may be ``async def``)."""
PostHook = Callable[["Rubric", Any, Any, float], Any]
"""``hook(rubric, action, observation, score)``, called after ``forward`` (may be ``async def``)."""


class InvalidScoreError(ValueError):
    """A rubric's ``forward`` returned something that is not a finite real number."""


_NUMBERS = (float, int)
"""Result types that are plainly not awaitable (skips ``inspect.isawaitable`` on the hot path)."""


def describe(error: BaseException) -> str:
    """One line for logs and ``info``: ``"ValueError: boom"``.

    >>> describe(KeyError("exit_code"))
    "KeyError: 'exit_code'"
    """
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def check_score(rubric: Rubric, score: Any) -> Any:
    """``score`` itself if it is a finite real number, else :class:`InvalidScoreError`.

    >>> class Broken(Rubric):
    ...     def forward(self, action, observation):
    ...         return float("nan")
    >>> try:
    ...     Broken()("a", None)
    ... except InvalidScoreError as exc:
    ...     print(exc)
    Broken.forward returned nan; return a finite float (e.g. between 0.0 and 1.0)
    """
    if (type(score) is float or isinstance(score, numbers.Real)) and math.isfinite(score):
        return score
    raise InvalidScoreError(f"{type(rubric).__name__}.forward returned {score!r}; return a finite float "
                            f"(e.g. between 0.0 and 1.0)")


class Rubric(ABC):
    """Computes a reward from ``(action, observation)``; subclasses implement :meth:`forward`.

    Attributes:
        last_score: the score of the last successful call, or ``None``.
        last_error: why the last call failed, or ``None``.
    """

    last_score: Any
    last_error: str | None
    _rubric_children: dict[str, Rubric]
    _forward_hooks: list[PostHook]
    _forward_pre_hooks: list[PreHook]

    def __init__(self) -> None:
        object.__setattr__(self, "_rubric_children", {})
        object.__setattr__(self, "_forward_hooks", [])
        object.__setattr__(self, "_forward_pre_hooks", [])
        object.__setattr__(self, "last_score", None)
        object.__setattr__(self, "last_error", None)

    def __setattr__(self, name: str, value: Any) -> None:
        children = self.__dict__.get("_rubric_children")
        if children is None:
            raise TypeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                            f"before setting attributes (setting {name!r})")
        if isinstance(value, Rubric):
            children[name] = value
        else:
            children.pop(name, None)
        object.__setattr__(self, name, value)

    @abstractmethod
    def forward(self, action: Any, observation: Any) -> Any:
        """The score of ``action`` given ``observation`` (a float, typically 0.0 to 1.0).

        May be ``async def``; calling the rubric then returns a coroutine.
        """

    def __call__(self, action: Any, observation: Any) -> Any:
        """Run the pre-hooks, :meth:`forward` and the post-hooks; a float, or a coroutine of one."""
        if self._is_async_call():
            return self._call_async(action, observation)
        state = self.__dict__  # plain attributes: no child registration to run
        state["last_error"] = None
        try:
            for hook in self._forward_pre_hooks:
                hook(self, action, observation)
            result = self.forward(action, observation)
            if type(result) not in _NUMBERS and inspect.isawaitable(result):  # async children
                return self._call_async(action, observation, pending=result)
            state["last_score"] = score = check_score(self, result)
            for post_hook in self._forward_hooks:
                post_hook(self, action, observation, score)
            return score
        except BaseException as exc:
            state["last_error"] = describe(exc)
            raise

    async def _call_async(self, action: Any, observation: Any,
                          pending: Awaitable[Any] | None = None) -> Any:
        self.last_error = None
        try:
            if pending is None:
                for hook in self._forward_pre_hooks:
                    await _maybe_await(hook(self, action, observation))
                pending = self.forward(action, observation)
            result = await pending if inspect.isawaitable(pending) else pending
            score = check_score(self, result)
            self.last_score = score
            for post_hook in self._forward_hooks:
                await _maybe_await(post_hook(self, action, observation, score))
            return score
        except BaseException as exc:  # recorded, then re-raised (incl. cancellation on timeout)
            self.last_error = describe(exc)
            raise

    def _is_async_call(self) -> bool:
        if _has_async_forward(type(self)):
            return True
        hooks: list[Callable[..., Any]] = [*self._forward_pre_hooks, *self._forward_hooks]
        return bool(hooks) and any(map(inspect.iscoroutinefunction, hooks))

    def register_forward_hook(self, hook: PostHook) -> None:
        """Call ``hook(rubric, action, observation, score)`` after each :meth:`forward`."""
        self._forward_hooks.append(hook)

    def register_forward_pre_hook(self, hook: PreHook) -> None:
        """Call ``hook(rubric, action, observation)`` before each :meth:`forward`."""
        self._forward_pre_hooks.append(hook)

    def children(self) -> Iterator[Rubric]:
        """The immediate child rubrics."""
        yield from self._rubric_children.values()

    def named_children(self) -> Iterator[tuple[str, Rubric]]:
        """The immediate child rubrics with their attribute names."""
        yield from self._rubric_children.items()

    def rubrics(self) -> Iterator[Rubric]:
        """Every descendant rubric, depth first."""
        for child in self._rubric_children.values():
            yield child
            yield from child.rubrics()

    def named_rubrics(self, prefix: str = "") -> Iterator[tuple[str, Rubric]]:
        """Every descendant rubric with its dot path (``"rubric_1.rubric_0"``), depth first."""
        for name, child in self._rubric_children.items():
            path = f"{prefix}.{name}" if prefix else name
            yield path, child
            yield from child.named_rubrics(path)

    def get_rubric(self, path: str) -> Rubric:
        """The descendant at a dot path; ``KeyError`` naming the paths there are if it is missing."""
        current = self
        for part in path.split("."):
            if part not in current._rubric_children:
                known = [name for name, _ in self.named_rubrics()]
                raise KeyError(f"Rubric path not found: {path} (known paths: {known})")
            current = current._rubric_children[part]
        return current

    def reset(self) -> None:  # noqa: B027 (an optional override, as in nn.Module)
        """Clear per-episode state (the base has none). Environments reset every rubric of a tree."""

    def state_dict(self) -> dict[str, Any]:
        """The rubric's configuration, for checkpoints (not its per-episode state)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 (optional override)
        """Load a configuration written by :meth:`state_dict`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@functools.cache
def _has_async_forward(cls: type[Rubric]) -> bool:
    return inspect.iscoroutinefunction(cls.forward)


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value
