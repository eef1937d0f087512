"""Every malformed message gets an error reply (to a key holder) and the daemon keeps serving; a stranger
without the key gets nothing at all."""

import json
import os
import uuid

import pytest

from daemon_helpers import RawPeer, descriptor, picture, signed_frames, to_image
from styleswap_protocol import PROTOCOL_VERSION, Message, encode, new_key, sign

RGB_16 = bytes(16 * 16 * 3)


def garbage(key):
    return None, [b"\x00\xffnot a protocol message"]


def garbage_frames(key):
    return None, [os.urandom(64), os.urandom(200), os.urandom(48)]


def truncated_multipart(key):
    msg = Message("stylize", "raw-peer", {"options": {}}, (to_image(picture(16, 16, 3)).as_role("content"), to_image(picture(16, 16, 3, seed=1)).as_role("style")))
    return None, [bytes(f) for f in encode(msg, key)][:-1]  # signed over both buffers, the last one lost


def missing_buffer_frame(key):
    return signed_frames(key, "stylize", [descriptor(16, 16), descriptor(16, 16)], [RGB_16])


def wrong_signature(key):
    return None, [bytes(f) for f in encode(Message("hello", "raw-peer"), new_key())]


def wrong_dtype(key):
    return signed_frames(key, "upload_style", [descriptor(16, 16, 3, "f64")], [RGB_16])


def size_mismatch(key):  # 16x16x3 needs 768 bytes
    return signed_frames(key, "upload_style", [descriptor(16, 16, 3)], [RGB_16[:-1]])


def zero_by_zero(key):
    return signed_frames(key, "upload_style", [descriptor(0, 0)], [b""])


def huge(key):  # 10^10 pixels: refused from the descriptor, before anything is sized from it
    return signed_frames(key, "upload_style", [descriptor(100000, 100000)], [RGB_16])


def dtype_list(key):  # once a TypeError in the shape check: the daemon died with every job it held
    return signed_frames(key, "upload_style", [descriptor(16, 16, 3, ["u8"])], [RGB_16])


def dtype_object(key):
    return signed_frames(key, "upload_style", [descriptor(16, 16, 3, {})], [RGB_16])


def time_beyond_float(key):  # once an OverflowError in the finiteness check
    msg_id = uuid.uuid4().hex
    header = json.dumps({"protocol": PROTOCOL_VERSION, "id": msg_id, "type": "hello", "session": "raw-peer", "time": 10**400, "parent_id": None, "params": {}, "buffers": []}).encode()
    return msg_id, [sign(key, header, []), header]


def bad_header_json(key):
    header = b'{"protocol": 2, "id": '
    return None, [sign(key, header, []), header]


CASES = [
    (garbage, "malformed", "at least 2 frames"),
    (garbage_frames, "bad_signature", "signature"),
    (truncated_multipart, "bad_signature", "signature"),
    (missing_buffer_frame, "bad_buffer", "describes 2 buffers but 1 frames"),
    (wrong_signature, "bad_signature", "wrong key"),
    (wrong_dtype, "bad_buffer", "dtype"),
    (size_mismatch, "bad_buffer", "needs 768 bytes, got 767"),
    (zero_by_zero, "bad_buffer", "width must be a positive integer"),
    (huge, "bad_buffer", "exceeds the limit"),
    (bad_header_json, "malformed", "not UTF-8 JSON"),
    (dtype_list, "bad_buffer", "dtype must be one of"),
    (dtype_object, "bad_buffer", "dtype must be one of"),
    (time_beyond_float, "malformed", "'time' must be a finite number"),
]


@pytest.mark.parametrize(("make", "code", "message"), CASES, ids=[case[0].__name__ for case in CASES])
def test_bad_message_gets_an_error_and_the_daemon_still_serves(daemon, make, code, message):
    peer = RawPeer(daemon.info)
    try:
        assert peer.hello().type == "info"  # this connection has proven the key
        msg_id, frames = make(daemon.info.key)
        peer.send_frames(frames)
        reply = peer.reply_to(msg_id)
        assert reply.type == "error" and reply.params["code"] == code
        assert message in reply.params["message"]
        assert peer.hello().type == "info"
        with daemon.client() as client:
            assert client.upload_style(to_image(picture(16, 16, 3, seed=3)))
    finally:
        peer.close()


@pytest.mark.parametrize("make", [garbage, garbage_frames, truncated_multipart, wrong_signature], ids=lambda make: make.__name__)
def test_a_stranger_without_the_key_gets_nothing(daemon, make):
    stranger = RawPeer(daemon.info, key=new_key())
    try:
        stranger.send(Message("hello", "stranger"))
        stranger.send(Message("shutdown", "stranger"))
        stranger.send_frames(make(new_key())[1])
        assert not stranger.socket.poll(1500)
    finally:
        stranger.close()
    with daemon.client() as client:
        assert client.hello()["pid"] == daemon.process.pid  # and the shutdown was not obeyed
    assert daemon.process.poll() is None


def test_a_replayed_message_is_dropped(daemon):
    peer = RawPeer(daemon.info)
    try:
        frames = [bytes(f) for f in encode(Message("hello", "raw-peer"), daemon.info.key)]
        peer.send_frames(frames)
        assert peer.recv().type == "info"
        peer.send_frames(frames)
        assert peer.recv(timeout=1.0) is None
        assert peer.hello().type == "info"
    finally:
        peer.close()
