"""How much blur does the sigma estimator see in photos that were never blurred? (issue 12)

    python bench/intrinsic_blur.py                                  # builtin
    python bench/intrinsic_blur.py --data photos:runs/unseen --sigmas 0 0.5 1 2

For each photo of an evaluator dataset, the sharp target is blurred exactly as the evaluator blurs
(``deblur.degrade.degrade``: OpenCV's taps, reflect-101, 8-bit rounding) at each sigma of
``--sigmas`` and read by the learned estimator (``deblur.sigma_net.estimate``, the one the shipped
kernel-aware network carries). The reading at sigma 0 is the photo's own softness as the estimator
sees it (lens, demosaicing, resizing); if blur adds in quadrature, a photo of intrinsic blur i
reads sqrt(sigma^2 + i^2) at sigma, and the column ``quadrature`` prints that prediction at the
largest sigma for comparison.

Why it matters: a blurred photo y = G_sigma * x with x itself soft (x = G_i * x0) is exactly the
blur sigma_total = sqrt(sigma^2 + i^2) of the sharper x0. No blind method can tell the two apart
from y alone, only from a prior on how sharp the targets are. Wiener given the *true* sigma (the
oracle rows) is not affected; a blind estimate is, and where Wiener is near exact (sigma ~0.5,
~52 dB) an error of 5 % already costs ~3 dB.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur import sigma_net  # noqa: E402
from deblur.degrade import degrade  # noqa: E402
from eval.inputs import open_items  # noqa: E402

DEFAULT_NET = "weights/estimators/sigma_net-gaussian.safetensors"


def readings(net: sigma_net.SigmaNet, sharp: np.ndarray, sigmas: list[float]) -> list[float]:
    """The estimator's reading of ``sharp`` blurred at each sigma by the evaluator's own
    degradation (``deblur.degrade.degrade``; sigma is given, so the generator draws nothing)."""
    rng = np.random.default_rng(0)
    return [sigma_net.estimate(net, degrade("gaussian", sharp, rng, sigma=s).frames[0]) for s in sigmas]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="builtin", help="an evaluator dataset spec (default builtin)")
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.75, 1.0])
    ap.add_argument("--sigma-net", default=DEFAULT_NET)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    net, _ = sigma_net.load(args.sigma_net)
    sigmas = sorted(set(args.sigmas) | {0.0})
    head = " | ".join(f"reads at {s:g}" for s in sigmas)
    print(f"| photo | {head} | quadrature at {sigmas[-1]:g} |")
    print("|---|" + "---:|" * (len(sigmas) + 1))
    rel = {s: [] for s in sigmas if s > 0}
    for item in open_items(args.data, "full", "gaussian", None):
        r = readings(net, np.asarray(item.sharp), sigmas)
        quad = math.hypot(sigmas[-1], r[0])
        print(f"| {item.name} | " + " | ".join(f"{v:.2f}" for v in r) + f" | {quad:.2f} |")
        for s, v in zip(sigmas, r):
            if s > 0:
                rel[s].append(v / s - 1.0)
    print()
    for s, errs in rel.items():
        e = np.asarray(errs)
        print(f"sigma {s:g}: reading / true - 1 from {e.min():+.0%} to {e.max():+.0%} (mean |.| {np.abs(e).mean():.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
