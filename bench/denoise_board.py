"""The denoising board: the trained prior (weights/priors/denoiser_unet) beside scikit-image's denoisers.

    python bench/denoise_board.py --out eval/leaderboards/denoise

White Gaussian noise at 5 / 15 / 25 / 50 (/255) is added (seeded per photo and level, then
8-bit rounding, as a real image file would hold it) to 256 x 256 centre crops of the builtin
photos and of the corpus hold-out photos that are not builtin (never trained on). Each method
is told the true noise level where it takes one: denoiser_unet (its level map), TV Chambolle
(weight = the level, a common rule),
non-local means (h = 0.8 sigma, sigma given, fast mode) and bilateral (sigma_color = level).
BM3D is the classical reference but its package is non-commercial: not a dependency here; the
wavelet denoiser needs PyWavelets, not a dependency either.
Writes denoise_per_image.csv and denoise_board.csv (not a deblurring leaderboard, so the app's
Leaderboards tab leaves it alone: mean PSNR / SSIM per set, method and level, and the
worst image's PSNR).
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from skimage import restoration as R  # noqa: E402

from deblur.data import BUILTIN_NAMES, builtin, read_corpus  # noqa: E402
from deblur.io import to_float, to_uint8  # noqa: E402
from deblur.metrics import psnr, ssim  # noqa: E402
from deblur.pnp import denoise  # noqa: E402
from deblur.weights import load_weights  # noqa: E402

LEVELS = (5, 15, 25, 50)
CROP = 256


def crops(corpus: str) -> list[tuple[str, str, np.ndarray]]:
    sets = [("builtin", it.name, it.sharp) for it in builtin()]
    if (Path(corpus) / "manifest.csv").is_file():
        sets += [("holdout", it.name, it.sharp) for it in read_corpus(corpus, "holdout") if it.name not in BUILTIN_NAMES]
    out = []
    for group, name, img in sets:
        h, w = img.shape[:2]
        y, x = max(0, (h - CROP) // 2), max(0, (w - CROP) // 2)
        out.append((group, name, img[y:y + CROP, x:x + CROP]))
    return out


def methods(model) -> dict:
    return {
        "denoiser_unet": lambda x, s: denoise(model, x, s),
        "skimage_tv": lambda x, s: R.denoise_tv_chambolle(x, weight=s, channel_axis=-1),
        "skimage_nl_means": lambda x, s: R.denoise_nl_means(x, h=0.8 * s, sigma=s, fast_mode=True,
                                                            patch_size=5, patch_distance=6, channel_axis=-1),
        "skimage_bilateral": lambda x, s: R.denoise_bilateral(x, sigma_color=s, sigma_spatial=1.5, channel_axis=-1),
        "noisy": lambda x, s: x,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--denoiser", default="weights/priors/denoiser_unet.safetensors")
    p.add_argument("--corpus", default="corpus")
    p.add_argument("--out", default="runs/denoise-board")
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    model, _ = load_weights(a.denoiser)
    rows = []
    for group, name, img in crops(a.corpus):
        clean = to_float(img).astype(np.float64)
        for level in LEVELS:
            rng = np.random.default_rng([a.seed, zlib.crc32(name.encode()), level])
            noisy = to_float(to_uint8(clean + level / 255.0 * rng.standard_normal(clean.shape))).astype(np.float64)
            for method, fn in methods(model).items():
                t = time.perf_counter()
                out = to_uint8(np.clip(fn(noisy, level / 255.0), 0, 1))
                rows.append({"set": group, "image": name, "level": level, "method": method,
                             "psnr": psnr(out, img), "ssim": ssim(out, img), "seconds": time.perf_counter() - t})
        print(group, name, flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "denoise_per_image.csv", index=False, float_format="%.6g")
    lb = (df.groupby(["set", "level", "method"])
            .agg(n=("image", "size"), psnr=("psnr", "mean"), ssim=("ssim", "mean"), worst_psnr=("psnr", "min"),
                 seconds=("seconds", "mean"))
            .reset_index().sort_values(["set", "level", "psnr"], ascending=[True, True, False]))
    lb.to_csv(out / "denoise_board.csv", index=False, float_format="%.6g")
    print(lb.to_string(index=False))


if __name__ == "__main__":
    main()
