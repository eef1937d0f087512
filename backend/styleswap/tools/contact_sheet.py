"""Side-by-side pictures with captions, for docs, evaluation and benchmark reports."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def contact_sheet(rows: list[list[np.ndarray]], captions: list[list[str]], height: int = 256, margin: int = 6) -> Image.Image:
    """Each row of float RGB [0,1] or uint8 images scaled to ``height``, a caption under every cell."""
    font = ImageFont.load_default(size=14)
    caption_h = 22
    cells = [[_scaled(img, height) for img in row] for row in rows]
    width = max(sum(c.width for c in row) + margin * (len(row) + 1) for row in cells)
    sheet = Image.new("RGB", (width, len(rows) * (height + caption_h + margin) + margin), "white")
    draw = ImageDraw.Draw(sheet)
    y = margin
    for row, texts in zip(cells, captions):
        x = margin
        for cell, text in zip(row, texts):
            sheet.paste(cell, (x, y))
            draw.text((x + 2, y + height + 3), text, fill="black", font=font)
            x += cell.width + margin
        y += height + caption_h + margin
    return sheet


def _scaled(image: np.ndarray, height: int) -> Image.Image:
    if image.dtype != np.uint8:
        image = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    picture = Image.fromarray(image[..., :3])
    return picture.resize((max(1, round(picture.width * height / picture.height)), height), Image.Resampling.LANCZOS)
