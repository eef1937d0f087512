"""A sequence of frame files stylised in name order with temporal coherence, resumable after an interruption.

After each frame its result is written, then the sequence's state (``TemporalState.snapshot``, the last finished
frame's name and the run's style and options) to ``STATE_FILE`` in the output folder, each atomically. A rerun with
the same style and options keeps the frames finished before and goes on from the state, as if never interrupted; a
rerun with others is refused rather than mixing two runs in one folder.

A gap in the frame numbers (``frame_0030.png`` then ``frame_0032.png``) or a frame that cannot be read restarts the
chain at the next frame, and says so; frames of different sizes are refused before any work.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from PIL import Image

from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import load_image
from styleswap.engine.options import FrameReport
from styleswap.engine.stylize import Engine, Options, Progress, Result
from styleswap.engine.swap import StylePatches
from styleswap.engine.temporal import TemporalState

STATE_FILE = ".styleswap-temporal.npz"


class Chain(Protocol):
    """What the loop needs of a sequence's state: `TemporalState`, or the daemon's stand-in for it."""

    @property
    def frames(self) -> int: ...

    def reset(self) -> None: ...

    def snapshot(self) -> dict[str, np.ndarray]: ...


def check_sizes(contents: list[Path]) -> None:
    """Refuse frames of different sizes before any work (from the file headers; an unreadable file is left to the
    frame's own error)."""
    first = None
    for path in contents:
        try:
            with Image.open(path) as image:
                size = image.size
        except (OSError, ValueError):
            continue
        if first is None:
            first = (path, size)
        elif size != first[1]:
            raise StyleSwapError(f"{path} is {size[0]}x{size[1]} but {first[0]} is {first[1][0]}x{first[1][1]}: a temporal sequence takes frames of one size")


def run_key(style: Path, options: Options) -> str:
    """What makes two runs the same sequence: frames made with another style or options (the temporal ones among
    them) do not continue this one."""
    return json.dumps({"style": str(style.resolve()), "options": asdict(options)}, sort_keys=True)


def resume(output: Path, contents: list[Path], key: str) -> tuple[dict[str, np.ndarray], int]:
    """The saved state (``TemporalState.snapshot``'s arrays) and how many frames are already finished, from the
    output folder's state file."""
    path = output / STATE_FILE
    if not path.is_file():
        return {}, 0
    try:
        with np.load(path) as saved:
            data = {name: saved[name] for name in saved.files}
    except (OSError, ValueError, KeyError) as exc:
        raise StyleSwapError(f"cannot read {path} to resume ({exc}): delete it to start the sequence over") from None
    if str(data.get("run")) != key:
        raise StyleSwapError(
            f"{output} holds frames of a temporal run with another style or options: choose another output folder, or delete {path} to start over"
        )
    names = [c.name for c in contents]
    last = str(data.get("frame"))
    if last not in names:
        raise StyleSwapError(f"{path} goes on from {last}, which is not among these frames: choose another output folder, or delete it to start over")
    return data, names.index(last) + 1


def save_state(output: Path, state: Chain, frame: Path, key: str) -> None:
    output.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output, prefix=f"{STATE_FILE}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, run=np.array(key), frame=np.array(frame.name), **state.snapshot())
        os.replace(tmp, output / STATE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def frame_number(path: Path) -> int | None:
    found = re.search(r"(\d+)$", path.stem)
    return int(found.group(1)) if found else None


def describe(report: FrameReport) -> str:
    if report.restart == "first frame":
        return "chain starts"
    if report.restart:
        return f"chain restarts: {report.restart} ({report.followed:.0%} of pixels follow the motion)"
    return f"follows the motion at {report.followed:.0%} of pixels, {report.kept:.0%} of patches kept"


def stylize_sequence(
    engine: Engine,
    contents: list[Path],
    targets: list[Path],
    style: StylePatches,
    options: Options,
    state: Chain,
    key: str,
    output: Path,
    save: Callable[[object, Path], None],
    progress: Callable[[str], Progress],
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> tuple[list[dict], int]:
    """Stylise ``contents`` (``check_sizes`` first) in order into ``targets``; returns a summary per frame and the number that failed.
    ``say`` tells progress, ``warn`` what the user must know (errors, restarts at missing frames).
    ``state``: a `TemporalState`, or a stand-in for one the daemon holds (``cli.remote.DaemonSequence``)."""
    saved, done = resume(output, contents, key)
    if isinstance(state, TemporalState):
        state = TemporalState.restore(saved, engine.device) if saved else state
    summaries: list[dict] = [{"content": str(c), "output": str(t), "kept": "finished in an earlier run"} for c, t in zip(contents[:done], targets[:done])]
    if done:
        say(
            f"resuming after {contents[done - 1].name}: {done} frame{'s' if done > 1 else ''} finished earlier kept"
            if done < len(contents)
            else f"all {done} frames were finished earlier in {output}; delete {output / STATE_FILE} to redo them"
        )
        if done < len(contents) and not state.frames:
            why = "the daemon keeps a sequence's state only while it runs" if not isinstance(state, TemporalState) else "the earlier run was on the daemon, which kept its state"
            warn(f"the temporal chain restarts at {contents[done].name}: {why}")
    failed = 0
    previous = contents[done - 1] if done else None
    for content, target in zip(contents[done:], targets[done:]):
        if previous is not None:
            before, now = frame_number(previous), frame_number(content)
            if before is not None and now is not None and now != before + 1 and state.frames:
                warn(
                    f"{now - before - 1 if now > before else 'some'} frame(s) missing between {previous.name} and {content.name}: the temporal chain restarts at {content.name}"
                )
                state.reset()
        previous = content
        try:
            result: Result = engine.stylize(load_image(content), style, options, progress(content.name), temporal=state)
            save(result.picture, target)
        except StyleSwapError as exc:
            failed += 1
            message = str(exc) if str(exc).startswith(str(content)) else f"{content}: {exc}"
            warn(f"error: {message}; the temporal chain restarts at the next frame")
            state.reset()
            summaries.append({"content": str(content), "output": str(target), "error": message})
            continue
        save_state(output, state, content, key)
        summaries.append({"content": str(content), "output": str(target), **result.summary()})
        say(f"{target}: {result.timings['total']:.1f} s on {result.device}, {describe(result.temporal)}")
    return summaries, failed
