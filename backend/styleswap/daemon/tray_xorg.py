"""pystray's xorg icon, safe to update from a thread other than its event loop's.

pystray's xorg backend (0.19.5) draws, renames and docks its icon in its event-loop thread. Another
thread asks for that by sending the loop an X ClientMessage over the loop's own connection and flushing
it. python-xlib (0.33) does not survive two threads in one connection at once. On a busy machine a
request the loop queued while the caller was still flushing stayed unsent: the tooltip kept its old
text. A loop waiting for a reply behind the caller's flush was never woken: the icon froze. The backend
also wakes the setup callback before it records its loop thread, so an early call raised AttributeError
and the icon never appeared.

Here a caller sends the ClientMessage over a short-lived connection of its own (X delivers a message with
no event mask to the client that made the window: the loop), so only the loop thread ever uses the
icon's connection.

Without a system tray on the display, pystray logs a "Failed to dock icon" traceback at every update (14 in a
daemon's first three jobs); here one line says so, and the icon docks at the next update once a tray runs.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from contextlib import closing

import Xlib.display
import Xlib.protocol.event
import Xlib.X
from pystray._xorg import Icon as PystrayXorgIcon

from styleswap.engine.errors import StyleSwapError

_ANSWER_S = 60.0
log = logging.getLogger(__name__)


class Icon(PystrayXorgIcon):
    _said_undocked = False

    def _assert_docked(self) -> None:
        """Dock if a system tray runs; if none does, say so once rather than raise (pystray logs each raise)."""
        self._dock_window()
        if self._systray_manager is None and not self._said_undocked:
            log.warning("no system tray on this display: the icon appears when one starts")
        self._said_undocked = self._systray_manager is None

    def _rewrite_implementation(self, *methods: Callable[[], None]) -> None:
        """Route `methods` (pystray's show, hide, update_icon, update_title and stop) through the loop thread."""
        self._results: queue.Queue = queue.Queue()
        self._caller = threading.Lock()
        by_atom = {}
        for method in methods:
            atom = self._display.intern_atom(f"_STYLESWAP_{method.__name__.upper()}")
            by_atom[atom] = method
            setattr(self, method.__name__, self._in_loop(method, atom))
        self._message_handlers[Xlib.X.ClientMessage] = lambda event: self._answer(by_atom.get(event.client_type))

    def _in_loop(self, method: Callable[[], None], atom: int) -> Callable[[], None]:
        def call() -> None:
            if threading.current_thread() is getattr(self, "_thread", None):
                return method()
            with self._caller:
                with closing(Xlib.display.Display(self._display.get_display_name())) as own:
                    message = Xlib.protocol.event.ClientMessage(window=self._window.id, client_type=atom, data=(32, (Xlib.X.CurrentTime, 0, 0, 0, 0)))
                    own.create_resource_object("window", self._window.id).send_event(message, event_mask=Xlib.X.NoEventMask)
                    own.sync()  # not just a flush: with one, 2 of 3 loaded tray starts waited for an answer that never came
                try:
                    result = self._results.get(timeout=_ANSWER_S)
                except queue.Empty:
                    raise StyleSwapError(f"the tray icon's event loop did not answer {method.__name__} within {_ANSWER_S:.0f} s") from None
            if result is not None:
                raise result

        return call

    def _answer(self, method: Callable[[], None] | None) -> None:
        """In the loop thread: run what a caller asked for and hand it the outcome."""
        if method is None:
            return
        try:
            method()
        except Exception as exc:  # noqa: BLE001 - re-raised in the calling thread
            self._results.put(exc)
        else:
            self._results.put(None)
