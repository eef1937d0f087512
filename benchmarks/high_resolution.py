"""Large frames on this machine: time and peak memory of `styleswap stylize` per frame size, and proof that tiled
processing equals whole-image processing on a crop small enough for both.

    STYLESWAP_MODELS=/path/to/models python benchmarks/high_resolution.py CONTENT STYLE [--heights 1080,2160] [--device cuda]

The content is scaled and centre-cropped to 16:9 frames of each height; every frame runs in its own
`styleswap stylize` process (defaults: inverse network, auto matching, default memory budget) so the peak resident
memory read from the operating system is that frame's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from styleswap.engine.images import Picture, load_image
from styleswap.engine.stylize import Engine, Options
from styleswap.tools.bench import machine

GIB = 2**30


def frame(content: Path, height: int) -> Image.Image:
    """The content scaled to cover a 16:9 frame of this height, centre-cropped."""
    return ImageOps.fit(Image.open(content).convert("RGB"), (height * 16 // 9, height), Image.Resampling.LANCZOS)


def stylize_in_child(content: Path, style: Path, out: Path, max_size: int, style_size: int, device: str = "auto", extra: tuple[str, ...] = ()) -> dict:
    """One `styleswap stylize` run (``extra``: more flags); its summary plus the child's own peak RSS (from wait4, not
    the whole tree)."""
    command = [sys.executable, "-m", "styleswap", "stylize", str(content), str(style), "-o", str(out),
               "--max-size", str(max_size), "--style-size", str(style_size), "--device", device, "--json", "--quiet", *extra]  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0), stderr.seek(0)
        if child.returncode:
            raise SystemExit(f"stylize failed: {stderr.read().decode()}")
        summary = json.loads(stdout.read())["results"][0]
    summary["wall"] = time.perf_counter() - started
    summary["peak_rss_gib"] = usage.ru_maxrss * 1024 / GIB
    return summary


def tiled_equals_whole(content: Image.Image, style: Path, style_size: int, device: str = "cpu") -> float:
    """Largest difference, in 8-bit steps, between a tiled run (small memory budget) and one whole-image pass."""
    engine = Engine(device)
    picture, style_picture = Picture.from_array(np.asarray(content)), load_image(style)
    side = max(content.size)
    outputs = []
    for budget in (32 * 2**20, 64 * GIB):  # 256 px tiles vs one pass
        options = Options(max_size=side, style_size=style_size, memory_budget=budget)
        outputs.append(engine.stylize(picture, style_picture, options).picture.rgb)
    return float(np.abs(outputs[0] - outputs[1]).max() * 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("--heights", default="1080,2160", help="frame heights (16:9)")
    parser.add_argument("--style-size", type=int, default=1024)
    parser.add_argument("--crop", type=int, default=720, help="height of the crop run both tiled and whole")
    parser.add_argument("--device", default="auto", help="where the frames run (auto, cpu, cuda, mps); the crop runs there too, on the CPU when auto")
    parser.add_argument("--json", help="also write the report to this JSON file")
    args = parser.parse_args()
    report = {"machine": machine(), "device": args.device, "frames": []}
    with tempfile.TemporaryDirectory() as tmp:
        for height in map(int, args.heights.split(",")):
            path = Path(tmp) / f"frame_{height}.png"
            image = frame(Path(args.content), height)
            image.save(path)
            summary = stylize_in_child(path, Path(args.style), Path(tmp) / "out.png", max(image.size), args.style_size, args.device)
            report["frames"].append({"size": list(image.size), "device": summary["device"], **{k: summary[k] for k in ("timings", "wall", "peak_rss_gib", "objective")}})
        crop = frame(Path(args.content), args.crop)
        crop_device = "cpu" if args.device == "auto" else args.device
        report["tiled_vs_whole"] = {"size": list(crop.size), "device": crop_device, "max_abs_difference_8bit": tiled_equals_whole(crop, Path(args.style), args.style_size, crop_device)}
    m = report["machine"]
    devices = ", ".join(dict.fromkeys(row["device"] for row in report["frames"]))
    print(f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads); frames on {devices}; style scaled to {args.style_size} px")
    print("| frame | encode s | swap s | reconstruct s | total s | wall s (with start-up and PNG) | peak RSS GiB |")
    print("|---|---|---|---|---|---|---|")
    for row in report["frames"]:
        t = row["timings"]
        print(f"| {row['size'][0]}x{row['size'][1]} | {t['encode']:.1f} | {t['swap']:.1f} | {t['reconstruct']:.1f} | {t['total']:.1f} | {row['wall']:.1f} | {row['peak_rss_gib']:.2f} |")
    tv = report["tiled_vs_whole"]
    print(f"tiled (256 px tiles) vs whole image on a {tv['size'][0]}x{tv['size'][1]} crop on {tv['device']}: max abs difference {tv['max_abs_difference_8bit']:.2e} of an 8-bit step")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
