"""Our envs under Gymnasium's SyncVectorEnv and AsyncVectorEnv (default shared memory).

Gymnasium's own ``Text`` shared memory returns stale ``'000…'`` strings; the ``UnicodeText``
implementation in :mod:`openenv_gym.wrappers.spaces.shared_memory` must give back exactly what
``SyncVectorEnv`` gives, in every start method.
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

import openenv_gym
from openenv_gym import InvalidActionError, errors
from openenv_gym.wrappers.spaces import MAX_TEXT_LENGTH, UnicodeText
from openenv_gym.wrappers.spaces.shared_memory import SharedTexts

# Workers started by spawn/forkserver do not import this module, only what an env_fn refers to;
# the "module:" prefix makes gym.make import openenv_gym (which registers the ids) there.
ECHO = "openenv_gym:openenv/echo-v0"
READY = "Echo environment ready!"
UNICODE = "héllo ✓ 中文 😀"
LONGEST = (UNICODE * MAX_TEXT_LENGTH)[:MAX_TEXT_LENGTH]


def echo_batches(num_envs: int, seed: int = 7) -> list[tuple[str, ...]]:
    """Actions: edge cases (longest first, then shorter ones in the same slot), then samples."""
    edge = [LONGEST, "", UNICODE, "\x00\n\t NUL", "😀", "x" * MAX_TEXT_LENGTH, "a", ""]
    space = UnicodeText()
    space.seed(seed)
    texts = edge + [space.sample() for _ in range(4 * num_envs)]
    return [tuple(texts[i:i + num_envs]) for i in range(0, len(texts) - num_envs + 1, num_envs)]


def assert_same_obs(actual, expected):
    assert actual.keys() == expected.keys()
    assert type(actual["echoed_message"]) is tuple
    assert actual["echoed_message"] == expected["echoed_message"]
    np.testing.assert_array_equal(actual["message_length"], expected["message_length"])


def run(envs, batches, seed=123):
    """Every (obs, reward, terminated, truncated) of a reset and the batches of actions."""
    obs, _ = envs.reset(seed=seed)
    results = [(obs, None, None, None)]
    for actions in batches:
        obs, reward, terminated, truncated, _ = envs.step(actions)
        results.append((obs, reward, terminated, truncated))
    return results


# -- the space code alone ---------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "a", UNICODE, "\x00", "\ud800 lone surrogate", "😀" * 16])
def test_shared_memory_round_trips_text_exactly(text):
    space = UnicodeText(16)
    memory = create_shared_memory(space, n=3, ctx=mp)
    write_to_shared_memory(space, 1, "x" * 16, memory)  # a longer string first: no stale tail
    write_to_shared_memory(space, 1, text, memory)
    assert read_from_shared_memory(space, memory, n=3) == ("", text, "")


def test_reads_are_live_read_only_and_copy_to_tuples():
    space = UnicodeText(8)
    memory = create_shared_memory(space, n=2, ctx=mp)
    texts = read_from_shared_memory(space, memory, n=2)  # read before any write, as AsyncVectorEnv does
    assert isinstance(texts, SharedTexts) and texts == ("", "")
    write_to_shared_memory(space, 0, "中文", memory)
    write_to_shared_memory(space, 1, "😀", memory)
    assert texts == ("中文", "😀") and ("中文", "😀") == texts and texts != ["中文", "😀"]
    assert (len(texts), texts[-1], texts[:1], list(texts)) == (2, "😀", ("中文",), ["中文", "😀"])
    assert repr(texts) == "SharedTexts(('中文', '😀'))"
    for snapshot in (copy.copy(texts), copy.deepcopy(texts), pickle.loads(pickle.dumps(texts))):
        assert type(snapshot) is tuple and snapshot == ("中文", "😀")
    assert copy.deepcopy({"obs": texts}) == {"obs": ("中文", "😀")}
    with pytest.raises(IndexError):
        texts[2]
    with pytest.raises(TypeError):
        texts[0] = "no"
    with pytest.raises(TypeError):
        hash(texts)


def test_unicode_text_nested_in_a_dict():
    space = spaces.Dict({"prompt": UnicodeText(8), "turn": spaces.Discrete(3)})
    memory = create_shared_memory(space, n=2, ctx=mp)
    batch = read_from_shared_memory(space, memory, n=2)
    write_to_shared_memory(space, 1, {"prompt": "né 中", "turn": 2}, memory)
    assert batch["prompt"] == ("", "né 中") and batch["turn"].tolist() == [0, 2]


def test_over_long_and_non_text_values_get_a_clear_error():
    space = UnicodeText(4, min_length=0)
    memory = create_shared_memory(space, n=1, ctx=mp)
    with pytest.raises(ValueError, match=r"^observation text of 5 characters does not fit "
                                         r"UnicodeText\(0, 4\): its max_length is 4$"):
        write_to_shared_memory(space, 0, "12345", memory)
    with pytest.raises(TypeError, match="must be a str, got int"):
        write_to_shared_memory(space, 0, 5, memory)


def test_gymnasium_text_keeps_its_own_implementation():
    ours = read_from_shared_memory.dispatch(UnicodeText)
    assert ours.__module__ == "openenv_gym.wrappers.spaces.shared_memory"
    assert read_from_shared_memory.dispatch(spaces.Text) is not ours


def test_unpickling_a_space_registers_the_implementation():
    """The parent of AsyncVectorEnv may only ever unpickle a space (no import of ours)."""
    code = ("import pickle, sys; from gymnasium.vector.utils import read_from_shared_memory as r; "
            "space = pickle.loads(sys.stdin.buffer.read()); "
            "print(r.dispatch(type(space)).__module__)")
    result = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(UnicodeText(8)),
                            capture_output=True, check=True)
    assert result.stdout.decode().strip() == "openenv_gym.wrappers.spaces.shared_memory"


# -- real vector envs ---------------------------------------------------------------------------

@pytest.mark.parametrize("context", ["fork", "spawn", "forkserver"])
def test_async_matches_sync_step_for_step(context):
    """Default shared memory, local servers (default provider); Sync is the reference."""
    batches = echo_batches(2)
    sync = SyncVectorEnv([lambda: gym.make(ECHO, provider="inprocess")] * 2)
    try:
        expected = run(sync, batches)
    finally:
        sync.close()
    assert expected[0][0]["echoed_message"] == (READY, READY)
    for (obs, *_), actions in zip(expected[1:], batches, strict=True):  # Sync is right, too
        assert obs["echoed_message"] == actions
        assert obs["message_length"].tolist() == [len(a) for a in actions]

    envs = AsyncVectorEnv([lambda: gym.make(ECHO)] * 2, context=context)
    try:
        assert envs.shared_memory
        actual = run(envs, batches)
    finally:
        envs.close()
    for (obs, *rest), (expected_obs, *expected_rest) in zip(actual, expected, strict=True):
        assert_same_obs(obs, expected_obs)
        for value, expected_value in zip(rest, expected_rest, strict=True):
            np.testing.assert_array_equal(value, expected_value)


def test_make_vec_async():
    envs = gym.make_vec("openenv/echo-v0", num_envs=2, vectorization_mode="async")
    try:
        assert isinstance(envs.unwrapped, AsyncVectorEnv) and envs.unwrapped.shared_memory
        obs, _ = envs.reset(seed=0)
        assert obs["echoed_message"] == (READY, READY)
        obs, reward, *_ = envs.step((UNICODE, ""))
        assert obs["echoed_message"] == (UNICODE, "") and obs["message_length"].tolist() == [12, 0]
        assert envs.observation_space.contains(obs)
        np.testing.assert_allclose(reward, [1.2, 0.0])
    finally:
        envs.close()


def test_copy_false_returns_a_live_view():
    """Documented: the same live object every step (like Box arrays), not a tuple."""
    envs = AsyncVectorEnv([lambda: gym.make(ECHO, provider="inprocess")] * 2, copy=False)
    try:
        obs, _ = envs.reset(seed=0)
        texts = obs["echoed_message"]
        assert isinstance(texts, SharedTexts) and texts == (READY, READY)
        kept = tuple(texts)
        new_obs, *_ = envs.step((UNICODE, "b"))
        assert new_obs is obs and new_obs["echoed_message"] is texts
        assert texts == (UNICODE, "b") and kept == (READY, READY)
        assert not envs.observation_space.contains(new_obs)
        assert envs.observation_space.contains({**new_obs, "echoed_message": tuple(texts)})
    finally:
        envs.close()


@pytest.mark.filterwarnings("ignore::UserWarning")  # gymnasium logs the worker's traceback
def test_over_long_text_is_refused_clearly_in_the_parent():
    # echo refuses messages its observation space could not hold; the shared-memory write of an
    # over-long observation has its own clear error (tested on the space above)
    envs = AsyncVectorEnv([lambda: gym.make(ECHO, provider="inprocess")] * 2)
    try:
        envs.reset(seed=0)
        with pytest.raises(InvalidActionError, match=f"message: String should have at most {MAX_TEXT_LENGTH}"):
            envs.step(("ok", "x" * (MAX_TEXT_LENGTH + 1)))
    finally:
        envs.close(terminate=True)


@pytest.mark.filterwarnings("ignore::UserWarning")  # gymnasium logs the worker's traceback
def test_worker_exception_reraises_with_its_type_and_message():
    with gym.make(ECHO, provider="inprocess") as env:
        env.reset()
        with pytest.raises(InvalidActionError) as direct:
            env.step({"message": 42})
    envs = AsyncVectorEnv([lambda: gym.make(ECHO)] * 2)
    try:
        envs.reset(seed=0)
        with pytest.raises(InvalidActionError) as relayed:
            envs.step(("fine", {"message": 42}))
    finally:
        envs.close(terminate=True)
    assert type(relayed.value) is InvalidActionError and isinstance(relayed.value, ValueError)
    assert str(relayed.value) == str(direct.value)
    assert "message: Input should be a valid string" in str(relayed.value)


@pytest.mark.parametrize("cls", [getattr(openenv_gym, name) for name in openenv_gym.__all__
                                 if name.endswith("Error")], ids=lambda cls: cls.__name__)
def test_every_error_survives_async_vector_env_relay(cls):
    """What AsyncVectorEnv does: pickle the exception through a queue, then ``type(e)(e)``."""
    original = (cls("boom", code="X", details={"errors": [1]}) if issubclass(cls, errors.ServerError)
                else cls("boom"))
    value = pickle.loads(pickle.dumps(original))
    relayed = type(value)(value)
    assert type(relayed) is cls and str(relayed) == str(original)
    if isinstance(original, errors.ServerError):
        assert (relayed.message, relayed.code, relayed.details) == ("boom", "X", {"errors": [1]})
