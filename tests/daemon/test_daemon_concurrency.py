"""Many clients at once: every reply reaches its own sender, none is lost, and nobody can stall the rest."""

import subprocess
import sys
import textwrap
import threading

import numpy as np
import zmq

from daemon_helpers import SLOW, TINY, RawPeer, picture, to_array, to_image
from styleswap_protocol import Message

CLIENTS = 32
REQUESTS = 20


def content_for(client: int, request: int) -> np.ndarray:
    """16x16 RGBA whose alpha spells out who asked, so a misrouted reply cannot pass."""
    pixels = picture(16, 16, 4, seed=client * 1000 + request)
    pixels[..., 3] = (client * 7 + request * 13) % 256
    pixels[0, 0, 3], pixels[0, 1, 3] = client, request
    return pixels


def test_32_clients_20_requests_each_every_reply_correct(daemon):
    shared_style = to_image(picture(16, 16, 3, seed=999))
    with daemon.client() as client:
        shared_id = client.upload_style(shared_style)
    failures: list[str] = []
    answered = [0] * CLIENTS
    start = threading.Barrier(CLIENTS)

    def work(n: int) -> None:
        try:
            with daemon.client(timeout=120) as client:
                start.wait()
                for i in range(REQUESTS):
                    if i % 5 == 0:
                        assert client.hello()["pid"] == daemon.process.pid
                    elif i % 5 == 1:
                        assert client.upload_style(to_image(picture(16, 16, 3, seed=999))) == shared_id
                    else:
                        content = content_for(n, i)
                        style = shared_id if i % 2 else shared_style
                        out = to_array(client.stylize(to_image(content), style, {**TINY, "max_size": 16, "style_size": 16}).image)
                        assert out.shape == (16, 16, 4) and np.array_equal(out[..., 3], content[..., 3]), f"client {n} request {i}: someone else's image"
                    answered[n] += 1
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            failures.append(f"client {n}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert failures == []
    assert answered == [REQUESTS] * CLIENTS
    with daemon.client() as client:
        assert client.hello()["engine"]["jobs"] == 0


KILLED_CLIENT = textwrap.dedent(
    """
    import sys
    from styleswap_client import Client
    from styleswap_protocol import Image, read_connection_file
    client = Client(read_connection_file(sys.argv[1]))
    content = Image(64, 64, 3, "u8", bytes(64 * 64 * 3))
    announced = []
    def announce(event):
        if not announced:  # the job is running: now kill me
            announced.append(print(event.job_id, flush=True))
    client.stylize(content, Image(32, 32, 3, "u8", bytes(range(256)) * 12), %r, progress=announce)
    """
)


def test_a_client_killed_mid_request_does_not_stall_the_queue(daemon):
    dying = subprocess.Popen(
        [sys.executable, "-c", KILLED_CLIENT % SLOW, str(daemon.path)], stdout=subprocess.PIPE, text=True
    )
    job_id = dying.stdout.readline().strip()
    assert len(job_id) == 32
    dying.kill()
    dying.wait()
    with daemon.client(timeout=24 * 3600) as client:  # waiting out the dead client's minutes fails on the test's timeout
        result = client.stylize(to_image(picture(16, 16, 3)), to_image(picture(16, 16, 3)), TINY)
        assert result.image.width == 16
        assert client.hello()["engine"]["jobs"] == 0
    assert f"job {job_id} dropped: its client went away" in daemon.log


def test_a_newcomer_is_served_before_a_busy_clients_backlog(daemon):
    """The busy client's first job runs until the newcomer's is queued (its ack says so: a job is queued before it
    is acknowledged), then is cancelled: the worker's next pick is the whole test, whatever the machine's speed."""
    busy, newcomer = RawPeer(daemon.info), RawPeer(daemon.info)
    style = to_image(picture(32, 32, 3, seed=1))

    def stylize(peer: RawPeer, name: str, options: dict, seed: int) -> Message:
        return peer.send(Message("stylize", name, {"options": options}, (to_image(picture(32, 32, 3, seed=seed)).as_role("content"), style.as_role("style"))))

    try:
        running = busy.reply_to(stylize(busy, "busy", SLOW, 0).id).params["job_id"]
        for i in range(1, 4):
            stylize(busy, "busy", TINY, i)
        busy.recv_until(lambda m: m.type == "progress" and m.params["job_id"] == running, "progress of the busy client's first job")
        assert newcomer.reply_to(stylize(newcomer, "newcomer", TINY, 9).id).type == "ack"
        busy.send(Message("cancel", "busy", {"job_id": running}))
        poller = zmq.Poller()
        names = {busy.socket: ("busy", busy), newcomer.socket: ("newcomer", newcomer)}
        for socket in names:
            poller.register(socket, zmq.POLLIN)
        order: list[str] = []
        while len(order) < 4:
            ready = poller.poll(120_000)
            assert ready, f"results stopped coming after {order}"
            for socket, _ in ready:
                name, peer = names[socket]
                if peer.recv().type == "result":
                    order.append(name)
        assert order == ["newcomer", "busy", "busy", "busy"], order  # before the backlog queued earlier
    finally:
        busy.close()
        newcomer.close()
