"""Fuzzing the decoder: whatever a key holder signs, decoding gives a valid message or a ProtocolError.

The frames are signed with the receiver's key, so every example reaches the header and descriptor checks
(an unsigned one stops at the signature). A list as `dtype` or `10**400` as `time` once raised TypeError or
OverflowError here, which took the daemon down with every job it held.
"""

import json
import time
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_helpers import header as valid_header
from protocol_helpers import signed

from styleswap_protocol import Message, ProtocolError, ReplayGuard, decode, new_key

KEY = new_key()
MAX_PIXELS = 64 * 64

# Any JSON value, with the kinds that once broke a check weighted in: huge ints, unhashable containers.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from([10**400, -(10**400), 2**63, 0, -1]) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def maybe(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a valid value, so the checks after this field's are reached too; one time in five anything at all."""
    return st.integers(0, 4).flatmap(lambda n: json_values if n == 0 else valid)


descriptors = (
    st.fixed_dictionaries(
        {
            "width": maybe(st.integers(1, 8)),
            "height": maybe(st.integers(1, 8)),
            "channels": maybe(st.integers(1, 4)),
            "dtype": maybe(st.sampled_from(["u8", "u16", "f32"])),
            "order": maybe(st.just("top-down")),
        },
        optional={"extra": json_values},
    )
    | json_values
)

headers = st.fixed_dictionaries(
    {
        "protocol": maybe(st.just(1)),
        "id": maybe(st.builds(lambda: uuid.uuid4().hex)),
        "type": maybe(st.sampled_from(["hello", "stylize", "x"])),
        "session": maybe(st.text(min_size=1, max_size=8)),
        "time": maybe(st.builds(time.time) | st.floats() | st.sampled_from([2**1024, 10**400, -(10**400)])),
        "parent_id": maybe(st.none() | st.builds(lambda: uuid.uuid4().hex)),
        "params": maybe(st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
        "buffers": maybe(st.lists(descriptors, max_size=3)),
    },
    optional={"extra": json_values},
)


def _frame_for(descriptor: object, data: st.DataObject) -> bytes:
    """A frame of the size the descriptor asks for when it is a plausible one, else a few random bytes."""
    try:
        size = descriptor["width"] * descriptor["height"] * descriptor["channels"] * {"u8": 1, "u16": 2, "f32": 4}[descriptor["dtype"]]
    except Exception:  # noqa: BLE001 - the descriptor is junk on purpose
        size = None
    if isinstance(size, int) and 0 < size <= 8 * 8 * 4 * 4 and data.draw(st.booleans()):
        return bytes(size)
    return data.draw(st.binary(max_size=16))


def _check(frames: list[bytes]) -> None:
    try:
        msg = decode(frames, KEY, ReplayGuard(), max_pixels=MAX_PIXELS)
    except ProtocolError:
        return
    assert isinstance(msg, Message)
    assert all(image.width * image.height <= MAX_PIXELS for image in msg.buffers)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headers, st.data())
def test_any_signed_header_decodes_or_raises_a_protocol_error(header, data):
    buffers = header["buffers"] if isinstance(header["buffers"], list) else []
    frames = [_frame_for(d, data) for d in buffers]
    if data.draw(st.booleans()):
        frames.append(data.draw(st.binary(max_size=8)))  # one frame more than described
    _check(signed(KEY, json.dumps(header).encode(), frames))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(descriptors, min_size=1, max_size=3), st.data())
def test_any_signed_descriptor_decodes_or_raises_a_protocol_error(buffers, data):
    """A valid header around fuzzed descriptors, so every example reaches the descriptor checks."""
    _check(signed(KEY, json.dumps(valid_header(type="stylize", buffers=buffers)).encode(), [_frame_for(d, data) for d in buffers]))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64), st.lists(st.binary(max_size=16), max_size=3))
def test_any_signed_bytes_decode_or_raise_a_protocol_error(header_bytes, buffers):
    _check(signed(KEY, header_bytes, buffers))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=4))
def test_any_unsigned_frames_raise_a_protocol_error(frames):
    _check(frames)
