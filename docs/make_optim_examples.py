"""Regenerates docs/optim_examples.jpg: content | style | `styleswap stylize --method optim` at 512 px.

Run from the repository root with STYLESWAP_DATA pointing at the evaluation images (content/ and style/ in eval/).
"""

import os
import sys
from pathlib import Path

from styleswap.engine.images import load_image
from styleswap.engine.stylize import Engine, Options
from styleswap.tools.contact_sheet import contact_sheet

PAIRS = [
    ("portrait_astronaut_skimage.jpg", "hokusai_great_wave.jpg"),
    ("city_canal_houses_openimages.jpg", "munch_the_scream.jpg"),
    ("landscape_mountains_lomiri.jpg", "kandinsky_composition_vii.jpg"),
]

eval_dir = Path(os.environ.get("STYLESWAP_DATA", "../shared/data")) / "eval"
engine = Engine("auto")
options = Options(method="optim", max_size=512, style_size=512)
rows, captions = [], []
for content_name, style_name in PAIRS:
    content, style = load_image(eval_dir / "content" / content_name), load_image(eval_dir / "style" / style_name)
    result = engine.stylize(content, style, options)
    print(f"{content_name} x {style_name}: objective {result.objective:.3f} (content {result.content_objective:.3f}), {result.timings['total']:.1f} s", file=sys.stderr)
    rows.append([content.rgb, style.rgb, result.picture.rgb])
    captions.append([content_name, style_name, f"optim, objective {result.objective:.3f} (content {result.content_objective:.3f})"])
contact_sheet(rows, captions, height=300).save("docs/optim_examples.jpg", quality=88)
