"""Choosing where the engine runs."""

from __future__ import annotations

import time

import torch

from styleswap.engine.choices import DEVICES, PRECISION_NAMES
from styleswap.engine.errors import StyleSwapError

# precision -> dtype of activations, prepared styles and the inverse network; int8 keeps those float32 and encodes
# the content in int8 only to choose patches
PRECISIONS = dict(zip(PRECISION_NAMES, (torch.float32, torch.float16, torch.bfloat16, torch.float32)))
MB = 2**20
# (share of the free memory, floor, ceiling): beyond 512 MB a CPU gains nothing from bigger bands and tiles, a GPU
# gains fewer launches up to a few GB; the floor keeps chunks big enough to run at full speed
_BUDGET = {"cpu": (1 / 8, 64 * MB, 512 * MB), "cuda": (1 / 4, 64 * MB, 4096 * MB), "mps": (1 / 8, 64 * MB, 1024 * MB)}


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` prefers CUDA, then Apple MPS, then the CPU; asking for one that is absent is an error, not a fallback."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise StyleSwapError(f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if available[d])
    if not available[name.split(":")[0]]:
        raise StyleSwapError(f"device {name!r} is not available on this machine; use --device cpu or auto")
    return torch.device(name)


def pick_precision(name: str, device: torch.device) -> str:
    """The precision of the feed-forward path. ``auto`` is float16 on CUDA (tensor cores, half the memory traffic),
    int8 on x86 CPUs with VNNI (see ``int8_encoder`` and ``int8_inverse``) and float32 elsewhere: on CPUs without AMX
    float16 and bfloat16 run slower, not faster (docs/benchmarks.md)."""
    if name == "auto":
        return "float16" if device.type == "cuda" else "int8" if device.type == "cpu" and int8_available() else "float32"
    if name not in PRECISIONS:
        raise StyleSwapError(f"unknown precision {name!r}; choose one of: auto, {', '.join(PRECISIONS)}")
    if name == "int8" and not (device.type == "cpu" and int8_available()):
        raise StyleSwapError(f"int8 needs an x86 CPU with VNNI, not {device.type} here; use --precision auto or float32")
    return name


def int8_available() -> bool:
    """True where torch's int8 convolutions and GEMMs run on x86 kernels (oneDNN / FBGEMM) and the CPU has VNNI:
    without it, u8 x s8 products are summed in pairs into 16 bits, which saturate at full 8-bit range."""
    return torch.backends.quantized.engine in ("x86", "onednn", "fbgemm") and _cpu_has_vnni()


def _cpu_has_vnni() -> bool:
    """From the kernel's CPU flags (Linux); elsewhere unknown, so no."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(flags))


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on an accelerator: CUDA and MPS kernels run after the call that launched them returns."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def elapsed(since: float, device: torch.device) -> float:
    """Seconds since ``since`` (a perf_counter reading), after the device's queued work has finished."""
    synchronize(device)
    return time.perf_counter() - since


def free_memory(device: torch.device) -> int | None:
    """Bytes the device can still hand out (None when it cannot tell): the GPU's free memory, or the OS's MemAvailable."""
    try:
        if device.type == "cuda":
            return torch.cuda.mem_get_info(device)[0]
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    # RuntimeError: no driver; AssertionError: a CPU-only torch build ("Torch not compiled with CUDA enabled");
    # OSError, StopIteration, ValueError: no /proc (macOS, Windows) or no MemAvailable line
    except (RuntimeError, AssertionError, OSError, StopIteration, ValueError):
        return None


def default_memory_budget(device: torch.device) -> int:
    """Working memory for matching bands and tiles when the user sets none: a share of what is free, within bounds."""
    share, floor, ceiling = _BUDGET[device.type]
    free = free_memory(device)
    return ceiling if free is None else int(min(ceiling, max(floor, free * share)))
