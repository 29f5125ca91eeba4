"""The coding environment's action, observation and state.

Upstream's coding environment has the same action (``{"code": ...}``) and the same first three
observation fields (``stdout``, ``stderr``, ``exit_code``); ours adds the task and its tests.

>>> CodingAction(code="print(1)").code
'print(1)'
"""

from __future__ import annotations

from pydantic import Field

from openenv_gym.types import Action, Observation, State

MAX_CODE_LENGTH = 65_536
"""Longest code of one step, in characters."""


class CodingAction(Action):
    """Python code, run in the episode's interpreter (a REPL: names persist across steps)."""

    code: str = Field(max_length=MAX_CODE_LENGTH, description="Python code to execute.")


class CodingObservation(Observation):
    """What the code printed, how it ended, and (with a task) how many tests pass."""

    stdout: str = Field(default="", description="Standard output, cut at the output limit with a note.")
    stderr: str = Field(default="", description="Standard error: tracebacks, and the sandbox's notes.")
    exit_code: int = Field(default=0, ge=0, le=255,
                           description="0 success, 1 exception, sys.exit's code, 124 time limit, "
                                       "128+n killed by signal n.")
    task: str = Field(default="", description="The task's name ('' in a free REPL).")
    prompt: str = Field(default="", description="The task's prompt (on reset only).")
    tests_passed: int = Field(default=0, ge=0, description="Test cases the code passes now.")
    tests_total: int = Field(default=0, ge=0, description="The task's test cases (0 without a task).")
    test_report: str = Field(default="", description="Which calls failed and how ('' without a task).")


class CodingState(State):
    """The episode: its task and the last step's outcome (upstream's ``last_exit_code``)."""

    task: str = ""
    last_exit_code: int = 0
    tests_passed: int = 0
