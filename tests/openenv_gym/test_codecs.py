"""msgpack frames carry numpy arrays exactly, in the same bytes as before issue 17's fewer copies.

The old encoder and decoder are written out here as they were, so a frame of an older peer
decodes with today's decoder and the other way round.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import pytest

from openenv_gym.protocol.frames import MSGPACK

pytestmark = pytest.mark.fast

ATARI_FRAME = np.arange(210 * 160 * 3, dtype=np.uint8).reshape(210, 160, 3)  # over 64 KiB: decoded in place
ARRAYS = {
    "0-d float": np.array(3.5, dtype=np.float32),
    "empty": np.empty((0, 3), dtype=np.int16),
    "empty 0-size axis last": np.empty((4, 0), dtype=np.float64),
    "bool": np.array([[True, False], [False, True]]),
    "big-endian int": np.arange(6, dtype=">i4").reshape(2, 3),
    "big-endian float, large": np.linspace(0, 1, 20_000, dtype=">f8"),
    "little-endian uint64": np.array([0, 1, 2**64 - 1], dtype="<u8"),
    "float16": np.array([1.5, -2.25], dtype=np.float16),
    "complex": np.array([1 + 2j, -3j], dtype=np.complex128),
    "datetime": np.array(["2024-01-01", "2025-06-30"], dtype="datetime64[D]"),
    "bytes": np.array([b"ab", b"c"], dtype="S2"),
    "unicode": np.array(["héllo", "✓"], dtype="<U5"),
    "transposed (not contiguous)": np.arange(12, dtype=np.int32).reshape(3, 4).T,
    "strided slice": np.arange(20, dtype=np.uint8)[::3],
    "fortran order": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
    "negative strides, large": ATARI_FRAME[::-1, :, ::-1],
    "atari frame": ATARI_FRAME,
    "4-d": np.zeros((2, 1, 3, 2), dtype=np.int8),
}


def _old_default(value: Any) -> Any:
    """The encoder's hook before issue 17, verbatim (``_plain`` cut to what these tests send)."""
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        payload = msgpack.packb([array.dtype.str, list(array.shape), array.tobytes()])
        return msgpack.ExtType(42, payload)
    raise TypeError(type(value).__name__)


def _old_ext(code: int, data: bytes) -> Any:
    """The decoder's hook before issue 17, verbatim."""
    if code != 42:
        return msgpack.ExtType(code, data)
    dtype, shape, raw = msgpack.unpackb(data)
    return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)


def old_encode(value: Any) -> bytes:
    return msgpack.packb(value, default=_old_default, use_bin_type=True)


def old_decode(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_old_ext, raw=False, strict_map_key=False)


def assert_same_array(actual: Any, expected: np.ndarray, *, shape: tuple[int, ...] | None = None) -> None:
    assert isinstance(actual, np.ndarray)
    assert actual.dtype == expected.dtype and actual.dtype.str == expected.dtype.str
    assert actual.shape == (expected.shape if shape is None else shape)
    assert actual.tobytes() == np.ascontiguousarray(expected).tobytes()


def frame_of(array: np.ndarray) -> dict[str, Any]:
    return {"type": "observation", "id": 7, "data": {"observation": {"screen": array, "lives": 3}}}


@pytest.mark.parametrize("name", ARRAYS)
def test_an_array_round_trips_with_its_dtype_shape_and_values(name):
    array = ARRAYS[name]
    decoded = MSGPACK.decode(MSGPACK.encode(frame_of(array)))
    assert_same_array(decoded["data"]["observation"]["screen"], array)
    assert decoded["data"]["observation"]["lives"] == 3 and decoded["id"] == 7


@pytest.mark.parametrize("name", ARRAYS)
def test_frames_of_the_old_encoder_decode_and_ours_decode_with_the_old_decoder(name):
    array = ARRAYS[name]
    old_shape = np.ascontiguousarray(array).shape  # the old encoder sent a 0-d array as shape (1,)
    from_old = MSGPACK.decode(old_encode(frame_of(array)))["data"]["observation"]["screen"]
    assert_same_array(from_old, array, shape=old_shape)
    by_old = old_decode(MSGPACK.encode(frame_of(array)))["data"]["observation"]["screen"]
    assert_same_array(by_old, array)


@pytest.mark.parametrize("name", [n for n, a in ARRAYS.items() if a.ndim > 0])
def test_the_wire_bytes_are_the_old_encoders(name):
    assert MSGPACK.encode(frame_of(ARRAYS[name])) == old_encode(frame_of(ARRAYS[name]))


@pytest.mark.parametrize("array", [np.arange(4, dtype=np.uint8), ATARI_FRAME], ids=["small", "large"])
def test_decoded_arrays_are_read_only_and_a_copy_is_writable(array):
    decoded = MSGPACK.decode(MSGPACK.encode(array))
    assert not decoded.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        decoded[0] = 1
    copy = np.array(decoded)
    copy[0] = 1
    assert copy.flags.writeable


def test_an_array_of_python_objects_is_refused_not_sent_as_pointers():
    with pytest.raises(TypeError, match="Python objects"):
        MSGPACK.encode({"x": np.array([{"a": 1}, None], dtype=object)})


@pytest.mark.parametrize("cut", [1, 4096])
def test_a_truncated_large_array_payload_is_a_value_error(cut):
    payload = msgpack.packb([ATARI_FRAME.dtype.str, list(ATARI_FRAME.shape), ATARI_FRAME.tobytes()])
    frame = msgpack.packb(msgpack.ExtType(42, payload[:-cut]))
    with pytest.raises(ValueError):
        MSGPACK.decode(frame)


def test_a_frame_that_cannot_be_encoded_leaves_nothing_behind_for_the_next():
    with pytest.raises(TypeError):  # fails half-way, after the array went into the buffer
        MSGPACK.encode([ATARI_FRAME, object()])
    assert MSGPACK.encode({"x": 1}) == msgpack.packb({"x": 1})
