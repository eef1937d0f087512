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

BUFFER_ROLES: Final = {
    HELLO: {},
    STYLIZE: {"content": (1, 1), "style": (0, 1), "mask": (0, 1)},
    UPLOAD_STYLE: {"style": (1, 1)},
    SEQUENCE: {"content": (0, None), "motion": (0, None)},
    CANCEL: {},
    SHUTDOWN: {},
}
"""The buffer roles each request takes, with the (fewest, most) buffers of each; None: any number."""
