"""The worker's reply channel: a ``SOCK_SEQPACKET`` socket pair, one message per reply.

User code runs in the worker's process and can write on the worker's end like the worker
itself. Each write is one message, though, so a forged message can neither cut a reply nor
shift one: the server takes the first message that carries the request's random ``id`` and
drops every other (counted, for the log). Replies of an earlier request (one that was cut short
by a forged reply naming its ``id``) are dropped the same way.

>>> import os
>>> channel = ReplyChannel()
>>> worker_end = channel.worker_end()
>>> _ = os.write(worker_end, b'not json'); _ = os.write(worker_end, b'{"id": "other"}')
>>> _ = os.write(worker_end, b'{"id": "abc", "exit_code": 0}')
>>> [channel.receive("abc") for _ in range(3)], channel.dropped
([None, None, {'id': 'abc', 'exit_code': 0}], 2)
>>> os.close(worker_end); channel.close()
"""

from __future__ import annotations

import json
import secrets
import select
import socket
from typing import Any

MAX_REPLY_BYTES = 4 * 1024 * 1024
"""Largest reply (the worker replaces return values that would make a larger one)."""
SO_SNDBUFFORCE = 32
WORKER_ROOM = 1024
"""Bytes of a message the worker leaves free (what the socket adds to it)."""


def request_id() -> str:
    """A fresh id that user code cannot guess before the request arrives."""
    return secrets.token_hex(8)


class ReplyChannel:
    """The server's end of the reply channel."""

    def __init__(self) -> None:
        self._server, self._worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._server.setblocking(False)
        try:  # as root, beyond the system's cap on buffers (net.core.wmem_max)
            self._worker.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, MAX_REPLY_BYTES)
        except PermissionError:
            self._worker.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_REPLY_BYTES)
        self.dropped = 0

    @property
    def max_message_bytes(self) -> int:
        """What one message from the worker may hold (a non-root server gets less)."""
        return min(MAX_REPLY_BYTES, self._worker.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 2)

    def fileno(self) -> int:
        return self._server.fileno()

    def worker_end(self) -> int:
        """The worker's end, for ``pass_fds``; close it here once the worker has it."""
        return self._worker.detach()

    def receive(self, wanted: str) -> dict[str, Any] | None:
        """The next message if it is the reply to request ``wanted``, else ``None`` (nothing
        there, or a message that is not that reply, which is dropped). ``EOFError`` at the end."""
        try:
            data = self._server.recv(MAX_REPLY_BYTES)
        except BlockingIOError:
            return None
        if not data and self._hung_up():
            raise EOFError
        try:
            reply = json.loads(data)
        except ValueError:
            reply = None
        if isinstance(reply, dict) and reply.get("id") == wanted:
            return reply
        self.dropped += 1
        return None

    def _hung_up(self) -> bool:
        """The worker's end is closed (an empty ``recv`` may also be an empty message)."""
        poll = select.poll()
        poll.register(self._server, select.POLLRDHUP)
        return bool(poll.poll(0))

    def close(self) -> None:
        self._server.close()
        if self._worker.fileno() != -1:
            self._worker.close()
