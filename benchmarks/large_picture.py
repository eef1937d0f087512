"""A large photo with the defaults: sharpness at 100 %, stroke size, time and peak memory.

    STYLESWAP_MODELS=/path/to/models STYLESWAP_DATA=/path/to/data python benchmarks/large_picture.py [STYLE] [--out DIR]

The content is a 6000x4000 collage of the eval photos at their own resolution (6 x 6 crops of 1000x667, no
scaling, so every pixel holds real detail), and a 3840x2160 frame cut from it. Each runs `styleswap stylize` in its
own process (peak resident memory from the operating system): with the defaults, with `--detail 0` (the working-size
result scaled up smoothly, as before guided detail) and at `--max-size 2048` (the style processed larger with it).

Sharpness: the mean squared luminance gradient (8-bit units) at 100 %, of the content and of each result. Stroke size at
display size: each result scaled to 1024 px, the mean wavelength of its luminance power spectrum (in pixels of
that display size) and its mean difference from the 1024 px result scaled the same way.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from high_resolution import stylize_in_child
from PIL import Image

from styleswap.tools.bench import machine

TILE = (1000, 667)
GRID = (6, 6)
DISPLAY = 1024


def collage(folder: Path) -> Image.Image:
    """6000x4000 from the landscape eval photos' centre crops at their own pixels (flipped on alternate rounds)."""
    photos = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in {".jpg", ".png"}]
    photos = [p for p in photos if Image.open(p).width >= TILE[0] and Image.open(p).height >= TILE[1]]
    sheet = Image.new("RGB", (TILE[0] * GRID[0], TILE[1] * GRID[1]))
    for n in range(GRID[0] * GRID[1]):
        image = Image.open(photos[n % len(photos)]).convert("RGB")
        left, top = (image.width - TILE[0]) // 2, (image.height - TILE[1]) // 2
        tile = image.crop((left, top, left + TILE[0], top + TILE[1]))
        if n // len(photos) % 2:
            tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        sheet.paste(tile, (n % GRID[0] * TILE[0], n // GRID[0] * TILE[1]))
    return sheet.crop((0, 0, 6000, 4000))


def luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64)


def gradient_energy(image: Image.Image) -> float:
    y = luma(image)
    return float((np.diff(y, axis=0) ** 2).mean() + (np.diff(y, axis=1) ** 2).mean())


def display(image: Image.Image) -> Image.Image:
    scale = DISPLAY / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def wavelength(image: Image.Image) -> float:
    """Mean wavelength (display pixels) of the luminance power spectrum, weighted by power: larger strokes, longer."""
    y = luma(image)
    power = np.abs(np.fft.rfft2(y - y.mean())) ** 2
    fy = np.fft.fftfreq(y.shape[0])[:, None]
    fx = np.fft.rfftfreq(y.shape[1])[None, :]
    radius = np.hypot(fy, fx)
    keep = radius > 0
    return float((power[keep] / radius[keep]).sum() / power[keep].sum())


def main() -> None:
    data = Path(os.environ.get("STYLESWAP_DATA", "../shared/data"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("style", nargs="?", default=str(data / "eval" / "style" / "hokusai_great_wave.jpg"))
    parser.add_argument("--out", help="keep the pictures here (100 % crops and display-size results)")
    args = parser.parse_args()
    big = collage(data / "eval" / "content")
    frames = {"6000x4000": big, "3840x2160": big.crop((1080, 920, 1080 + 3840, 920 + 2160))}
    runs = {"defaults": (1024, ()), "--detail 0": (1024, ("--detail", "0")), "--max-size 2048": (2048, ())}
    m = machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads); style {Path(args.style).name}")
    print("| picture | run | total s | wall s | peak RSS GiB | gradient energy (content) | vs --detail 0 | wavelength at 1024 px | mean diff from 1024 px run, display size |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, picture in frames.items():
            source = Path(tmp) / f"{name}.png"
            picture.save(source)
            content_energy = gradient_energy(picture)
            results = {}
            for run, (max_size, extra) in runs.items():
                out = Path(tmp) / f"{name}_{run.strip('-').replace(' ', '_')}.png"
                summary = stylize_in_child(source, Path(args.style), out, max_size, 512, extra=extra)
                results[run] = (summary, Image.open(out).convert("RGB"))
            reference = display(results["--detail 0"][1])
            smooth = gradient_energy(results["--detail 0"][1])
            for run, (summary, image) in results.items():
                shown = display(image)
                energy = gradient_energy(image)
                difference = np.abs(np.asarray(shown, dtype=np.float64) - np.asarray(reference, dtype=np.float64)).mean()
                print(f"| {name} | {run} | {summary['timings']['total']:.1f} | {summary['wall']:.1f} | {summary['peak_rss_gib']:.2f} | {energy:.1f} ({content_energy:.1f}) | {energy / smooth:.2f}x | {wavelength(shown):.2f} | {difference:.2f} |")
                if args.out:
                    Path(args.out).mkdir(parents=True, exist_ok=True)
                    stem = f"{name}_{run.strip('-').replace(' ', '_')}"
                    image.crop((2000, 1200, 2600, 1600) if name == "6000x4000" else (1200, 800, 1800, 1200)).save(Path(args.out) / f"{stem}_crop100.png")
                    shown.save(Path(args.out) / f"{stem}_display.png")


if __name__ == "__main__":
    main()
