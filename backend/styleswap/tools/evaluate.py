"""``styleswap eval``: how well each reconstruction method realises the swapped activations, and how fast.

For every content x style pair the swapped target Φss is computed once; each method then turns it into an image,
scored by the swap objective ‖Φ(I) − Φss‖² / ‖Φss‖² and by its pixel-level noise (grain: mean |x − median3×3(x)| of
Y, Cb and Cr on the 0–255 scale, ``styleswap.engine.metrics.pixel_noise``). A decoder of WCT's relu3_1 architecture
can be scored beside ours (``--compare-decoder``); it is loaded for comparison only.
"""

from __future__ import annotations

import statistics
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from styleswap.engine.devices import elapsed
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import SUFFIXES, load_image
from styleswap.engine.metrics import pixel_noise, swap_objective
from styleswap.engine.stylize import Engine, Options
from styleswap.tools.contact_sheet import contact_sheet


class ComparisonDecoder(nn.Sequential):
    """WCT's relu3_1 feature inverter (conv-ReLU with reflection padding, nearest upsampling, no output squashing)."""

    def __init__(self, path: Path) -> None:
        def conv(cin: int, cout: int) -> nn.Conv2d:
            return nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect")

        super().__init__(
            OrderedDict(
                dec_conv3_1=conv(256, 128), r3=nn.ReLU(), up2=nn.Upsample(scale_factor=2),
                dec_conv2_2=conv(128, 128), r22=nn.ReLU(), dec_conv2_1=conv(128, 64), r21=nn.ReLU(), up1=nn.Upsample(scale_factor=2),
                dec_conv1_2=conv(64, 64), r12=nn.ReLU(), dec_conv1_1=conv(64, 3),
            )
        )  # fmt: skip
        self.load_state_dict(load_file(str(path)))
        self.requires_grad_(False).eval()


@dataclass
class MethodScores:
    objectives: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # end to end per image: encode + swap + reconstruct
    reconstruct_seconds: list[float] = field(default_factory=list)
    noise: list[tuple[float, float, float]] = field(default_factory=list)  # Y, Cb, Cr grain of each image


def evaluate(
    engine: Engine,
    contents: list[Path],
    styles: list[Path],
    methods: list[str],
    options: Options,
    compare_decoder: Path | None = None,
    sheet: Path | None = None,
    sheet_rows: int = 6,
    log=print,
) -> dict[str, MethodScores]:
    decoder = ComparisonDecoder(compare_decoder).to(engine.device) if compare_decoder else None
    names = methods + (["decoder"] if decoder else [])
    scores = {name: MethodScores() for name in names}
    rows, captions = [], []
    for content_path in contents:
        content = load_image(content_path)
        for style_path in styles:
            style = load_image(style_path)
            swapped = engine.swapped(content, style, options, lambda stage, fraction: None)
            front = sum(swapped.timings.values())
            height, width = swapped.crop
            row, caption = [content.rgb, style.rgb], [content_path.stem[:24], style_path.stem[:24]]
            for name in names:
                start = time.perf_counter()
                if name == "decoder":
                    with torch.no_grad():
                        image = decoder(swapped.target.float()).clamp(0.0, 1.0)
                        objective = swap_objective(engine.encode(image, options), swapped.target)
                else:
                    image, objective = engine.reconstruct(swapped, replace(options, method=name, score=True), lambda stage, fraction: None)
                spent = elapsed(start, engine.device)
                scores[name].objectives.append(objective)
                scores[name].reconstruct_seconds.append(spent)
                scores[name].seconds.append(front + spent)
                scores[name].noise.append(pixel_noise(image[..., :height, :width]))
                row.append(image[0, :, :height, :width].permute(1, 2, 0).cpu().numpy())
                caption.append(f"{name} {objective:.3f}")
            log(f"{content_path.name} x {style_path.name}: " + ", ".join(f"{n} {scores[n].objectives[-1]:.4f}" for n in names))
            if len(rows) < sheet_rows:
                rows.append(row)
                captions.append(caption)
    if sheet:
        contact_sheet(rows, captions, height=200).save(sheet)
    return scores


def table(scores: dict[str, MethodScores], reference: str = "optim") -> str:
    lines = [
        "| method | mean swap objective | vs optim | noise Y | noise Cb | noise Cr | median s / image (end to end) | speed-up | median s reconstructing | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ref = scores.get(reference)
    for name, s in scores.items():
        mean, seconds, rebuild = float(np.mean(s.objectives)), statistics.median(s.seconds), statistics.median(s.reconstruct_seconds)
        ratio = f"{mean / np.mean(ref.objectives):.2f}x" if ref else "-"
        speed = f"{statistics.median(ref.seconds) / seconds:.1f}x" if ref else "-"
        rebuild_speed = f"{statistics.median(ref.reconstruct_seconds) / rebuild:.1f}x" if ref else "-"
        noise = " | ".join(f"{value:.2f}" for value in np.mean(s.noise, axis=0))
        lines.append(f"| {name} | {mean:.4f} | {ratio} | {noise} | {seconds:.2f} | {speed} | {rebuild:.3f} | {rebuild_speed} |")
    return "\n".join(lines)


def images_in(folder: Path, count: int) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES) if folder.is_dir() else []
    if not files:
        raise StyleSwapError(f"no images in {folder}")
    return files[:count]
