"""Random-start consistency of the optimisation (the paper's Fig. 2 check): the same pair optimised from two seeds.

    STYLESWAP_MODELS=... python benchmarks/optim_random_starts.py CONTENT STYLE [--size 512] [--seeds 0,1] [--threads 1]

Prints, per seed, the swap objective and the pixel-level noise (Y, Cb, Cr on 0-255), then the mean absolute
difference per pixel and channel (RGB in [0, 1]) between every two results. Exact matching, default options else.
The content is scaled to --size first, so the results are measured at the size they were optimised at (not scaled
back up to the photo's size, which would smooth the grain away).
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch
from PIL import Image

from styleswap.engine.images import Picture, load_image
from styleswap.engine.metrics import pixel_noise
from styleswap.engine.stylize import Engine, Options, fit_within
from styleswap.tools.bench import machine


def at_size(picture: Picture, side: int) -> Picture:
    """The picture scaled (Lanczos) so its longest side is ``side``: the size the optimisation works at."""
    pixels = Image.fromarray(np.rint(picture.rgb * 255).astype(np.uint8))
    return Picture.from_array(np.asarray(pixels.resize(fit_within(picture.size, side), Image.LANCZOS)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--method", default="optim")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    engine = Engine("auto")
    content, style = load_image(args.content), load_image(args.style)
    content = at_size(content, args.size)
    results = {}
    about = machine()
    print(f"{args.size} px, exact matching, {args.method} from random starts on {engine.device}: {about['cpu']}, {about['torch_threads']} threads, torch {about['torch']}")
    print("| seed | objective | noise Y | noise Cb | noise Cr |\n|---|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        options = Options(method=args.method, max_size=args.size, style_size=args.size, match="exact", init="random", seed=seed)
        result = engine.stylize(content, style, options)
        results[seed] = result.picture.rgb.astype(np.float64)
        y, cb, cr = pixel_noise(torch.from_numpy(results[seed]).permute(2, 0, 1))
        print(f"| {seed} | {result.objective:.4f} | {y:.2f} | {cb:.2f} | {cr:.2f} |", flush=True)
    for a, b in itertools.combinations(results, 2):
        print(f"seeds {a} and {b}: mean abs difference {np.abs(results[a] - results[b]).mean():.4f} per pixel and channel")


if __name__ == "__main__":
    main()
