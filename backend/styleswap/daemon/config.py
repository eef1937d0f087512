"""The daemon's settings and limits, in one place so the CLI, the info reply and the tests agree."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import platformdirs

from styleswap_protocol import default_connection_path

from .listen import default_transport

LOG_DIR_ENV = "STYLESWAP_LOG_DIR"


def default_log_dir() -> Path:
    """`$STYLESWAP_LOG_DIR`, else the platform's per-user log folder (~/.local/state/styleswap/log on Linux)."""
    return Path(os.environ.get(LOG_DIR_ENV) or platformdirs.user_log_dir("styleswap"))


@dataclass
class Limits:
    """What one client may ask of the daemon; each is answered with a clear error when exceeded."""

    max_pixels: int = 1 << 26  # width*height of any one image (a 4K frame is 8.3 M)
    max_queued_jobs: int = 64  # stylize and sequence jobs waiting or running, all clients together
    max_pending_frames: int = 64  # frames one sequence job may have waiting at once
    max_held_frames: int = 64  # finished frames one sequence keeps for resuming (oldest dropped first)
    request_timeout: float = 600.0  # seconds one image may take once it runs
    style_cache_bytes: int = 512 * 2**20  # uploaded styles and their prepared features
    orphan_grace: float = 60.0  # seconds a sequence whose client vanished waits to be resumed

    def public(self) -> dict:
        return asdict(self)


@dataclass
class DaemonConfig:
    transport: str = field(default_factory=default_transport)  # ipc (a private socket file) or tcp (127.0.0.1)
    port: int = 0  # for tcp; 0: a free port chosen by the OS
    device: str = "auto"
    precision: str = "auto"  # of encoding, matching and the inverse network: float16 on CUDA, int8 on x86 CPUs with VNNI, else float32
    weights: str | None = None
    threads: int | None = None  # torch CPU threads; None keeps torch's default
    ray: str | None = None  # a Ray cluster's address: the work runs on its actors (styleswap.cluster), not here
    connection_file: Path = field(default_factory=default_connection_path)
    log_dir: Path = field(default_factory=default_log_dir)
    limits: Limits = field(default_factory=Limits)
