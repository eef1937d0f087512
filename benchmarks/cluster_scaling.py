"""Frames per second of `styleswap stylize --ray` on a local Ray cluster of 1 and 2 one-CPU worker nodes (a head
that runs no frames), against the same frames in-process on one thread, and the driver's own cost per frame
(reading the frame, writing the result): the ceiling one driver puts on any number of nodes.

    STYLESWAP_MODELS=/path/to/models python benchmarks/cluster_scaling.py [--frames 16] [--side 512] [--precision auto]

Starts and stops its own clusters on 127.0.0.1. Needs pip install 'styleswap[ray]'.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read when Ray loads: keeps it on 127.0.0.1, not this machine's address

import numpy as np  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from styleswap.cluster.pool import ActorPool  # noqa: E402
from styleswap.engine.images import Picture, load_image, save_image  # noqa: E402
from styleswap.engine.stylize import Engine, Options  # noqa: E402
from styleswap.tools.bench import machine  # noqa: E402

NODE = {"num_cpus": 1, "object_store_memory": 200 * 2**20, "node_ip_address": "127.0.0.1"}


def frames_per_second(nodes: int, files: list[Path], style: Picture, options: Options, precision: str, out: Path) -> tuple[float, str]:
    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "num_cpus": 0, "include_dashboard": False})
    try:
        for _ in range(nodes):
            cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="WARNING")
        pool = ActorPool("cpu", None, precision)
        actors = pool.describe()
        remote = pool.put_style(style)
        noop = lambda *_: None  # noqa: E731
        pool.map(((f, lambda f=f: load_image(f)) for f in files[: 2 * nodes]), remote, options, noop, noop)  # every actor prepares the style
        started = time.perf_counter()
        pool.map(((f, lambda f=f: load_image(f)) for f in files), remote, options, lambda f, r: save_image(r.picture, out / f.name), noop)
        seconds = time.perf_counter() - started
        pool.close()
        return len(files) / seconds, f"{actors[0]['device']} {actors[0]['precision']} x{actors[0]['threads']}"
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--side", type=int, default=512, help="frame width in pixels (16:9 frames)")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    options = Options(max_size=args.side, style_size=args.side)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        height = args.side * 9 // 16
        base = rng.random((height + args.frames * 4, args.side + args.frames * 4, 3), dtype=np.float32)
        files = []
        for i in range(args.frames):
            files.append(root / f"in_{i:03d}.png")
            save_image(Picture(base[4 * i : 4 * i + height, 4 * i : 4 * i + args.side].copy(), None, 8), files[-1])
        style = Picture(rng.random((height, args.side, 3), dtype=np.float32), None, 8)
        (root / "out").mkdir()

        torch.set_num_threads(1)
        engine = Engine("cpu", None, args.precision)
        prepared = engine.prepare_style(style, options)
        engine.stylize(load_image(files[0]), prepared, options)
        started = time.perf_counter()
        for f in files:
            engine.stylize(load_image(f), prepared, options)
        local = args.frames / (time.perf_counter() - started)
        result = engine.stylize(load_image(files[0]), prepared, options).picture
        started = time.perf_counter()
        for f in files:
            load_image(f)
            save_image(result, root / "out" / f.name)
        driver = args.frames / (time.perf_counter() - started)
        torch.set_num_threads(machine()["cores"])

        rows = [("in-process, 1 thread", local, engine.precision)]
        for nodes in (1, 2):
            fps, actors = frames_per_second(nodes, files, style, options, args.precision, root / "out")
            rows.append((f"Ray, {nodes} worker node{'s' if nodes > 1 else ''}", fps, actors))
    print(f"machine: {machine()}")
    print(f"{args.frames} frames of {args.side}x{args.side * 9 // 16}, method {options.method}, precision {args.precision}")
    print(f"{'run':<24} {'frames/s':>9} {'vs 1 thread':>12}  actors")
    for name, fps, actors in rows:
        print(f"{name:<24} {fps:9.2f} {fps / local:11.2f}x  {actors}")
    print(f"{'driver read+write only':<24} {driver:9.2f} {'':>12}  the one-driver ceiling")


if __name__ == "__main__":
    main()
