"""Frame encodings: JSON text (upstream's) and msgpack binary frames (ours).

With msgpack, numpy arrays travel as raw bytes with their dtype and shape, so an Atari frame
costs a memcpy instead of ~10 ms of JSON integer lists.

>>> import numpy as np
>>> frame = MSGPACK.encode({"screen": np.arange(6, dtype=np.uint8).reshape(2, 3)})
>>> MSGPACK.decode(frame)["screen"]
array([[0, 1, 2],
       [3, 4, 5]], dtype=uint8)
>>> JSON.decode(JSON.encode({"x": np.arange(3)}))
{'x': [0, 1, 2]}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np
import orjson

from .errors import MessageTooLargeError

if TYPE_CHECKING:
    from .shared_frames import SharedFrames

_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_NDARRAY = 42
"""msgpack extension type of a numpy array: ``[dtype.str, shape, raw bytes]``."""
SHARED_NDARRAY = 43
"""msgpack extension type of an array in shared memory (:mod:`.shared_frames`)."""


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
        array = np.ascontiguousarray(value)
        payload = msgpack.packb([array.dtype.str, list(array.shape), array.tobytes()])
        return msgpack.ExtType(_NDARRAY, payload)
    return _plain(value)


def _msgpack_ext(code: int, data: bytes) -> Any:
    if code != _NDARRAY:
        return msgpack.ExtType(code, data)
    dtype, shape, raw = msgpack.unpackb(data)
    return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)


def json_dumps(value: Any) -> str:
    """JSON text (NaN and infinity become ``null``, as upstream's)."""
    return orjson.dumps(value, default=_plain, option=_ORJSON_OPTIONS).decode()


def json_loads(data: str | bytes) -> Any:
    """Decode JSON; raises ``ValueError`` on malformed input."""
    return orjson.loads(data)


@dataclass(frozen=True)
class Codec:
    """One frame encoding, negotiated as a WebSocket subprotocol; with ``frames`` (msgpack
    only), big arrays go through that connection's shared memory (:mod:`.shared_frames`)."""

    subprotocol: str
    binary: bool
    frames: SharedFrames | None = None

    def encode(self, value: Any) -> str | bytes:
        if self.binary:
            if self.frames is not None:
                self.frames.new_reply()
            return msgpack.packb(value, default=self._default, use_bin_type=True)
        return json_dumps(value)

    def _default(self, value: Any) -> Any:
        if self.frames is not None and isinstance(value, np.ndarray):
            shared = self.frames.put(value)
            if shared is not None:
                return shared
        return _msgpack_default(value)

    def _ext(self, code: int, data: bytes) -> Any:
        if self.frames is not None and code == SHARED_NDARRAY:
            return self.frames.get(data)
        return _msgpack_ext(code, data)

    def decode(self, data: str | bytes, *, max_containers: int | None = None) -> Any:
        """Decode one frame; raises ``ValueError`` on malformed input.

        ``max_containers`` bounds the objects and arrays the frame may hold (a server's guard:
        a 2 MB msgpack frame of empty maps decodes to 2 million dicts, ~150 MB); over it,
        :class:`MessageTooLargeError` before (JSON) or while (msgpack) decoding.

        >>> MSGPACK.decode(MSGPACK.encode([{}, {}, [1]]), max_containers=4)
        [{}, {}, [1]]
        >>> try:
        ...     JSON.decode("[" + "{}," * 99 + "{}]", max_containers=64)
        ... except MessageTooLargeError as exc:
        ...     exc.code, exc.details
        ('MESSAGE_TOO_LARGE', {'max_containers': 64})
        """
        if not self.binary or isinstance(data, str):
            if max_containers is not None and len(data) > 2 * max_containers:  # shorter: cannot hold more
                _check_json_containers(data, max_containers)
            return json_loads(data)
        bounded = max_containers is not None and len(data) > max_containers  # shorter: cannot hold more
        hooks = _counting_hooks(max_containers) if bounded else {}  # type: ignore[arg-type]
        try:
            return msgpack.unpackb(data, ext_hook=self._ext, raw=False, strict_map_key=False, **hooks)
        except (msgpack.UnpackException, TypeError) as exc:
            raise ValueError(f"not a msgpack frame ({type(exc).__name__}: {exc})") from exc


def _too_many(limit: int) -> MessageTooLargeError:
    return MessageTooLargeError(f"the frame holds more than {limit} objects and arrays, this server's "
                                "limit per message", details={"max_containers": limit})


def _check_json_containers(data: str | bytes, limit: int) -> None:
    """Count ``{`` and ``[`` (an upper bound: brackets inside strings count too) in C, not Python."""
    opening = ("{", "[") if isinstance(data, str) else (b"{", b"[")
    if data.count(opening[0]) + data.count(opening[1]) > limit:  # type: ignore[arg-type]
        raise _too_many(limit)


def _counting_hooks(limit: int) -> dict[str, Callable[[Any], Any]]:
    """msgpack hooks that count each decoded map and array and stop the decoder past ``limit``."""
    count = 0

    def counted(value: Any) -> Any:
        nonlocal count
        count += 1
        if count > limit:
            raise _too_many(limit)
        return value

    return {"object_hook": counted, "list_hook": counted}


JSON = Codec("openenv-gym.v1", binary=False)
MSGPACK = Codec("openenv-gym.v1.msgpack", binary=True)
CODECS = {codec.subprotocol: codec for codec in (JSON, MSGPACK)}
ENCODINGS = {"json": JSON, "msgpack": MSGPACK}


def negotiate(offered: list[str]) -> Codec | None:
    """The first subprotocol the client offered that we speak (None: upstream baseline)."""
    return next((CODECS[name] for name in offered if name in CODECS), None)
