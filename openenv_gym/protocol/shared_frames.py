"""Frames through shared memory, for a client and a server on one machine.

A client connecting to a loopback address with msgpack frames asks for it in the handshake
(header ``X-OpenEnv-Gym-Shared-Memory``). A server that can make one answers with the name of
a fresh ring of shared memory (``/dev/shm``, mode 0600: only its own user, or root, can open
it); the client maps it and unlinks the name at once, so no other process can open it later
and nothing is left behind if either side dies. From then on the server writes every numpy
array of at least :data:`SHARED_MIN_BYTES` into the ring and sends only its place
(msgpack extension 43: ``[dtype, shape, position]``); the client copies it out while decoding
the frame. Everything else, and the arrays that would take a reply past half the ring, travel
as before (extension 42, the bytes). A client that cannot open the ring (another user, another
container) connects again without asking. Upstream peers never ask and are never asked.

The ring is written in order and wraps around; ``position`` counts bytes since the ring was
made. The header's first 8 bytes say how far the server has written (set before it writes), so
the client, after copying, checks that the server has not come round to its array meanwhile
(it would have had to write a whole ring, 16 MiB by default, of replies the client had not yet
read): if it has, decoding fails with a clear error instead of returning a torn frame. One
reply fills at most half the ring (its further arrays travel in the frame), so a client with
two replies in flight never sees that error.

>>> import numpy as np
>>> server = SharedFrames.create(1 << 20)
>>> client = SharedFrames.attach(server.name, server.size)
>>> client.unlink()
>>> frame = np.arange(30_000, dtype=np.uint8).reshape(100, 300)
>>> ext = server.put(frame)
>>> ext.code, len(ext.data) < 64
(43, True)
>>> np.array_equal(client.get(ext.data), frame)
True
>>> server.put(np.zeros(10, np.uint8)) is None   # small: its bytes travel in the frame
True
>>> server.close(); client.close()
"""

from __future__ import annotations

import contextlib
import logging
import math
import mmap
import os
import secrets
import struct
import sys
from typing import Any

import msgpack
import numpy as np

from .frames import SHARED_NDARRAY

logger = logging.getLogger(__name__)

SHARED_MEMORY_HEADER = "X-OpenEnv-Gym-Shared-Memory"
"""Handshake header: ``1`` from the client asks for a ring; the server answers ``<name> <size>``."""
SHARED_MEMORY_VARIABLE = "OPENENV_SHARED_MEMORY"
"""``0`` in the environment: clients do not ask (as ``shared_memory=False``)."""
SHARED_MIN_BYTES = 16 * 1024
"""Smaller arrays travel in the frame: copying them costs less than finding them a place."""
DEFAULT_SIZE = 16 * 1024 * 1024
"""Bytes of a connection's ring (tmpfs pages, allocated as it first fills): a reply may fill
half, e.g. 80 raw Atari frames."""
_DIRECTORY = "/dev/shm"
_HEAD = struct.Struct("<Q")
_DATA = 64  # the header's size; arrays start on 64-byte boundaries
_ALIGN = 64
_GROWTH = 1 << 20  # pages allocated at a time while the ring first fills


def _new_file(path: str, size: int) -> int:
    """A new sparse file of ``size`` bytes, its header's pages allocated; its descriptor. Raises
    ``OSError``, leaving nothing behind."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, size)
        os.posix_fallocate(fd, 0, _DATA)
    except OSError:
        os.close(fd)
        os.unlink(path)
        raise
    return fd


class Buffers:
    """Arrays to copy frames into, each used again once nothing but this pool holds it.

    A frame the caller dropped (a vector env stacks its sub-envs' frames and lets them go) is
    the next frame's buffer: no allocation, and no page faults of fresh memory (~1.8 µs per 4 kB
    page on a VM, 45 per Atari frame), while a frame the caller keeps is never written again.

    >>> pool = Buffers()
    >>> first = pool.take(np.dtype(np.uint8), (2, 3))
    >>> pool.take(np.dtype(np.uint8), (2, 3)) is first     # still held here: a new one
    False
    >>> address = first.ctypes.data
    >>> del first
    >>> pool.take(np.dtype(np.uint8), (2, 3)).ctypes.data == address
    True
    """

    KEPT = 64
    """Most buffers kept per dtype and shape."""

    def __init__(self) -> None:
        self._pools: dict[tuple[np.dtype[Any], tuple[int, ...]], list[np.ndarray]] = {}

    def take(self, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
        """A free buffer of this dtype and shape, else a new one (kept for later if there is room)."""
        pool = self._pools.setdefault((dtype, shape), [])
        for buffer in pool:
            if sys.getrefcount(buffer) == _ONLY_HERE:
                return buffer
        buffer = np.empty(shape, dtype)
        if len(pool) < self.KEPT:
            pool.append(buffer)
        return buffer


_MAX_DIMENSIONS = 32


def _plain_dtype(name: Any) -> np.dtype[Any]:
    """The dtype a reference names, if it is one an array of the ring can have: numbers, bools,
    bytes, text, times; never Python objects, records, sub-arrays or a zero size.

    >>> _plain_dtype("<u1"), _plain_dtype(">f8")
    (dtype('uint8'), dtype('>f8'))
    >>> _plain_dtype("(1000,)u1")
    Traceback (most recent call last):
    ValueError: a shared-memory reference to an array of '(1000,)u1': not a plain dtype
    """
    try:
        if not isinstance(name, str):
            raise TypeError(type(name).__name__)
        dtype = np.dtype(name)
    except TypeError as exc:
        raise ValueError(f"a shared-memory reference with no dtype: {name!r:.60}") from exc
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or not dtype.itemsize:
        raise ValueError(f"a shared-memory reference to an array of {name!r:.60}: not a plain dtype")
    return dtype


_ONLY_HERE = 3
"""``sys.getrefcount`` of a pooled buffer nobody else holds: the pool's list, the loop's name
and the call's own argument."""


class SharedFrames:
    """One connection's ring: the server :meth:`put` s arrays in it, the client :meth:`get` s them."""

    def __init__(self, name: str, fd: int, size: int, *, writer: bool):
        self.name = name
        self.size = size
        self.writer = writer
        self._map = mmap.mmap(fd, _DATA + size)
        self._fd = fd if writer else None  # the writer allocates pages as the ring first fills
        if not writer:
            os.close(fd)
        self._allocated = 0  # bytes of the ring with pages (the writer's)
        self._written = 0  # the writer's count of bytes written (the ring's position)
        self._reply_bytes = 0  # written for the reply being encoded
        self._buffers = Buffers()  # the reader's arrays for what it copies out
        self._linked = True

    @classmethod
    def create(cls, size: int = DEFAULT_SIZE) -> SharedFrames | None:
        """A new ring (the server's side); ``None`` where shared memory cannot be made here."""
        name = f"openenv-gym-{secrets.token_hex(16)}"
        try:
            return cls(name, _new_file(os.path.join(_DIRECTORY, name), _DATA + size), size, writer=True)
        except OSError:
            logger.warning("no shared memory for this connection: frames travel in the socket", exc_info=True)
            return None

    @classmethod
    def attach(cls, name: str, size: int) -> SharedFrames:
        """The server's ring, by the name it sent (the client's side); raises ``OSError``."""
        if not name.startswith("openenv-gym-") or "/" in name or not 0 < size <= 1 << 34:
            raise OSError(f"not a shared-memory ring of ours: {name[:60]!r} ({size} bytes)")
        fd = os.open(os.path.join(_DIRECTORY, name), os.O_RDWR)
        if os.fstat(fd).st_size != _DATA + size:
            os.close(fd)
            raise OSError(f"shared-memory ring {name} is not {size} bytes long")
        return cls(name, fd, size, writer=False)

    def new_reply(self) -> None:
        """A new reply starts: it may fill up to half the ring (so two in flight never overlap)."""
        self._reply_bytes = 0

    def put(self, array: np.ndarray) -> msgpack.ExtType | None:
        """Write ``array`` into the ring; its reference, or ``None`` if it should travel in the frame."""
        nbytes = array.nbytes
        if nbytes < SHARED_MIN_BYTES or array.dtype.hasobject:
            return None
        start = -(-self._written // _ALIGN) * _ALIGN
        if start % self.size + nbytes > self.size:  # would run past the end: start again at the front
            start += self.size - start % self.size
        advance = start + nbytes - self._written  # the bytes skipped to get there count too
        if self._reply_bytes + advance > self.size // 2 or not self._has_pages(start % self.size + nbytes):
            return None
        self._reply_bytes += advance
        self._written = start + nbytes
        self._map[:_HEAD.size] = _HEAD.pack(self._written)  # before the bytes: see the module docstring
        offset = _DATA + start % self.size
        np.copyto(np.ndarray(array.shape, array.dtype, self._map, offset), array)
        return msgpack.ExtType(SHARED_NDARRAY, msgpack.packb([array.dtype.str, list(array.shape), start]))

    def _has_pages(self, end: int) -> bool:
        """Are the ring's first ``end`` bytes backed by memory? Allocated as the ring first fills
        (a connection that sends no frames costs nothing); a full tmpfs says no here rather than
        with a SIGBUS at the write."""
        if end <= self._allocated:
            return True
        if self._fd is None:  # a reader, or a writer that found tmpfs full: no more pages
            return False
        grown = min(self.size, max(end, self._allocated + _GROWTH))
        try:
            os.posix_fallocate(self._fd, _DATA + self._allocated, grown - self._allocated)
        except OSError:
            logger.warning("shared memory is full: this connection's frames travel in the socket",
                           exc_info=True)
            os.close(self._fd)
            self._fd = None
            return False
        self._allocated = grown
        return True

    def get(self, payload: bytes) -> np.ndarray:
        """The array a reference points at, copied out of the ring (the client's side); raises
        ``ValueError`` for anything but a plain array inside the ring."""
        dtype_str, shape, start = msgpack.unpackb(payload)
        dtype = _plain_dtype(dtype_str)
        if (not isinstance(shape, list) or len(shape) > _MAX_DIMENSIONS or not isinstance(start, int)
                or not all(isinstance(n, int) and n >= 0 for n in shape)):
            raise ValueError(f"a shared-memory reference with a bad shape or place: {shape!r:.60}")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if not 0 <= start % self.size + nbytes <= self.size:
            raise ValueError(f"a shared-memory reference out of the ring: {nbytes} bytes at {start}")
        array = self._buffers.take(dtype, tuple(shape))
        np.copyto(array, np.frombuffer(self._map, dtype, count, _DATA + start % self.size).reshape(shape))
        (written,) = _HEAD.unpack_from(self._map)
        if written > start + self.size:
            raise ValueError(f"the server wrote over a frame in shared memory before this client read "
                             f"it (more than {self.size >> 20} MiB of unread replies)")
        return array

    def unlink(self) -> None:
        """Remove the name (the mappings stay): the client does it once attached."""
        if self._linked:
            self._linked = False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(_DIRECTORY, self.name))

    def close(self) -> None:
        """Unlink (if the client did not) and unmap."""
        self.unlink()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(BufferError):  # an array still viewing it: unmapped when freed
            self._map.close()
