"""The Swarm provider on a real one-node swarm: replicas serve sessions, scale, and go away."""

from __future__ import annotations

import gymnasium as gym
import httpx
import numpy as np
import pytest

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym.providers import SwarmProvider
from tests.support.docker import engine

pytestmark = [pytest.mark.timeout(300), pytest.mark.needs_docker]


def test_sessions_are_spread_over_the_replicas_of_a_service(docker_image):
    image = docker_image("echo")
    envs = gym.make_vec("openenv/echo-v0", num_envs=4, provider="swarm", replicas=2,
                        provider_options={"image": image})
    try:
        pool = envs.unwrapped._pool
        (swarm,) = pool.providers
        assert sorted(pool.label(i) for i in range(4)) == sorted(swarm.base_urls * 2)  # 2 sessions each
        assert len(set(swarm.base_urls)) == 2
        envs.reset(seed=0)
        _, rewards, *_ = envs.step(np.array(["a", "bb", "ccc", "dddd"]))
        assert rewards.round(2).tolist() == [0.1, 0.2, 0.3, 0.4]
        for url in swarm.base_urls:  # each replica holds its own two sessions
            status = httpx.get(url + "/capabilities", headers={"Authorization": f"Bearer {swarm.token}"})
            assert status.json()["active_sessions"] == 2
        name = swarm.service_name
    finally:
        envs.close()
    assert not engine().services.list(filters={"name": name})
    assert not engine().containers.list(all=True, filters={"label": f"com.docker.swarm.service.name={name}"})


def test_scaling_adds_replicas_and_keeps_the_running_ones(docker_image):
    with SwarmProvider("echo", replicas=1, image=docker_image("echo")) as swarm:
        (first,) = swarm.start_all()
        urls = swarm.scale(2)
        assert first in urls and len(set(urls)) == 2
        anonymous = httpx.get(urls[1] + "/capabilities")
        assert anonymous.status_code == 401  # replicas listen on every interface: a token by default


def test_a_killed_replica_is_replaced_and_a_keep_going_vector_env_recovers(docker_image):
    envs = gym.make_vec("openenv/echo-v0", num_envs=2, provider="swarm", replicas=2, keep_going=True,
                        provider_options={"image": docker_image("echo")})
    try:
        envs.reset(seed=0)
        (swarm,) = envs.unwrapped._pool.providers
        replica = f"{swarm.service_name}.2."
        (victim,) = [c for c in engine().containers.list(sparse=True, filters={"name": replica})]
        victim.kill()
        _, _, _, truncated, infos = envs.step(np.array(["a", "b"]))
        assert truncated.tolist() == [False, True] and "TransportError" in infos["error"][1]
        obs, infos = envs.reset()  # waits for Swarm's new replica in slot 2, at its new port
        assert "error" not in infos
        assert envs.unwrapped._pool.label(1) == swarm.replica_url(2) != swarm.base_urls[1]
        assert envs.step(np.array(["a", "bb"]))[0]["echoed_message"] == ("a", "bb")
    finally:
        envs.close()
