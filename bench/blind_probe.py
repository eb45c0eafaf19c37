"""Per photo of a pairs:DIR set with true kernels: what the blind kernel estimator says, and what
each deconvolution after it gains -- the data a do-no-harm gate is chosen from.

    python bench/blind_probe.py runs/camera-pairs            # writes runs/blind_probe/camera-pairs.csv
    python bench/blind_probe.py runs/sharp-jpeg --no-true    # sharp photos: no true-kernel rows

Per photo: the verdict, confidence, size and description of ``estimate_kernel``; its kernel's
similarity with the true one; PSNR gain over the blurred input (dB) of pnp_linear handed the
true kernel, pnp_linear with the estimate, Wiener (deblur.psf balance) with the estimate, and the
denoiser alone (pnp with an identity kernel); the rms re-blur residual |y - k*x| of each estimate
(sRGB) and the photo's noise as the prior measures it. Rows are cached per photo (rerun resumes).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from deblur import registry
from deblur.baselines import _wiener_deconvolve
from deblur.blur import apply_kernel
from deblur.io import read_image, read_kernel, to_float, to_uint8
from deblur.kernel_estimate import estimate_kernel, kernel_similarity
from deblur.metrics import psnr
from deblur.psf import psf_balance


def residual(y: np.ndarray, x: np.ndarray, k: np.ndarray) -> float:
    """rms of y - k*x on the photo less a border of the kernel's size (sRGB, [0, 1])."""
    r = y - apply_kernel(x, k)
    b = max(k.shape) // 2 + 1
    return float(np.sqrt(np.mean(r[b:-b, b:-b] ** 2)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("pairs", type=Path)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--no-true", action="store_true", help="the set has no kernel/ folder")
    p.add_argument("--limit", type=int, default=0)
    a = p.parse_args()
    out = a.out or Path("runs/blind_probe") / f"{a.pairs.name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {r["image"]: r for r in csv.DictReader(open(out))} if out.exists() else {}
    pnp = registry.load("pnp_linear")
    names = sorted(f.stem for f in (a.pairs / "blur").iterdir())
    if a.limit:
        names = names[:a.limit]
    rows = list(done.values())
    for name in names:
        if name in done:
            continue
        y8 = read_image(next((a.pairs / "blur").glob(name + ".*")))
        x8 = read_image(next((a.pairs / "sharp").glob(name + ".*")))
        y = to_float(y8).astype(np.float64)
        base = psnr(y8, x8)
        row = {"image": name, "blurred_psnr": base}
        t = time.perf_counter()
        est = estimate_kernel(y8)
        row.update(verdict=est.verdict, confidence=est.confidence, est_size=est.kernel.shape[0],
                   description=est.description, est_seconds=time.perf_counter() - t)
        raw = est.found
        k_est = est.kernel if est.kernel.size > 1 else (raw if raw is not None else est.kernel)
        row["noise"] = pnp.noise_level(y)
        if not a.no_true:
            k_true = read_kernel(a.pairs / "kernel" / f"{name}.npy")
            row["similarity"] = kernel_similarity(k_est, k_true)
            row["true_size"] = k_true.shape[0]
            t = time.perf_counter()
            row["pnp_true"] = psnr(to_uint8(pnp.restore(y, k_true)), x8) - base
            row["pnp_seconds"] = time.perf_counter() - t
        if k_est.size > 1:
            xe = pnp.restore(y, k_est)
            row["pnp_est"] = psnr(to_uint8(xe), x8) - base
            row["resid_pnp_est"] = residual(y, xe, k_est)
            row["wiener_est"] = psnr(to_uint8(_wiener_deconvolve(y, k_est, psf_balance(y))), x8) - base
        row["denoise"] = psnr(to_uint8(pnp.restore(y, np.ones((1, 1)))), x8) - base
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
        keys = sorted({k for r in rows for k in r}, key=lambda k: (k != "image", k))
        with open(out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
