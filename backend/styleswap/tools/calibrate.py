"""`styleswap calibrate-int8`: the activation ranges of the int8 encoder and inverse network."""

from __future__ import annotations

import json
from pathlib import Path

from styleswap.engine import int8_encoder, int8_inverse
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import load_image
from styleswap.engine.stylize import Engine, Options
from styleswap.tools.train import image_files


def calibrate(folders: list[str], count: int, size: int, out: Path) -> str:
    """The encoder on every image; the inverse network the engine loads (``STYLESWAP_INVNET_WEIGHTS`` too) on each
    image swapped with the style of the image half the list on (a painting for each photo, given as many of each).
    Calibrations of other networks already in `out` stay. Returns what was written, for the user."""
    try:
        sections = json.loads(out.read_text()) if out.is_file() else {}
    except (OSError, ValueError) as exc:
        raise StyleSwapError(f"cannot read {out} to add to it ({exc}); give another --out") from None
    files = [path for folder in folders for path in image_files(folder)[:count]]
    engine, options = Engine("cpu", precision="float32"), Options(max_size=size, style_size=size)
    pictures = [load_image(path) for path in files]
    scales = int8_encoder.calibrate(engine.encoder(options), [engine.working_image(picture, size, options)[0] for picture in pictures])
    half, net = len(files) // 2, engine.inverse()
    targets = (engine.swapped(picture, pictures[(i + half) % len(files)], options, lambda stage, fraction: None).target for i, picture in enumerate(pictures))
    ranges = int8_inverse.calibrate(net, targets)
    for section, about, key, values in (
        ("encoder", f"{int8_encoder.PERCENTILE:.2%} percentile of each relu's activations, / 255", int8_encoder.scales_key(options.encoder, options.pooling), scales),
        ("inverse", f"range of each quantisation point less a {int8_inverse.TAIL:g} tail at each end, over swaps of each image with the style of the image half the list on; by weights digest", int8_inverse.weights_digest(net), ranges),
    ):
        calibrations = {**sections.get(section, {}).get("calibrations", {}), key: values}
        sections[section] = {"about": f"{about}; measured on {len(files)} images at {size} px", "calibrations": calibrations}
    out.write_text(json.dumps(sections, indent=2) + "\n")
    return f"wrote {out}: encoder and inverse network over {len(files)} images at {size} px"
