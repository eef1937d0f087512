"""Fixtures for the GIMP plug-in tests: a real GIMP 3.0 and 3.2 (natively, or in the cached Debian trixie and forky
roots), a real daemon (its socket folder bind-mounted into the root), and a sandbox profile with the plug-in installed
by the real installer."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image as PILImage

from gimp_root import SUITES, default_root, ensure_root, unavailable_reason
from gimp_session import PHOTO, GimpHost, Sandbox, chroot_host, native_host


@pytest.fixture(scope="session", params=list(SUITES), ids=lambda suite: f"gimp-{SUITES[suite]}")
def gimp_host(request) -> Iterator[GimpHost]:
    """This machine's GIMP of that version, else the Debian root that ships it: built on first use
    (minutes), then reused."""
    suite = request.param
    if (native := native_host(SUITES[suite])) is not None:
        yield native
        return
    root = default_root(suite)
    if reason := unavailable_reason(root):
        pytest.skip(reason)
    ensure_root(root, log=lambda line: print(f"gimp root: {line}", file=sys.stderr), suite=suite)
    yield chroot_host(root, SUITES[suite])


@pytest.fixture(scope="session")
def sandbox(gimp_host: GimpHost, tmp_path_factory) -> Iterator[Sandbox]:
    base = tmp_path_factory.mktemp("gimp") if gimp_host.root is None else gimp_host.root / "tmp"
    folder = base / f"styleswap-gimp-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    yield Sandbox(gimp_host, folder)
    shutil.rmtree(folder)



@pytest.fixture(scope="session")
def content() -> np.ndarray:
    """A 96x64 RGBA photo whose alpha has every kind of pixel: a ramp, a clear band and an opaque band."""
    photo = PILImage.open(PHOTO).convert("RGB").resize((96, 64))
    alpha = np.tile(np.linspace(0, 255, 96).round().astype(np.uint8), (64, 1))
    alpha[:, :10] = 0
    alpha[:12] = 255
    return np.dstack([np.asarray(photo), alpha])



@pytest.fixture(scope="session")
def large_content() -> np.ndarray:
    """An opaque 384x256 RGBA photo: an "invnet+optim" job on it runs for minutes on a CPU, long enough to cancel."""
    return np.asarray(PILImage.open(PHOTO).convert("RGBA").resize((384, 256)))
