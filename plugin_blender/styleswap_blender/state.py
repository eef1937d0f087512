"""The add-on's state between Blender's callbacks, in one object: the render handlers, the main-thread
timer, the operators and the panel all read and change `STATE`, and nothing else is kept in globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import worker


@dataclass
class AddonState:
    job: worker.Job | None = None  # the latest job, running or ended
    targets: list[tuple[worker.Target, Any]] = field(default_factory=list)  # its targets and their nodes
    reported: worker.Job | None = None  # the job whose end was last reported
    shown: int = -1  # how many stylised frames the images were last reloaded for
    refusal: str | None = None  # why the last render is not stylised, for the main thread to show
    rendering: worker.Job | None = None  # the job the render in progress feeds (none during a re-composite)
    refused: list[Path] = field(default_factory=list)  # output folders of a render not stylised: their frames are held all the same
    refused_held: list[tuple[Path, int]] = field(default_factory=list)


STATE = AddonState()
