"""Noticing at once that a client's connection closed, so its queued jobs are dropped then, not when the
worker reaches them (a ROUTER socket otherwise tells only when a send to the client fails).

ZeroMQ's socket monitor reports a closed connection by its file descriptor; each received message tells
the descriptor it came in on (ZMQ_SRCFD). Monitor events are read before each message, so a descriptor
that closed and was reused by a new connection is never mistaken for the new client.
"""

from __future__ import annotations

import zmq
from zmq.utils.monitor import recv_monitor_message


class Disconnects:
    def __init__(self, router: zmq.Socket) -> None:
        self.monitor = router.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        self._router = router
        self._by_fd: dict[int, bytes] = {}

    def seen(self, identity: bytes, frame: zmq.Frame) -> None:
        """Remember which connection a message came in on."""
        try:
            fd = frame.get(zmq.SRCFD)
        except zmq.ZMQError:  # a libzmq without the option: only failed sends tell then
            return
        self._by_fd[fd] = identity

    def gone(self) -> list[bytes]:
        """Identities whose connection closed since the last call."""
        gone: list[bytes] = []
        while self.monitor.poll(0):
            event = recv_monitor_message(self.monitor)
            identity = self._by_fd.pop(event["value"], None)
            if event["event"] == zmq.EVENT_DISCONNECTED and identity is not None:
                gone.append(identity)
        return gone

    def close(self) -> None:
        self._router.disable_monitor()
        self.monitor.close(linger=0)
