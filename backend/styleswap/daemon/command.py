"""The `styleswap-backend` command: run the daemon (headless or with a tray icon), query or stop it,
and install it as a per-user service."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from styleswap import __version__
from styleswap.engine.errors import StyleSwapError

if TYPE_CHECKING:  # the daemon's modules load torch; `status`, `stop` and `--help` should not wait for it
    from styleswap.daemon.config import DaemonConfig
    from styleswap_client import Client
    from styleswap_protocol import ConnectionInfo

_REPLACE_TIMEOUT = 30.0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except StyleSwapError as exc:
        print(f"styleswap-backend: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    from styleswap.daemon.config import Limits, default_log_dir
    from styleswap_protocol import default_connection_path

    limits = Limits()
    parser = argparse.ArgumentParser(
        prog="styleswap-backend",
        description="The StyleSwap daemon: keeps the models loaded and serves the GIMP/Blender plug-ins and `styleswap stylize --daemon`.",
        epilog=f"Connection file: {default_connection_path()} ($STYLESWAP_CONNECTION_FILE). Log: {default_log_dir()} ($STYLESWAP_LOG_DIR).",
    )
    parser.add_argument("--version", action="version", version=f"styleswap-backend {__version__}")
    where = "the connection file: the daemon's port and key (default: in the per-user runtime dir)"
    parser.add_argument("--connection-file", type=Path, default=None, help=where)
    parser.set_defaults(run=_serve)
    common = argparse.ArgumentParser(add_help=False)  # lets `status --connection-file X` work too
    common.add_argument("--connection-file", type=Path, default=argparse.SUPPRESS, help=where)
    commands = parser.add_subparsers(metavar="COMMAND", title="commands (none: run the daemon)")

    serve = parser.add_argument_group("running the daemon")
    serve.add_argument(
        "--transport", choices=("ipc", "tcp"), default=None,
        help="ipc: a socket file in the private runtime folder, only you can connect (default on Linux and macOS); tcp: 127.0.0.1, "
        "any local user can connect but only key holders get past the handshake (default on Windows, and with --port)",
    )  # fmt: skip
    serve.add_argument("--port", type=_port, default=0, help="TCP port on 127.0.0.1 (default: a free one); implies --transport tcp")
    serve.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    serve.add_argument(
        "--precision", default="auto", help="auto, float32, float16, bfloat16 or int8: of encoding, matching and the inverse network (auto: float16 on CUDA, int8 on x86 CPUs with VNNI, float32 elsewhere)"
    )
    serve.add_argument("--weights", help="explicit encoder weights file (.safetensors)")
    serve.add_argument("--threads", type=_positive, help="CPU threads for torch (default: torch's choice)")
    serve.add_argument("--ray", metavar="ADDRESS", help="run the work on a Ray cluster: auto (started with `ray start`), local, or HEAD:6379 (docs/cluster.md)")
    serve.add_argument("--log-dir", type=Path, default=None, help="folder of the rotating log file")
    serve.add_argument("--max-pixels", type=int, default=limits.max_pixels, help="largest image, width*height")
    serve.add_argument("--max-queued-jobs", type=int, default=limits.max_queued_jobs, help="jobs waiting or running, all clients")
    serve.add_argument("--max-pending-frames", type=int, default=limits.max_pending_frames, help="frames one sequence may have waiting")
    serve.add_argument("--max-held-frames", type=int, default=limits.max_held_frames, help="finished frames one sequence keeps for resuming")
    serve.add_argument("--request-timeout", type=float, default=limits.request_timeout, help="seconds one image may run")
    serve.add_argument("--style-cache-mb", type=float, default=limits.style_cache_bytes / 2**20, help="memory for uploaded styles and their features")
    serve.add_argument("--orphan-grace", type=float, default=limits.orphan_grace, help="seconds a sequence whose client vanished waits to be resumed")
    serve.add_argument("--replace", action="store_true", help="stop a running daemon and take its place")
    serve.add_argument("--tray", action="store_true", help="show a status icon with a menu (needs pystray: pip install 'styleswap[tray]')")
    serve.add_argument("--verbose", action="store_true", help="log debug messages")

    status = commands.add_parser("status", parents=[common], help="print the running daemon's info as JSON (exit 1 if none)")
    status.set_defaults(run=_status)
    stop = commands.add_parser("stop", parents=[common], help="ask the running daemon to exit")
    stop.set_defaults(run=_stop)
    install = commands.add_parser("install-service", help="start the daemon at login (systemd user unit + XDG autostart on Linux)")
    install.set_defaults(run=_install)
    uninstall = commands.add_parser("uninstall-service", help="remove what install-service wrote")
    uninstall.set_defaults(run=_uninstall)
    return parser


def _port(text: str) -> int:
    port = _whole(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 0 (any free one) to 65535, not {port}")
    return port


def _positive(text: str) -> int:
    number = _whole(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _config(args: argparse.Namespace) -> DaemonConfig:
    from styleswap.daemon.config import DaemonConfig, Limits

    limits = Limits(
        max_pixels=args.max_pixels,
        max_queued_jobs=args.max_queued_jobs,
        max_pending_frames=args.max_pending_frames,
        max_held_frames=args.max_held_frames,
        request_timeout=args.request_timeout,
        style_cache_bytes=int(args.style_cache_mb * 2**20),
        orphan_grace=args.orphan_grace,
    )
    for name, value in vars(limits).items():
        if not value > 0:
            raise StyleSwapError(f"--{name.replace('_', '-')} must be positive, not {value}")
    config = DaemonConfig(port=args.port, device=args.device, precision=args.precision, weights=args.weights, threads=args.threads, ray=args.ray, limits=limits)
    if args.transport is not None or args.port:
        config.transport = args.transport or "tcp"
    if config.transport == "ipc" and args.port:
        raise StyleSwapError("--port is for --transport tcp; an ipc daemon listens on a socket file")
    if args.connection_file:
        config.connection_file = args.connection_file
    if args.log_dir:
        config.log_dir = args.log_dir
    return config


def _serve(args: argparse.Namespace) -> int:
    from styleswap.daemon.instance import InstanceLock
    from styleswap.daemon.logs import setup_logging
    from styleswap_protocol import ConnectionFileError, private_folder

    config = _config(args)
    log_file = setup_logging(config.log_dir, logging.DEBUG if args.verbose else logging.INFO)
    try:
        private_folder(config.connection_file.parent)  # before the lock file, the socket and the key go there
    except ConnectionFileError as exc:
        raise StyleSwapError(f"refusing the runtime folder {exc}") from None
    lock = InstanceLock(config.connection_file)
    if not lock.acquire():
        other = _running_daemon(config.connection_file)
        if not args.replace:
            print(f"styleswap-backend: already running (pid {other.info.pid} on {other.info.url}); --replace restarts it")
            other.close()
            return 0
        print(f"styleswap-backend: replacing the daemon with pid {other.info.pid}")
        with other:
            other.shutdown()
        if not lock.acquire(timeout=_REPLACE_TIMEOUT):
            raise StyleSwapError(f"the daemon with pid {other.info.pid} did not exit within {_REPLACE_TIMEOUT:g} s")
    try:
        restart = _run_daemon(config, args.tray, log_file)
    finally:
        lock.release()
    if restart:
        os.execv(sys.executable, [sys.executable, "-m", "styleswap.daemon.command", *[a for a in sys.argv[1:] if a != "--replace"]])
    return 0


def _run_daemon(config: DaemonConfig, tray: bool, log_file: Path) -> bool:
    """Serve until stopped; True if a restart was asked for."""
    from styleswap.daemon.server import Daemon

    daemon = Daemon(config)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: daemon.stop())

    def announce(info: ConnectionInfo) -> None:
        if (failed := daemon.worker.load_error) is not None:
            print(f"styleswap-backend {__version__} serving on {info.url} (pid {info.pid}), but its engine could not start: {failed}; every job will fail until it is restarted with other settings; log {log_file}", file=sys.stderr, flush=True)
        else:
            print(f"styleswap-backend {__version__} ready on {info.url} (pid {info.pid}, device {daemon.worker.device}); log {log_file}", flush=True)

    if tray:
        from styleswap.daemon.tray import run_tray

        run_tray(daemon, log_file, announce)
    else:
        daemon.run(announce)
    return daemon.restart_requested


def _running_daemon(path: Path) -> Client:
    """A client of the daemon that holds the lock, once it is ready."""
    from styleswap_client import Client, DaemonError, wait_until_ready

    try:
        return Client(wait_until_ready(path))
    except DaemonError as exc:
        raise StyleSwapError(f"another styleswap-backend holds {path}.lock but is not answering: {exc.message}") from None


def _connected(args: argparse.Namespace) -> Client | None:
    from styleswap_client import DaemonUnavailable, connect

    try:
        return connect(args.connection_file)
    except DaemonUnavailable as exc:
        print(f"styleswap-backend: {exc.message}", file=sys.stderr)
        return None


def _status(args: argparse.Namespace) -> int:
    client = _connected(args)
    if client is None:
        return 1
    with client:
        print(json.dumps(client.daemon, indent=2))
    return 0


def _stop(args: argparse.Namespace) -> int:
    client = _connected(args)
    if client is None:
        return 1
    with client:
        client.shutdown()
        print(f"styleswap-backend: asked the daemon (pid {client.info.pid}) to exit")
    return 0


def _install(args: argparse.Namespace) -> int:
    from styleswap.daemon.service import install

    print(install())
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    from styleswap.daemon.service import uninstall

    print(uninstall())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
