"""Suite-wide setup: real weights from STYLESWAP_MODELS, a private cache, and no network access by accident."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.setdefault("STYLESWAP_MODELS", str(REPO.parent / "shared" / "models")))
DATA = Path(os.environ.setdefault("STYLESWAP_DATA", str(REPO.parent / "shared" / "data")))
os.environ["STYLESWAP_OFFLINE"] = "1"  # a test that wants a download serves it from 127.0.0.1 and says so


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("STYLESWAP_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def models() -> Path:
    if not (MODELS / "vgg19_normalised_relu3_1.safetensors").is_file():
        pytest.fail(f"encoder weights not found in {MODELS}; set STYLESWAP_MODELS")
    return MODELS


@pytest.fixture(scope="session")
def daemon(tmp_path_factory, models):
    """One real styleswap-backend for the host plug-in tests (tests/daemon starts its own per module)."""
    from daemon_helpers import launch

    running = launch(tmp_path_factory.mktemp("daemon"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    from skimage import data

    return data.chelsea()


# Per-test timeouts (pytest-timeout) above the suite's default in pyproject: the first GIMP test builds a Debian
# root with GIMP 3, the first Blender test a bpy venv per version (minutes each), and every test there drives a
# real host process.
HOST_TIMEOUTS = {"gimp": 3600, "blender": 3600}


def pytest_collection_modifyitems(config, items):
    """Host tests get their longer timeouts. Tests marked ``cuda`` or ``mps`` are skipped, with the reason, where that
    backend is absent: they count as skipped, never as passed, so a CPU-only run says how much of the GPU path it did
    not prove."""
    import torch

    absent = {
        "cuda": None if torch.cuda.is_available() else "needs a CUDA GPU (torch.cuda.is_available() is false)",
        "mps": None if torch.backends.mps.is_available() else "needs Apple's MPS backend (torch.backends.mps.is_available() is false)",
    }
    for item in items:
        room = Path(item.path).relative_to(REPO / "tests").parts[0]
        if room in HOST_TIMEOUTS and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(HOST_TIMEOUTS[room]))
        for mark, reason in absent.items():
            if reason and item.get_closest_marker(mark) is not None:
                item.add_marker(pytest.mark.skip(reason=reason))
