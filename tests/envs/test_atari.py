"""The Atari environment on real ALE frames: exact as ale-py's ``ALE/*-v5``, in-process and served."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import ale_py
import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import openenv_gym
from openenv_gym.envs.atari import ROM_IDS, AtariAction, AtariEnvironment
from openenv_gym.errors import FactoryError
from openenv_gym.providers import ProcessProvider
from openenv_gym.wrappers.atari import grayscale

gym.register_envs(ale_py)
APP = "openenv_gym.envs.atari.app:app"
NO_STICKY = {"repeat_action_probability": 0.0}
STEPS = 300


@pytest.fixture(scope="module")
def pong_server() -> Iterator[ProcessProvider]:
    """One Pong server without sticky actions, shared by the tests that open sessions on it."""
    provider = ProcessProvider(APP, env_kwargs=NO_STICKY)
    provider.start()
    yield provider
    provider.stop()


def plain(info: dict) -> dict:
    return {k: [int(x) for x in v] if isinstance(v, tuple | list) else int(v) for k, v in info.items()}


def assert_same_run(ours: gym.Env, ale: gym.Env, seed: int, steps: int = STEPS) -> None:
    """Same seed, same actions: every frame, reward, flag and info is ALE's."""
    (obs, info), (ref, ref_info) = ours.reset(seed=seed), ale.reset(seed=seed)
    assert np.array_equal(obs, ref) and plain(info) == plain(ref_info)
    actions = np.random.default_rng(seed).integers(ale.action_space.n, size=steps)
    for t, action in enumerate(actions):
        obs, reward, terminated, truncated, info = ours.step(int(action))
        ref, ref_reward, ref_terminated, ref_truncated, ref_info = ale.step(int(action))
        assert np.array_equal(obs, ref), f"frame {t} differs"
        assert (reward, terminated, truncated, plain(info)) == (ref_reward, ref_terminated, ref_truncated,
                                                                plain(ref_info)), f"step {t} differs"
    assert obs.dtype == np.uint8 and ours.observation_space.contains(obs)


@pytest.mark.parametrize("options", [NO_STICKY, {}], ids=["no-sticky", "v5-defaults"])
def test_in_process_frames_and_rewards_equal_ale_pong_v5(options):
    ours = gym.make("openenv/atari-pong-v0", provider="inprocess", **options)
    ale = gym.make("ALE/Pong-v5", **options)
    assert ours.observation_space == ale.observation_space and ours.action_space == ale.action_space
    assert_same_run(ours, ale, seed=7)
    ours.close()


def test_served_frames_equal_ale_pong_v5_and_travel_as_binary(pong_server):
    ours = gym.make("openenv/atari-pong-v0", provider=pong_server)
    assert ours.unwrapped._client.subprotocol == "openenv-gym.v1.msgpack"
    assert_same_run(ours, gym.make("ALE/Pong-v5", **NO_STICKY), seed=11)
    ours.close()


@pytest.mark.parametrize(("obs_type", "shape"), [("rgb", (210, 160, 3)), ("grayscale", (210, 160)),
                                                 ("ram", (128,))])
def test_obs_types_have_exact_box_spaces_and_ale_values(obs_type, shape):
    ours = gym.make("openenv/atari-v0", game="breakout", obs_type=obs_type, provider="inprocess")
    ale = gym.make("ALE/Breakout-v5", obs_type=obs_type)
    assert ours.observation_space == spaces.Box(0, 255, shape, np.uint8) == ale.observation_space
    assert ours.action_space == spaces.Discrete(4)
    obs, _ = ours.reset(seed=1)
    assert obs.dtype == np.uint8 and obs.shape == shape
    assert_same_run(ours, ale, seed=1, steps=30)
    ours.close()


def test_info_carries_lives_and_frame_counters():
    env = gym.make("openenv/atari-breakout-v0", provider="inprocess", frameskip=2)
    _, info = env.reset(seed=0)
    assert info["lives"] == 5 and info["episode_frame_number"] == 0 and len(info["seeds"]) == 2
    _, _, _, _, info = env.step(1)
    assert set(info) == {"lives", "episode_frame_number", "frame_number"} and info["episode_frame_number"] == 2
    assert env.unwrapped.state()["lives"] == 5 and env.unwrapped.state()["game"] == "breakout"
    env.close()


def test_rgb_array_render_is_the_frame_over_a_server(pong_server):
    env = gym.make("openenv/atari-pong-v0", provider=pong_server, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(2)
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and np.array_equal(frame, obs)
    assert env.metadata["render_fps"] == gym.make("ALE/Pong-v5").metadata["render_fps"]  # videos play at ALE's speed
    env.close()


def test_grayscale_from_rgb_is_ales_grayscale():
    env = AtariEnvironment("space_invaders", **NO_STICKY)
    env.reset(seed=0)
    for action in np.random.default_rng(0).integers(6, size=50):
        env.step(AtariAction(action_id=int(action)))
        ale = env._engine.ale
        assert np.array_equal(grayscale(ale.getScreenRGB()), ale.getScreenGrayscale())


@pytest.mark.parametrize("provider", ["inprocess", "process"])
def test_atari_preprocessing_gives_ales_preprocessed_frames(provider):
    pytest.importorskip("cv2", reason="AtariPreprocessing needs opencv-python")
    from gymnasium.wrappers import AtariPreprocessing

    ours = AtariPreprocessing(gym.make("openenv/atari-pong-v0", frameskip=1, provider=provider, **NO_STICKY))
    ale = AtariPreprocessing(gym.make("ALE/Pong-v5", frameskip=1, **NO_STICKY))
    obs, _ = ours.reset(seed=3)
    assert obs.shape == (84, 84) and np.array_equal(obs, ale.reset(seed=3)[0])  # same no-op starts too
    for action in np.random.default_rng(3).integers(6, size=60):
        mine, theirs = ours.step(int(action)), ale.step(int(action))
        assert np.array_equal(mine[0], theirs[0]) and mine[1:4] == theirs[1:4]
    ours.close()


def test_make_vec_steps_and_autoresets_with_binary_frames():
    envs = gym.make_vec("openenv/atari-pong-v0", num_envs=4, num_servers=1, max_num_frames_per_episode=40)
    obs, infos = envs.reset(seed=0)
    assert obs.shape == (4, 210, 160, 3) and obs.dtype == np.uint8 and infos["lives"].tolist() == [0] * 4
    frames, truncated = [], []
    for _ in range(12):
        obs, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
        frames.append(infos["episode_frame_number"].tolist())
        truncated.append(truncations.tolist())
    # ALE truncates at 40 frames (10 steps of 4); the next step is the autoreset (frame 0)
    assert [t for t, flags in enumerate(truncated) if any(flags)] == [9] and truncated[9] == [True] * 4
    assert frames[9] == [40] * 4 and frames[10] == [0] * 4 and frames[11] == [4] * 4
    assert envs.observation_space.contains(obs)
    envs.close()


def test_make_vec_starts_a_server_per_core_for_atari_and_leaves_echo_one_core_short():
    """Emulation is most of an Atari step (its manifest says ``compute_bound``): by default
    every core runs a server; echo's servers leave a core to the client."""
    cores = os.cpu_count() or 1
    for env_id, servers in [("openenv/atari-pong-v0", cores), ("openenv/echo-v0", max(1, cores - 1))]:
        envs = gym.make_vec(env_id, num_envs=2)
        try:
            assert len(envs.unwrapped._pool.providers) == min(2, servers), env_id
        finally:
            envs.close()


def test_async_vector_env_runs_served_sessions():
    envs = gym.make_vec("openenv/atari-pong-v0", num_envs=2, vectorization_mode="async")
    obs, _ = envs.reset(seed=0)
    obs, rewards, *_ = envs.step(np.array([0, 1]))
    assert obs.shape == (2, 210, 160, 3) and rewards.shape == (2,)
    envs.close()


@pytest.mark.parametrize("provider", ["inprocess", "process"])
def test_check_env_passes(provider):
    env = gym.make("openenv/atari-pong-v0", provider=provider)
    check_env(env.unwrapped)
    env.close()


def test_rom_ids_are_ale_pys_and_each_has_an_id():
    assert list(ROM_IDS) == sorted(ale_py.roms.get_all_rom_ids())
    assert {f"openenv/atari-{rom}-v0" for rom in ROM_IDS} <= set(gym.registry)
    assert gym.spec("openenv/atari-space_invaders-v0").kwargs == {"env": "atari", "game": "space_invaders"}
    assert gym.spec("openenv/atari-v0").kwargs == {"env": "atari"}


def test_import_openenv_gym_needs_no_ale_py():
    code = ("import sys; sys.modules['ale_py'] = None\n"  # as if ale-py were not installed
            "import gymnasium as gym, openenv_gym\n"
            "assert gym.spec('openenv/atari-pong-v0').kwargs['game'] == 'pong'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_wrong_game_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown Atari game 'pongg'\. Did you mean 'pong'\?"):
        gym.make("openenv/atari-v0", game="pongg", provider="inprocess")
    with pytest.raises(ValueError, match="Did you mean 'breakout'"):  # before any server starts
        gym.make("openenv/atari-v0", game="brekout")
    with ProcessProvider(APP, env_kwargs={"game": "brekout"}) as server:  # a served session says the same
        client = openenv_gym.SyncEnvClient(server.start()).connect()
        with pytest.raises(FactoryError, match="Did you mean 'breakout'"):
            client.reset()


def test_an_out_of_range_action_is_a_clear_error():
    env = gym.make("openenv/atari-pong-v0", provider="inprocess")
    env.reset(seed=0)
    with pytest.raises(openenv_gym.ExecutionError, match=r"action_id 6 is out of range: pong has 6 actions"):
        env.unwrapped.step(6)
    env.close()


def test_noframeskip_ids_are_ale_pys_noframeskip_v4():
    assert {f"openenv/atari-{rom}-NoFrameskip-v0" for rom in ROM_IDS} <= set(gym.registry)
    ours = gym.make("openenv/atari-pong-NoFrameskip-v0", provider="inprocess")
    assert ours.unwrapped._frameskip == 1
    assert_same_run(ours, gym.make("PongNoFrameskip-v4"), seed=3, steps=100)
    ours.close()


def test_the_ale_view_reads_ram_and_clones_and_restores_states_as_ale():
    ours = gym.make("openenv/atari-pong-NoFrameskip-v0")  # a server of its own
    ref = gym.make("PongNoFrameskip-v4")
    ours.reset(seed=5), ref.reset(seed=5)
    for action in [1, 2, 3] * 20:
        ours.step(action), ref.step(action)
    ale, ref_ale = ours.unwrapped.ale, ref.unwrapped.ale
    assert np.array_equal(ale.getRAM(), ref_ale.getRAM()) and ale.getRAM().dtype == np.uint8
    saved, saved_ram, saved_screen = ale.cloneState(), ale.getRAM(), ale.getScreenRGB()
    assert ale.act(ale_py.Action.UP) == ref_ale.act(ale_py.Action.UP)
    assert np.array_equal(ale.getRAM(), ref_ale.getRAM()) and not np.array_equal(ale.getRAM(), saved_ram)
    assert np.array_equal(ale.getScreenRGB(), ref_ale.getScreenRGB())
    assert ale.getFrameNumber() == ref_ale.getFrameNumber()
    assert (ale.lives(), ale.game_over()) == (ref_ale.lives(), ref_ale.game_over())
    ale.restoreState(saved)
    assert np.array_equal(ale.getRAM(), saved_ram)
    ours.step(0)  # stepping from the restored state: the view answers from observations again
    assert ours.unwrapped.ale.getScreenRGB().shape == saved_screen.shape
    with pytest.raises(AttributeError, match=r"offers lives, game_over, getRAM.*not 'setRAM'; step with env.step"):
        ale.setRAM(0, 1)
    ours.close()


def test_envs_pickle_and_step_in_a_new_session_after_load():
    import pickle

    env = gym.make("openenv/atari-breakout-NoFrameskip-v0")
    env.reset(seed=0)
    copy = pickle.loads(pickle.dumps(env))
    assert copy.spec.id == "openenv/atari-breakout-NoFrameskip-v0" and copy.unwrapped._frameskip == 1
    obs, info = copy.reset(seed=0)
    assert np.array_equal(obs, env.reset(seed=0)[0])
    assert copy.step(1)[0].shape == (210, 160, 3)
    assert copy.unwrapped._provider is not env.unwrapped._provider  # its own server
    copy.close()
    env.close()


def test_an_env_on_a_provider_instance_refuses_to_pickle(pong_server):
    import pickle

    env = gym.make("openenv/atari-pong-v0", provider=pong_server)
    with pytest.raises(TypeError, match="cannot pickle 'atari' on a ProcessProvider instance: a copy could "
                                        "not start that server again; make the env with provider='process'"):
        pickle.dumps(env)
    env.close()
