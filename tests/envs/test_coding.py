"""The coding environment as its users see it: a REPL across steps, tasks graded by the rubric,
in-process and over a real server."""

from __future__ import annotations

import sys
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import openenv_gym  # noqa: F401  (registers openenv/coding-v0)
from openenv_gym import EnvClient
from openenv_gym.envs.coding import TASKS, CodingAction, CodingEnvironment
from openenv_gym.envs.coding.rubrics import TestsPassedRubric
from tests.support.servers import served_by

SOLUTIONS = {
    "fizzbuzz": "def fizzbuzz(n):\n    return 'FizzBuzz' if n % 15 == 0 else 'Fizz' if n % 3 == 0 "
                "else 'Buzz' if n % 5 == 0 else str(n)",
    "reverse_words": "def reverse_words(s):\n    return ' '.join(reversed(s.split()))",
    "is_palindrome": "def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]",
    "two_sum": "def two_sum(nums, target):\n    seen = {}\n    for i, x in enumerate(nums):\n"
               "        if target - x in seen:\n            return [seen[target - x], i]\n        seen[x] = i",
    "fibonacci": "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
    "primes": "def primes(n):\n    return [p for p in range(2, n) if all(p % d for d in range(2, int(p ** 0.5) + 1))]",
    "balanced": "def balanced(s):\n    stack, pairs = [], {')': '(', ']': '[', '}': '{'}\n    for c in s:\n"
                "        if c in '([{':\n            stack.append(c)\n"
                "        elif c in pairs and (not stack or stack.pop() != pairs[c]):\n            return False\n"
                "    return not stack",
    "word_count": "import re, collections\ndef word_count(text):\n"
                  "    return dict(collections.Counter(re.findall('[a-z]+', text.lower())))",
    "flatten": "def flatten(items):\n    return [y for x in items for y in (flatten(x) if isinstance(x, list) else [x])]",
    "roman": "def to_roman(n):\n    out = ''\n    for v, s in [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'), "
             "(90, 'XC'), (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')]:\n"
             "        while n >= v:\n            out, n = out + s, n - v\n    return out",
}


@pytest.fixture
def env():
    environment = CodingEnvironment(timeout_s=5)
    yield environment
    environment.close()


@pytest.fixture(params=["inprocess", "process"])
def make(request):
    """``gym.make("openenv/coding-v0", ...)`` over each provider; closed after the test."""
    made = []

    def make_env(**kwargs):
        made.append(gym.make("openenv/coding-v0", provider=request.param, **kwargs))
        return made[-1]

    yield make_env
    for made_env in made:
        made_env.close()


def run(env, code):
    return env.step(CodingAction(code=code))


# -- a REPL ---------------------------------------------------------------------------------

def test_names_persist_across_steps_and_reset_starts_fresh(env):
    env.reset()
    assert run(env, "import math\nx = 2\ndef area(r):\n    return math.pi * r * r").exit_code == 0
    obs = run(env, "x += 1\nprint(x)\nround(area(x), 2)")
    assert (obs.stdout, obs.stderr, obs.exit_code) == ("3\n28.27\n", "", 0)
    env.reset()
    obs = run(env, "x")
    assert obs.exit_code == 1 and "NameError: name 'x' is not defined" in obs.stderr
    assert 'File "<cell 1>", line 1' in obs.stderr  # the traceback shows the agent's code, not the worker's


@pytest.mark.parametrize("code, exit_code, stream, text", [
    ("def f(:", 1, "stderr", "SyntaxError: invalid syntax"),
    ("raise KeyError('k')", 1, "stderr", "KeyError: 'k'"),
    ("import sys; print('bye'); sys.exit(3)", 3, "stdout", "bye\n"),
    ("import sys; sys.exit('fatal')", 1, "stderr", "fatal\n"),
    ("input()", 1, "stderr", "EOFError"),  # stdin is /dev/null, not the control pipe
    ("print('a\\x00b', 'é✓')", 0, "stdout", "a\x00b é✓\n"),
], ids=["syntax", "exception", "exit-code", "exit-message", "stdin", "unicode"])
def test_each_outcome_is_an_observation_and_the_repl_goes_on(env, code, exit_code, stream, text):
    env.reset()
    run(env, "kept = 1")
    obs = run(env, code)
    assert obs.exit_code == exit_code and text in getattr(obs, stream)
    assert run(env, "kept").stdout == "1\n"


def test_files_live_in_a_scratch_directory_removed_on_reset(env):
    private = env.reset().metadata["sandbox"]["mode"] == "bwrap"  # its own /tmp, gone with it
    obs = run(env, "import os\nopen('notes.txt', 'w').write('hi')\nos.getcwd()")
    scratch = eval(obs.stdout)
    assert run(env, "open('notes.txt').read()").stdout == "'hi'\n"
    env.reset()
    assert run(env, "import os; os.path.exists('notes.txt')").stdout == "False\n"
    assert private or not __import__("os").path.exists(scratch)


def test_the_state_reports_the_episode(env):
    env.reset(episode_id="e1", task="fizzbuzz")
    run(env, "1/0")
    state = env.state
    assert (state.episode_id, state.step_count, state.task, state.last_exit_code) == ("e1", 1, "fizzbuzz", 1)


# -- tasks and the rubric -------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_is_solvable_for_full_reward(env, name):
    obs = env.reset(task=name)
    assert obs.prompt == TASKS[name].prompt and obs.tests_total == len(TASKS[name].cases)
    obs = run(env, SOLUTIONS[name])
    assert (obs.exit_code, obs.tests_passed, obs.reward, obs.done) == (0, obs.tests_total, 1.0, True), obs.test_report


def test_reward_is_the_fraction_of_tests_passed_and_the_report_hides_expected_values(env):
    env.reset(task="roman")
    obs = run(env, "def to_roman(n):\n    return 'I' * n if n <= 4 else {9: 'IX'}.get(n, 'nope')")
    assert (obs.tests_passed, obs.tests_total, obs.reward, obs.done) == (2, 6, pytest.approx(2 / 6), False)
    assert "FAIL to_roman(4) returned 'IIII', which is not the expected value" in obs.test_report
    assert "'IV'" not in obs.test_report and "MCMXCIV" not in obs.test_report
    obs = run(env, "print('no new definition')")  # the tests run again on every step
    assert obs.tests_passed == 2


def test_missing_slow_and_unserializable_functions_fail_their_cases(env):
    env.reset(task="fibonacci", seed=0)
    obs = run(env, "x = 1")
    assert obs.tests_passed == 0 and "no function 'fib' is defined" in obs.test_report
    obs = run(env, "def fib(n):\n    while n > 1: pass\n    return n")
    assert obs.tests_passed == 2 and "fib(10) raised CaseTimeout" in obs.test_report
    obs = run(env, "def fib(n):\n    return object()")
    assert obs.tests_passed == 0 and "TypeError" in obs.test_report
    obs = run(env, "class Liar(int):\n    def __eq__(self, other): return True\n"
                   "def fib(n):\n    return Liar(7)")  # an object equal to everything is still 7 as JSON
    assert obs.tests_passed == 0


def test_reward_goes_through_the_rubric(env):
    env.rubric = TestsPassedRubric()
    env.reset(task="flatten")
    assert run(env, "def flatten(items):\n    return items").reward == pytest.approx(1 / 4)


def test_random_tasks_are_seeded_and_unknown_names_suggest_one():
    env = CodingEnvironment(task="random")
    try:
        first = [env.reset(seed=3).task] + [env.reset().task for _ in range(3)]
        again = [env.reset(seed=3).task] + [env.reset().task for _ in range(3)]
        assert first == again and set(first) <= set(TASKS)
        assert env.reset(task="none").task == "" and env.reset().task in TASKS
    finally:
        env.close()
    with pytest.raises(ValueError, match="Did you mean 'fizzbuzz'"):
        CodingEnvironment(task="fizbuzz")


def test_invalid_limits_are_refused_with_the_keyword_to_fix():
    with pytest.raises(ValueError, match="timeout_s must be a number >= 0.01, got -1"):
        CodingEnvironment(timeout_s=-1)


# -- Gymnasium, in-process and over a server ------------------------------------------------

def test_check_env_passes(make):
    env = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no render fps": ansi frames have none
        check_env(env.unwrapped)


def test_a_task_episode_through_gym(make):
    env = make(task="two_sum", timeout_s=5)
    obs, info = env.reset(seed=0)
    assert obs["task"] == "two_sum" and obs["tests_total"] == 4 and "user" in info["sandbox"]
    obs, reward, terminated, truncated, info = env.step("def two_sum(nums, target):\n    return [0, 1]")
    assert (obs["tests_passed"], reward, terminated) == (2, 0.5, False)
    obs, reward, terminated, truncated, info = env.step(SOLUTIONS["two_sum"])
    assert (obs["tests_passed"], reward, terminated) == (4, 1.0, True)


def test_two_sessions_do_not_see_each_others_names(make):
    first, second = make(), make()
    first.reset()
    second.reset()
    first.step("secret = 42")
    obs, *_ = second.step("secret")
    assert "NameError" in obs["stderr"]
    assert first.step("secret")[0]["stdout"] == "42\n"


def test_the_server_runs_with_python_m():
    command = [sys.executable, "-m", "openenv_gym.envs.coding", "--host", "127.0.0.1", "--port", "{port}"]
    with served_by(command) as url, EnvClient(url).sync() as client:
        client.reset()
        client.step({"code": "x = 6 * 7"})
        assert client.step({"code": "x"}).observation["stdout"] == "42\n"
