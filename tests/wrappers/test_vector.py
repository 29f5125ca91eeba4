"""gym.make_vec("openenv/echo-v0") (our GymVectorEnv) against Gymnasium's own SyncVectorEnv.

Every provider (server processes, in-process, one running server, two running servers) and
both encodings must give, step for step, what ``SyncVectorEnv`` over ``gym.make`` gives, in
each autoreset mode, with time limits and with episodes that end inside the environment
(the sleepy server ends an episode on the message "done" and truncates it on "cut").
"""

from __future__ import annotations

import os
import signal
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.vector.utils import batch_space
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import openenv_gym  # noqa: F401  (registers the openenv/* ids)
from openenv_gym import ExecutionError, InvalidActionError, TransportError
from openenv_gym.providers import ProcessProvider
from openenv_gym.wrappers.vector import GymVectorEnv
from tests.support.processes import process_gone
from tests.support.servers import active_sessions, settled_sessions

READY = "Echo environment ready!"
UNICODE = "héllo ✓ — 中文 😀\n\ttabs"
MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]
WHERE = ["process-json", "process-msgpack", "inprocess", "url-json", "url-msgpack",
         "two-urls-json", "two-urls-msgpack"]
ECHO_SCRIPT = [  # actions of 3 sub-envs, step by step: non-ASCII, empty, long and repeated texts
    ("a", "", UNICODE),
    (UNICODE, "bb", ""),
    ("", "", ""),
    ("x" * 300, "😀", "ccc"),
    ("d", UNICODE, "e"),
    ("f", "g", "h"),
]
SLEEPY_SCRIPT = [  # "done" ends an episode, "cut" truncates it; max_episode_steps=3 truncates too
    ("a", "done", "b"),
    ("cut", "c", "d"),
    ("e", "f", "done"),  # sub-env 2's third step: terminated and truncated at once (NEXT_STEP)
    ("g", "h", "i"),
    ("done", "cut", "j"),
    ("k", "l", "m"),
    ("n", "o", "p"),
]


# -- helpers -----------------------------------------------------------------------------------

def assert_same(actual, expected, where="result"):
    """Equal values, numpy-aware: same container types, dtypes and shapes, elements compared exactly."""
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{where}: {actual!r} is not an array like {expected!r}"
        assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), (
            f"{where}: {actual.dtype}{actual.shape} != {expected.dtype}{expected.shape}")
        if expected.dtype == object:
            for index in np.ndindex(expected.shape):
                assert_same(actual[index], expected[index], f"{where}[{index}]")
        else:
            np.testing.assert_array_equal(actual, expected, err_msg=where)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not a dict"
        assert sorted(actual) == sorted(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, tuple | list):
        assert type(actual) is type(expected), (
            f"{where}: {type(actual).__name__} != {type(expected).__name__}")
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{where}[{index}]")
    else:
        assert type(actual) is type(expected) and actual == expected, f"{where}: {actual!r} != {expected!r}"


def drive(envs, script, mode, *, seed=0, action=lambda texts: texts):
    """Every value a reset and the script's steps return; DISABLED: finished sub-envs reset first."""
    results = [("reset", envs.reset(seed=seed))]
    done = np.zeros(envs.num_envs, dtype=np.bool_)
    for texts in script:
        if mode is AutoresetMode.DISABLED and done.any():
            results.append(("partial reset", envs.reset(options={"reset_mask": done.copy()})))
        step = envs.step(action(texts))
        assert envs.observation_space.contains(step[0]), f"{step[0]!r} is not in {envs.observation_space}"
        results.append(("step", step))
        done = step[2] | step[3]
    return results


def assert_same_run(actual, expected):
    assert len(actual) == len(expected)
    for number, ((kind, got), (_, want)) in enumerate(zip(actual, expected, strict=True)):
        assert_same(got, want, f"{kind} #{number}")


def sleepy_actions(texts):
    n = len(texts)
    return {"message": tuple(texts), "sleep": np.zeros(n), "fail": np.zeros(n, dtype=np.int64)}


def failing_actions(texts, failing):
    actions = sleepy_actions(texts)
    actions["fail"][failing] = 1
    return actions


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def second_echo_server():
    provider = ProcessProvider("openenv_gym.envs.echo.app:app")
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
def closing():
    """Close every vector env a test made, even when it failed half-way."""
    made = []

    def keep(envs):
        made.append(envs)
        return envs

    yield keep
    for envs in made:
        envs.close()


@pytest.fixture
def make_echo_vec(echo_server, second_echo_server, closing):
    """``make_vec("openenv/echo-v0")`` the way the test's ``where`` parameter says."""
    def make(where, num_envs=3, **kwargs):
        place = where.removesuffix("-json").removesuffix("-msgpack")
        encoding = "msgpack" if where.endswith("-msgpack") else "json"
        if place in ("process", "inprocess"):
            kwargs["provider"] = place
        elif place == "url":
            kwargs["base_url"] = echo_server.start()
        else:
            kwargs["base_url"] = [echo_server.start(), second_echo_server.start()]
        if place != "inprocess":
            kwargs["encoding"] = encoding
        return closing(gym.make_vec("openenv/echo-v0", num_envs=num_envs, **kwargs))

    return make


@pytest.fixture
def sleepy_url(sleepy_server):
    """The sleepy server, its sessions of earlier tests gone (it holds 8 at most)."""
    assert settled_sessions(sleepy_server, 0) == 0
    return sleepy_server.start()


def sync_reference(num_envs, mode, **make_kwargs):
    return SyncVectorEnv([lambda: gym.make(**make_kwargs)] * num_envs, autoreset_mode=mode)


# -- what make_vec builds ----------------------------------------------------------------------

@pytest.mark.parametrize("where", WHERE)
def test_make_vec_builds_a_native_vector_env_with_batched_spaces(make_echo_vec, where):
    envs = make_echo_vec(where, num_envs=4)
    assert isinstance(envs, GymVectorEnv) and envs.num_envs == 4
    assert envs.observation_space == batch_space(envs.single_observation_space, 4)
    assert envs.action_space == batch_space(envs.single_action_space, 4)
    obs, infos = envs.reset(seed=0)
    assert obs["echoed_message"] == (READY,) * 4 and infos == {}
    assert envs.observation_space.contains(obs)
    assert envs.spec.id == "openenv/echo-v0" and envs.spec.kwargs["num_envs"] == 4


@pytest.mark.parametrize("mode", MODES + ["SameStep"], ids=["next-step", "same-step", "disabled", "string"])
def test_metadata_has_the_autoreset_mode_and_the_base_class_is_untouched(mode):
    before = dict(VectorEnv.metadata)
    envs = gym.make_vec("openenv/echo-v0", num_envs=2, provider="inprocess", autoreset_mode=mode)
    assert envs.metadata["autoreset_mode"] is AutoresetMode(mode)
    assert "ansi" in envs.metadata["render_modes"]
    assert VectorEnv.metadata == before and GymVectorEnv.metadata == before
    assert envs.metadata is not VectorEnv.metadata
    envs.close()


def test_gymnasiums_vector_wrappers_see_the_autoreset_mode():
    envs = RecordEpisodeStatistics(gym.make_vec("openenv/echo-v0", num_envs=2, provider="inprocess",
                                                max_episode_steps=2))
    envs.reset(seed=0)
    envs.step(["a", "bb"])
    *_, truncations, infos = envs.step(["ccc", ""])
    assert truncations.tolist() == [True, True]
    assert infos["episode"]["l"].tolist() == [2, 2]
    assert infos["episode"]["r"] == pytest.approx([0.4, 0.2])
    envs.close()


def test_sessions_are_spread_over_a_list_of_servers(serve):
    servers = [serve("openenv_gym.envs.echo.app:app") for _ in range(2)]
    envs = gym.make_vec("openenv/echo-v0", num_envs=5, base_url=[s.start() for s in servers])
    assert [active_sessions(s) for s in servers] == [3, 2]
    obs, *_ = envs.step(["a", "b", "c", "d", "e"])
    assert obs["echoed_message"] == ("a", "b", "c", "d", "e")
    envs.close()
    assert [settled_sessions(s, 0) for s in servers] == [0, 0]


# -- the same results as SyncVectorEnv, step for step ----------------------------------------

@pytest.mark.parametrize("mode", MODES, ids=["next-step", "same-step", "disabled"])
@pytest.mark.parametrize("where", WHERE)
def test_time_limited_echo_matches_sync_vector_env_step_for_step(make_echo_vec, closing, where, mode):
    envs = make_echo_vec(where, autoreset_mode=mode, max_episode_steps=2)
    reference = closing(sync_reference(3, mode, id="openenv/echo-v0", provider="inprocess",
                                       max_episode_steps=2))
    actual = drive(envs, ECHO_SCRIPT, mode)
    assert_same_run(actual, drive(reference, ECHO_SCRIPT, mode))
    texts = [obs["echoed_message"] for kind, (obs, *_) in actual if kind == "step"]
    assert UNICODE in texts[0] and "" in texts[0]  # text round-trips exactly


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
@pytest.mark.parametrize("mode", MODES, ids=["next-step", "same-step", "disabled"])
def test_episodes_ending_in_the_env_match_sync_vector_env_step_for_step(sleepy_url, closing, mode, encoding):
    envs = closing(gym.make_vec("openenv/remote-v0", num_envs=3, base_url=sleepy_url, autoreset_mode=mode,
                                max_episode_steps=3, encoding=encoding))
    reference = closing(sync_reference(3, mode, id="openenv/remote-v0", base_url=sleepy_url,
                                       max_episode_steps=3))
    actual = drive(envs, SLEEPY_SCRIPT, mode, action=sleepy_actions)
    assert_same_run(actual, drive(reference, SLEEPY_SCRIPT, mode, action=sleepy_actions))
    ends = [(step[2].tolist(), step[3].tolist()) for kind, step in actual if kind == "step"]
    assert ends[0] == ([False, True, False], [False, False, False])  # the server said done
    if mode is not AutoresetMode.NEXT_STEP:
        assert ends[1] == ([False, False, False], [True, False, False])  # the server said cut


def test_step_takes_one_action_dict_per_sub_env_as_well_as_a_dict_of_batches(sleepy_url, closing):
    envs = closing(gym.make_vec("openenv/remote-v0", num_envs=2, base_url=sleepy_url))
    envs.reset(seed=0)
    obs, *_ = envs.step([{"message": "a"}, {"message": "b", "sleep": 0.0}])  # defaults fill the rest
    assert obs["echoed_message"] == ("a", "b")
    obs, *_ = envs.step(sleepy_actions(["c", "d"]))  # Gymnasium's batch of a Dict space
    assert obs["echoed_message"] == ("c", "d")
    with pytest.raises(ValueError, match="got 1 actions for 2 sub-envs"):
        envs.step([{"message": "only one"}])
    with pytest.raises(InvalidActionError, match="sub-env 1"):
        envs.step([{"message": "ok"}, {"message": 5}])


@pytest.mark.parametrize("mode", MODES, ids=["next-step", "same-step", "disabled"])
def test_same_step_finals_and_next_step_resets_as_gymnasium_documents(sleepy_url, closing, mode):
    envs = closing(gym.make_vec("openenv/remote-v0", num_envs=3, base_url=sleepy_url, autoreset_mode=mode))
    envs.reset(seed=0)
    obs, rewards, terminations, truncations, infos = envs.step(sleepy_actions(("done", "x", "cut")))
    assert (terminations.tolist(), truncations.tolist()) == ([True, False, False], [False, False, True])
    if mode is AutoresetMode.SAME_STEP:  # reset at once; the last obs and info are in infos
        assert obs["echoed_message"] == ("seed=None", "x", "seed=None")
        assert infos["_final_obs"].tolist() == [True, False, True]
        assert [o and o["echoed_message"] for o in infos["final_obs"]] == ["done", None, "cut"]
    else:
        assert obs["echoed_message"] == ("done", "x", "cut") and "final_obs" not in infos
    if mode is AutoresetMode.DISABLED:
        with pytest.raises(RuntimeError, match=r"sub-envs \[0, 2\] are done and autoreset is DISABLED"):
            envs.step(sleepy_actions(("y", "y", "y")))
        obs, _ = envs.reset(seed=10, options={"reset_mask": np.array([True, False, True])})
        assert obs["echoed_message"] == ("seed=10", "x", "seed=12")
    obs, rewards, terminations, truncations, _ = envs.step(sleepy_actions(("y", "y", "y")))
    expected = ("seed=None", "y", "seed=None") if mode is AutoresetMode.NEXT_STEP else ("y", "y", "y")
    assert obs["echoed_message"] == expected
    assert not terminations.any() and not truncations.any()


@pytest.mark.parametrize(
    ("seed", "expected"),
    [(0, ["seed=0", "seed=1", "seed=2"]), (41, ["seed=41", "seed=42", "seed=43"]),
     ([5, None, 7], ["seed=5", "seed=None", "seed=7"]), (None, ["seed=None"] * 3)],
    ids=["zero", "int", "list", "none"],
)
def test_reset_seed_i_goes_to_sub_env_i(sleepy_url, closing, seed, expected):
    envs = closing(gym.make_vec("openenv/remote-v0", num_envs=3, base_url=sleepy_url))
    obs, _ = envs.reset(seed=seed)
    assert list(obs["echoed_message"]) == expected


def test_reset_seed_list_of_the_wrong_length_is_refused(sleepy_url, closing):
    envs = closing(gym.make_vec("openenv/remote-v0", num_envs=3, base_url=sleepy_url))
    with pytest.raises(ValueError, match="length must match num_envs=3"):
        envs.reset(seed=[1, 2])


@pytest.mark.parametrize("mask", [np.array([1, 0, 1]), np.array([True, False]), np.zeros(3, dtype=np.bool_),
                                  [True, False, True]], ids=["ints", "short", "none-true", "list"])
def test_a_bad_reset_mask_is_refused(closing, mask):
    envs = closing(gym.make_vec("openenv/echo-v0", num_envs=3, provider="inprocess",
                                autoreset_mode=AutoresetMode.DISABLED))
    with pytest.raises((TypeError, ValueError), match="reset_mask"):
        envs.reset(options={"reset_mask": mask})


# -- call, render, attributes, close ---------------------------------------------------------

@pytest.mark.parametrize("where", ["process-json", "inprocess", "url-msgpack", "two-urls-json"])
def test_call_state_and_render_reach_each_sub_env(make_echo_vec, where):
    envs = make_echo_vec(where, render_mode="ansi", autoreset_mode=AutoresetMode.DISABLED)
    envs.reset(seed=0)
    envs.step(["a0", "a1", "a2"])
    envs.step([UNICODE, "b1", ""])
    envs.reset(options={"reset_mask": np.array([False, True, False])})
    states = envs.call("state")
    assert [s["step_count"] for s in states] == [2, 0, 2]  # separate sessions, separate episodes
    assert len({s["episode_id"] for s in states}) == 3
    assert envs.render() == (UNICODE, READY, "") == envs.call("render")
    with pytest.raises(AttributeError, match="'state', 'render' and 'list_tools'.*not 'reset'"):
        envs.call("reset")


def test_render_without_a_render_mode_is_none(closing):
    envs = closing(gym.make_vec("openenv/echo-v0", num_envs=2, provider="inprocess"))
    envs.reset()
    assert envs.render() is None and envs.render_mode is None


def test_a_render_mode_the_environment_lacks_is_a_warning_and_no_rendering(closing):
    with pytest.warns(UserWarning, match=r"render_mode='rgb_array' is not offered by echo"):
        envs = closing(gym.make_vec("openenv/echo-v0", num_envs=2, provider="inprocess", render_mode="rgb_array"))
    envs.reset()
    assert envs.render() is None and envs.render_mode is None


def test_get_attr_and_set_attr(closing):
    envs = closing(gym.make_vec("openenv/echo-v0", num_envs=3, provider="inprocess", render_mode="ansi",
                                max_episode_steps=5))
    assert envs.get_attr("render_mode") == ("ansi",) * 3
    assert envs.get_attr("max_episode_steps") == (5,) * 3
    assert envs.get_attr("action_space") == (envs.single_action_space,) * 3
    envs.set_attr("temperature", [0.1, 0.2, 0.3])
    assert envs.get_attr("temperature") == (0.1, 0.2, 0.3)
    envs.set_attr("temperature", 0.5)
    assert envs.get_attr("temperature") == (0.5,) * 3
    with pytest.raises(ValueError, match="needs 3 values, got 2"):
        envs.set_attr("temperature", [1, 2])
    with pytest.raises(AttributeError, match="no attribute 'nowhere'"):
        envs.get_attr("nowhere")


def test_close_stops_the_server_processes_and_is_idempotent():
    envs = gym.make_vec("openenv/echo-v0", num_envs=3, num_servers=2)
    pids = [provider.pid for provider in envs.unwrapped._pool.providers]
    assert len(pids) == 2 and all(pids)
    envs.reset()
    envs.close()
    envs.close()
    assert envs.closed
    assert all(process_gone(pid) for pid in pids)


# -- failures ----------------------------------------------------------------------------------

@pytest.mark.parametrize("failing", [0, 2])
@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_a_sub_env_whose_step_raises_is_named_with_the_servers_message(sleepy_url, closing, failing,
                                                                       encoding):
    envs = closing(gym.make_vec("openenv/remote-v0", num_envs=3, base_url=sleepy_url, encoding=encoding))
    envs.reset()
    port = sleepy_url.rsplit(":", 1)[1]
    with pytest.raises(ExecutionError, match=rf"^sub-env {failing} \(http://127\.0\.0\.1:{port}\): "
                                             r"RuntimeError: boom: the environment failed"):
        envs.step(failing_actions(("a", "b", "c"), failing))


@pytest.mark.parametrize(
    ("bad", "field"),
    [({"message": 5}, "message: Input should be a valid string"),
     ({"message": "x", "colour": "red"}, "colour: Extra inputs are not permitted"),
     (5, "message: Input should be a valid string")],
    ids=["wrong-type", "extra-field", "not-text"],
)
@pytest.mark.parametrize("where", ["process-json", "inprocess", "url-msgpack"])
def test_an_invalid_action_names_the_sub_env_and_the_field(make_echo_vec, where, bad, field):
    envs = make_echo_vec(where)
    envs.reset()
    with pytest.raises(InvalidActionError, match=rf"sub-env 1\b.*{field}") as raised:
        envs.step(["ok", bad, "ok"])
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP],
                         ids=["next-step", "same-step"])
@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_keep_going_truncates_a_failing_sub_env_and_carries_on(sleepy_url, closing, mode, encoding):
    envs = closing(gym.make_vec("openenv/remote-v0", num_envs=3, base_url=sleepy_url, keep_going=True,
                                autoreset_mode=mode, encoding=encoding))
    envs.reset(seed=0)
    obs, rewards, terminations, truncations, infos = envs.step(failing_actions(("a", "b", "c"), 1))
    assert truncations.tolist() == [False, True, False] and not terminations.any()
    if mode is AutoresetMode.SAME_STEP:  # reset at once: the failed step's info is its final_info
        assert infos["_final_info"].tolist() == [False, True, False]
        infos = infos["final_info"]
    assert infos["_error"].tolist() == [False, True, False]
    assert "RuntimeError: boom: the environment failed" in infos["error"][1]
    assert rewards.tolist() == [0.0, 0.0, 0.0]
    recovered = "seed=None" if mode is AutoresetMode.SAME_STEP else "seed=1"  # NEXT_STEP: last obs kept
    assert obs["echoed_message"] == ("a", recovered, "c")
    obs, rewards, terminations, truncations, infos = envs.step(sleepy_actions(("d", "e", "f")))
    after = "seed=None" if mode is AutoresetMode.NEXT_STEP else "e"  # NEXT_STEP: autoreset now
    assert obs["echoed_message"] == ("d", after, "f")
    assert not terminations.any() and not truncations.any() and "error" not in infos
    obs, *_ = envs.step(sleepy_actions(("g", "h", "i")))
    assert obs["echoed_message"] == ("g", "h", "i")


def test_keep_going_leaves_the_other_sub_envs_episodes_alone(sleepy_url, closing):
    envs = closing(gym.make_vec("openenv/remote-v0", num_envs=3, base_url=sleepy_url, keep_going=True))
    envs.reset(seed=0)
    envs.step(failing_actions(("a", "b", "c"), 1))
    envs.step(sleepy_actions(("d", "e", "f")))  # sub-env 1 autoresets; 0 and 2 take their 2nd step
    assert [s["step_count"] for s in envs.call("state")] == [2, 0, 2]


@pytest.mark.parametrize("killed", [0, 1])
def test_a_killed_server_truncates_exactly_its_sub_envs_and_they_come_back(closing, killed):
    envs = closing(gym.make_vec("openenv/echo-v0", num_envs=4, num_servers=2, keep_going=True))
    providers = envs.unwrapped._pool.providers
    mine = [2 * killed, 2 * killed + 1]  # 4 sub-envs over 2 servers: 0, 1 on the first; 2, 3 on the second
    others = [i for i in range(4) if i not in mine]
    envs.reset(seed=0)
    envs.step(["a", "b", "c", "d"])
    old_pid = providers[killed].pid
    os.kill(old_pid, signal.SIGKILL)

    obs, rewards, terminations, truncations, infos = envs.step(["e", "f", "g", "h"])
    assert np.flatnonzero(truncations).tolist() == mine and not terminations.any()
    assert np.flatnonzero(infos["_error"]).tolist() == mine
    assert all(infos["error"][i].startswith("TransportError") for i in mine)
    assert [obs["echoed_message"][i] for i in others] == [["e", "f", "g", "h"][i] for i in others]
    assert rewards[others].tolist() == pytest.approx([0.1, 0.1]) and rewards[mine].tolist() == [0.0, 0.0]

    assert process_gone(old_pid)  # see test_a_server_still_exiting_is_started_again_not_reused
    obs, rewards, terminations, truncations, infos = envs.step(["i", "j", "k", "l"])  # the autoreset
    assert [obs["echoed_message"][i] for i in mine] == [READY, READY]
    assert [obs["echoed_message"][i] for i in others] == [["i", "j", "k", "l"][i] for i in others]
    assert not truncations.any() and "error" not in infos
    assert providers[killed].pid not in (None, old_pid)  # the server was started again

    obs, rewards, *_, infos = envs.step(["m", "n", "o", "p"])
    assert obs["echoed_message"] == ("m", "n", "o", "p")
    assert infos["step"][mine].tolist() == [1, 1] and infos["step"][others].tolist() == [4, 4]


def test_a_killed_server_raises_a_transport_error_naming_the_sub_env_and_url(closing):
    envs = closing(gym.make_vec("openenv/echo-v0", num_envs=4, num_servers=2))
    provider = envs.unwrapped._pool.providers[1]
    url = provider.base_url
    envs.reset()
    os.kill(provider.pid, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(TransportError, match=rf"^sub-env 2 \({url}\): .*(closed|lost)"):
        envs.step(["a", "b", "c", "d"])
    assert time.monotonic() - start < 5


def test_reset_after_a_server_died_reopens_its_sub_envs(closing):
    envs = closing(gym.make_vec("openenv/echo-v0", num_envs=4, num_servers=2))
    provider = envs.unwrapped._pool.providers[1]
    envs.reset()
    os.kill(provider.pid, signal.SIGKILL)
    with pytest.raises(TransportError):
        envs.step(["a", "b", "c", "d"])
    assert process_gone(provider.pid)
    obs, _ = envs.reset()
    assert obs["echoed_message"] == (READY,) * 4


def test_a_server_still_exiting_is_started_again_not_reused():
    provider = ProcessProvider("tests.support.apps:slow_close")  # its sessions take 1 s each to close
    envs = GymVectorEnv(num_envs=2, provider=provider, keep_going=True)
    try:
        envs.reset()
        envs.step(["a", "b"])
        old_pid = provider.pid
        os.kill(old_pid, signal.SIGTERM)  # sockets closed at once, the process alive ~2 s more
        for _ in range(100):
            *_, truncations, infos = envs.step(["c", "d"])
            if truncations.all():
                break
            time.sleep(0.02)
        assert truncations.all() and all("TransportError" in error for error in infos["error"])
        obs, *_ = envs.step(["e", "f"])  # the autoreset: a fresh server, fresh sessions
        assert obs["echoed_message"] == (READY, READY)
        assert provider.pid not in (None, old_pid)
    finally:
        if provider.pid is not None:
            os.kill(provider.pid, signal.SIGKILL)
        envs.close()
        provider.stop()


def test_keep_going_carries_on_when_a_lost_server_cannot_be_reached_again(serve, closing):
    servers = [serve("openenv_gym.envs.echo.app:app") for _ in range(2)]
    envs = closing(gym.make_vec("openenv/echo-v0", num_envs=4, base_url=[s.start() for s in servers],
                                keep_going=True))
    envs.reset()
    port = servers[1].start().rsplit(":", 1)[1]
    servers[1].stop()  # gone for good: nobody restarts a server given by URL
    *_, truncations, _ = envs.step(["a", "b", "c", "d"])
    assert truncations.tolist() == [False, False, True, True]
    obs, _, _, truncations, infos = envs.step(["e", "f", "g", "h"])  # the autoreset of 2 and 3 fails
    assert obs["echoed_message"][:2] == ("e", "f")
    assert truncations.tolist() == [False, False, True, True]
    assert np.flatnonzero(infos["_error"]).tolist() == [2, 3]
    assert all(f"127.0.0.1:{port}" in infos["error"][i] for i in (2, 3))
