"""Replies produced off the server thread, handed to it: a ZeroMQ socket must only be used by one thread."""

from __future__ import annotations

import queue
import threading

import zmq

from styleswap_protocol import Message


class Outbox:
    """A queue plus an inproc wake-up socket the server polls next to its ROUTER socket."""

    def __init__(self, context: zmq.Context) -> None:
        address = f"inproc://styleswap-outbox-{id(self):x}"
        self._items: queue.SimpleQueue[tuple[bytes, Message]] = queue.SimpleQueue()
        self.receiver = context.socket(zmq.PULL)
        self.receiver.bind(address)
        self._waker = context.socket(zmq.PUSH)
        self._waker.connect(address)
        self._wake_lock = threading.RLock()  # re-entrant: a signal handler may wake from inside `put`

    def put(self, identity: bytes, msg: Message) -> None:
        self._items.put((identity, msg))
        self.wake()

    def wake(self) -> None:
        """Interrupt the server's poll; safe from any thread, from a signal handler, and after `close`."""
        with self._wake_lock:
            if self._waker.closed:
                return
            try:
                self._waker.send(b"", zmq.NOBLOCK)
            except zmq.Again:
                pass  # wake-ups are already pending

    def drain(self) -> list[tuple[bytes, Message]]:
        """Everything queued so far; call from the server thread only."""
        while True:
            try:
                self.receiver.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        items = []
        while True:
            try:
                items.append(self._items.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        with self._wake_lock:
            self._waker.close(linger=0)
        self.receiver.close(linger=0)
