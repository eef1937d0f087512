import pytest
import zmq
from protocol_helpers import MAX_PIXELS

from styleswap_protocol import (
    BadSignatureError,
    Image,
    MalformedMessageError,
    Message,
    ReplayGuard,
    message_types,
    new_id,
    new_key,
    recv_message,
    send_message,
    split_identity,
)

TIMEOUT_MS = 5000


@pytest.fixture
def router(context):
    sock = context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    yield sock, f"tcp://127.0.0.1:{port}"
    sock.close()


def dealer(context, url, name: bytes):
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    sock.setsockopt(zmq.IDENTITY, name)
    sock.connect(url)
    return sock


def test_router_dealer_exchange_routes_replies_by_identity(context, router, key):
    server, url = router
    clients = {name: dealer(context, url, name) for name in (b"gimp", b"blender")}
    server_guard = ReplayGuard()
    big = Image(512, 256, 4, "u8", bytes(range(256)) * 2048)  # 512 KiB: above pyzmq's copy threshold

    requests = {}
    for name, sock in clients.items():
        requests[name] = Message(message_types.STYLIZE, new_id(), {"options": {"iters": 2}}, (big,))
        send_message(sock, requests[name], key)

    for _ in clients:
        peer, request = recv_message(server, key, server_guard, max_pixels=MAX_PIXELS, identity=True)
        assert request == requests[peer]
        assert isinstance(request.buffers[0].data, memoryview)  # a view of zmq's frame, not a copy
        assert bytes(request.buffers[0].data) == big.data
        ack = request.reply(message_types.ACK, {"job_id": f"job-{peer.decode()}"})
        send_message(server, ack, key, identity=peer)

    for name, sock in clients.items():
        reply = recv_message(sock, key, ReplayGuard(), max_pixels=MAX_PIXELS)
        assert reply.type == message_types.ACK
        assert reply.parent_id == requests[name].id
        assert reply.params == {"job_id": f"job-{name.decode()}"}
        sock.close()


def test_bad_message_on_router_keeps_sender_identity(context, router, key):
    server, url = router
    client = dealer(context, url, b"stale-client")
    send_message(client, Message(message_types.HELLO, new_id()), new_key())
    with pytest.raises(BadSignatureError) as info:
        recv_message(server, key, ReplayGuard(), max_pixels=MAX_PIXELS, identity=True)
    assert info.value.identity == b"stale-client"
    client.close()


def test_split_identity():
    assert split_identity([b"peer", b"sig", b"head"]) == (b"peer", [b"sig", b"head"])
    with pytest.raises(MalformedMessageError, match="no frames"):
        split_identity([])
