"""Error of the Gaussian blur estimators per true-sigma range, on the evaluator's own inputs.

    python bench/sigma_estimator.py                          # builtin, seeds 42 and 11, full resolution
    python bench/sigma_estimator.py --protocol cifar --limit 70
    python bench/sigma_estimator.py --weights runs/ship/kernel_aware_atrous-gaussian.safetensors
    python bench/sigma_estimator.py --limit 2 --seeds 42     # a quick look

Each image is blurred exactly as ``python -m eval run --blur gaussian`` blurs it (eval.inputs.degrade:
sigma ~ U[0, 3] drawn from the seed and the image's name), so the table explains the blind rows of
the leaderboards. Per seed and estimator it prints deblur.kernel_aware.estimator_report: mean
absolute error and bias (px) per sigma range, the relative error at sigma >= 0.5 (what Wiener's
loss depends on: the issue measured ~0.15-0.6 dB lost at 5 %, 0.5-1.2 dB at 10 %, sigma 1-3) and
the worst error. Estimators:

- ``gcv``: deblur.kernel_aware's torch GCV (what an untrained KernelAwareNet uses);
- ``gcv_numpy`` (``--numpy``): deblur.baselines.estimate_gaussian_sigma (blind_wiener's);
- ``model``: the estimator (GCV + CNN) of a kernel-aware weight file given with ``--weights``;
- ``sigma_net`` (``--sigma-net FILE``): the learned estimator of deblur/sigma_net.py; ``--crop 256 512
  1024`` runs it on central squares of those sizes side by side (measured, seeds 1-3: 512 and 1024 px
  change the relative error by < 1 point against 256 -- its errors are per photo, not for want of pixels).

GCV looks at the central 384 px crop, so a full-resolution image costs ~0.5 s per estimator on
one core; the cifar protocol's 32 px crops cost milliseconds each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur.baselines import estimate_gaussian_sigma  # noqa: E402
from deblur.kernel_aware import SigmaEstimator, estimator_report, format_report, image_estimator  # noqa: E402
from eval.config import MOTION_LENGTH, SIGMA_MAX  # noqa: E402
from eval.inputs import degrade, open_items  # noqa: E402


def pairs(dataset: str, protocol: str, seed: int, limit: int | None) -> list[tuple[np.ndarray, float]]:
    """(blurred uint8 image, true sigma) for every item, blurred as the evaluator blurs it."""
    out = []
    for item in open_items(dataset, protocol, "gaussian", limit):
        s = degrade(item, "gaussian", seed, motion_length=MOTION_LENGTH, sigma_max=SIGMA_MAX)
        out.append((s.frames[0], float(s.params["sigma"])))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="builtin", help="an evaluator dataset spec (default builtin)")
    ap.add_argument("--protocol", default="full", choices=("full", "cifar"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 11])
    ap.add_argument("--limit", type=int, default=None, help="at most this many images (evenly spaced)")
    ap.add_argument("--numpy", action="store_true", help="also the numpy GCV of blind_wiener")
    ap.add_argument("--weights", default=None, help="a kernel_aware_atrous .safetensors file: its estimator too")
    ap.add_argument("--sigma-net", default=None, help="a deblur.sigma_net .safetensors file: that estimator too")
    ap.add_argument("--crop", type=int, nargs="+", default=[256],
                    help="--sigma-net: the central square(s) it looks at, px (one estimator per size)")
    ap.add_argument("--no-gcv", action="store_true", help="leave GCV out (it costs ~0.5 s per image)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    estimators = {} if args.no_gcv else {"gcv": image_estimator(SigmaEstimator(width=0).eval())}
    if args.sigma_net:
        from deblur import sigma_net

        net, _ = sigma_net.load(args.sigma_net)
        for crop in args.crop:
            name = "sigma_net" if len(args.crop) == 1 else f"sigma_net@{crop}"
            estimators[name] = lambda img, crop=crop: sigma_net.estimate(net, img, crop)
    if args.numpy:
        estimators["gcv_numpy"] = lambda img: estimate_gaussian_sigma(img.astype(np.float64) / 255.0)
    if args.weights:
        from deblur.weights import load_weights

        model, _ = load_weights(args.weights)
        if not hasattr(model, "estimate_sigma"):
            ap.error(f"{args.weights} holds a {type(model).__name__}, which does not estimate sigma")
        estimators["model"] = image_estimator(model.eval().estimate_sigma)

    for seed in args.seeds:
        data = pairs(args.data, args.protocol, seed, args.limit)
        for name, fn in estimators.items():
            t0 = time.perf_counter()
            rows = estimator_report(data, fn)
            sec = (time.perf_counter() - t0) / max(1, len(data))
            print(format_report(rows, f"{name} on {args.data} ({args.protocol}), seed {seed}: "
                                      f"{len(data)} images, {sec:.2f} s per image"))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
