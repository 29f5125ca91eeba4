"""The examples in docs/rubrics.md run as written (blocks marked "not run" need an LLM endpoint)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

DOC = Path(__file__).resolve().parents[2] / "docs" / "rubrics.md"


def test_every_python_block_of_the_rubrics_guide_runs_in_order():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    runnable = [block for block in blocks if not block.startswith("# not run")]
    assert len(runnable) >= 6
    namespace: dict = {"__name__": "rubrics_guide"}
    for number, block in enumerate(runnable):
        exec(compile(block, f"{DOC.name}[block {number}]", "exec"), namespace)
