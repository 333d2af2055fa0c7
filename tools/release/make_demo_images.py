"""Builds the demo images in examples/ (all redistributable).

Contents come from scikit-image's bundled data (public domain / CC0, see
examples/README.md; needs `pip install scikit-image` to rerun). Styles are painted
procedurally here (brush strokes along a swirl field), so the project owns them (CC0).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[2] / "examples"

PALETTES = {
    "swirls": [(16, 40, 110), (40, 80, 160), (230, 200, 60), (250, 230, 120), (20, 20, 50),
               (90, 140, 200), (240, 160, 40)],
    "embers": [(120, 20, 20), (200, 60, 20), (250, 150, 30), (40, 10, 10), (250, 220, 150),
               (160, 30, 60)],
    "meadow": [(40, 90, 40), (120, 170, 60), (220, 210, 120), (70, 120, 160), (240, 240, 230),
               (180, 80, 120)],
}


def paint(name: str, size: int = 512, strokes: int = 2500, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    palette = PALETTES[name]
    img = Image.new("RGB", (size, size), palette[0])
    draw = ImageDraw.Draw(img)
    centres = rng.uniform(0, size, (4, 2))
    for _ in range(strokes):
        x, y = rng.uniform(0, size, 2)
        colour = tuple(int(c) for c in np.clip(np.array(palette[rng.integers(len(palette))])
                                               + rng.normal(0, 12, 3), 0, 255))
        width = int(rng.integers(3, 10))
        pts = [(x, y)]
        for _ in range(int(rng.integers(4, 12))):
            cx, cy = centres[np.argmin(((centres - [x, y]) ** 2).sum(1))]
            ang = math.atan2(y - cy, x - cx) + math.pi / 2 + 0.3 * math.sin(x / 40)
            x, y = x + 6 * math.cos(ang), y + 6 * math.sin(ang)
            pts.append((x, y))
        draw.line(pts, fill=colour, width=width, joint="curve")
    return img.filter(ImageFilter.GaussianBlur(0.8))


def main() -> None:
    (ROOT / "style").mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(PALETTES):
        paint(name, seed=i).save(ROOT / "style" / f"{name}.jpg", quality=92)
    try:
        from skimage import data
    except ImportError:
        print("scikit-image not installed: styles written, contents left as they are")
        return
    (ROOT / "content").mkdir(parents=True, exist_ok=True)
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        im = Image.fromarray(getattr(data, name)()).convert("RGB")
        im.thumbnail((512, 512), Image.LANCZOS)
        im.save(ROOT / "content" / f"{name}.jpg", quality=92)


if __name__ == "__main__":
    main()
