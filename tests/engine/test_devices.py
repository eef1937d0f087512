import platform

import pytest
import torch

from styleswap.engine import devices
from styleswap.engine.devices import MB, default_memory_budget, free_memory, pick_device, pick_precision
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.stylize import Engine, Options

CPU = torch.device("cpu")


def test_free_memory_is_what_the_os_reports_as_available():
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    assert abs(free_memory(CPU) - available) < 512 * MB  # read a moment apart on a busy machine


@pytest.mark.parametrize(("free", "budget"), [(100 * 2**30, 512 * MB), (2 * 2**30, 256 * MB), (100 * MB, 64 * MB), (None, 512 * MB)])
def test_default_budget_is_an_eighth_of_free_memory_within_bounds(monkeypatch, free, budget):
    monkeypatch.setattr(devices, "free_memory", lambda device: free)
    assert default_memory_budget(CPU) == budget


def test_engine_uses_the_default_only_when_the_user_sets_none(models, monkeypatch):
    monkeypatch.setattr(devices, "free_memory", lambda device: 2 * 2**30)
    engine = Engine("cpu")
    assert engine.memory_budget(Options()) == 256 * MB
    assert engine.memory_budget(Options(memory_budget=3 * MB)) == 3 * MB
    with pytest.raises(StyleSwapError, match="memory-budget"):
        Options(memory_budget=1000)


def test_asking_for_an_absent_device_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(StyleSwapError, match="not available"):
        pick_device("cuda")


def test_precision_is_float16_on_cuda_int8_on_x86_cpus_and_float32_elsewhere_unless_asked(monkeypatch):
    assert pick_precision("auto", torch.device("cuda")) == "float16"
    assert pick_precision("auto", torch.device("mps")) == "float32"
    assert pick_precision("bfloat16", CPU) == "bfloat16" and pick_precision("float32", CPU) == "float32"
    with pytest.raises(StyleSwapError, match="unknown precision 'half'; choose one of: auto, float32, float16, bfloat16, int8"):
        pick_precision("half", CPU)
    with pytest.raises(StyleSwapError, match="int8 needs an x86 CPU with VNNI, not cuda"):
        pick_precision("int8", torch.device("cuda"))
    monkeypatch.setattr(devices, "_cpu_has_vnni", lambda: False)  # 16-bit sums that saturate: not int8
    assert not devices.int8_available()
    monkeypatch.setattr(devices, "_cpu_has_vnni", lambda: True)
    assert devices.int8_available() == (platform.machine().lower() in ("x86_64", "amd64"))
    monkeypatch.setattr(devices, "int8_available", lambda: True)
    assert pick_precision("auto", CPU) == pick_precision("int8", CPU) == "int8"
    monkeypatch.setattr(devices, "int8_available", lambda: False)  # an ARM CPU: no x86 int8 kernels
    assert pick_precision("auto", CPU) == "float32"
    with pytest.raises(StyleSwapError, match="int8 needs an x86 CPU with VNNI, not cpu"):
        pick_precision("int8", CPU)


def test_free_memory_on_a_cpu_only_torch_build_is_unknown_not_a_crash(monkeypatch):
    """A CPU-only torch wheel lacks the CUDA bindings, so torch's own lazy CUDA init raises AssertionError
    ("Torch not compiled with CUDA enabled"), not the RuntimeError of a CUDA build without a driver. Removing
    the binding that init looks for takes torch down that same path on any build."""
    if torch.cuda.is_initialized():
        pytest.skip("CUDA is initialised in this process: torch no longer checks for its bindings")
    monkeypatch.delattr(torch._C, "_cuda_getDeviceCount", raising=False)
    with pytest.raises(AssertionError, match="not compiled with CUDA"):
        torch.cuda.mem_get_info(torch.device("cuda"))
    assert free_memory(torch.device("cuda")) is None
    assert default_memory_budget(torch.device("cuda")) == 4096 * MB  # the ceiling, as when the free memory is unknown
