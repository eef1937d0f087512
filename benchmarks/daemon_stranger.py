"""What a local stranger (no key) costs the daemon: its peak memory while strangers send 4 x 256 MiB frames,
and whether a key holder is served meanwhile.

    STYLESWAP_MODELS=/path/to/models python benchmarks/daemon_stranger.py [--frame-mib 256] [--frames 4]

Starts its own daemons (private connection files and logs) and stops them after. The daemon's peak resident
memory is read from /proc/PID/status (VmHWM), reset after a warm-up through /proc/PID/clear_refs (Linux).
Cases: over TCP a stranger with no credentials (ZeroMQ's NULL mechanism), one with a wrong key (PLAIN with
a wrong password), and one speaking ZMTP by hand that sends the 256 MiB as its handshake command, which no
ZeroMQ peer would do; over IPC a stranger of another uid (needs root and setpriv) trying to connect.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zmq

from styleswap.daemon.wire import array_to_image
from styleswap.tools.bench import machine
from styleswap_client import Client, wait_until_ready
from styleswap_protocol import connect_socket, new_key

TINY = {"method": "optim", "iters": 1, "max_size": 16, "style_size": 16}
MIB = 2**20
ATTACK_S = 3.0  # how long each stranger keeps at it before the peak is read


def status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))


def reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS


def served_ms(client: Client) -> float:
    rng = np.random.default_rng(0)
    content = array_to_image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), "u8")
    style = array_to_image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), "u8")
    start = time.perf_counter()
    client.stylize(content, style, TINY)
    return (time.perf_counter() - start) * 1000


def zmq_stranger(info, key: bytes | None, frame: bytes, frames: int) -> Callable[[], None]:
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    if key is None:
        dealer.connect(info.url)  # no credentials
    else:
        connect_socket(dealer, info, key)
    dealer.send_multipart([frame] * frames, copy=False)
    return lambda: context.destroy(linger=0)


def raw_stranger(info, frame: bytes, frames: int) -> Callable[[], None]:
    """ZMTP 3.0 by hand: a PLAIN greeting, then each frame as one handshake command of that size."""
    sock = socket.create_connection((info.ip, info.port), timeout=ATTACK_S)
    greeting = b"\xff" + bytes(8) + b"\x7f" + bytes([3, 0]) + b"PLAIN".ljust(20, b"\0") + b"\0" + bytes(31)
    sock.sendall(greeting)
    try:
        for _ in range(frames):
            sock.sendall(b"\x06" + struct.pack(">Q", len(frame)))  # command, long size
            sock.sendall(frame)
    except OSError:
        pass  # the daemon closed the connection or stopped reading: what we want to see
    return sock.close


def other_uid_connects(path: str) -> str:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return "not tried (needs root and setpriv)"
    code = f"import socket; socket.socket(socket.AF_UNIX).connect({path!r})"
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    done = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", python, "-c", code], capture_output=True, text=True)
    return "connected" if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


def start(folder: Path, *args: str) -> tuple[subprocess.Popen, Client]:
    path = folder / "run" / "backend.json"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "styleswap.daemon.command", "--connection-file", str(path), "--log-dir", str(folder / "log"), "--threads", "1", *args],
        stdout=subprocess.DEVNULL,
    )
    return daemon, Client(wait_until_ready(path, process=daemon), timeout=600)


def stop_daemon(daemon: subprocess.Popen) -> None:
    """After its shutdown request, or at once if the benchmark failed before sending it."""
    try:
        daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.terminate()
        daemon.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame-mib", type=int, default=256)
    parser.add_argument("--frames", type=int, default=4)
    args = parser.parse_args()
    frame = bytes(args.frame_mib * MIB)
    rows = []
    with tempfile.TemporaryDirectory(prefix="styleswap-bench-") as tmp:
        daemon, client = start(Path(tmp) / "tcp", "--transport", "tcp")
        try:
            served_ms(client)  # warm-up: the first image pays for lazy set-up
            cases = {
                "tcp, no credentials (NULL)": lambda: zmq_stranger(client.info, None, frame, args.frames),
                "tcp, wrong key (PLAIN)": lambda: zmq_stranger(client.info, new_key(), frame, args.frames),
                "tcp, hand-made ZMTP: frames as handshake commands": lambda: raw_stranger(client.info, frame, args.frames),
            }
            for case, attack in cases.items():
                print(f"{case} ...", file=sys.stderr, flush=True)
                reset_peak(daemon.pid)
                before = status(daemon.pid, "VmRSS")
                stop = attack()
                time.sleep(ATTACK_S)
                served = served_ms(client)
                peak = status(daemon.pid, "VmHWM")
                stop()
                rows.append((case, before, peak, f"{served:.0f} ms"))
            client.shutdown()
        finally:
            client.close()
            stop_daemon(daemon)
        daemon, client = start(Path(tmp) / "ipc")
        try:
            ipc = f"ipc, another uid connecting: {other_uid_connects(client.info.path)}"
            rows.append((ipc, status(daemon.pid, "VmRSS"), status(daemon.pid, "VmHWM"), f"{served_ms(client):.0f} ms"))
            client.shutdown()
        finally:
            client.close()
            stop_daemon(daemon)

    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    print(f"each stranger sends {args.frames} x {args.frame_mib} MiB for {ATTACK_S:g} s; peak = the daemon's VmHWM, reset before each case\n")
    print(f"| {'stranger':<80} | {'RSS before MiB':>14} | {'peak MiB':>8} | {'rise MiB':>8} | {'key holder served in':>20} |")
    print(f"|{'-' * 82}|{'-' * 16}|{'-' * 10}|{'-' * 10}|{'-' * 22}|")
    for case, before, peak, served in rows:
        print(f"| {case:<80} | {before / MIB:>14.0f} | {peak / MIB:>8.0f} | {(peak - before) / MIB:>8.0f} | {served:>20} |")


if __name__ == "__main__":
    main()
