"""Regenerates docs/readme_demo.jpg from the bundled example images (examples/SOURCES.md) with the default method."""

from styleswap.engine.images import load_image
from styleswap.engine.stylize import Engine, Options
from styleswap.tools.contact_sheet import contact_sheet

engine = Engine("auto")
rows, captions = [], []
for content_name, style_name in [("chelsea.jpg", "ink_splat.png"), ("coffee.jpg", "stained_glands.jpg")]:
    content, style = load_image(f"examples/{content_name}"), load_image(f"examples/{style_name}")
    result = engine.stylize(content, style, Options())
    rows.append([content.rgb, style.rgb, result.picture.rgb])
    captions.append([content_name, style_name, f"styleswap stylize ({result.timings['total']:.1f} s on {result.device})"])
contact_sheet(rows, captions, height=260).save("docs/readme_demo.jpg", quality=90)
