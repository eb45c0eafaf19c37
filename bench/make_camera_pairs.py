"""Write a pairs:DIR set of camera-like blurred photos with their true kernels (DIR/kernel/*.npy).

    python bench/make_camera_pairs.py --out runs/camera-pairs --seed 9001 [--family shake]
    python bench/make_camera_pairs.py --out runs/sharp-jpeg --seed 9003 --jpeg-only

Sources: the corpus hold-out photos that are not builtin (never trained on, never on a board),
shrunk to at most ``--side`` px on the long side. Each is blurred by deblur.blur.camera_blur
(a kernel of the camera mixture or of ``--family``, linear light, clipped highlights, shot and
read noise, JPEG) with a generator of (seed, photo name): a seed the project's boards do not use
gives pairs no restorer was tuned on. Writes blur/NAME.png, sharp/NAME.png and kernel/NAME.npy
(the PSF in linear light, sums to 1), and params.csv (what was drawn).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deblur.blur import camera_blur  # noqa: E402
from deblur.data import BUILTIN_NAMES, read_corpus  # noqa: E402
from deblur.io import to_float, to_uint8, write_image  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, default=Path("runs/camera-pairs"))
    p.add_argument("--corpus", default="corpus")
    p.add_argument("--seed", type=int, default=9001)
    p.add_argument("--side", type=int, default=768)
    p.add_argument("--family", default=None, help="one camera_kernel family (default: the camera mixture)")
    p.add_argument("--strength", type=float, default=None)
    p.add_argument("--jpeg-only", action="store_true",
                   help="sharp photos through a JPEG round trip only (quality drawn in 60-95), identity kernels")
    a = p.parse_args()
    rows = []
    for item in read_corpus(a.corpus, "holdout"):
        if item.name in BUILTIN_NAMES:
            continue
        img = item.sharp
        s = a.side / max(img.shape[:2])
        if s < 1:
            img = np.asarray(Image.fromarray(img).resize((round(img.shape[1] * s), round(img.shape[0] * s)),
                                                         Image.Resampling.LANCZOS))
        rng = np.random.default_rng([a.seed, zlib.crc32(item.name.encode())])
        if a.jpeg_only:
            quality = int(rng.integers(60, 96))
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="JPEG", quality=quality)
            blurred = to_float(np.asarray(Image.open(buf).convert("RGB")))
            params = {"jpeg_quality": quality, "kernel": np.ones((1, 1))}
        else:
            blurred, params = camera_blur(to_float(img), rng, strength=a.strength, family=a.family)
        write_image(a.out / "sharp" / f"{item.name}.png", img)
        write_image(a.out / "blur" / f"{item.name}.png", to_uint8(blurred))
        (a.out / "kernel").mkdir(parents=True, exist_ok=True)
        np.save(a.out / "kernel" / f"{item.name}.npy", params.pop("kernel"))
        rows.append({"image": item.name, **{k: v for k, v in params.items() if not isinstance(v, np.ndarray)}})
    with open(a.out / "params.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} pairs to {a.out}")


if __name__ == "__main__":
    main()
