import json
import struct
import time

import pytest
from protocol_helpers import MAX_PIXELS, header, signed

from styleswap_protocol import (
    PROTOCOL_VERSION,
    BadBufferError,
    BadSignatureError,
    Image,
    MalformedMessageError,
    Message,
    ProtocolError,
    ReplayedMessageError,
    ReplayGuard,
    StaleMessageError,
    UnsupportedVersionError,
    decode,
    encode,
    is_authentic,
    message_types,
    new_key,
)


def rgb_u8(width=3, height=2) -> Image:
    return Image(width, height, 3, "u8", bytes(range(width * height * 3)))


def hello(*buffers: Image) -> Message:
    return Message(message_types.HELLO, "session-1", {"client": "test"}, tuple(buffers))


def code_of(frames, key, guard=None, max_pixels=MAX_PIXELS) -> str:
    with pytest.raises(ProtocolError) as info:
        decode(frames, key, guard or ReplayGuard(), max_pixels=max_pixels)
    return info.value.code


@pytest.mark.parametrize(
    ("dtype", "channels", "data"),
    [
        ("u8", 1, bytes([0, 127, 255, 1, 2, 3])),
        ("u16", 2, struct.pack("<12H", *range(0, 65535, 5500))),
        ("f32", 4, struct.pack("<24f", *(i / 7 for i in range(24)))),
    ],
)
def test_round_trip_each_dtype(key, guard, dtype, channels, data):
    width, height = 3, 2
    image = Image(width, height, channels, dtype, data)
    sent = Message(
        message_types.STYLIZE,
        "session-1",
        {"options": {"method": "swap", "strength": 0.5, "preserve_color": True, "seed": None}},
        (image, rgb_u8()),
    )
    received = decode(encode(sent, key), key, guard, max_pixels=MAX_PIXELS)
    assert received == sent
    assert bytes(received.buffers[0].data) == data
    assert received.buffers[0].to_descriptor() == {
        "width": width,
        "height": height,
        "channels": channels,
        "dtype": dtype,
        "order": "top-down",
    }
    if dtype == "f32":
        assert struct.unpack("<24f", received.buffers[0].data)[1] == pytest.approx(1 / 7)


def test_wire_layout_is_signature_header_buffers(key, guard):
    image = rgb_u8()
    frames = encode(hello(image), key)
    assert len(frames) == 3
    assert len(frames[0]) == 64 and bytes(frames[0]).decode("ascii").isalnum()
    head = json.loads(frames[1])
    assert head["protocol"] == PROTOCOL_VERSION == 2
    assert head["buffers"] == [image.to_descriptor()]
    assert frames[2] is image.data  # handed to zmq as-is, not copied


def test_header_is_compact_utf8_json(key):
    """UTF-8 as it is (not \\u escapes) and no spaces: the header is the one frame parsed before anything else."""
    frames = encode(Message(message_types.HELLO, "séance", {"client": "café"}), key)
    assert "séance".encode() in frames[1] and "café".encode() in frames[1]
    assert b": " not in frames[1] and b", " not in frames[1]


def test_reply_links_parent_and_session(key, guard):
    request = hello()
    reply = request.reply(message_types.INFO, {"pid": 1})
    received = decode(encode(reply, key), key, guard, max_pixels=MAX_PIXELS)
    assert received.parent_id == request.id
    assert received.session == "session-1"
    assert received.id != request.id


def test_tampered_header(key):
    frames = encode(hello(), key)
    frames[1] = frames[1].replace(b'"client":"test"', b'"client":"evil"')
    assert b"evil" in frames[1]
    assert code_of(frames, key) == "bad_signature"


def test_tampered_buffer(key):
    frames = encode(hello(rgb_u8()), key)
    frames[2] = b"\xff" + frames[2][1:]
    assert code_of(frames, key) == "bad_signature"


def test_wrong_key(key):
    frames = encode(hello(), key)
    with pytest.raises(BadSignatureError, match="wrong key"):
        decode(frames, new_key(), ReplayGuard(), max_pixels=MAX_PIXELS)


def test_missing_signature(key):
    frames = encode(hello(rgb_u8()), key)
    assert code_of(frames[1:], key) == "bad_signature"  # header taken for the signature
    assert code_of([b"", *frames[1:]], key) == "bad_signature"


def test_an_empty_signature_frame_is_named_as_such(key):
    """The one signature error that is the sender's bug, not a wrong key: said plainly."""
    with pytest.raises(BadSignatureError, match="signature frame is empty"):
        decode([b"", *encode(hello(), key)[1:]], key, ReplayGuard(), max_pixels=MAX_PIXELS)
    with pytest.raises(BadSignatureError, match="wrong key"):
        decode([b"x", *encode(hello(), key)[1:]], key, ReplayGuard(), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("frames", [[], [b"signature"], [b"", b"header"]])
def test_is_authentic_says_no_to_too_few_frames_or_no_signature(key, frames):
    """Receivers ask it about frames they could not decode: any frames, answered without raising."""
    assert is_authentic(frames, key) is False


def test_a_signed_empty_header_is_authentic_and_then_malformed(key):
    """Authentication checks the signature, not the header's content: a correctly signed empty header passes it
    and is refused by the header check that follows (malformed, not bad_signature)."""
    frames = signed(key, b"")
    assert is_authentic(frames, key) is True
    assert code_of(frames, key) == "malformed"


def test_truncated_in_transit_fails_signature(key):
    frames = encode(hello(rgb_u8(), rgb_u8()), key)
    assert code_of(frames[:-1], key) == "bad_signature"


def test_fewer_frames_than_descriptors(key):
    image = rgb_u8()
    head = header(buffers=[image.to_descriptor(), image.to_descriptor()])
    with pytest.raises(BadBufferError, match="describes 2 buffers but 1") as info:
        decode(signed(key, head, [image.data]), key, ReplayGuard(), max_pixels=MAX_PIXELS)
    assert info.value.msg_id == head["id"]


def test_more_frames_than_descriptors(key):
    """An extra buffer frame, signed with the rest, is refused rather than dropped unread."""
    image = rgb_u8()
    head = header(buffers=[image.to_descriptor()])
    with pytest.raises(BadBufferError, match="describes 1 buffers but 2"):
        decode(signed(key, head, [image.data, image.data]), key, ReplayGuard(), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("frames", [[], [b"\x00\xffgarbage"]])
def test_too_few_frames(key, frames):
    assert code_of(frames, key) == "malformed"


def test_garbage_bytes(key):
    assert code_of([b"\x8f" * 64, b"\x00\x01garbage\xff", b"more"], key) == "bad_signature"


@pytest.mark.parametrize("head", [b"not json", b"\xff\xfe{}", b"[1, 2]", b'{"protocol": NaN}', b"[" * 100_000])
def test_non_json_header(key, head):
    assert code_of(signed(key, head), key) == "malformed"


@pytest.mark.parametrize(
    "overrides",
    [
        {"protocol": "1"},
        {"protocol": True},
        {"id": 5},
        {"id": "not-hex"},
        {"parent_id": 7},
        {"type": ""},
        {"type": ["hello"]},
        {"session": None},
        {"time": "now"},
        {"time": True},
        {"time": 10**400},  # no float can hold it: once an OverflowError, not a ProtocolError
        {"time": -(10**400)},
        {"params": []},
        {"buffers": {}},
        {"extra": 1},
    ],
)
def test_header_with_wrong_types(key, overrides):
    assert code_of(signed(key, header(**overrides)), key) == "malformed"


def test_the_pixel_limit_is_passed_by_name(key, guard):
    """decode's limit is keyword-only: a positional number cannot be mistaken for it."""
    with pytest.raises(TypeError):
        decode(encode(hello(), key), key, guard, MAX_PIXELS)


def test_wrong_header_keys_are_named_as_missing_or_unknown(key):
    head = header(extra=1, colour="red")
    del head["session"]
    with pytest.raises(MalformedMessageError, match=r"missing \['session'\], unknown \['colour', 'extra'\]$"):
        decode(signed(key, head), key, ReplayGuard(), max_pixels=MAX_PIXELS)


def test_header_missing_field(key):
    head = header()
    del head["session"]
    with pytest.raises(MalformedMessageError, match="session"):
        decode(signed(key, head), key, ReplayGuard(), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("version", [1, 3])
def test_unknown_version(key, version):
    with pytest.raises(UnsupportedVersionError, match=f"protocol {version}"):
        decode(signed(key, header(protocol=version)), key, ReplayGuard(), max_pixels=MAX_PIXELS)


def test_replayed_id(key, guard):
    frames = encode(hello(), key)
    decode(frames, key, guard, max_pixels=MAX_PIXELS)
    with pytest.raises(ReplayedMessageError) as info:
        decode(frames, key, guard, max_pixels=MAX_PIXELS)
    assert info.value.code == "replayed"


@pytest.mark.parametrize("offset", [-301.0, 301.0])
def test_stale_timestamp(key, offset):
    msg = Message(message_types.HELLO, "s", time=time.time() + offset)
    with pytest.raises(StaleMessageError) as info:
        decode(encode(msg, key), key, ReplayGuard(window=300), max_pixels=MAX_PIXELS)
    assert info.value.code == "stale"
    assert info.value.msg_id == msg.id


def test_descriptor_length_mismatch(key):
    image = rgb_u8()
    head = header(buffers=[image.to_descriptor()])
    assert code_of(signed(key, head, [image.data[:-1]]), key) == "bad_buffer"


@pytest.mark.parametrize(
    "change",
    [
        {"width": 0, "height": 0},
        {"width": -3},
        {"height": 2.0},
        {"channels": 0},
        {"channels": 5},
        {"dtype": "f64"},
        {"dtype": ["u8"]},  # unhashable: once a TypeError, not a ProtocolError
        {"dtype": {}},
        {"order": ["top-down"]},
        {"width": 10**400},
        {"order": "bottom-up"},
        {"endian": "big"},
    ],
)
def test_invalid_descriptor(key, change):
    image = rgb_u8()
    head = header(buffers=[{**image.to_descriptor(), **change}])
    assert code_of(signed(key, head, [image.data]), key) == "bad_buffer"


def test_huge_image_rejected_by_receiver_limit(key):
    descriptor = {"width": 100_000, "height": 100_000, "channels": 4, "dtype": "f32", "order": "top-down"}
    frames = signed(key, header(buffers=[descriptor]), [b"\x00" * 16])
    with pytest.raises(BadBufferError, match="10000000000 pixels exceeds the limit of 16777216"):
        decode(frames, key, ReplayGuard(), max_pixels=MAX_PIXELS)


def test_pixel_limit_is_the_receivers_choice(key):
    frames = encode(hello(rgb_u8(width=3, height=3)), key)
    assert code_of(frames, key, max_pixels=8) == "bad_buffer"
    assert decode(frames, key, ReplayGuard(), max_pixels=9).buffers[0].width == 3


def test_empty_key_is_refused(key):
    with pytest.raises(ValueError, match="non-empty"):
        encode(hello(), b"")
    with pytest.raises(ValueError, match="non-empty"):
        decode(encode(hello(), key), b"", ReplayGuard(), max_pixels=MAX_PIXELS)


def test_encode_refuses_what_decode_would_reject(key):
    with pytest.raises(MalformedMessageError):
        encode(Message("", "s"), key)
    with pytest.raises(MalformedMessageError, match="JSON"):
        encode(Message("hello", "s", {"x": float("nan")}), key)
    with pytest.raises(MalformedMessageError, match="JSON"):
        encode(Message("hello", "s", {"x": object()}), key)


def test_error_params_carry_the_code(key):
    frames = signed(key, header(protocol=9))
    with pytest.raises(ProtocolError) as info:
        decode(frames, key, ReplayGuard(), max_pixels=MAX_PIXELS)
    assert info.value.to_params() == {"code": "unsupported_version", "message": info.value.message}
