"""The RL libraries' tests: kept to seconds each.

Tianshou compiles its return computations with numba when a policy is made (~5-9 s on 2 cores);
with a few dozen transitions plain Python is as fast, so the JIT is off here (set before
Tianshou is imported; a value in the environment is kept).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
