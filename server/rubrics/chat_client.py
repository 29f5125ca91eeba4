"""A client for any OpenAI-compatible chat-completions endpoint (vLLM, TGI, Ollama, OpenAI), over httpx.

``POST {base_url}/chat/completions`` with one user message (after an optional system prompt);
the answer is ``choices[0].message.content``. Settings not passed come from the environment:

=========================  ==========================================  ==================
setting                    variable                                    fallback variable
=========================  ==========================================  ==================
``base_url`` (with /v1)    ``OPENENV_JUDGE_BASE_URL``                  ``OPENAI_BASE_URL``
``model``                  ``OPENENV_JUDGE_MODEL``
``api_key`` (optional)     ``OPENENV_JUDGE_API_KEY``                   ``OPENAI_API_KEY``
=========================  ==========================================  ==================

Transport errors, timeouts, 429 and 5xx answers are retried ``retries`` times with exponential
backoff; anything else, or the last failure, raises :class:`ChatError`.

>>> import asyncio, httpx
>>> def endpoint(request):
...     return httpx.Response(200, json={"choices": [{"message": {"content": "Score: 0.8"}}]})
>>> client = ChatClient("http://judge/v1", "m", transport=httpx.MockTransport(endpoint))
>>> asyncio.run(client.complete("Rate this."))
'Score: 0.8'
>>> client.request_body("Rate this.")["messages"]
[{'role': 'user', 'content': 'Rate this.'}]
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx

BASE_URL_VARIABLES = ("OPENENV_JUDGE_BASE_URL", "OPENAI_BASE_URL")
MODEL_VARIABLES = ("OPENENV_JUDGE_MODEL",)
API_KEY_VARIABLES = ("OPENENV_JUDGE_API_KEY", "OPENAI_API_KEY")
MAX_BACKOFF_S = 30.0


class ChatError(RuntimeError):
    """The endpoint gave no completion: unreachable, too slow, refused, or an unreadable answer."""


def _setting(given: str | None, variables: tuple[str, ...], what: str, *,
             required: bool = True) -> str | None:
    if given:
        return given
    for name in variables:
        if os.environ.get(name):
            return os.environ[name]
    if required:
        raise ValueError(f"ChatClient needs a {what}: pass {what}=... or set {' or '.join(variables)}")
    return None


def _is_retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def _content(response: httpx.Response) -> str:
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ChatError(f"not a chat completion from {response.url}: {response.text[:200]!r}") from exc
    if not isinstance(content, str):
        raise ChatError(f"the completion from {response.url} has no text content: {content!r:.200}")
    return content


class ChatClient:
    """Completions from an OpenAI-compatible endpoint; ``await client.complete(prompt)``.

    Args:
        base_url: the API root including ``/v1`` (``http://127.0.0.1:8000/v1``).
        model: the model name the endpoint serves.
        api_key: sent as a bearer token when set.
        system_prompt: an optional system message before the prompt.
        temperature, max_tokens: sampling settings sent with each request.
        timeout_s: limit for each attempt (connect, read, write).
        retries: further attempts after a transport error, a timeout, a 429 or a 5xx.
        backoff_s: wait before the first retry; doubled for each further one.
        transport: an httpx transport (tests use ``httpx.MockTransport``).
    """

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 *, system_prompt: str | None = None, temperature: float = 0.0, max_tokens: int = 256,
                 timeout_s: float = 30.0, retries: int = 2, backoff_s: float = 0.5,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise ValueError(f"need retries >= 0, timeout_s > 0 and backoff_s >= 0, got "
                             f"retries={retries}, timeout_s={timeout_s}, backoff_s={backoff_s}")
        self.base_url = str(_setting(base_url, BASE_URL_VARIABLES, "base_url")).rstrip("/")
        self.model = str(_setting(model, MODEL_VARIABLES, "model"))
        self._api_key = _setting(api_key, API_KEY_VARIABLES, "api_key", required=False)
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._transport = transport

    def __repr__(self) -> str:  # never shows the key
        return f"ChatClient({self.base_url!r}, {self.model!r})"

    def request_body(self, prompt: str) -> dict[str, Any]:
        """The JSON body of the request for ``prompt``."""
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": prompt})
        return {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens}

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    async def complete(self, prompt: str) -> str:
        """The endpoint's answer to ``prompt``; :class:`ChatError` once every attempt failed."""
        body = self.request_body(prompt)
        async with httpx.AsyncClient(base_url=self.base_url, headers=self._headers(),
                                     timeout=self.timeout_s, transport=self._transport) as http:
            failure = ""
            for attempt in range(self.retries + 1):
                if attempt:
                    await asyncio.sleep(min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
                try:
                    response = await http.post("/chat/completions", json=body)
                except httpx.TransportError as exc:
                    failure = f"{type(exc).__name__}: {exc}".rstrip(": ")
                    continue
                if response.is_success:
                    return _content(response)
                failure = f"HTTP {response.status_code}: {response.text[:200]!r}"
                if not _is_retryable(response):
                    break
        raise ChatError(f"no completion from {self.base_url}/chat/completions after {attempt + 1} "
                        f"attempt(s); last: {failure}")
