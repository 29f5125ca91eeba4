"""The checks of ``openenv-gym validate``: each one a :class:`Check`, reported together.

Criteria ids of a running server's checks are upstream's (``openenv validate --url``), so
reports of both tools read alike.

>>> report("echo", "local_environment", [Check("manifest", "openenv.yaml is valid", True)])["passed"]
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """One criterion and its outcome; ``required=False`` ones only warn."""

    id: str
    description: str
    passed: bool
    details: str = ""
    required: bool = True

    @property
    def mark(self) -> str:
        return "PASS" if self.passed else ("FAIL" if self.required else "WARN")


def report(target: str, kind: str, checks: list[Check]) -> dict[str, Any]:
    """The JSON report (``--json``): upstream's shape (target, validation_type, passed, criteria)."""
    failed = [c.id for c in checks if not c.passed]
    return {"target": target, "validation_type": kind,
            "passed": all(c.passed for c in checks if c.required),
            "summary": {"passed_count": len(checks) - len(failed), "total_count": len(checks),
                        "failed_criteria": failed},
            "criteria": [asdict(c) for c in checks]}


def text(checks: list[Check]) -> str:
    """One line per check: ``PASS id: description`` and, where it did not pass, what to fix."""
    width = max(len(c.id) for c in checks)
    return "\n".join(f"{c.mark} {c.id:<{width}}  {c.description}"
                     + (f"\n     {' ' * width}  -> {c.details}" if c.details and not c.passed else "")
                     for c in checks)
