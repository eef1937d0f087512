"""File digests, shared by the test process and the script that runs inside Blender (no other imports)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of each file in `folder` by name: equal digests mean nobody wrote over the files."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*")) if p.is_file()} if folder.is_dir() else {}
