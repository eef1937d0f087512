"""Message type names; the tables in PROTOCOL.md define each one's params, buffers and replies."""

from typing import Final

HELLO: Final = "hello"
INFO: Final = "info"
STYLIZE: Final = "stylize"
UPLOAD_STYLE: Final = "upload_style"
SEQUENCE: Final = "sequence"
CANCEL: Final = "cancel"
SHUTDOWN: Final = "shutdown"
ACK: Final = "ack"
PROGRESS: Final = "progress"
RESULT: Final = "result"
FRAME_RESULT: Final = "frame_result"
ERROR: Final = "error"

REQUEST_TYPES: Final = frozenset({HELLO, STYLIZE, UPLOAD_STYLE, SEQUENCE, CANCEL, SHUTDOWN})
"""Sent by clients; the daemon answers anything else with error `unknown_type`."""

REPLY_TYPES: Final = frozenset({INFO, ACK, PROGRESS, RESULT, FRAME_RESULT, ERROR})
"""Sent by the daemon, always with `parent_id` set to the request they answer."""
