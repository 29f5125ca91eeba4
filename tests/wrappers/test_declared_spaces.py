"""Environments that declare exact spaces: the client builds exactly those, over any path."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from openenv_gym.protocol.space_json import space_from_json, space_to_json
from openenv_gym.providers import InProcessProvider
from openenv_gym.wrappers import GymEnv, GymVectorEnv, UnicodeText
from tests.support.apps import GRID_OBSERVATION, GridAction, GridEnvironment, GridObservation

DECLARABLE = [
    spaces.Box(0, 255, (4, 3, 2), np.uint8),
    spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, np.inf], np.float32), dtype=np.float32),
    spaces.Discrete(4672),
    spaces.Discrete(3, start=-1),
    spaces.MultiBinary(64),
    spaces.MultiDiscrete([3, 4]),
    spaces.Dict({"screen": spaces.Box(0, 255, (2, 2), np.uint8), "lives": spaces.Discrete(6)}),
]


@pytest.mark.parametrize("space", DECLARABLE, ids=lambda s: type(s).__name__)
def test_declared_spaces_round_trip_through_json(space):
    assert space_from_json(space_to_json(space)) == space


def test_text_becomes_the_clients_text_space():
    declared = space_to_json(spaces.Text(10, min_length=0))
    assert space_from_json(declared, UnicodeText) == UnicodeText(10)


def test_other_spaces_are_refused_with_what_to_use():
    with pytest.raises(TypeError, match="use Box, Discrete"):
        space_to_json(spaces.Tuple([spaces.Discrete(2)]))


@pytest.mark.parametrize("where", ["inprocess", "process"])
def test_a_declaring_environment_gets_exact_spaces_and_arrays(where, serve):
    in_process = InProcessProvider(GridEnvironment, GridAction, GridObservation)
    options = ({"provider": in_process} if where == "inprocess"
               else {"base_url": serve("tests.support.apps:grid").start()})
    env = GymEnv(**options)
    assert env.observation_space == GRID_OBSERVATION and env.action_space == spaces.Discrete(4)
    obs, _ = env.reset()
    obs, reward, *_ = env.step(np.int64(2))
    assert obs["cells"].dtype == np.uint8 and obs["cells"].shape == (3, 3)
    assert obs["cells"][0, 2] == 1 and env.observation_space.contains(obs)
    env.close()
    envs = GymVectorEnv(num_envs=3, encoding="msgpack", **options)
    obs, _ = envs.reset()
    obs, *_ = envs.step(np.array([0, 1, 2]))
    assert obs["cells"].shape == (3, 3, 3) and envs.observation_space.contains(obs)
    assert [obs["cells"][i, 0, i] for i in range(3)] == [1, 1, 1]
    envs.close()

