"""Frame encodings: JSON text (upstream's) and msgpack binary frames (ours).

With msgpack, numpy arrays travel as raw bytes with their dtype and shape, so an Atari frame
costs a few memcpys instead of ~10 ms of JSON integer lists. Encoding copies an array's bytes
once into its extension payload (which msgpack then copies into the frame); decoding, msgpack
hands the extension its own ``bytes``, and an array from 64 KiB is a view of those (a smaller
one is copied once more: cheaper than reading its header in place). Decoded arrays are
read-only, as ``np.frombuffer`` makes them: copy one to write into it (the Gym face does: its
observations are writable arrays of the declared space).

>>> import numpy as np
>>> frame = MSGPACK.encode({"screen": np.arange(6, dtype=np.uint8).reshape(2, 3)})
>>> MSGPACK.decode(frame)["screen"]
array([[0, 1, 2],
       [3, 4, 5]], dtype=uint8)
>>> JSON.decode(JSON.encode({"x": np.arange(3)}))
{'x': [0, 1, 2]}
"""

from __future__ import annotations

import math
import struct
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np
import orjson

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from .shared_frames import SharedFrames

_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_NDARRAY = 42
"""msgpack extension type of a numpy array: its payload is ``packb([dtype.str, shape, raw bytes])``."""
SHARED_NDARRAY = 43
"""msgpack extension type of an array in shared memory (:mod:`.shared_frames`): valid only in a
server's replies, decoded only by a client that mapped the ring."""
UNEXPECTED_REFERENCE = (
    f"a shared-memory array reference (msgpack extension {SHARED_NDARRAY}) is valid only in a server's "
    "reply to a client that has the connection's ring; requests carry arrays as extension 42")
_ARRAY_OF_3 = b"\x93"
_BIN_HEADERS = {b"\xc4": 1, b"\xc5": 2, b"\xc6": 4}
"""msgpack's ``bin`` markers, by the bytes of their length field."""
_BIN8, _BIN16, _BIN32 = (struct.Struct(">B" + length).pack for length in "BHI")
IN_PLACE_FROM = 64 * 1024
"""Payload bytes from which an array is decoded as a view of the payload: reading its header in
place costs ~1.5 us more than copying the raw bytes of a smaller one (measured: docs/benchmarks.md)."""
_MAX_HEADER = 1024
"""More than the header of any array (dtype string, up to 64 dimensions, ``bin`` header)."""
_PACKERS = threading.local()


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot be sent in a frame")


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return msgpack.ExtType(_NDARRAY, _array_payload(value))
    return _plain(value)


def _array_payload(array: np.ndarray) -> bytes:
    """``packb([dtype.str, shape, raw bytes])`` byte for byte, with one copy of the data (the join).

    >>> array = np.arange(3, dtype=">i2")
    >>> _array_payload(array) == msgpack.packb([array.dtype.str, list(array.shape), array.tobytes()])
    True
    """
    if array.dtype.hasobject:
        raise TypeError("a numpy array of Python objects cannot be sent in a frame")
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    header = msgpack.packb((array.dtype.str, array.shape))  # a 2-array: its marker becomes a 3-array's
    # the array itself, not memoryview(array): a buffer of any dtype (datetime64 has no PEP 3118 format)
    return b"".join((_ARRAY_OF_3, memoryview(header)[1:], _bin_header(array.nbytes), array))  # type: ignore[arg-type]


def _bin_header(size: int) -> bytes:
    """msgpack's ``bin`` header of ``size`` bytes (bin 8, 16 or 32: the shortest that fits)."""
    if size < 1 << 8:
        return _BIN8(0xC4, size)
    if size < 1 << 16:
        return _BIN16(0xC5, size)
    return _BIN32(0xC6, size)


def _msgpack_ext(code: int, data: bytes) -> Any:
    if code != _NDARRAY:
        raise ValueError(f"msgpack extension type {code} is not one of this protocol's "
                         f"({_NDARRAY}: a numpy array)")
    if len(data) < IN_PLACE_FROM:
        dtype, shape, raw = msgpack.unpackb(data)
        return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)
    return _array_in_place(data)


def _array_in_place(data: bytes) -> np.ndarray:
    """The array of an extension payload as a view of it (read-only, as ``data``): no copy."""
    header = msgpack.Unpacker(max_buffer_size=_MAX_HEADER)
    header.feed(memoryview(data)[:_MAX_HEADER])
    if header.read_array_header() != 3:
        raise ValueError("a numpy array payload is not [dtype, shape, data]")
    dtype, shape, start = np.dtype(header.unpack()), header.unpack(), header.tell()
    width = _BIN_HEADERS.get(data[start:start + 1])
    if width is None:
        raise ValueError("a numpy array payload does not end in its raw bytes")
    offset = start + 1 + width
    if int.from_bytes(data[start + 1:offset], "big") != len(data) - offset:
        raise ValueError("a numpy array payload's length does not match its raw bytes")
    count = math.prod(shape)
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)


def _packer() -> msgpack.Packer:
    """This thread's msgpack packer. It keeps its buffer from frame to frame: a new packer grows
    one from 256 KiB by ``realloc``, and for a batch of eight Atari frames (800 KB) that took
    ~600 us of page faults instead of ~100 us (measured: docs/benchmarks.md)."""
    packer = getattr(_PACKERS, "packer", None)
    if packer is None:
        packer = _PACKERS.packer = msgpack.Packer(default=_msgpack_default, use_bin_type=True)
    return packer


def json_dumps(value: Any) -> str:
    """JSON text (NaN and infinity become ``null``, as upstream's)."""
    return orjson.dumps(value, default=_plain, option=_ORJSON_OPTIONS).decode()


def json_loads(data: str | bytes) -> Any:
    """Decode JSON; raises ``ValueError`` on malformed input."""
    return orjson.loads(data)


@dataclass(frozen=True)
class Codec:
    """One frame encoding, negotiated as a WebSocket subprotocol; with ``frames`` (msgpack
    only), big arrays go through that connection's shared memory (:mod:`.shared_frames`): the
    server's codec writes them into its ring, the client's reads them out. A reference is
    decoded only by a client's codec: anyone else's (the server reading a request, a client
    without a ring) refuses it with :class:`InvalidRequestError`, and any other unknown
    extension type with ``ValueError``.

    >>> frame = msgpack.packb({"type": "step", "data": msgpack.ExtType(SHARED_NDARRAY, b"")})
    >>> try:
    ...     MSGPACK.decode(frame)
    ... except InvalidRequestError as exc:
    ...     exc.code, exc.details
    ('VALIDATION_ERROR', {'extension': 43})
    """

    subprotocol: str
    binary: bool
    frames: SharedFrames | None = None

    def encode(self, value: Any) -> str | bytes:
        if self.binary:
            if self.frames is None:
                return _packer().pack(value)
            self.frames.new_reply()  # its frames are small: the arrays are in the ring
            return msgpack.packb(value, default=self._default, use_bin_type=True)
        return json_dumps(value)

    def _default(self, value: Any) -> Any:
        if self.frames is not None and isinstance(value, np.ndarray):
            shared = self.frames.put(value)
            if shared is not None:
                return shared
        return _msgpack_default(value)

    def _ext(self, code: int, data: bytes) -> Any:
        if code != SHARED_NDARRAY:
            return _msgpack_ext(code, data)
        if self.frames is None or self.frames.writer:  # a request, or no ring: nothing to point into
            raise InvalidRequestError(UNEXPECTED_REFERENCE, details={"extension": SHARED_NDARRAY})
        return self.frames.get(data)

    def decode(self, data: str | bytes) -> Any:
        """Decode one frame; raises ``ValueError`` on malformed input.

        A server weighs a client's frame first (:mod:`.decoded_size`): what it decodes to can
        take 20 times its bytes.

        >>> MSGPACK.decode(MSGPACK.encode([{}, {}, [1]]))
        [{}, {}, [1]]
        """
        if not self.binary or isinstance(data, str):
            return json_loads(data)
        try:
            return msgpack.unpackb(data, ext_hook=self._ext, raw=False, strict_map_key=False)
        except (msgpack.UnpackException, TypeError) as exc:
            raise ValueError(f"not a msgpack frame ({type(exc).__name__}: {exc})") from exc


JSON = Codec("openenv-gym.v1", binary=False)
MSGPACK = Codec("openenv-gym.v1.msgpack", binary=True)
CODECS = {codec.subprotocol: codec for codec in (JSON, MSGPACK)}
ENCODINGS = {"json": JSON, "msgpack": MSGPACK}


def negotiate(offered: list[str]) -> Codec | None:
    """The first subprotocol the client offered that we speak (None: upstream baseline)."""
    return next((CODECS[name] for name in offered if name in CODECS), None)
