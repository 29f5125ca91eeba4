"""The coding environment: an agent writes Python, run in a sandboxed REPL, optionally graded."""

from __future__ import annotations

import random
import uuid
from typing import Any

import numpy as np
from gymnasium import spaces

from openenv_gym.server import Environment
from openenv_gym.server.rubrics import Rubric
from openenv_gym.server.tasks import TaskSet

from .execution import Execution
from .limits import DEFAULT_UIDS, SandboxLimits
from .models import MAX_CODE_LENGTH, CodingAction, CodingObservation, CodingState
from .rubrics import TestsPassedRubric
from .sandbox import Sandbox
from .tasks import CASE_TIMEOUT_S, SPLITS, TASKS, Task, pick

NOTE_ROOM = 512
"""Characters a truncation or restart note may add to ``max_output_bytes`` of text."""
MAX_TEXT = 65_536


class CodingEnvironment(TaskSet, Environment[CodingAction, CodingObservation, CodingState]):
    """Python code as actions, run in a sandboxed interpreter that lives for the episode.

    Each episode (each ``reset``) gets a fresh interpreter in a worker process
    (:mod:`.sandbox`) and a fresh scratch directory; names defined in one step are there in the
    next, as in a REPL, and the value of a final expression is printed. With a task, each step
    also calls the task's function on its test cases: ``tests_passed`` counts the passes, the
    reward is the fraction that pass (:class:`~.rubrics.TestsPassedRubric`), and the episode is
    done once all pass. Without one, the reward is 0.

    Args:
        task: a task of :data:`~.tasks.TASKS` by name, ``"random"`` (drawn on each reset,
            seeded by ``reset(seed=...)``) or ``None`` / ``"none"`` (a free REPL). ``reset(task=...)``
            overrides it for an episode, and so does a task of upstream's task API:
            ``reset(task_index=i)`` (Gym: ``env.reset(options={"task_index": i})``) or upstream's
            ``reset(split="train", index=i)``; ``GET /coding/splits`` and
            ``POST /coding/tasks`` list them (:mod:`openenv_gym.server.tasks`).
        timeout_s, cpu_time_s, memory_mb, max_processes, max_output_bytes, max_file_bytes,
            max_open_files, network, uids: the sandbox's limits (:class:`~.limits.SandboxLimits`).
        rubric: the reward; by default the fraction of tests passed.

    >>> env = CodingEnvironment()
    >>> _ = env.reset()
    >>> env.step(CodingAction(code="x = 20")).exit_code, env.step(CodingAction(code="x * 2 + 2")).stdout
    (0, '42\\n')
    >>> obs = env.reset(task="fizzbuzz")
    >>> obs.prompt[:18], obs.tests_total
    ('Write fizzbuzz(n) ', 5)
    >>> obs = env.step(CodingAction(code="def fizzbuzz(n): return str(n)"))
    >>> obs.tests_passed, obs.reward, obs.done
    (2, 0.4, False)
    >>> env.close()
    """

    SUPPORTS_CONCURRENT_SESSIONS = True
    RUBRIC_INFO = False  # one rubric: its score is the reward

    def __init__(self, task: str | None = None, *, timeout_s: float = 10.0, cpu_time_s: int = 60,
                 memory_mb: int = 1024, max_processes: int = 64, max_output_bytes: int = 16_384,
                 max_file_bytes: int = 64 * 1024 * 1024, max_open_files: int = 256, network: bool = False,
                 uids: tuple[int, int] | list[int] = DEFAULT_UIDS, rubric: Rubric | None = None):
        super().__init__(rubric=TestsPassedRubric() if rubric is None else rubric)
        pick(task, None)  # an unknown name fails here, not at the first reset
        self.default_task = task
        self.limits = SandboxLimits(timeout_s=timeout_s, cpu_time_s=cpu_time_s, memory_mb=memory_mb,
                                    max_processes=max_processes, max_output_bytes=max_output_bytes,
                                    max_file_bytes=max_file_bytes, max_open_files=max_open_files,
                                    network=network, uids=tuple(uids))  # type: ignore[arg-type]
        self._sandbox = Sandbox(self.limits)
        self._rng = random.Random()
        self._task: Task | None = None
        self._state = CodingState(episode_id=str(uuid.uuid4()))
        self._transcript = ""

    def reset(self, seed: int | None = None, episode_id: str | None = None, task: str | None = None,
              *, task_index: int | None = None, split: str | None = None, index: int | None = None,
              **kwargs: Any) -> CodingObservation:
        """A fresh interpreter and directory; the task ``task``, or task ``task_index`` (or
        ``index``) of ``split`` (default: the first), or the constructor's."""
        if seed is not None:
            self._rng = random.Random(seed)
        position = task_index if task_index is not None else index
        if position is not None:
            task = self.task_at(split, position)["name"]
        elif split is not None:
            raise ValueError("a split needs a task index: reset(split=..., task_index=...)")
        self._task = pick(self.default_task if task is None else task, seed, self._rng)
        isolation = self._sandbox.start()
        name = "" if self._task is None else self._task.name
        self._state = CodingState(episode_id=episode_id or str(uuid.uuid4()), task=name)
        self._transcript = ""
        return CodingObservation(task=name, prompt="" if self._task is None else self._task.prompt,
                                 tests_total=0 if self._task is None else len(self._task.cases),
                                 reward=0.0, metadata={"sandbox": isolation})

    def task_splits(self) -> dict[str, list[dict[str, Any]]]:
        """The bundled tasks as the task API's one split, ``"train"``."""
        return SPLITS

    def step(self, action: CodingAction, timeout_s: float | None = None, **kwargs: Any) -> CodingObservation:
        """Run the code; with a task, run its tests too."""
        run = self._sandbox.run(action.code)
        obs = CodingObservation(stdout=run.stdout, stderr=run.stderr, exit_code=run.exit_code,
                                task=self._state.task, metadata=self._info(run))
        if self._task is not None:
            self._grade(self._task, obs)
        self._state.step_count += 1
        self._state.last_exit_code, self._state.tests_passed = obs.exit_code, obs.tests_passed
        self._transcript = f">>> {action.code}\n{obs.stdout}{obs.stderr}"
        return self._score(action, obs)  # the reward also when stepped without a server

    def _grade(self, task: Task, obs: CodingObservation) -> None:
        graded = self._sandbox.call(task.function, task.arguments, CASE_TIMEOUT_S)
        obs.tests_total = len(task.cases)
        if graded.restarted is not None:
            obs.test_report = f"0/{obs.tests_total} tests passed: they did not finish. {graded.restarted}"
            obs.metadata.update(self._info(graded))
            return
        obs.tests_passed, obs.test_report = task.grade(graded.reply["results"])
        obs.done = obs.tests_passed == obs.tests_total

    @staticmethod
    def _info(execution: Execution) -> dict[str, Any]:
        return {} if execution.restarted is None else {"restarted": execution.restarted}

    @property
    def state(self) -> CodingState:
        return self._state

    def declared_spaces(self) -> dict[str, spaces.Space[Any]]:
        """Text fields as long as the output limit allows; counts and the exit code as integers."""
        output = spaces.Text(self.limits.max_output_bytes + NOTE_ROOM, min_length=0)
        text = spaces.Text(MAX_TEXT, min_length=0)
        count = spaces.Box(0, max(len(t.cases) for t in TASKS.values()), (), dtype=np.int64)
        return {"action": spaces.Text(MAX_CODE_LENGTH, min_length=0), "observation": spaces.Dict({
            "stdout": output, "stderr": output, "exit_code": spaces.Discrete(256), "task": text,
            "prompt": text, "tests_passed": count, "tests_total": count, "test_report": text})}

    def render(self, mode: str = "ansi") -> str:
        """The last step: its code and output."""
        return self._transcript

    def close(self) -> None:
        """Stop the interpreter and everything it started; remove its directory."""
        self._sandbox.close()
