"""The bundled coding tasks: a prompt, a function to write, and test cases.

A case is the function's arguments and the expected return value. Only the arguments enter the
sandbox: the worker calls the function and sends the return values back as JSON, and the server
compares them (:meth:`Task.grade`), so code in the sandbox cannot see or forge the expected
values.

>>> task = TASKS["fizzbuzz"]
>>> task.function, len(task.cases)
('fizzbuzz', 5)
>>> task.grade([{"value": "1"}, {"value": "Fizz"}, {"value": "Buzz"}, {"value": "FizzBuzz"},
...             {"error": "ZeroDivisionError: division by zero"}])[0]
4
>>> pick(None, None) is None, pick("random", 0).name in TASKS
(True, True)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from openenv_gym.errors import did_you_mean

CASE_TIMEOUT_S = 1.0
"""How long one call of the function may take."""


@dataclass(frozen=True)
class Task:
    """Write ``function`` so that it returns each case's expected value."""

    name: str
    prompt: str
    function: str
    cases: tuple[tuple[tuple[Any, ...], Any], ...]

    @property
    def arguments(self) -> list[list[Any]]:
        return [list(args) for args, _ in self.cases]

    def grade(self, results: list[dict[str, Any]]) -> tuple[int, str]:
        """``(passed, report)`` for the worker's results of :attr:`arguments`.

        The report names each failing call and what it did, never the expected value (the
        agent would copy it into a lookup table).
        """
        lines, passed = [], 0
        for index, (args, expected) in enumerate(self.cases):
            result = results[index] if index < len(results) else None
            call = f"{self.function}({', '.join(map(repr, args))})"
            if not isinstance(result, dict):
                lines.append(f"FAIL {call}: no result came back")
            elif "error" in result:
                lines.append(f"FAIL {call} raised {result['error']}")
            elif same(result.get("value"), expected):
                passed += 1
            else:
                lines.append(f"FAIL {call} returned {result.get('value')!r}, which is not the expected value")
        lines.insert(0, f"{passed}/{len(self.cases)} tests passed")
        return passed, "\n".join(lines)


def same(value: Any, expected: Any) -> bool:
    """JSON values equal, with ``bool`` distinct from numbers and floats compared loosely.

    >>> same([1, 2.0000000001], [1, 2]), same(True, 1), same({"a": [1]}, {"a": [1]})
    (True, False, True)
    """
    if isinstance(expected, bool) or isinstance(value, bool):
        return type(value) is type(expected) and value == expected
    if isinstance(expected, (int, float)) and isinstance(value, (int, float)):
        return math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, list) and isinstance(value, list):
        return len(value) == len(expected) and all(map(same, value, expected))
    if isinstance(expected, dict) and isinstance(value, dict):
        return value.keys() == expected.keys() and all(same(value[k], expected[k]) for k in expected)
    return type(value) is type(expected) and value == expected


def _task(name: str, prompt: str, function: str, *cases: tuple[tuple[Any, ...], Any]) -> Task:
    return Task(name, prompt.strip(), function, cases)


TASKS: dict[str, Task] = {task.name: task for task in (
    _task("fizzbuzz", "Write fizzbuzz(n) returning 'Fizz' if n is divisible by 3, 'Buzz' if by 5, "
          "'FizzBuzz' if by both, else str(n).", "fizzbuzz",
          ((1,), "1"), ((3,), "Fizz"), ((10,), "Buzz"), ((30,), "FizzBuzz"), ((98,), "98")),
    _task("reverse_words", "Write reverse_words(s) returning the words of s in reverse order, "
          "separated by single spaces (words are separated by runs of whitespace).", "reverse_words",
          (("hello world",), "world hello"), (("  a  b c ",), "c b a"), (("one",), "one"), (("",), "")),
    _task("is_palindrome", "Write is_palindrome(s): True if s reads the same backwards when only "
          "letters and digits are kept and case is ignored.", "is_palindrome",
          (("A man, a plan, a canal: Panama",), True), (("race a car",), False), (("",), True),
          (("No 'x' in Nixon",), True), (("ab",), False)),
    _task("two_sum", "Write two_sum(nums, target) returning the indices [i, j], i < j, of the two "
          "numbers of nums that add up to target (exactly one pair does).", "two_sum",
          (([2, 7, 11, 15], 9), [0, 1]), (([3, 2, 4], 6), [1, 2]), (([3, 3], 6), [0, 1]),
          (([-1, 5, 8, 20], 19), [0, 3])),
    _task("fibonacci", "Write fib(n) returning the n-th Fibonacci number (fib(0) = 0, fib(1) = 1); "
          "n may be as large as 300.", "fib",
          ((0,), 0), ((1,), 1), ((10,), 55), ((50,), 12586269025),
          ((300,), 222232244629420445529739893461909967206666939096499764990979600)),
    _task("primes", "Write primes(n) returning the list of the prime numbers below n, ascending.",
          "primes", ((2,), []), ((10,), [2, 3, 5, 7]), ((30,), [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]),
          ((3,), [2])),
    _task("balanced", "Write balanced(s): True if every bracket of s ('()', '[]', '{}') is closed "
          "in the right order; other characters are ignored.", "balanced",
          (("([]{})",), True), (("([)]",), False), (("((",), False), (("a(b)c",), True), (("",), True)),
    _task("word_count", "Write word_count(text) returning a dict from each lower-cased word (a run of "
          "letters) to how often it occurs.", "word_count",
          (("The cat and the hat.",), {"the": 2, "cat": 1, "and": 1, "hat": 1}), (("",), {}),
          (("Go, go, GO!",), {"go": 3})),
    _task("flatten", "Write flatten(items) returning the non-list elements of a nested list, in "
          "order: flatten([1, [2, [3]], 4]) == [1, 2, 3, 4].", "flatten",
          (([1, [2, [3]], 4],), [1, 2, 3, 4]), (([],), []), (([[[]]],), []), ((["a", ["b"]],), ["a", "b"])),
    _task("roman", "Write to_roman(n) returning n (1 to 3999) in Roman numerals.", "to_roman",
          ((1,), "I"), ((4,), "IV"), ((9,), "IX"), ((58,), "LVIII"), ((1994,), "MCMXCIV"),
          ((3999,), "MMMCMXCIX")),
)}
NO_TASK = "none"
RANDOM_TASK = "random"


def pick(name: str | None, seed: int | None, rng: random.Random | None = None) -> Task | None:
    """The task called ``name``; ``"random"``: one drawn with ``rng`` (or ``Random(seed)``);
    ``None`` or ``"none"``: no task (a free REPL)."""
    if name is None or name == NO_TASK:
        return None
    if name == RANDOM_TASK:
        return (rng or random.Random(seed)).choice(list(TASKS.values()))
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"no coding task {name!r}.{did_you_mean(name, TASKS)} Tasks: {', '.join(TASKS)}, or "
                         f"{RANDOM_TASK!r} or {NO_TASK!r}") from None


SPLIT = "train"
"""The one split of the task API (``GET /coding/splits``): every bundled task, in order."""


def described(task: Task) -> dict[str, Any]:
    """What the task API shows of a task: never its expected values (the agent would copy them).

    >>> described(TASKS["fizzbuzz"])["function"], described(TASKS["fizzbuzz"])["num_tests"]
    ('fizzbuzz', 5)
    """
    return {"name": task.name, "prompt": task.prompt, "function": task.function, "num_tests": len(task.cases)}


SPLITS: dict[str, list[dict[str, Any]]] = {SPLIT: [described(task) for task in TASKS.values()]}
"""The task API's tasks by split (:class:`~openenv_gym.server.tasks.TaskSet`)."""
