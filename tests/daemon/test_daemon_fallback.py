"""The out-of-memory policy, driven by real out-of-memory exceptions (no GPU is needed to raise them)."""

import weakref

import pytest
import torch

from styleswap.daemon.errors import RequestError
from styleswap.daemon.worker import MIN_MEMORY_BUDGET, is_out_of_memory, stylize_with_fallback
from styleswap.engine.stylize import Options

MB = 2**20


def recording_run(fails_on):
    calls = []

    def run(device, options):
        calls.append((device, options.memory_budget))
        if fails_on(device, options.memory_budget):
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {options.memory_budget} bytes")
        return f"result on {device}"

    return run, calls


def test_retries_in_smaller_chunks_before_leaving_the_gpu():
    run, calls = recording_run(lambda device, budget: budget > 64 * MB)
    result, warnings = stylize_with_fallback(run, "cuda", Options(memory_budget=512 * MB))
    assert result == "result on cuda"
    assert calls == [("cuda", 512 * MB), ("cuda", 128 * MB), ("cuda", 32 * MB)]
    assert warnings == ["out of memory on cuda with a 512 MB matching budget", "out of memory on cuda with a 128 MB matching budget"]


def test_falls_back_to_the_cpu_with_a_warning():
    run, calls = recording_run(lambda device, budget: device == "cuda")
    result, warnings = stylize_with_fallback(run, "cuda", Options(memory_budget=512 * MB))
    assert result == "result on cpu"
    assert calls == [("cuda", 512 * MB), ("cuda", 128 * MB), ("cuda", 32 * MB), ("cpu", 512 * MB)]
    assert "ran on the CPU" in warnings[-1] and len(warnings) == 4


def test_smallest_budget_is_tried_once():
    run, calls = recording_run(lambda device, budget: device == "cuda")
    stylize_with_fallback(run, "cuda", Options(memory_budget=2 * MB))
    assert calls == [("cuda", 2 * MB), ("cuda", MIN_MEMORY_BUDGET), ("cpu", 2 * MB)]


def test_out_of_memory_on_the_cpu_is_an_engine_failure():
    run, calls = recording_run(lambda device, budget: True)
    with pytest.raises(RequestError) as caught:
        stylize_with_fallback(run, "cpu", Options(memory_budget=16 * MB))
    assert caught.value.code == "engine_failed" and "out of memory on the CPU" in caught.value.message
    assert calls == [("cpu", 16 * MB), ("cpu", 4 * MB), ("cpu", MB)]


def test_other_errors_are_not_retried():
    calls = []

    def run(device, options):
        calls.append(device)
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        stylize_with_fallback(run, "cuda", Options())
    assert calls == ["cuda"]


def test_recognises_allocator_failures():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:114] DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes"))
    assert is_out_of_memory(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"))
    assert is_out_of_memory(RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 17.00 GB, other allocations: 1.20 GB, max allowed: 18.13 GB)"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(RuntimeError("CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasGemmEx`"))


def test_a_failed_try_holds_no_memory_into_the_next():
    """What a try that ran out of memory had allocated is free before the next try starts: on a GPU the smaller
    tries otherwise run beside the first one's activations and run out of memory as well."""
    blocks = []

    def run(device, options):
        block = torch.empty(1024)  # stands for the activations a try holds when it fails
        blocks.append(weakref.ref(block))
        if len(blocks) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [ref() is None for ref in blocks[:-1]]

    freed, warnings = stylize_with_fallback(run, "cuda", Options(memory_budget=512 * MB))
    assert freed == [True] and warnings == ["out of memory on cuda with a 512 MB matching budget"]
