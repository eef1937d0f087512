"""The engine where CUDA (and Apple's MPS) behave differently from a CPU: float16 by default, memory budgets from
the card's free memory, real out-of-memory errors from the GPU's allocator, 8K frames in tiles.

Every test is marked ``cuda`` or ``mps`` and skipped, counted as skipped, where that backend is absent
(tests/conftest.py); ``benchmarks/gpu_check.sh`` runs them on a GPU machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from styleswap.daemon.worker import stylize_with_fallback
from styleswap.engine.devices import MB, default_memory_budget, free_memory
from styleswap.engine.images import Picture, load_image
from styleswap.engine.stylize import Engine, Options
from styleswap.engine.swap import match, prepare_style
from styleswap.tools.baseline import dense_swap
from styleswap.tools.bench import frame

GPU = torch.device("cuda")
GIB = 2**30
cuda = pytest.mark.cuda
mps = pytest.mark.mps


@pytest.fixture(scope="module")
def pair() -> tuple[Picture, Picture]:
    """The pair docs/benchmarks.md measures large frames with: a photo and a painting from the evaluation set."""
    data = Path(os.environ["STYLESWAP_DATA"]) / "eval"
    content, style = data / "content" / "animal_dogs_lomiri.jpg", data / "style" / "munch_the_scream.jpg"
    if not (content.is_file() and style.is_file()):
        pytest.fail(f"evaluation images not found in {data}; set STYLESWAP_DATA")
    return load_image(content), load_image(style)


@pytest.fixture(scope="module")
def gpu_engine(models, pair) -> Engine:
    """The default engine on the card, warmed up: cuBLAS and cuDNN have made their handles before a test caps memory."""
    engine = Engine("cuda")
    engine.stylize(pair[0], pair[1], Options(max_size=128, style_size=128))
    return engine


@contextmanager
def gpu_memory_cap(total_bytes: int):
    """The caching allocator refuses to hold more than ``total_bytes`` on the card (it raises torch's real
    OutOfMemoryError, as a full card does), for the block's duration."""
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(min(1.0, total_bytes / torch.cuda.get_device_properties(GPU).total_memory), GPU)
    try:
        yield
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, GPU)
        torch.cuda.empty_cache()


def peak_allocated(work) -> int:
    """Bytes allocated on the card at most while ``work`` ran, the resident models and style included. Not the
    allocator's peak reservation: under a cap it frees its cached blocks and retries before it gives up."""
    torch.cuda.synchronize(GPU)
    torch.cuda.reset_peak_memory_stats(GPU)
    work()
    torch.cuda.synchronize(GPU)
    return torch.cuda.max_memory_allocated(GPU)


@cuda
def test_auto_runs_on_the_gpu_in_float16(gpu_engine, pair):
    """auto is CUDA in float16: activations and the prepared style are float16 on the card, the picture float32."""
    auto = Engine()
    assert (auto.device.type, auto.precision, auto.dtype) == ("cuda", "float16", torch.float16)
    content, style = pair
    options = Options(max_size=256, style_size=256)
    patches = gpu_engine.prepare_style(style, options)
    assert patches.normalised.dtype == patches.features.dtype == torch.float16 and patches.normalised.is_cuda
    rgb, _ = gpu_engine.working_image(content, 256, options)
    assert gpu_engine.encode(rgb, options).dtype == torch.float16
    result = gpu_engine.stylize(content, patches, options)
    assert result.device == "cuda" and result.picture.rgb.dtype == np.float32 and np.isfinite(result.picture.rgb).all()
    assert set(result.timings) == {"encode", "swap", "reconstruct", "total"}
    assert gpu_engine.int8_encoder(options) is None  # the int8 path is the CPU's alone


@cuda
@pytest.mark.parametrize("matching", ["exact", "fast"])
def test_float16_keeps_the_swap_objective_within_1_percent_of_float32(pair, models, matching):
    """The float16 path CUDA runs by default against float32 on the card and on the CPU, at 512 px."""
    content, style = pair
    options = Options(max_size=512, style_size=512, match=matching, score=True)
    half = Engine("cuda", precision="float16").stylize(content, style, options)
    full = Engine("cuda", precision="float32").stylize(content, style, options)
    cpu = Engine("cpu", precision="float32").stylize(content, style, options)
    assert abs(half.objective - full.objective) < 0.01 * full.objective
    assert abs(full.objective - cpu.objective) < 0.01 * cpu.objective  # TF32 convolutions on the card
    assert 0 < np.abs(half.picture.rgb - full.picture.rgb).mean() < 0.01
    assert half.objective < 0.8 * half.content_objective  # a real stylisation, not two equal failures


@cuda
def test_dense_baseline_and_banded_matching_agree_on_the_gpu():
    """The benchmark's dense reference runs on the card too (its overlap count was made on the CPU)."""
    gen = torch.Generator().manual_seed(3)
    content = torch.rand(1, 16, 30, 26, generator=gen, dtype=torch.float64).to(GPU)
    style = torch.rand(1, 16, 22, 24, generator=gen, dtype=torch.float64).to(GPU)
    swapped, index = dense_swap(content, style)
    assert swapped.is_cuda and torch.equal(index, match(content, prepare_style(style), 4 * MB))


@cuda
def test_memory_budget_default_follows_the_cards_free_memory(gpu_engine):
    """A quarter of the card's free memory, between 64 MB and 4 GB: on a card with little free (here 8 GB left by a
    block this test takes) the budget shrinks with it."""
    free = torch.cuda.mem_get_info(GPU)[0]
    assert abs(free_memory(GPU) - free) < 256 * MB
    assert abs(default_memory_budget(GPU) - min(4096 * MB, max(64 * MB, free // 4))) <= 64 * MB
    assert abs(gpu_engine.memory_budget(Options()) - default_memory_budget(GPU)) <= 64 * MB
    assert gpu_engine.memory_budget(Options(memory_budget=3 * MB)) == 3 * MB
    if free < 10 * GIB:
        pytest.skip(f"the card has {free / GIB:.1f} GB free: too little to leave 8 GB free and see the budget follow")
    block = torch.empty(free - 8 * GIB, dtype=torch.uint8, device=GPU)
    try:
        left = torch.cuda.mem_get_info(GPU)[0]
        assert 7 * GIB < left < 9 * GIB
        assert abs(default_memory_budget(GPU) - left // 4) <= 64 * MB
    finally:
        del block
        torch.cuda.empty_cache()


@cuda
def test_out_of_memory_on_the_gpu_is_retried_in_smaller_chunks_on_the_gpu(gpu_engine, pair):
    """A real out-of-memory error from the card's allocator: the card is capped between what a 4 GB budget and a
    1 GB budget need for a 3072x2048 frame, so the first try fails and the retry at 1 GB runs on the card."""
    content, style = frame(pair[0], 3072, 2048), pair[1]
    options = Options(max_size=3072, style_size=512)
    patches = gpu_engine.prepare_style(style, options)
    engines = {"cuda": gpu_engine, "cpu": Engine("cpu")}

    def run(device, chosen):
        return engines[device].stylize(content, patches if device == "cuda" else style, chosen)

    big = peak_allocated(lambda: gpu_engine.stylize(content, patches, Options(max_size=3072, style_size=512, memory_budget=4096 * MB)))
    small = peak_allocated(lambda: gpu_engine.stylize(content, patches, Options(max_size=3072, style_size=512, memory_budget=1024 * MB)))
    assert big > 1.3 * small  # the budget bounds the memory a frame takes
    reference = gpu_engine.stylize(content, patches, options)
    # halfway between the two needs: the smaller try keeps room for the allocator's rounding and fragmentation
    with gpu_memory_cap((big + small) // 2):
        result, warnings = stylize_with_fallback(run, "cuda", Options(max_size=3072, style_size=512, memory_budget=4096 * MB))
    assert warnings == ["out of memory on cuda with a 4096 MB matching budget"]
    assert result.device == "cuda" and result.picture.size == (3072, 2048)
    assert np.abs(result.picture.rgb - reference.picture.rgb).mean() < 1e-3  # tiles and bands change no result


@cuda
def test_out_of_memory_even_in_small_chunks_runs_on_the_cpu_and_the_card_recovers(gpu_engine, pair):
    content, style = frame(pair[0], 640, 360), pair[1]
    options = Options(max_size=640, style_size=256, memory_budget=64 * MB)
    engines = {"cuda": gpu_engine, "cpu": Engine("cpu")}
    torch.cuda.empty_cache()
    with gpu_memory_cap(torch.cuda.memory_reserved(GPU) + 2 * MB):  # the models fit, no image does
        result, warnings = stylize_with_fallback(lambda device, chosen: engines[device].stylize(content, style, chosen), "cuda", options)
    assert result.device == "cpu" and result.picture.size == (640, 360)
    assert [w.split(" with a ")[0] for w in warnings[:3]] == ["out of memory on cuda"] * 3
    assert warnings[3] == "cuda ran out of memory even in small chunks; this image ran on the CPU (slower)"
    again = gpu_engine.stylize(content, style, options)  # the cap is gone and nothing of the failed tries is held
    assert again.device == "cuda" and abs(again.picture.rgb.mean() - result.picture.rgb.mean()) < 0.02


@cuda
def test_an_8k_frame_completes_on_the_gpu_in_tiles(gpu_engine, pair):
    """7680x4320 with the default budget (at most 4 GB: 2048 px tiles, so the frame is tiled) and a 1024 px style."""
    content, style = frame(pair[0], 7680, 4320), pair[1]
    assert max(content.size) > 2048  # more than one tile of the largest default budget
    torch.cuda.reset_peak_memory_stats(GPU)
    result = gpu_engine.stylize(content, style, Options(max_size=7680, style_size=1024))
    assert result.picture.size == (7680, 4320) and result.working_size == (7680, 4320)
    assert np.isfinite(result.picture.rgb).all() and np.abs(result.picture.rgb - content.rgb).mean() > 0.03
    assert torch.cuda.max_memory_allocated(GPU) < torch.cuda.get_device_properties(GPU).total_memory


@cuda
@pytest.mark.parametrize(("precision", "mean", "moved"), [("float32", 1e-4, 0.001), ("float16", 5e-4, 0.005)])
def test_tiled_equals_whole_on_the_gpu(pair, models, precision, mean, moved):
    """A 1280x720 crop in 256 px tiles (32 MB budget) against one pass: cuDNN may pick other kernels per tile
    shape, so not bit for bit, but a seam (two 2 px lines per tile border: over 1 % of these pixels) would show."""
    engine = Engine("cuda", precision=precision)
    content, style = frame(pair[0], 1280, 720), pair[1]
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # TF32 rounds to 10 bits: float32 is meant here
    try:
        tiled, whole = (
            engine.stylize(content, style, Options(max_size=1280, style_size=512, memory_budget=budget)).picture.rgb for budget in (32 * MB, 64 * GIB)
        )
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    difference = np.abs(tiled - whole)
    assert difference.mean() < mean and (difference > 2 / 255).mean() < moved


@cuda
def test_bench_runs_on_the_gpu_with_the_dense_baseline_and_both_precisions(models, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "styleswap", "bench", "examples/chelsea.jpg", "examples/ink_splat.png", "--sizes", "96,320x180", "--iters", "2",
         "--repeat", "1", "--device", "cuda", "--compare-precision", "float32", "--no-peer", "--json", tmp_path / "bench.json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["device"] == "cuda" and report["precision"] == "float16" and report["gpu"]["memory_mb"] > 0
    small, frame_row = report["sizes"]
    assert "swap_dense_baseline" in small["seconds"] and frame_row["content"] == [320, 180]  # float16 may break a near tie
    assert "dense_equal" in small
    assert all(seconds > 0 for seconds in frame_row["seconds"].values()) and frame_row["peak_cuda_mb"] > 0
    assert abs(frame_row["precision_comparison"]["objective_change"]) < 0.02


@mps
def test_auto_runs_on_mps_in_float32_close_to_the_cpu(pair, models):
    """Without CUDA, auto takes Apple's GPU, in float32 (float16 is not the default there); same result as the CPU."""
    if torch.cuda.is_available():
        pytest.skip("auto prefers CUDA on this machine")
    engine = Engine()
    assert (engine.device.type, engine.precision) == ("mps", "float32")
    content, style = pair
    options = Options(max_size=256, style_size=256, score=True)
    ours, cpu = engine.stylize(content, style, options), Engine("cpu", precision="float32").stylize(content, style, options)
    assert ours.device == "mps" and abs(ours.objective - cpu.objective) < 0.01 * cpu.objective
    assert np.abs(ours.picture.rgb - cpu.picture.rgb).mean() < 0.01


@mps
def test_mps_memory_budget_stays_within_its_bounds():
    """macOS has no /proc/meminfo: the budget is then MPS's ceiling, 1 GB; elsewhere a share of the free memory."""
    budget = default_memory_budget(torch.device("mps"))
    assert 64 * MB <= budget <= 1024 * MB
    if free_memory(torch.device("mps")) is None:
        assert budget == 1024 * MB
