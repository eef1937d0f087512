"""``styleswap eval-temporal``: how much a sequence flickers stylised frame by frame, and with temporal coherence.

Both modes run on the same frames, frame by frame in turns (per-frame, then temporal), so a slow spell of a shared
machine costs both alike. Measures, each for both modes:

- flicker: mean |S_t − S_t−1| of the stylised frames over mean |C_t − C_t−1| of the content frames, over the whole
  frame and over the static region (|ΔC| < ``STATIC``, mean over RGB), and over the static pixels at least
  ``CLEARANCE`` px from any that change (outside the halo a moving object's strokes cast);
- warped temporal error (Ruder et al. 2016): mean squared difference, over RGB in [0, 1], between S_t and S_t−1
  moved along the motion, over the pixels whose motion is trusted; the motion is DIS optical flow between the content
  frames (the same for both modes; the temporal mode blends along that same flow, which this measure rewards);
- swap objective of each result against the per-frame target (free matching): what temporal coherence costs in
  fidelity to the style; and, as a reference, the same for the per-frame result of the frame before moved along the
  motion (a result that only follows the motion: what this strict measure charges for not changing);
- seconds per frame, wall-clock and CPU time of this process (medians, the first frame left out: it loads the
  networks); on a machine shared with others the CPU time is the steadier of the two.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from styleswap.engine import flow
from styleswap.engine.images import Picture, load_image
from styleswap.engine.metrics import swap_objective
from styleswap.engine.stylize import Engine, Options, fit_within
from styleswap.engine.temporal import TemporalState
from styleswap.tools.bench import machine

STATIC = 0.02  # |ΔC| below which a pixel counts as static
CLEARANCE = 16  # pixels from the nearest changing pixel for a static pixel to count as clear of motion


@dataclass
class Mode:
    outputs: list[np.ndarray] = field(default_factory=list)  # (H, W, 3) float32 results
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # CPU seconds of this process: less swayed by other users' load
    objectives: list[float] = field(default_factory=list)


def set_threads(count: int) -> None:
    torch.set_num_threads(count)
    try:
        import cv2

        cv2.setNumThreads(count)
    except ImportError:
        pass


def load_frames(files: list[Path], size: int) -> list[Picture]:
    """The frames scaled (Lanczos) so their long side is ``size``: measures are taken at the working size."""
    pictures = []
    for path in files:
        picture = load_image(path)
        width, height = fit_within(picture.size, size)
        if (width, height) != picture.size:
            pixels = Image.fromarray((picture.rgb * 255).round().astype(np.uint8)).resize((width, height), Image.LANCZOS)
            picture = Picture(np.asarray(pixels, dtype=np.float32) / 255, None, 8)
        pictures.append(picture)
    return pictures


def run(
    engine: Engine, frames: list[Picture], style: Picture, options: Options, log: Callable[[str], None]
) -> tuple[dict, tuple[list[np.ndarray], list[np.ndarray]]]:
    """The measures of both modes (see the module's doc), and their results (per-frame, temporal)."""
    patches = engine.prepare_style(style, options, content_size=frames[0].size)
    state = TemporalState(options.temporal_margin, options.temporal_blend)
    per, tem = Mode(), Mode()
    restarts = []
    contents = [f.rgb for f in frames]
    motions: list[tuple[torch.Tensor, torch.Tensor]] = []
    held: list[float] = []  # the per-frame result of the frame before, moved along the motion, against this frame's target
    for t, frame in enumerate(frames):
        for mode, temporal in ((per, None), (tem, state)):
            started, cpu = time.perf_counter(), time.process_time()
            result = engine.stylize(frame, patches, options, temporal=temporal)
            mode.seconds.append(time.perf_counter() - started)
            mode.cpu.append(time.process_time() - cpu)
            mode.outputs.append(result.picture.rgb)
            if result.temporal is not None and result.temporal.restart and t > 0:
                restarts.append((t, result.temporal.restart))
        target = engine.swapped(frame, patches, options, lambda stage, fraction: None).target
        for mode in (per, tem):
            mode.objectives.append(_objective(engine, mode.outputs[-1], target, options))
        if t > 0:
            motions.append(_motion(contents[t - 1], contents[t]))
            held.append(_objective(engine, _moved(per.outputs[t - 1], motions[-1][0]), target, options))
        log(f"frame {t + 1}/{len(frames)}: {per.seconds[-1]:.2f} / {tem.seconds[-1]:.2f} s, objective {per.objectives[-1]:.4f} / {tem.objectives[-1]:.4f}")
    report = {
        "frames": len(frames),
        "size": list(frames[0].size),
        "margin": options.temporal_margin,
        "blend": options.temporal_blend,
        "restarts": restarts,
        "modes": {},
    }
    report["content_warped_error"] = _warped_error(contents, motions)
    report["carried_flicker"] = _flicker(contents, _carried(per.outputs[0], motions))
    if held:
        report["held_objective"] = [statistics.fmean(held), statistics.fmean(per.objectives[1:])]
    for name, mode in (("per-frame", per), ("temporal", tem)):
        flicker, static, clear = _flicker(contents, mode.outputs)
        timed, cpu = mode.seconds[1:] or mode.seconds, mode.cpu[1:] or mode.cpu
        report["modes"][name] = {
            "flicker": flicker,
            "static_flicker": static,
            "clear_static_flicker": clear,
            "warped_error": _warped_error(mode.outputs, motions),
            "objective": statistics.fmean(mode.objectives),
            "seconds": statistics.median(timed),
            "cpu_seconds": statistics.median(cpu),
        }
    return report, (per.outputs, tem.outputs)


def _objective(engine: Engine, rgb: np.ndarray, target: torch.Tensor, options: Options) -> float:
    padded, _ = engine.working_image(Picture(rgb, None, 8), options.max_size, options)
    return swap_objective(engine.encode(padded, options), target)


def _motion(previous: np.ndarray, current: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    motion = flow.estimate(previous, current)
    as_tensor = [torch.from_numpy(f).permute(2, 0, 1)[None] for f in (previous, current)]
    return torch.from_numpy(motion.backward), flow.reliable(motion, *as_tensor)


def _flicker(contents: list[np.ndarray], outputs: list[np.ndarray]) -> tuple[float, float, float]:
    """(whole-frame, static-region, static clear of motion) ratios of summed |ΔS| to summed |ΔC|."""
    sums = np.zeros(6)
    for t in range(1, len(contents)):
        dc = np.abs(contents[t] - contents[t - 1]).mean(2)
        ds = np.abs(outputs[t] - outputs[t - 1]).mean(2)
        static = dc < STATIC
        changing = torch.from_numpy(~static).float()[None, None]
        near = F.max_pool2d(changing, 2 * CLEARANCE + 1, 1, CLEARANCE)[0, 0].numpy() > 0
        clear = static & ~near
        sums += (ds.sum(), dc.sum(), ds[static].sum(), dc[static].sum(), ds[clear].sum(), dc[clear].sum())
    return sums[0] / max(sums[1], 1e-12), sums[2] / max(sums[3], 1e-12), sums[4] / max(sums[5], 1e-12)


def _carried(first: np.ndarray, motions: list[tuple[torch.Tensor, torch.Tensor]]) -> list[np.ndarray]:
    """The first result moved along the motion through every later frame: a sequence that never changes except by
    moving: its flicker is what following the motion alone leaves (a reference, not a bound: its repeated warps blur,
    lowering it, and drift at the edges)."""
    frames = [first]
    for backward, _ in motions:
        frames.append(_moved(frames[-1], backward))
    return frames


def _moved(image: np.ndarray, backward: torch.Tensor) -> np.ndarray:
    """``image`` (H, W, 3) moved along the motion to the next frame."""
    return flow.warp(torch.from_numpy(image).permute(2, 0, 1)[None], backward)[0].permute(1, 2, 0).numpy()


def _warped_error(images: list[np.ndarray], motions: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    errors = []
    for t, (backward, trusted) in enumerate(motions, start=1):
        squared = torch.from_numpy(images[t] - _moved(images[t - 1], backward)).pow(2).mean(2)
        errors.append(float(squared[trusted].mean()) if trusted.any() else 0.0)
    return statistics.fmean(errors) if errors else 0.0


def table(report: dict, device: str, name: str) -> str:
    m = machine()
    per, tem = report["modes"]["per-frame"], report["modes"]["temporal"]
    width, height = report["size"]
    lines = [
        f"{name}: {report['frames']} frames at {width}x{height}, margin {report['margin']:g}, blend {report['blend']:g}, restarts {report['restarts'] or 'none'}",
        f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), device {device}",
        f"{'measure':<34}{'per-frame':>12}{'temporal':>12}{'ratio':>9}",
    ]
    rows = [
        ("static-region flicker (x content)", "static_flicker", "{:.2f}"),
        (f"  static, {CLEARANCE} px clear of motion", "clear_static_flicker", "{:.2f}"),
        ("whole-frame flicker (x content)", "flicker", "{:.2f}"),
        ("warped error (x 1e3)", "warped_error", "{:.3f}"),
        ("swap objective (per-frame target)", "objective", "{:.4f}"),
        ("seconds per frame (median)", "seconds", "{:.3f}"),
        ("CPU seconds per frame (median)", "cpu_seconds", "{:.3f}"),
    ]
    for label, key, fmt in rows:
        scale = 1e3 if key == "warped_error" else 1.0
        a, b = per[key] * scale, tem[key] * scale
        lines.append(f"{label:<34}{fmt.format(a):>12}{fmt.format(b):>12}{b / a if a else float('nan'):>8.2f}x")
    lines.append(f"content warped error (x 1e3): {report['content_warped_error'] * 1e3:.3f} (the floor the motion allows)")
    whole, static, _ = report["carried_flicker"]
    lines.append(f"the first result carried along the motion: static-region flicker {static:.2f}, whole-frame {whole:.2f} (what following the motion alone leaves)")
    if "held_objective" in report:
        held, own = report["held_objective"]
        lines.append(
            f"the per-frame result of the frame before, moved along the motion: swap objective {held:.4f} against this frame's target, "
            f"{held / own:.2f}x the per-frame result's (what the per-frame target charges a result for following the motion)"
        )
    return "\n".join(lines)


def strip(frames: list[Picture], outputs: tuple[list[np.ndarray], list[np.ndarray]], first: int, count: int, path: Path, width: int = 256) -> None:
    """A PNG: ``count`` consecutive frames from ``first`` in columns; rows: content, per-frame, temporal, then the
    per-frame and temporal change from the previous frame (|S_t − S_t−1| x 4)."""
    per, tem = outputs
    rows = [[f.rgb for f in frames], per, tem]
    columns = range(max(1, first), min(len(frames), first + count))
    grid = []
    for images in rows:
        grid.append([images[t] for t in columns])
    for images in (per, tem):
        grid.append([np.clip(np.abs(images[t] - images[t - 1]) * 4, 0, 1) for t in columns])
    h, w = frames[0].rgb.shape[:2]
    cell = (width, round(h * width / w))
    tiles = [[Image.fromarray((img * 255).round().astype(np.uint8)).resize(cell, Image.LANCZOS) for img in row] for row in grid]
    sheet = Image.new("RGB", (cell[0] * len(columns) + 2 * (len(columns) - 1), cell[1] * len(grid) + 2 * (len(grid) - 1)), "white")
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * (cell[0] + 2), r * (cell[1] + 2)))
    sheet.save(path)
