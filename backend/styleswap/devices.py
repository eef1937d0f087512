"""Choosing where the engine runs."""

from __future__ import annotations

import time

import torch

from styleswap.errors import StyleSwapError

DEVICES = ("auto", "cpu", "cuda", "mps")


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


def elapsed(since: float, device: torch.device) -> float:
    """Seconds since ``since`` (a perf_counter reading), after the device's queued work has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - since
