"""Running blender_scene.py in a real Blender (a bpy venv) and reading back frames and its report."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from styleswap.engine.images import load_image

SCENE_SCRIPT = Path(__file__).resolve().parent / "blender_scene.py"
RUN_TIMEOUT = 300  # a run takes seconds; this only stops a hung Blender from hanging the suite
ROOT = Path(__file__).resolve().parents[2]
STYLE = ROOT / "examples" / "stained_glands.jpg"


@dataclass(frozen=True)
class Blender:
    version: str
    python: Path  # of a venv with bpy==version
    addon_zip: Path
    connection: Path  # the test daemon's connection file

    def run(self, work: Path, steps: list[str], **settings: Any) -> dict[str, Any]:
        """One Blender process with a fresh user profile: install the add-on, build the scene, do `steps`."""
        work.mkdir(parents=True, exist_ok=True)
        run_id = uuid.uuid4().hex[:8]
        result = work / f"result-{run_id}.json"
        config = {
            "zip": str(self.addon_zip),
            "install": "extension",
            "connection": str(self.connection),
            "style": str(STYLE),
            "out": str(work / "out"),
            "render_dir": str(work / "render"),
            "steps": steps,
            "result": str(result),
            **settings,
        }
        env = {**os.environ, "BLENDER_USER_RESOURCES": str(work / f"profile-{run_id}")}
        argv = ["timeout", "-k", "10", str(RUN_TIMEOUT), str(self.python), str(SCENE_SCRIPT), json.dumps(config)]
        process = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work, check=False)
        (work / f"blender-{run_id}.log").write_text(process.stdout)
        if process.returncode or not result.is_file():
            raise AssertionError(f"Blender {self.version} exited with {process.returncode}:\n{process.stdout[-4000:]}")
        report = json.loads(result.read_text())
        if "exception" in report:
            raise AssertionError(f"in Blender {self.version}:\n{report['exception']}\n{process.stdout[-3000:]}")
        return report


def frame(path: Path) -> np.ndarray:
    """An image as float64 (H, W, C) in 8-bit units, whatever its bit depth: tolerances read as 1/255 steps."""
    picture = load_image(path)
    return picture.to_array().astype(np.float64) * (255 / (65535 if picture.bit_depth == 16 else 255))


def raw(path: Path) -> np.ndarray:
    """The stored samples, unscaled (to compare alpha exactly)."""
    return load_image(path).to_array()
