"""Plug-and-play deconvolution against Wiener and Richardson-Lucy handed the same kernel.

    python bench/pnp_probe.py --photos corpus-val --crop 256 --denoiser runs/denoiser_unet/checkpoint.pt

For each photo crop and each kernel family (Gaussian sigma 1-3, defocus disc r 3-9, straight line
8-30 px, camera shake 8-30 px) it blurs in two ways: "srgb" (blur on sRGB values, 8 bits: the
Gaussian / motion boards) and "camera" (deblur.blur.camera_blur with that kernel: linear light,
clipped highlights, sensor noise, JPEG); ``--jitter`` hands the restorers a kernel a few percent
off in size. It prints mean PSNR per (degradation, family, method) and the worst crop's gain.
Tuning happens here on corpus validation photos (every tenth train photo, never the builtin or
holdout photos); ``--photos builtin`` / ``holdout`` only measure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deblur import blur as B  # noqa: E402
from deblur.baselines import RichardsonLucy, Wiener  # noqa: E402
from deblur.data import builtin, read_corpus  # noqa: E402
from deblur.io import to_float, to_uint8  # noqa: E402
from deblur.metrics import psnr  # noqa: E402
from deblur.models import create  # noqa: E402
from deblur.pnp import PnPDeconvolution  # noqa: E402
from deblur.weights import load_weights  # noqa: E402


def load_denoiser(path: str):
    if path.endswith(".safetensors"):
        return load_weights(path)[0]
    state = torch.load(path, weights_only=True)
    cfg = eval(state["config"], {"__builtins__": {}})  # the checkpoint's own repr of its dataclass  # noqa: S307
    model = create("denoiser_unet", {"width": cfg["width"], "blocks": tuple(cfg["blocks"]), "middle": cfg["middle"]})
    model.load_state_dict(state["model"])
    return model.eval()


def kernel_for(family: str, rng: np.random.Generator) -> np.ndarray:
    if family == "gaussian":
        return B.gaussian_kernel(float(rng.uniform(1.0, 3.0)))
    if family == "disc":
        return B.defocus_kernel(float(rng.uniform(3.0, 9.0)))
    if family == "line":
        return B.linear_motion_kernel(float(rng.uniform(8.0, 30.0)), float(rng.uniform(0, 180)))
    return B.trajectory_motion_kernel(float(rng.uniform(8.0, 30.0)), rng)


def jittered(kernel: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """The kernel rescaled by a factor 1 +- amount (what an estimator a few percent off hands over)."""
    from scipy import ndimage

    f = 1.0 + float(rng.uniform(-amount, amount))
    k = ndimage.zoom(kernel, f, order=1)
    k = np.clip(k, 0, None)
    if k.shape[0] % 2 == 0:
        k = np.pad(k, ((0, 1), (0, 1)))
    return k / k.sum()


def photos(which: str, crop: int, n: int) -> list[tuple[str, np.ndarray]]:
    if which == "builtin":
        items = [(it.name, it.sharp) for it in builtin()]
    else:
        items = [(it.name, it.sharp) for it in read_corpus("corpus", "train" if which == "corpus-val" else "holdout")]
        if which == "corpus-val":
            items = items[::10]
        else:
            from deblur.data import BUILTIN_NAMES
            items = [i for i in items if i[0] not in BUILTIN_NAMES]
    out = []
    for name, img in items[:n]:
        h, w = img.shape[:2]
        y, x = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        out.append((name, img[y:y + crop, x:x + crop]))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--photos", default="corpus-val", choices=["corpus-val", "holdout", "builtin"])
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--families", default="gaussian,disc,line,shake")
    p.add_argument("--degradations", default="srgb,camera")
    p.add_argument("--denoiser", default="runs/denoiser_unet/checkpoint.pt")
    p.add_argument("--lam", default="0.23")
    p.add_argument("--iters", default="8")
    p.add_argument("--jitter", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(1)
    model = load_denoiser(a.denoiser)
    methods = {"wiener": Wiener(), "richardson_lucy": RichardsonLucy()}
    for lam in a.lam.split(","):
        for it in a.iters.split(","):
            for light in ("srgb", "linear"):
                methods[f"pnp_{light}_l{lam}_i{it}"] = PnPDeconvolution(model, light=light, lam=float(lam),
                                                                        iterations=int(it))
    rows = []
    crops = photos(a.photos, a.crop, a.n)
    for deg in a.degradations.split(","):
        for fam in a.families.split(","):
            rng = np.random.default_rng(a.seed)
            for name, img in crops:
                k = kernel_for(fam, rng)
                sharp = to_float(img)
                if deg == "srgb":
                    blurred = to_uint8(B.apply_kernel(sharp, k))
                else:
                    blurred = to_uint8(B.camera_blur(sharp, rng, kernel=k)[0])
                told = jittered(k, rng, a.jitter) if a.jitter else k
                base = psnr(to_float(blurred), sharp)
                rows.append((deg, fam, "blurred", name, base, 0.0))
                for m, fn in methods.items():
                    t = time.time()
                    out = fn(blurred[None], told)
                    rows.append((deg, fam, m, name, psnr(to_float(out), sharp), time.time() - t))
    import pandas as pd

    df = pd.DataFrame(rows, columns=["degradation", "family", "method", "photo", "psnr", "seconds"])
    base = df[df.method == "blurred"].set_index(["degradation", "family", "photo"]).psnr
    df["gain"] = df.psnr - df.set_index(["degradation", "family", "photo"]).index.map(base).to_numpy()
    table = df.groupby(["degradation", "family", "method"]).agg(psnr=("psnr", "mean"), worst_gain=("gain", "min"),
                                                                seconds=("seconds", "mean")).round(2)
    print(table.to_string())
    print(df.groupby(["degradation", "method"]).psnr.mean().round(2).to_string())


if __name__ == "__main__":
    main()
