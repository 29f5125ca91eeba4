"""provider="ray": environment servers as Ray actors on a real three-node Ray cluster.

``ray.cluster_utils.Cluster`` runs one raylet per node on this machine (a head and two
workers, 2 CPUs each): Ray places, restarts and kills the actors exactly as on separate
machines, and removing a node kills its raylet and every process on it.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest
import ray
import ray._private.state
from ray.cluster_utils import Cluster

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym.errors import ProviderError
from openenv_gym.providers import RayProvider


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    workers = [cluster.add_node(num_cpus=2), cluster.add_node(num_cpus=2, resources={"env_server": 2})]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster, workers
    ray.shutdown()
    cluster.shutdown()


def alive_actors() -> list[dict]:
    return [a for a in ray._private.state.actors().values() if a["State"] != "DEAD"]


def actor_node(provider: RayProvider) -> str:
    return ray.get(provider.actor.node.remote())


def test_make_runs_the_server_as_an_actor_and_close_leaves_none(cluster):
    env = gym.make("openenv/echo-v0", provider="ray")
    env.reset(seed=0)
    obs, *_ = env.step({"message": "over ray"})
    assert obs["echoed_message"] == "over ray"
    server = env.unwrapped._provider
    assert server.start().startswith(f"http://{ray.util.get_node_ip_address()}:")
    env.close()
    assert alive_actors() == []


def test_the_server_asks_for_a_token(cluster):
    """It listens on the node's address: without the token a client is refused."""
    import httpx

    with RayProvider("echo") as server:
        url = server.start()
        assert httpx.get(url + "/schema", trust_env=False).status_code == 401
        headers = {"Authorization": f"Bearer {server.token}"}
        assert httpx.get(url + "/schema", headers=headers, trust_env=False).status_code == 200


def test_make_vec_spreads_one_server_per_node(cluster):
    envs = gym.make_vec("openenv/echo-v0", num_envs=6, provider="ray")
    try:
        servers = envs.unwrapped._pool.providers
        assert len(servers) == 3 and len({actor_node(s) for s in servers}) == 3
        assert {envs.unwrapped._pool.label(i) for i in range(6)} == {s.start() for s in servers}
        envs.reset(seed=0)
        obs, *_ = envs.step([str(i) for i in range(6)])
        assert list(obs["echoed_message"]) == [str(i) for i in range(6)]
    finally:
        envs.close()
    assert alive_actors() == []


def test_a_lost_node_truncates_its_sub_envs_and_they_come_back_elsewhere(cluster):
    """A worker node dies mid-rollout: its sessions are truncated with the reason, the others
    go on; Ray restarts the actor on a node still alive and the next reset reconnects."""
    ray_cluster, workers = cluster
    victim = workers[0]
    envs = gym.make_vec("openenv/echo-v0", num_envs=6, provider="ray", keep_going=True)
    try:
        pool = envs.unwrapped._pool
        servers = pool.providers
        on_victim = [i for i, s in enumerate(servers) if actor_node(s) == victim.node_id]
        assert len(on_victim) == 1
        lost = [i for i in range(6) if pool.label(i) == servers[on_victim[0]].start()]
        assert len(lost) == 2
        envs.reset(seed=0)
        envs.step(["a"] * 6)
        ray_cluster.remove_node(victim)

        for _ in range(50):  # until the sessions notice their server's socket closed
            obs, rewards, terminations, truncations, infos = envs.step(["b"] * 6)
            if truncations.any():
                break
            time.sleep(0.1)
        assert np.flatnonzero(truncations).tolist() == lost and not terminations.any()
        assert all(infos["error"][i].startswith("TransportError") for i in lost)
        assert [obs["echoed_message"][i] for i in range(6) if i not in lost] == ["b"] * (6 - len(lost))

        obs, *_ = envs.step(["c"] * 6)  # NEXT_STEP: the truncated ones reset now, on a new server
        assert not any(o == "c" for i, o in enumerate(obs["echoed_message"]) if i in lost)
        obs, _, _, truncations, _ = envs.step(["d"] * 6)
        assert list(obs["echoed_message"]) == ["d"] * 6 and not truncations.any()
        assert actor_node(servers[on_victim[0]]) != victim.node_id
    finally:
        envs.close()
        ray_cluster.add_node(num_cpus=2)  # the next test has three nodes again
        workers[0] = ray_cluster.list_all_nodes()[-1]
        ray_cluster.wait_for_nodes()
    assert alive_actors() == []


def test_a_killed_actor_is_restarted_and_its_sessions_reopen(cluster):
    envs = gym.make_vec("openenv/echo-v0", num_envs=2, provider="ray", num_servers=1, keep_going=True)
    try:
        envs.reset(seed=0)
        server = envs.unwrapped._pool.providers[0]
        ray.kill(server.actor, no_restart=False)  # as Ray's OOM killer or a crash would
        for _ in range(50):
            *_, truncations, infos = envs.step(["a", "b"])
            if truncations.all():
                break
            time.sleep(0.1)
        assert truncations.all()
        envs.step(["c", "d"])  # autoreset: a new session on the restarted actor's server
        obs, *_ = envs.step(["e", "f"])
        assert list(obs["echoed_message"]) == ["e", "f"]
    finally:
        envs.close()
    assert alive_actors() == []


def test_custom_resources_place_the_servers_on_the_nodes_that_declare_them(cluster):
    _, workers = cluster
    envs = gym.make_vec("openenv/echo-v0", num_envs=4, provider="ray", num_servers=2,
                        provider_options={"resources": {"env_server": 1}})
    try:
        assert {actor_node(s) for s in envs.unwrapped._pool.providers} == {workers[1].node_id}
        envs.reset(seed=0)
        assert list(envs.step(["a", "b", "c", "d"])[0]["echoed_message"]) == ["a", "b", "c", "d"]
    finally:
        envs.close()


def test_a_provider_joins_the_cluster_at_its_address(cluster):
    """A process that has not called ray.init: the provider joins the cluster it is given."""
    ray_cluster, _ = cluster
    ray.shutdown()
    try:
        with gym.make("openenv/echo-v0", provider="ray", provider_options={"address": ray_cluster.address}) as env:
            env.reset(seed=0)
            assert env.step({"message": "joined"})[0]["echoed_message"] == "joined"
            assert ray.get_runtime_context().gcs_address == ray_cluster.gcs_address
    finally:
        if not ray.is_initialized():
            ray.init(address=ray_cluster.address, log_to_driver=False)
    assert alive_actors() == []


def test_a_server_nowhere_to_place_says_what_it_asked_for(cluster):
    provider = RayProvider("echo", resources={"gpu_box": 1}, startup_timeout=3)
    with pytest.raises(ProviderError, match=r"no address within 3 s: does the cluster have a node "
                                            r"with num_cpus=1, resources=\{'gpu_box': 1\} free\?"):
        provider.start()
    provider.stop()
    assert alive_actors() == []


def test_unknown_ray_options_are_named():
    with pytest.raises(ValueError, match=r"unknown provider_options \['num_gpu'\] for provider='ray'; "
                                         r"it takes: address, memory, num_cpus"):
        gym.make("openenv/echo-v0", provider="ray", provider_options={"num_gpu": 1})
