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

from bpy_env import BpyEnv
from styleswap.engine.images import load_image

SCENE_SCRIPT = Path(__file__).resolve().parent / "blender_scene.py"
RUN_TIMEOUT = 900  # a run takes seconds to a minute; this only stops a hung Blender from hanging the suite
ROOT = Path(__file__).resolve().parents[2]
STYLE = ROOT / "examples" / "stained_glands.jpg"


@dataclass(frozen=True)
class Blender:
    env: BpyEnv  # a venv with bpy, on this machine or in the trixie root
    addon_zip: Path
    connection: Path  # the test daemon's connection file

    @property
    def version(self) -> str:
        return self.env.version

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
        # In the root the environment starts clean: StyleSwap's variables go in (and on to a daemon it starts).
        env = {**{k: v for k, v in os.environ.items() if k.startswith("STYLESWAP_")}, "BLENDER_USER_RESOURCES": str(work / f"profile-{run_id}")}
        binds = (ROOT, self.addon_zip.parent, self.connection.parent)
        command = self.env.command([self.env.python, str(SCENE_SCRIPT), json.dumps(config)], env, work, binds)
        argv = ["timeout", "-k", "10", str(RUN_TIMEOUT), *command]
        process = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work, check=False)
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
