"""An upstream ``openenv`` 0.10 environment with tasks (upstream's task API), served by upstream.

Two splits of arithmetic questions; ``reset(split=..., index=...)`` (upstream's way to start a
task) asks that question. Serve it with the 0.10 peer: ``peer.serve("tests.interop.upstream_tasks:app")``.
"""

from __future__ import annotations

import uuid
from typing import Any

from openenv.core.env_server import Action, Environment, Observation, State, create_app

SPLITS = {"train": [{"question": "2+2", "answer": 4}, {"question": "3*3", "answer": 9}],
          "test": [{"question": "10-7", "answer": 3}]}


class ArithmeticAction(Action):
    answer: int


class ArithmeticObservation(Observation):
    question: str = ""
    correct: bool = False


class ArithmeticEnv(Environment[ArithmeticAction, ArithmeticObservation, State]):
    def __init__(self) -> None:
        super().__init__()
        self._state = State(episode_id=str(uuid.uuid4()))
        self._task = SPLITS["train"][0]

    def list_splits(self) -> list[str]:
        return list(SPLITS)

    def list_tasks(self, split: str) -> list[dict[str, Any]]:
        return SPLITS[split]

    def num_tasks(self, split: str) -> int:
        return len(SPLITS[split])

    def get_task(self, split: str, index: int) -> dict[str, Any]:
        return SPLITS[split][index]

    def get_task_range(self, split: str, start: int | None = None, stop: int | None = None) -> list:
        return SPLITS[split][start:stop]

    def reset(self, seed: int | None = None, episode_id: str | None = None, split: str = "train",
              index: int = 0, **kwargs: Any) -> ArithmeticObservation:
        self._task = SPLITS[split][index]
        self._state = State(episode_id=episode_id or str(uuid.uuid4()))
        return ArithmeticObservation(question=self._task["question"])

    def step(self, action: ArithmeticAction, timeout_s: float | None = None, **kwargs: Any) -> ArithmeticObservation:
        correct = action.answer == self._task["answer"]
        return ArithmeticObservation(question=self._task["question"], correct=correct, reward=float(correct), done=True)

    @property
    def state(self) -> State:
        return self._state


app = create_app(ArithmeticEnv, ArithmeticAction, ArithmeticObservation, env_name="arithmetic")
