"""A TCP proxy between a client and a server whose connections a test can cut (a network drop)
or freeze (a peer that vanished without a word, or stopped reading: nothing is forwarded, no
connection is closed)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit


class CuttableProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target``; :meth:`cut` resets every open connection.

    Both ends see what a dropped network gives them: a connection reset, no WebSocket close
    frame. New connections are forwarded again right after the cut.
    """

    def __init__(self, target_url: str):
        target = urlsplit(target_url)
        self._target = (target.hostname or "127.0.0.1", target.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._thawed = threading.Event()
        self._thawed.set()
        self._spawn(self._accept_forever)

    def freeze(self) -> None:
        """Stop forwarding and reading in both directions; every connection stays open."""
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    def cut(self) -> None:
        """Reset every connection open now (RST to both sides)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def close(self) -> None:
        _reset(self._listener)  # shutdown wakes the thread blocked in accept()
        self.thaw()
        self.cut()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_forever(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self._target, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._pairs.append((client, server))
            self._spawn(_pump, client, server, self._thawed)
            self._spawn(_pump, server, client, self._thawed)


def _pump(source: socket.socket, sink: socket.socket, thawed: threading.Event) -> None:
    """Copy until the source ends: its FIN is passed on as a FIN, a reset as a reset; while
    frozen, hold what was read and read no more."""
    try:
        while data := source.recv(1 << 16):
            thawed.wait()
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        _reset(sink)


def _reset(sock: socket.socket) -> None:
    """Drop the connection now: wakes the pump blocked on it (``shutdown``), then resets it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextlib.contextmanager
def proxy_to(url: str) -> Iterator[CuttableProxy]:
    proxy = CuttableProxy(url)
    try:
        yield proxy
    finally:
        proxy.close()
