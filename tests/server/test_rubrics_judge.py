"""The chat-completions client and ``LLMJudge`` against a real loopback server (tests/support/judge.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import pytest

import openenv_gym  # noqa: F401 (registers the openenv/* ids)
from openenv_gym.providers import ProcessProvider
from openenv_gym.server.rubrics import ChatClient, ChatError, LLMJudge, WeightedSum
from tests.support.judge import Answer, JudgeServer
from tests.support.servers import REPO_ROOT


@pytest.fixture(scope="module")
def judge_server() -> Iterator[JudgeServer]:
    with JudgeServer() as server:
        yield server


@pytest.fixture
def judge(judge_server) -> JudgeServer:
    """The module's judge, with a fresh script and no recorded requests."""
    judge_server.clear()
    return judge_server


def client(judge: JudgeServer, **kwargs) -> ChatClient:
    """A client of ``judge``; its 10 s per attempt never run out on a loaded machine, unless a
    test scripts a hang and a shorter ``timeout_s``."""
    options = {"timeout_s": 10.0, "retries": 2, "backoff_s": 0.01} | kwargs
    return ChatClient(judge.base_url, "judge-model", "sk-secret", **options)


async def test_a_completion_is_the_first_choices_content_and_the_request_is_openai_shaped(judge):
    judge.script(Answer(content="Score: 0.9"))
    chat = client(judge, system_prompt="You are a strict grader.", max_tokens=8)
    assert await chat.complete("Rate: hi") == "Score: 0.9"
    (request,) = judge.requests
    assert request["body"] == {"model": "judge-model", "temperature": 0.0, "max_tokens": 8, "messages": [
        {"role": "system", "content": "You are a strict grader."}, {"role": "user", "content": "Rate: hi"}]}
    assert request["headers"]["Authorization"] == "Bearer sk-secret"
    assert "sk-secret" not in repr(chat)


@pytest.mark.parametrize("failure", [Answer(status=500), Answer(status=429), Answer(delay=2.0)],
                         ids=["5xx", "429", "timeout"])
async def test_transient_failures_are_retried(judge, failure):
    judge.script(failure, failure, Answer(content="0.6"))
    assert await client(judge, timeout_s=0.5 if failure.delay else 10.0).complete("p") == "0.6"
    assert len(judge.requests) == 3


async def test_the_last_failure_is_a_chat_error_saying_what_happened(judge):
    judge.default = Answer(status=503)
    with pytest.raises(ChatError, match=r"no completion from http://127.0.0.1:\d+/v1/chat/completions after 3 "
                                        r"attempt\(s\); last: HTTP 503"):
        await client(judge).complete("p")


@pytest.mark.parametrize(("answer", "fragment"), [(Answer(status=401), "after 1 attempt(s); last: HTTP 401"),
                                                  (Answer(body="<html>"), "not a chat completion"),
                                                  (Answer(body='{"choices": []}'), "not a chat completion")])
async def test_refusals_and_nonsense_are_not_retried(judge, answer, fragment):
    judge.default = answer
    with pytest.raises(ChatError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        await client(judge).complete("p")
    assert len(judge.requests) == 1


async def test_an_unreachable_endpoint_is_a_chat_error():
    chat = ChatClient("http://127.0.0.1:9/v1", "m", retries=1, backoff_s=0.0)
    with pytest.raises(ChatError, match="after 2 attempt.*ConnectError"):
        await chat.complete("p")


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENENV_JUDGE_BASE_URL", "http://judge.example/v1/")
    monkeypatch.setenv("OPENENV_JUDGE_MODEL", "qwen")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    chat = ChatClient()
    assert (chat.base_url, chat.model, chat._headers()) == ("http://judge.example/v1", "qwen",
                                                            {"Authorization": "Bearer sk-env"})
    monkeypatch.delenv("OPENENV_JUDGE_MODEL")
    with pytest.raises(ValueError, match="ChatClient needs a model: pass model=... or set OPENENV_JUDGE_MODEL"):
        ChatClient()


async def test_the_judge_scores_from_the_answer_and_falls_back_with_a_reason(judge):
    rubric = LLMJudge("Rate {action}", client(judge, retries=0), default_score=0.2)
    judge.script(Answer(content="I give it 0.75."), Answer(content="Great work!"), Answer(status=500))
    assert await rubric("a", None) == 0.75 and rubric.last_error is None
    assert await rubric("b", None) == 0.2
    assert rubric.last_error.startswith("no score in the judge's answer") and "'Great work!'" in rubric.last_error
    assert await rubric("c", None) == 0.2
    assert rubric.last_error.startswith("the judge failed (ChatError: no completion") and "HTTP 500" in rubric.last_error
    assert [r["body"]["messages"][-1]["content"] for r in judge.requests] == ["Rate a", "Rate b", "Rate c"]


async def test_judges_in_a_weighted_sum_ask_concurrently(judge):
    judge.default = Answer(content="1", delay=0.4)
    rubric = WeightedSum([LLMJudge("x {action}", client(judge)), LLMJudge("y {action}", client(judge))], [0.5, 0.5])
    started = time.perf_counter()
    assert await rubric("a", None) == 1.0
    assert time.perf_counter() - started < 0.75


def test_a_template_with_unknown_fields_is_refused():
    with pytest.raises(ValueError, match=r"only use \{action\} and \{observation\}, found \['answer'\]"):
        LLMJudge("Rate {answer}", client=None)  # type: ignore[arg-type]


@contextlib.contextmanager
def judged_server(judge_url: str, **env_kwargs: Any) -> Iterator[str]:
    """A server of JudgedEnvironment whose judge is at ``judge_url``."""
    provider = ProcessProvider("tests.support.apps:judged", env_kwargs={"judge_url": judge_url, **env_kwargs})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
        provider.start()
    try:
        yield provider.start()
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def judged_url(judge_server) -> Iterator[str]:
    """A server of JudgedEnvironment whose judge is the loopback ``judge`` (0.5 s timeout)."""
    with judged_server(judge_server.base_url) as url:
        yield url


@pytest.fixture
def judged_env(judged_url) -> Iterator[gym.Env]:
    env = gym.make("openenv/remote-v0", base_url=judged_url)
    yield env
    env.close()


def test_an_llm_judge_scores_gym_steps_over_the_wire(judge, judged_env):
    judged_env.reset()
    judge.script(Answer(content="Score: 0.8"))
    _, reward, *_, info = judged_env.step("a fine answer")
    assert reward == pytest.approx(0.9)
    assert info["rubric"] == pytest.approx({"total": 0.9, "rubric_0": 0.8, "rubric_1": 1.0, "rubric_1.rubric": 1.0})
    assert judge.requests[-1]["body"]["messages"][-1]["content"] == "Rate this answer from 0 to 1: a fine answer"


@pytest.mark.parametrize(("answers", "why"), [
    ([Answer(content="no idea")], "no score in the judge's answer"),
    ([Answer(status=500)] * 2, "the judge failed (ChatError: no completion"),
    ([Answer(delay=3.0)] * 2, "the judge failed (ChatError: no completion"),
], ids=["unparsable", "server-error", "hangs"])
def test_a_failed_judgement_scores_the_default_and_says_so(judge, judged_env, answers, why):
    judged_env.reset()
    judge.script(*answers)
    started = time.monotonic()
    _, reward, *_, info = judged_env.step("an answer")
    assert time.monotonic() - started < 2.5  # 2 attempts x 0.5 s timeout: the judge's own limits hold
    assert reward == pytest.approx(0.5 * 0.1 + 0.5 * 1.0)  # default_score 0.1 for the judge
    assert info["rubric_errors"]["rubric_0"].startswith(why)
    assert info["rubric"]["rubric_0"] == 0.1
    judge.script(Answer(content="1.0"))
    assert judged_env.step("again")[1] == 1.0


def test_many_sessions_wait_for_the_judge_without_blocking_each_other(judge, judge_server):
    """A slow judge is awaited on the server's loop: sessions are judged side by side."""
    judge.default = Answer(content="0.5", delay=1.0)
    with judged_server(judge_server.base_url, timeout_s=10.0) as url:
        envs = gym.make_vec("openenv/remote-v0", num_envs=4, base_url=url)
        try:
            envs.reset()
            started = time.monotonic()
            _, rewards, *_ = envs.step(["a", "b", "c", "d"])
            assert time.monotonic() - started < 2.5  # 4 x 1 s one after the other would be 4 s
            assert rewards.tolist() == pytest.approx([0.75] * 4)
        finally:
            envs.close()


def test_judge_server_fixture_replies_after_its_script(judge):
    judge.script(Answer(content="first"))
    chat = client(judge)
    assert [asyncio.run(chat.complete("p")) for _ in range(2)] == ["first", "Score: 1.0"]
