"""Atari on ale-py's C++ vector engine (``engine="vector"``): exactly ``AtariVectorEnv``'s frames,
in-process and served (batched steps, frames through shared memory), and clear errors."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from ale_py.vector_env import AtariVectorEnv
from gymnasium.utils.env_checker import check_env

import openenv_gym  # noqa: F401  (registers openenv/*)
from openenv_gym.envs.atari import AtariAction, AtariEnvironment
from openenv_gym.errors import ExecutionError

RAW = {"img_height": 210, "img_width": 160, "stack_num": 1, "maxpool": False, "noop_max": 0,
       "use_fire_reset": False, "episodic_life": False, "reward_clipping": False}
PREPROCESSED = {"img_height": 84, "img_width": 84, "stack_num": 4, "maxpool": True, "noop_max": 30,
                "use_fire_reset": True, "episodic_life": False, "reward_clipping": True}
"""AtariVectorEnv's defaults: 84x84, frame stack 4, max-pool, up to 30 no-ops, FIRE on reset, clipped rewards."""


def ours(game: str, num_envs: int, provider: str, grayscale: bool, **options: Any) -> gym.vector.VectorEnv:
    return gym.make_vec(f"openenv/atari-{game}-v0", num_envs=num_envs, provider=provider, engine="vector",
                        obs_type="grayscale" if grayscale else "rgb", **options)


def assert_same_rollout(mine: gym.vector.VectorEnv, reference: AtariVectorEnv, steps: int, seed: int) -> None:
    """Same seeds, same actions: every frame, reward, flag, lives and frame counter is AtariVectorEnv's,
    through the episodes' ends (both autoreset on the next step)."""
    obs, info = mine.reset(seed=seed)
    ref, ref_info = reference.reset(seed=seed)
    assert np.array_equal(obs, ref.reshape(obs.shape))  # AtariVectorEnv keeps a stack of 1; ours is ALE's shape
    actions = np.random.default_rng(seed).integers(reference.single_action_space.n, size=(steps, mine.num_envs))
    ends = 0
    for t, action in enumerate(actions):
        step, ref_step = mine.step(action), reference.step(action)
        fields = ("frame", "reward", "terminated", "truncated")
        for name, got, want in zip(fields, step[:4], ref_step[:4], strict=True):
            assert np.array_equal(got, want.reshape(got.shape)), f"step {t}: {name} differs"
        for key in ("lives", "episode_frame_number", "frame_number"):
            assert step[4][key].tolist() == ref_step[4][key].tolist(), f"step {t}: {key} differs"
        ends += int(np.sum(step[2] | step[3]))
    assert ends >= mine.num_envs, "the rollout went through episode ends (and autoresets)"


@pytest.mark.parametrize("provider", ["inprocess", "process"])
def test_preprocessed_frames_are_atari_vector_envs(provider):
    mine = ours("breakout", 3, provider, grayscale=True, repeat_action_probability=0.25,
                max_num_frames_per_episode=400, **PREPROCESSED)
    reference = AtariVectorEnv("breakout", 3, repeat_action_probability=0.25, max_num_frames_per_episode=400,
                               grayscale=True, **PREPROCESSED)
    try:
        assert mine.single_observation_space == reference.single_observation_space == gym.spaces.Box(
            0, 255, (4, 84, 84), np.uint8)
        assert_same_rollout(mine, reference, steps=300, seed=11)
    finally:
        mine.close()
        reference.close()


def test_raw_frames_over_a_server_are_atari_vector_envs_and_ales_shape():
    mine = ours("pong", 2, "process", grayscale=False, max_num_frames_per_episode=200, **RAW)
    reference = AtariVectorEnv("pong", 2, repeat_action_probability=0.25, max_num_frames_per_episode=200,
                               grayscale=False, **RAW)
    try:
        assert mine.single_observation_space == gym.make("ALE/Pong-v5").observation_space  # (210, 160, 3)
        assert_same_rollout(mine, reference, steps=120, seed=3)
    finally:
        mine.close()
        reference.close()


def test_one_vector_engine_env_passes_gymnasiums_checker():
    env = gym.make("openenv/atari-pong-v0", provider="inprocess", engine="vector")
    check_env(env.unwrapped)
    env.close()


def test_an_out_of_range_action_fails_only_its_sub_env_and_the_others_step_once():
    mine = ours("pong", 3, "process", grayscale=True, keep_going=True, **RAW)
    try:
        mine.reset(seed=0)
        _, _, _, truncated, infos = mine.step(np.array([0, 9, 0]))
        assert truncated.tolist() == [False, True, False]
        assert "action_id 9 is out of range" in infos["error"][1] and "NOOP, FIRE" in infos["error"][1]
        assert infos["episode_frame_number"][[0, 2]].tolist() == [4, 4], "the others stepped once"
        _, _, _, truncated, infos = mine.step(np.array([1, 1, 1]))  # the failed one autoresets
        assert infos["episode_frame_number"].tolist() == [8, 0, 8] and not truncated.any()
    finally:
        mine.close()


def test_without_keep_going_the_error_names_its_sub_env():
    mine = ours("pong", 2, "process", grayscale=True, **RAW)
    try:
        mine.reset(seed=0)
        with pytest.raises(ExecutionError, match=r"^sub-env 1 \(.*action_id 7 is out of range"):
            mine.step(np.array([0, 7]))
    finally:
        mine.close()


def test_a_step_after_the_episode_ended_asks_for_a_reset_instead_of_starting_one():
    env = AtariEnvironment("pong", engine="vector", max_num_frames_per_episode=8)
    with pytest.raises(RuntimeError, match="reset the environment before stepping"):
        env.step(AtariAction(action_id=0))  # never reset
    env.reset(seed=0)
    assert not env.step(AtariAction(action_id=0)).truncated
    assert env.step(AtariAction(action_id=0)).truncated  # 8 frames
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(AtariAction(action_id=0))
    assert env.reset().metadata["episode_frame_number"] == 0
    assert env.step(AtariAction(action_id=0)).metadata["episode_frame_number"] == 4
    env.close()


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"engine": "vector", "obs_type": "ram"}, ValueError, "not 'ram': use engine='python'"),
    ({"engine": "vector", "frameskip": (2, 5)}, ValueError, "fixed frameskip"),
    ({"engine": "vector", "mode": 1}, ValueError, "default mode and difficulty"),
    ({"engine": "vector", "stack": 4}, TypeError, "unknown option stack for engine='vector': it takes img_height"),
    ({"stack_num": 4}, TypeError, "stack_num: preprocessing runs in ale-py's vector engine: pass engine='vector'"),
    ({"engine": "cuda"}, ValueError, "engine must be 'python' or 'vector'"),
])
def test_what_an_engine_cannot_do_is_named(options, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        AtariEnvironment("pong", **options)


def test_seeds_beyond_a_c_int_and_emulator_tools_are_clear_errors():
    env = AtariEnvironment("pong", engine="vector")
    with pytest.raises(ValueError, match=r"seeds 0 <= seed < 2\*\*31"):
        env.reset(seed=2**31)
    env.reset(seed=2**31 - 1)
    with pytest.raises(ValueError, match="cannot read the RAM with engine='vector'"):
        env.ale_ram()
    assert env.state.lives == 0 and env.render("ansi").startswith("pong: step 0")
    env.close()
