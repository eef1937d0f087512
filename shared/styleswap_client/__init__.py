"""Client library of the StyleSwap daemon, for the CLI and the host plug-ins.

Standard library, pyzmq and `styleswap_protocol` only, so hosts without torch or numpy (GIMP's and
Blender's Python) use it as it is; the installers copy this package into each host under this same name.
`hostlink` holds what every host needs around it: finding or starting the daemon, and advice for its errors.
"""

from .client import (
    BACKEND_ENV,
    DEFAULT_START_TIMEOUT,
    DEFAULT_TIMEOUT,
    MAX_PIXELS,
    Client,
    DaemonError,
    DaemonTimeout,
    DaemonUnavailable,
    Progress,
    SequenceResult,
    StylizeResult,
    backend_command,
    connect,
    motion_buffer,
    start_daemon,
    wait_until_ready,
)

__all__ = [
    "BACKEND_ENV",
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "MAX_PIXELS",
    "Client",
    "DaemonError",
    "DaemonTimeout",
    "DaemonUnavailable",
    "Progress",
    "SequenceResult",
    "StylizeResult",
    "backend_command",
    "connect",
    "motion_buffer",
    "start_daemon",
    "wait_until_ready",
]
