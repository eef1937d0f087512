"""What the installers copy into a host: the protocol and the client packages, under their own names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import styleswap_client
import styleswap_protocol

PACKAGES = (styleswap_protocol, styleswap_client)


def vendored_files() -> Iterator[tuple[Path, str]]:
    """(source file, path relative to the host's vendor folder) for every module of the vendored packages."""
    for package in PACKAGES:
        folder = Path(package.__file__).parent
        for source in sorted(folder.glob("*.py")):
            yield source, f"{folder.name}/{source.name}"
