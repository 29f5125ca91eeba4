"""Gymnasium's ``check_env``, with what it warned about returned (a passing env warns of nothing)."""

from __future__ import annotations

import warnings
from typing import Any

from gymnasium.utils.env_checker import check_env


def check_env_warnings(env: Any, **options: Any) -> list[str]:
    """Run ``check_env`` on ``env.unwrapped``; its warnings' messages (errors are raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, **options)
    return [str(w.message) for w in caught]
