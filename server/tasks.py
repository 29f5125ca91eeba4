"""Upstream's task API: the tasks of environments that have some, over HTTP.

An environment with tasks implements upstream's five methods (``list_splits()``,
``list_tasks(split)``, ``num_tasks(split)``, ``get_task(split, index)``,
``get_task_range(split, start, stop)``), directly or through :class:`TaskSet`. The server
then answers, as upstream OpenEnv 0.10 (same paths, bodies and replies):

=============================  ======================================  ==============================
route                          body                                    reply
=============================  ======================================  ==============================
``GET /list_environments``                                             ``["coding"]``
``GET /{env}/splits``                                                  ``[{"name", "type"}, ...]``
``POST /{env}/tasks``          ``{"split"}``                           ``{"tasks": [...], "env_name"}``
``POST /{env}/num_tasks``      ``{"split"}``                           ``{"num_tasks": n}``
``POST /{env}/task``           ``{"split", "index"}``                  ``{"task": {...}}``
``POST /{env}/task_range``     ``{"split", "start"?, "stop"?}``        ``{"tasks": [...]}``
=============================  ======================================  ==============================

``{env}`` is the server's environment name (any case; another name: 404). An environment
without the method: 501; an index out of range: 400 ``"Invalid task index"``; an unknown split
(our environments raise ``ValueError``): 400 with its message, where upstream answers 500.
Each call uses a fresh environment instance, closed afterwards, as upstream; unlike upstream,
it counts toward the capacity and the client's limit while the call runs (503 or 429 when
full: ``.http_limits``). The routes exist in both server modes.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from openenv_gym.errors import did_you_mean

from .environment import Environment
from .http_limits import REFUSALS, client_of, http_errors

if TYPE_CHECKING:
    from .sessions import SessionManager

SPLIT_TYPES = ("train", "validation", "test")


class TaskError(BaseModel):
    """An error reply of the task API, as FastAPI writes it."""

    detail: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": TaskError, "description": "Invalid task index, or an unknown split"},
    404: {"model": TaskError, "description": "Unknown environment name"},
    501: {"model": TaskError, "description": "The environment has no such task method"},
    **REFUSALS,
}


class _TaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    split: str = Field(description="Task split name")


class ListTasksRequest(_TaskRequest):
    """``POST /{env}/tasks`` and ``/num_tasks``."""


class GetTaskRequest(_TaskRequest):
    """``POST /{env}/task``."""

    index: int = Field(description="Task index within the split")


class GetTaskRangeRequest(_TaskRequest):
    """``POST /{env}/task_range``."""

    start: int | None = Field(default=None, description="Inclusive start index")
    stop: int | None = Field(default=None, description="Exclusive stop index")


def normalize_split(split: Any) -> dict[str, Any]:
    """A split as ``{"name", "type"}`` (upstream's rule for a bare name).

    >>> normalize_split("train"), normalize_split("hard")
    ({'name': 'train', 'type': 'train'}, {'name': 'hard', 'type': 'validation'})
    """
    if isinstance(split, BaseModel):
        return split.model_dump(mode="json")
    if isinstance(split, Mapping):
        return dict(split)
    name = str(split)
    return {"name": name, "type": name if name in SPLIT_TYPES else "validation"}


class TaskSet:
    """Upstream's five task methods over tasks an environment holds as plain dicts.

    A subclass implements :meth:`task_splits`. The first split is the default of
    :meth:`task_at` (what ``reset(task_index=i)`` uses).

    >>> class Quiz(TaskSet):
    ...     def task_splits(self):
    ...         return {"train": [{"q": "2+2"}, {"q": "3*3"}]}
    >>> quiz = Quiz()
    >>> quiz.list_splits(), quiz.num_tasks("train"), quiz.get_task_range("train", 1)
    ([{'name': 'train', 'type': 'train'}], 2, [{'q': '3*3'}])
    >>> quiz.task_at(None, 0)
    {'q': '2+2'}
    >>> quiz.get_task("trian", 0)
    Traceback (most recent call last):
    ...
    ValueError: unknown split 'trian'. Did you mean 'train'? Splits: ['train']
    """

    def task_splits(self) -> Mapping[str, Sequence[dict[str, Any]]]:
        """Each split's name and its tasks, in order."""
        raise NotImplementedError

    def list_splits(self) -> list[dict[str, Any]]:
        return [normalize_split(name) for name in self.task_splits()]

    def list_tasks(self, split: str) -> list[dict[str, Any]]:
        return list(self._tasks(split))

    def num_tasks(self, split: str) -> int:
        return len(self._tasks(split))

    def get_task(self, split: str, index: int) -> dict[str, Any]:
        tasks = self._tasks(split)
        if not 0 <= index < len(tasks):
            raise IndexError(f"task index {index} is out of range: split {split!r} has {len(tasks)} "
                             f"tasks (0-{len(tasks) - 1})")
        return tasks[index]

    def get_task_range(self, split: str, start: int | None = None,
                       stop: int | None = None) -> list[dict[str, Any]]:
        return list(self._tasks(split)[start:stop])

    def task_at(self, split: str | None, index: int) -> dict[str, Any]:
        """Task ``index`` of ``split`` (default: the first split)."""
        return self.get_task(split if split is not None else next(iter(self.task_splits())), index)

    def _tasks(self, split: str) -> Sequence[dict[str, Any]]:
        splits = self.task_splits()
        if split not in splits:
            raise ValueError(f"unknown split {split!r}.{did_you_mean(split, list(splits))} "
                             f"Splits: {list(splits)}")
        return splits[split]


def task_router(manager: SessionManager, served: str) -> APIRouter:
    """The task API's routes for the environments ``manager`` makes, served as ``served``."""
    router = APIRouter(tags=["Task API"], responses=_ERRORS)

    async def call(request: Request, name: str, requested: str, *args: Any) -> Any:
        if requested.lower() != served.lower():
            raise HTTPException(404, detail=f"unknown environment {requested!r}")
        with http_errors():
            async with manager.temporary_env(client_of(request)) as env:
                return await _call_task_method(env, name, *args)

    @router.get("/list_environments")
    async def list_environments() -> list[str]:
        return [served]

    @router.get("/{env_name}/splits")
    async def list_splits(http: Request, env_name: str) -> list[dict[str, Any]]:
        return [normalize_split(split) for split in await call(http, "list_splits", env_name)]

    @router.post("/{env_name}/tasks")
    async def list_tasks(http: Request, env_name: str, request: ListTasksRequest) -> dict[str, Any]:
        return {"tasks": await call(http, "list_tasks", env_name, request.split), "env_name": served}

    @router.post("/{env_name}/num_tasks")
    async def num_tasks(http: Request, env_name: str, request: ListTasksRequest) -> dict[str, Any]:
        return {"num_tasks": await call(http, "num_tasks", env_name, request.split)}

    @router.post("/{env_name}/task")
    async def get_task(http: Request, env_name: str, request: GetTaskRequest) -> dict[str, Any]:
        return {"task": await call(http, "get_task", env_name, request.split, request.index)}

    @router.post("/{env_name}/task_range")
    async def get_task_range(http: Request, env_name: str, request: GetTaskRangeRequest) -> dict[str, Any]:
        return {"tasks": await call(http, "get_task_range", env_name, request.split, request.start,
                                    request.stop)}

    return router


async def _call_task_method(env: Environment, name: str, *args: Any) -> Any:
    """``name(*args)`` on ``env`` (a fresh environment); errors as upstream's statuses."""
    try:
        method = getattr(env, name, None)
        if not callable(method):
            raise NotImplementedError
        result = await run_in_threadpool(method, *args)
        return await result if inspect.isawaitable(result) else result
    except NotImplementedError as exc:
        raise HTTPException(501, detail=f"{name} is not supported for this environment") from exc
    except IndexError as exc:
        raise HTTPException(400, detail="Invalid task index") from exc
    except ValueError as exc:
        raise HTTPException(400, detail=str(exc)) from exc
