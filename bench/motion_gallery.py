"""Before / after strip of the three-frame motion method on one builtin photo (README figure).

    python bench/motion_gallery.py [--image motorcycle_left] [--out gallery/motion_three_frames.png]
        [--network multiframe_atrous-motion]

The photo is blurred exactly as the builtin-motion leaderboard blurs it (seed 42, 8 px per
exposure); the strip shows a crop of frame t, Richardson-Lucy handed the true (centred) kernel,
multiframe_wiener (blind, three frames), the shipped network that refines it
(multiframe_atrous-motion, when shipped) and the sharp target, each labelled with its PSNR on the
whole frame.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur.baselines import RichardsonLucy  # noqa: E402
from deblur.registry import load as load_restorer  # noqa: E402
from deblur.metrics import psnr  # noqa: E402
from deblur.multiframe import MultiFrameWiener  # noqa: E402
from deblur.weights import read_manifest  # noqa: E402
from eval.inputs import degrade, open_items  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default="motorcycle_left")
    p.add_argument("--crop", type=int, nargs=3, default=(170, 270, 200), metavar=("Y", "X", "SIDE"))
    p.add_argument("--out", type=Path, default=Path("gallery/motion_three_frames.png"))
    p.add_argument("--network", default="multiframe_atrous-motion", help="refining network shown if shipped")
    a = p.parse_args(argv)
    item = next(i for i in open_items("builtin", "full", "motion") if i.name == a.image)
    s = degrade(item, "motion", 42, motion_length=8.0)
    prior = MultiFrameWiener()(s.frames)
    panels = [("blurred frame t", s.frames[1]), ("richardson_lucy, true kernel", RichardsonLucy()(s.frames, s.kernel)),
              ("multiframe_wiener, blind", prior)]
    if a.network in read_manifest():
        net = load_restorer(a.network)
        net.model.prior = lambda frames: prior  # the same fit, not a second one
        panels.append((f"{a.network.split('-')[0]}, blind", net(s.frames)))
    panels.append(("sharp target", s.target))
    y, x, n = a.crop
    strip = Image.new("RGB", (len(panels) * (n + 10) - 10, n), (255, 255, 255))
    for i, (label, img) in enumerate(panels):
        tile = Image.fromarray(np.ascontiguousarray(img[y : y + n, x : x + n]))
        text = label if label == "sharp target" else f"{label}: {psnr(img, s.target):.1f} dB"
        draw = ImageDraw.Draw(tile)
        draw.rectangle([0, 0, 6 * len(text) + 8, 16], fill=(0, 0, 0))
        draw.text((4, 3), text, fill=(255, 255, 255))
        strip.paste(tile, (i * (n + 10), 0))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    strip.save(a.out, optimize=True)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
