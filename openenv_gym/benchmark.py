"""What every benchmark reports: the machine it ran on and numbers people can read.

Shared by ``openenv-gym bench`` and the scripts in the repository's ``bench/`` folder.

>>> significant(275_431.7), significant(0.012345), significant(None)
('275,432', '0.0123', '—')
>>> percentile([1, 2, 3, 4], 0.5), percentile([1, 2, 3, 4], 0.99)
(2, 4)
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

PACKAGES = ("openenv-gym", "openenv-core", "gymnasium", "websockets", "uvicorn", "fastapi", "pydantic")
T = TypeVar("T")


def commit(folder: Path = Path(__file__).parent) -> str:
    """The checkout measured: short commit hash, ``-dirty`` with uncommitted changes
    (``"unknown"`` outside a git checkout, e.g. an installed wheel)."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=folder,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine(packages: tuple[str, ...] = PACKAGES) -> dict[str, Any]:
    """Date, commit, Python, CPUs, platform and package versions of this run."""
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": {name: _version(name) for name in packages},
    }


def header(info: dict[str, Any]) -> str:
    """Two lines naming the run: date, commit, Python, CPUs, platform; the package versions."""
    return (f"{info['date']}  commit {info['commit']}  Python {info['python']}  {info['cpus']} CPUs  "
            f"{info['platform']}\n" + "  ".join(f"{name} {v}" for name, v in info["versions"].items()))


def percentile(sorted_samples: Sequence[T], q: float) -> T:
    """Nearest-rank percentile of samples sorted ascending."""
    return sorted_samples[max(0, min(len(sorted_samples) - 1, math.ceil(q * len(sorted_samples)) - 1))]


def significant(value: float | None, digits: int = 3) -> str:
    """``digits`` significant digits (at least all integer digits), never in exponent form;
    "—" for nothing."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"
