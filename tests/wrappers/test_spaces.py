"""Spaces from JSON Schema: every row of the mapping table, both directions."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
from gymnasium import spaces
from pydantic import BaseModel, Field

from openenv_gym import InvalidActionError
from openenv_gym.types import Action, Observation
from openenv_gym.wrappers import SpaceCodec
from openenv_gym.wrappers.spaces import JsonText, UnicodeText

pytestmark = pytest.mark.fast


class Inner(BaseModel):
    x: float
    tag: str


class Everything(Observation):
    text: str
    short: str = Field(max_length=8)
    flag: bool
    colour: Literal["red", "green"]
    dice: int = Field(ge=1, le=6)
    count: int
    score: float
    maybe: str | None = None
    words: list[str]
    vector: list[float] = Field(min_length=3, max_length=3)
    legal: list[int]
    inner: Inner
    blob: dict[str, int]


class Move(Action):
    piece: str
    square: int = Field(ge=0, le=63)


WIRE = {"text": "héllo", "short": "ab", "flag": True, "colour": "green", "dice": 6, "count": -5,
        "score": None, "maybe": None, "words": ["a", "b"], "vector": [1, 2, 3], "legal": [4, 7],
        "inner": {"x": 0.5, "tag": "t"}, "blob": {"k": 1}}


@pytest.fixture(scope="module")
def codec() -> SpaceCodec:
    return SpaceCodec.from_schema({"observation": Everything.model_json_schema(),
                                   "action": Move.model_json_schema()})


@pytest.mark.parametrize(("field", "space_type", "check"), [
    ("text", UnicodeText, lambda s: s.max_length == 65536 and s.min_length == 0),
    ("short", UnicodeText, lambda s: s.max_length == 8),
    ("flag", spaces.Discrete, lambda s: s.n == 2),
    ("colour", spaces.Discrete, lambda s: s.n == 2),
    ("dice", spaces.Discrete, lambda s: (s.n, s.start) == (6, 1)),
    ("count", spaces.Box, lambda s: s.dtype == np.int64 and s.shape == ()),
    ("score", spaces.Box, lambda s: s.dtype == np.float64),
    ("maybe", UnicodeText, lambda s: True),
    ("words", spaces.Sequence, lambda s: isinstance(s.feature_space, UnicodeText)),
    ("vector", spaces.Box, lambda s: s.shape == (3,)),
    ("legal", spaces.Sequence, lambda s: s.stack),
    ("inner", spaces.Dict, lambda s: set(s.keys()) == {"x", "tag"}),
    ("blob", JsonText, lambda s: s.kind == "object"),
])
def test_each_json_schema_type_maps_to_its_space(codec, field, space_type, check):
    space = codec.observation_space[field]
    assert type(space) is space_type
    assert check(space)


def test_envelope_fields_are_not_observation_fields(codec):
    assert not {"done", "reward", "metadata", "truncated"} & set(codec.observation_space.keys())


def test_wire_values_become_values_in_the_space(codec):
    obs = codec.observation_to_gym(WIRE)
    assert (obs["flag"], obs["colour"], obs["dice"], obs["maybe"], obs["words"]) == (1, 1, 6, "", ("a", "b"))
    assert obs["blob"] == '{"k":1}' and np.isnan(obs["score"])
    observable = {k: v for k, v in obs.items() if k != "score"}
    assert all(codec.observation_space[k].contains(v) for k, v in observable.items())


def test_multi_field_actions_are_dicts(codec):
    assert isinstance(codec.action_space, spaces.Dict)
    assert codec.action_to_wire({"piece": "N", "square": np.int64(12)}) == {"piece": "N", "square": 12}
    with pytest.raises(InvalidActionError, match="pass a dict"):
        codec.action_to_wire("Nf3")


def test_unicode_text_rejects_lone_surrogates_and_bytes():
    space = UnicodeText(10)
    assert space.contains("ok ✓") and not space.contains("\ud800") and not space.contains(b"ok")
