"""``styleswap bench``: stage timings on this machine, with the swap's GFLOP/s beside the machine's matmul GFLOP/s."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from typing import Callable

import numpy as np
import torch

from styleswap.images import Picture
from styleswap.optimize import invert_by_optimisation
from styleswap.stylize import Engine, Options
from styleswap.swap import match, prepare_style, swap


def machine() -> dict[str, str | int]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count() or 0, "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()}


def median_seconds(work: Callable[[], object], device: torch.device, repeat: int) -> float:
    work()  # warm-up: allocator, oneDNN primitive caches, CUDA kernels
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(device: torch.device, repeat: int = 5) -> float:
    """Float32 GEMM throughput at the swap's inner dimension (256 channels x 3 x 3 = 2304)."""
    a = torch.rand(4096, 2304, device=device)
    b = torch.rand(2304, 4096, device=device)
    seconds = median_seconds(lambda: a @ b, device, repeat)
    return 2 * 4096 * 2304 * 4096 / seconds / 1e9


def run(content: Picture, style: Picture, size: int, iters: int, device: str, repeat: int) -> dict:
    engine = Engine(device)
    options = Options(max_size=size, style_size=size, iters=iters)
    dev = engine.device
    rgb, _ = engine.working_image(content, size, options)
    style_rgb, _ = engine.working_image(style, size, options)
    features = engine.encode(rgb, options)
    patches = prepare_style(engine.encode(style_rgb, options), options.patch_size)
    positions = (features.shape[2] - 2) * (features.shape[3] - 2)
    flops = 2 * positions * patches.count * patches.normalised.shape[1]
    target = swap(features, patches)
    timings = {
        "encode": median_seconds(lambda: engine.encode(rgb, options), dev, repeat),
        "match": median_seconds(lambda: match(features, patches), dev, repeat),
        "swap": median_seconds(lambda: swap(features, patches), dev, repeat),
        "reconstruct_optim": median_seconds(lambda: invert_by_optimisation(engine.encoder(options), target, rgb, iters), dev, max(1, repeat // 3)),
    }
    return {
        "machine": machine(),
        "device": str(dev),
        "content": list(rgb.shape[-2:][::-1]),
        "style": list(style_rgb.shape[-2:][::-1]),
        "optim_iters": iters,
        "seconds": timings,
        "swap_gflop": flops / 1e9,
        "match_gflops": flops / timings["match"] / 1e9,
        "matmul_gflops": matmul_gflops(dev),
    }


def table(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), device {report['device']}",
        f"content {report['content'][0]}x{report['content'][1]}, style {report['style'][0]}x{report['style'][1]}, medians",
        "",
        "| stage | seconds |",
        "|---|---|",
    ]
    lines += [f"| {name} | {seconds:.3f} |" for name, seconds in report["seconds"].items()]
    lines += [
        "",
        f"swap matching: {report['swap_gflop']:.1f} GFLOP at {report['match_gflops']:.1f} GFLOP/s; "
        f"float32 matmul on this machine: {report['matmul_gflops']:.1f} GFLOP/s "
        f"({100 * report['match_gflops'] / report['matmul_gflops']:.0f} %)",
    ]
    return "\n".join(lines)


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, default=lambda o: float(o) if isinstance(o, np.floating) else str(o))
