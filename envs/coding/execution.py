"""What one request to the sandbox's worker produced: the bounded output and the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Execution:
    """What one request to the worker produced.

    Attributes:
        stdout, stderr: the output, each cut at ``max_output_bytes`` with a note.
        exit_code: 0 on success, 1 for an exception, ``sys.exit``'s code, 124 after the time
            limit, 128 + n when the interpreter was killed by signal n.
        restarted: why the interpreter was restarted (its state is lost), or ``None``.
        reply: the worker's reply (``{}`` when there was none).
    """

    stdout: str
    stderr: str
    exit_code: int
    restarted: str | None = None
    reply: dict[str, Any] = field(default_factory=dict)


class Output:
    """The first ``limit`` bytes of a stream, how many more came, and the sandbox's notes
    (always shown, after the stream).

    >>> out = Output(4)
    >>> out.add(b"abcdef"); out.note("Restarted."); out.text("stdout")
    'abcd\\n[stdout truncated: 2 more bytes not shown]\\nRestarted.\\n'
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0
        self.notes: list[str] = []

    def add(self, chunk: bytes) -> None:
        room = max(self.limit - len(self.data), 0)
        self.data += chunk[:room]
        self.dropped += max(len(chunk) - room, 0)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def text(self, name: str) -> str:
        text = self.data.decode(errors="replace")
        extra = [f"[{name} truncated: {self.dropped:,} more bytes not shown]"] if self.dropped else []
        extra += self.notes
        if not extra:
            return text
        return text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(extra) + "\n"
