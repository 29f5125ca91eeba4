"""The client of upstream's task API (``GET /{env}/splits``, ``POST /{env}/tasks``, ...).

Works with any server that has it: ours (``server/tasks.py``) and upstream OpenEnv 0.10's.
The environment name defaults to the server's first (``GET /list_environments``), the split
to the environment's first. A Gym environment lists its tasks with
``env.unwrapped.list_tasks()`` and starts one with ``env.reset(options={"task_index": i})``.

Errors: a server without the task API (404 on its routes, or 501) is a
:class:`~openenv_gym.errors.ProtocolError`; an unknown split or an index out of range an
:class:`~openenv_gym.errors.InvalidRequestError` (a ``ValueError``) with the server's words.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import AuthenticationError, InvalidRequestError, ProtocolError, TransportError


class TaskClient:
    """Upstream's task API of the server at ``base_url``.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        headers: sent with every request (e.g. ``Authorization``).
        timeout: seconds to wait for each reply.
    """

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self._headers = headers or {}
        self._timeout = timeout
        self._env: str | None = None

    def environments(self) -> list[str]:
        """``GET /list_environments``: the environment names the server serves."""
        return self._call("GET", "/list_environments")

    def splits(self) -> list[dict[str, Any]]:
        """``GET /{env}/splits``: ``[{"name": ..., "type": ...}, ...]``."""
        return self._call("GET", f"/{self._name()}/splits")

    def tasks(self, split: str | None = None) -> list[Any]:
        """``POST /{env}/tasks``: every task of ``split`` (default: the first split)."""
        return self._call("POST", f"/{self._name()}/tasks", {"split": self._split(split)})["tasks"]

    def num_tasks(self, split: str | None = None) -> int:
        """``POST /{env}/num_tasks``."""
        return self._call("POST", f"/{self._name()}/num_tasks", {"split": self._split(split)})["num_tasks"]

    def task(self, index: int, split: str | None = None) -> Any:
        """``POST /{env}/task``: task ``index`` of ``split``."""
        body = {"split": self._split(split), "index": index}
        return self._call("POST", f"/{self._name()}/task", body)["task"]

    def task_range(self, split: str | None = None, start: int | None = None,
                   stop: int | None = None) -> list[Any]:
        """``POST /{env}/task_range``: tasks ``start`` to ``stop`` (exclusive) of ``split``."""
        body = {"split": self._split(split), "start": start, "stop": stop}
        return self._call("POST", f"/{self._name()}/task_range", body)["tasks"]

    def _name(self) -> str:
        if self._env is None:
            names = self.environments()
            if not names:
                raise ProtocolError(f"{self.base_url} lists no environments")
            self._env = names[0]
        return self._env

    def _split(self, split: str | None) -> str:
        if split is not None:
            return split
        splits = self.splits()
        if not splits:
            raise InvalidRequestError(f"{self.base_url}: the environment {self._name()!r} has no splits")
        return splits[0]["name"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.base_url + path
        try:
            response = httpx.request(method, url, json=body, headers=self._headers, timeout=self._timeout,
                                     trust_env=False)
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach {url}: {exc}") from exc
        if response.is_success:
            return response.json()
        raise _error(url, response)


def _error(url: str, response: httpx.Response) -> Exception:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:300]
    status = response.status_code
    if status in (401, 403):
        return AuthenticationError(f"{url}: HTTP {status}, the server wants a (different) bearer token")
    if status == 501 or (status == 404 and detail == "Not Found"):
        return ProtocolError(f"{url}: the server has no task API here (HTTP {status}: {detail})")
    return InvalidRequestError(f"{url}: {detail}", details={"status": status, "detail": detail})


def tasks_of(client: Any, split: str | None = None) -> list[Any]:
    """The tasks of ``split`` (default: the first) of the environment a session client talks to:
    over HTTP for a client of a server, by calling the environment for an in-process one (a
    client that holds its ``environment``)."""
    environment = getattr(client, "environment", None)
    if environment is None:
        return TaskClient(client.base_url, headers=getattr(client, "headers", None)).tasks(split)
    if not callable(getattr(environment, "list_tasks", None)):
        raise ProtocolError("this environment has no task API (list_splits/list_tasks)")
    if split is None:
        split = environment.list_splits()[0]["name"]
    return list(environment.list_tasks(split))
