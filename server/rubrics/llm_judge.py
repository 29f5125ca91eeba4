r"""``LLMJudge``: a rubric that asks a language model for the score.

Same signature as upstream's ``openenv.core.rubrics.LLMJudge``. The client is anything with
``async def complete(prompt) -> str``: our :class:`~.chat_client.ChatClient`, or upstream's
``OpenAIClient``. A judgement that fails (the endpoint is down, too slow, refuses) or whose
answer holds no score returns ``default_score`` and says why in ``last_error``, which the
environment reports in ``info["rubric_errors"]``; it never fails the step.

>>> import asyncio
>>> class Scripted:
...     async def complete(self, prompt):
...         return "Score: 0.7" if "good" in prompt else "no idea"
>>> judge = LLMJudge("Rate {action} from 0 to 1.", Scripted())
>>> asyncio.run(judge("good code", None))
0.7
>>> asyncio.run(judge("bad code", None))
0.0
>>> print(judge.last_error)
no score in the judge's answer (pattern '(\\d+\\.?\\d*)'): 'no idea'; scored default_score 0.0
"""

from __future__ import annotations

import re
import string
from typing import Any, Protocol

from .base import Rubric, describe

DEFAULT_SCORE_PATTERN = r"(\d+\.?\d*)"
TEMPLATE_FIELDS = frozenset({"action", "observation"})


class CompletionClient(Protocol):
    """What a judge needs from a client."""

    async def complete(self, prompt: str) -> str: ...


def _check_template(template: str) -> None:
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    fields = {name.split(".")[0].split("[")[0] for name in names}
    unknown = fields - TEMPLATE_FIELDS
    if unknown:
        raise ValueError(f"prompt_template may only use {{action}} and {{observation}}, found "
                         f"{sorted(unknown)}; write literal braces as {{{{ and }}}}")


class LLMJudge(Rubric):
    """Scores by sending ``prompt_template`` (with ``{action}`` and ``{observation}``) to an LLM.

    Args:
        prompt_template: the prompt, formatted with ``action`` and ``observation``.
        client: the LLM client (``async complete(prompt) -> str``).
        score_pattern: regex for the score; its first group (or whole match) is the number.
        default_score: the score when the judgement fails or has no score.
        normalize: clamp the score to ``[0, 1]``.
    """

    def __init__(self, prompt_template: str, client: CompletionClient, *, score_pattern: str | None = None,
                 default_score: float = 0.0, normalize: bool = True) -> None:
        super().__init__()
        _check_template(prompt_template)
        self.prompt_template = prompt_template
        self._client = client
        self._score_pattern = re.compile(score_pattern or DEFAULT_SCORE_PATTERN)
        self.default_score = default_score
        self.normalize = normalize

    async def forward(self, action: Any, observation: Any) -> float:
        prompt = self._render_prompt(action, observation)
        try:
            answer = await self._client.complete(prompt)
        except Exception as exc:  # any client's failure is a failed judgement: default score, reported
            return self._fall_back(f"the judge failed ({describe(exc)})")
        return self._parse_score(answer)

    def _render_prompt(self, action: Any, observation: Any) -> str:
        """The prompt for one judgement; override for custom prompts."""
        return self.prompt_template.format(action=action, observation=observation)

    def _parse_score(self, response: str) -> float:
        """The score in the judge's answer, or ``default_score`` (noted in ``last_error``)."""
        match = self._score_pattern.search(response)
        try:
            score = float(match.group(1) if match.lastindex else match.group(0)) if match else None
        except (ValueError, IndexError):
            score = None
        if score is None:
            pattern = self._score_pattern.pattern
            return self._fall_back(f"no score in the judge's answer (pattern {pattern!r}): "
                                   f"{response[:200]!r}")
        return max(0.0, min(1.0, score)) if self.normalize else score

    def _fall_back(self, why: str) -> float:
        self.last_error = f"{why}; scored default_score {self.default_score}"
        return self.default_score

    def state_dict(self) -> dict[str, Any]:
        return {"prompt_template": self.prompt_template, "score_pattern": self._score_pattern.pattern,
                "default_score": self.default_score, "normalize": self.normalize}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "prompt_template" in state:
            _check_template(state["prompt_template"])
            self.prompt_template = state["prompt_template"]
        if "score_pattern" in state:
            self._score_pattern = re.compile(state["score_pattern"])
        if "default_score" in state:
            self.default_score = state["default_score"]
        if "normalize" in state:
            self.normalize = state["normalize"]
