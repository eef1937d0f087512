"""What going through the daemon costs: round-trip overhead on a tiny image, and a 3840x2160 RGBA frame
through the daemon against the same work done in-process, as a ratio.

    STYLESWAP_MODELS=/path/to/models python benchmarks/daemon_roundtrip.py [--repeat 5] [--threads N]

Starts its own daemon (private connection file and log, on the device `auto` picks) and stops it after.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from styleswap.daemon.wire import array_to_image
from styleswap.engine.images import Picture
from styleswap.engine.stylize import Engine, Options
from styleswap.tools.bench import machine, medians
from styleswap_client import Client, wait_until_ready

TINY = {"method": "optim", "iters": 1, "max_size": 16, "style_size": 16}
FRAME = {**TINY, "max_size": 64, "style_size": 64}  # the frame is scaled down to work on: transfer dominates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads, here and in the daemon")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    tiny = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    frame = rng.integers(0, 256, (2160, 3840, 4), dtype=np.uint8)
    style = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)

    with tempfile.TemporaryDirectory(prefix="styleswap-bench-") as tmp:
        path = Path(tmp) / "backend.json"
        daemon = subprocess.Popen(
            [sys.executable, "-m", "styleswap.daemon.command", "--connection-file", str(path), "--log-dir", tmp, "--threads", str(args.threads)],
            stdout=subprocess.DEVNULL,
        )
        try:
            with Client(wait_until_ready(path, process=daemon), timeout=600) as client:
                rows, device = measure(client, tiny, frame, style, args.repeat)
                client.shutdown()
        finally:
            daemon.wait(timeout=60)

    info = {**machine(), "device": device}
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"median of {args.repeat} runs after a warm-up; ratio = daemon / in-process\n")
    print(f"| {'case':<44} | {'in-process ms':>13} | {'daemon ms':>9} | {'overhead ms':>11} | {'ratio':>5} |")
    print(f"|{'-' * 46}|{'-' * 15}|{'-' * 11}|{'-' * 13}|{'-' * 7}|")
    for case, local, remote in rows:
        if local is None:
            print(f"| {case:<44} | {'-':>13} | {remote * 1e3:9.2f} | {remote * 1e3:11.2f} | {'-':>5} |")
        else:
            print(f"| {case:<44} | {local * 1e3:13.2f} | {remote * 1e3:9.2f} | {(remote - local) * 1e3:11.2f} | {remote / local:5.2f} |")


def measure(client: Client, tiny: np.ndarray, frame: np.ndarray, style: np.ndarray, repeat: int) -> tuple[list, str]:
    cpu = torch.device("cpu")
    style_id = client.upload_style(array_to_image(style, "u8"))
    device = client.hello()["engine"]["device"]
    engine = Engine(device)
    patches = {name: engine.prepare_style(Picture.from_array(style), Options(**options)) for name, options in (("tiny", TINY), ("frame", FRAME))}

    def in_process(pixels: np.ndarray, name: str, options: dict) -> np.ndarray:
        return engine.stylize(Picture.from_array(pixels), patches[name], Options(**options)).picture.to_array()

    def via_daemon(pixels: np.ndarray, options: dict) -> object:
        return client.stylize(array_to_image(pixels, "u8"), style_id, options).image

    frame_image = array_to_image(frame, "u8")
    tiny_pair = medians({"in": lambda: in_process(tiny, "tiny", TINY), "daemon": lambda: via_daemon(tiny, TINY)}, cpu, repeat, settle=0)
    frame_pair = medians({"in": lambda: in_process(frame, "frame", FRAME), "daemon": lambda: via_daemon(frame, FRAME)}, cpu, repeat, settle=0)
    rows = [
        ("hello (protocol round trip only)", None, medians({"hello": client.hello}, cpu, repeat * 10, settle=0)["hello"]),
        ("stylize 16x16 RGBA, 1 iteration", tiny_pair["in"], tiny_pair["daemon"]),
        ("upload 3840x2160 RGBA u8 (one way, hashed)", None, medians({"upload": lambda: client.upload_style(frame_image)}, cpu, repeat, settle=0)["upload"]),
        ("stylize 3840x2160 RGBA u8 (worked at 64 px)", frame_pair["in"], frame_pair["daemon"]),
    ]
    return rows, device


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"\n({time.perf_counter() - start:.0f} s in all)")
