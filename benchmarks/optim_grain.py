"""Where the optimisation's grain comes from: variants of the optimiser on the same swapped targets.

    STYLESWAP_MODELS=... STYLESWAP_DATA=... python benchmarks/optim_grain.py [--size 256] [--pairs 2] [--iters 100] [VARIANT ...]

Each evaluation pair's target Φss is computed once (exact matching, default precision); every variant then
reconstructs it from the content image and prints the mean swap objective and pixel-level noise (mean |x − median3×3|
of Y, Cb, Cr on 0–255). Variants: `rgb_tv1` (the optimiser before the colour-weighted prior: Adam lr 0.05, TV 1 on
RGB), `lbfgs` (L-BFGS, same loss, 125 evaluations), `cosine` (Adam with the learning rate decayed to 0), `rgb_tvN`
(RGB TV of weight N), `colour_tvWxC` (TV of weight W on Y and C times that on Cb and Cr), `default` (the shipped
optimiser and defaults). One thread, one variant at a time.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import Callable

import torch

from styleswap.engine.images import load_image
from styleswap.engine.metrics import colour_total_variation, pixel_noise, swap_objective, total_variation
from styleswap.engine.optimize import LEARNING_RATE, invert_by_optimisation
from styleswap.engine.stylize import Engine, Options
from styleswap.tools.bench import machine

PAIRS = [
    ("portrait_astronaut_skimage.jpg", "hokusai_great_wave.jpg"),
    ("landscape_mountains_lomiri.jpg", "monet_water_lilies.jpg"),
    ("city_canal_houses_openimages.jpg", "munch_the_scream.jpg"),
]
Variant = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]


def rgb_adam(encoder, target, init, iters, tv=1.0, cosine=False, chroma=None) -> torch.Tensor:
    image = init.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([image], lr=0.05)
    scale = target.pow(2).sum()
    for step in range(iters):
        if cosine:
            optimiser.param_groups[0]["lr"] = 0.05 * 0.5 * (1 + math.cos(math.pi * step / iters))
        optimiser.zero_grad()
        prior = total_variation(image) if chroma is None else colour_total_variation(image, chroma)
        ((encoder(image) - target).pow(2).sum() / scale + tv * prior).backward()
        optimiser.step()
        with torch.no_grad():
            image.clamp_(0, 1)
    return image.detach()


def lbfgs(encoder, target, init, iters) -> torch.Tensor:
    image = init.detach().clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS([image], max_iter=iters, max_eval=iters * 5 // 4, tolerance_grad=0, tolerance_change=0, line_search_fn="strong_wolfe")
    scale = target.pow(2).sum()

    def closure():
        optimiser.zero_grad()
        loss = (encoder(image) - target).pow(2).sum() / scale + total_variation(image)
        loss.backward()
        return loss

    optimiser.step(closure)
    return image.detach().clamp(0, 1)


def variant(name: str) -> Variant:
    if name == "default":
        return lambda encoder, target, init, iters: invert_by_optimisation(encoder, target, init, iters, LEARNING_RATE, Options().tv)[0]
    if name == "lbfgs":
        return lbfgs
    if name == "cosine":
        return lambda encoder, target, init, iters: rgb_adam(encoder, target, init, iters, cosine=True)
    if name.startswith("colour_tv"):  # colour_tvWxC: TV weight W on Y, C times that on Cb and Cr
        weight, chroma = (float(part) for part in name[9:].split("x"))
        return lambda encoder, target, init, iters: rgb_adam(encoder, target, init, iters, tv=weight, chroma=chroma)
    if name.startswith("rgb_tv"):
        return lambda encoder, target, init, iters: rgb_adam(encoder, target, init, iters, tv=float(name[6:]))
    raise SystemExit(f"unknown variant {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", default=["rgb_tv1", "lbfgs", "cosine", "rgb_tv10", "default"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--iters", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = Path(os.environ.get("STYLESWAP_DATA", "../shared/data")) / "eval"
    engine = Engine("cpu")
    options = Options(method="optim", max_size=args.size, style_size=args.size, match="exact")
    targets = []
    for content, style in PAIRS[: args.pairs]:
        swapped = engine.swapped(load_image(data / "content" / content), load_image(data / "style" / style), options, lambda stage, fraction: None)
        targets.append((swapped.image, swapped.target.float()))
    encoder = engine.encoder(options)
    about = machine()
    print(f"{args.pairs} pairs at {args.size} px, {args.iters} steps from the content, {about['cpu']}, 1 thread, torch {about['torch']}")
    print("| variant | mean objective | noise Y | noise Cb | noise Cr | s / image |\n|---|---|---|---|---|---|")
    for name in args.variants:
        run, rows = variant(name), []
        for init, target in targets:
            started = time.perf_counter()
            image = run(encoder, target, init, args.iters)
            spent = time.perf_counter() - started
            with torch.no_grad():
                rows.append((swap_objective(encoder(image), target), *pixel_noise(image), spent))
        mean = [sum(column) / len(rows) for column in zip(*rows)]
        print(f"| {name} | {mean[0]:.4f} | {mean[1]:.2f} | {mean[2]:.2f} | {mean[3]:.2f} | {mean[4]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
