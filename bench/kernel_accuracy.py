"""Kernel accuracy of the blind estimator on the synthetic boards, per blur family: the published
boards' own blurred photos (eval.inputs.degrade, the board's seed), where the true kernel is known.

    python bench/kernel_accuracy.py            # builtin, seed 42: gaussian and camera boards
    python bench/kernel_accuracy.py --write    # also eval/leaderboards/kernel-accuracy/*.csv

Per photo: the verdict, the kernel similarity with the true kernel (normalised cross-correlation,
best over shifts; deblur.kernel_estimate.kernel_similarity) and Levin et al.'s error ratio
(Wiener with the estimate over Wiener with the true kernel, best over small shifts). Both use what
the estimator found (``KernelEstimate.found``), also where its verdict is "no blur" and the kernel
it hands on is 1 x 1. Photos whose blur did not survive 8 bits (a 1 x 1 true kernel) are listed
but left out of the means. Written as kernel_accuracy.csv / kernel_accuracy_per_image.csv (not a
leaderboard: the app's Leaderboards tab does not read it).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

from deblur.kernel_estimate import error_ratio, estimate_kernel, kernel_similarity
from eval.config import MOTION_LENGTH, SIGMA_MAX
from eval.inputs import degrade, open_items

OUT = Path("eval/leaderboards/kernel-accuracy")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="builtin")
    p.add_argument("--blurs", default="gaussian,camera")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    rows = []
    for blur in a.blurs.split(","):
        for item in open_items(a.dataset, "full", blur):
            s = degrade(item, blur, a.seed, motion_length=MOTION_LENGTH, sigma_max=SIGMA_MAX)  # as the boards
            blurred = s.frames[s.frames.shape[0] // 2] if s.frames.ndim == 4 else s.frames
            est = estimate_kernel(blurred)
            found = est.found if est.found is not None else est.kernel
            true = s.kernel if s.kernel is not None else np.ones((1, 1))
            row = {"blur": blur, "image": s.name, "true_size": int(max(true.shape)), "verdict": est.verdict,
                   "description": est.description, "confidence": round(est.confidence, 4)}
            if true.size > 1:
                row["similarity"] = round(kernel_similarity(found, true), 4)
                row["error_ratio"] = round(error_ratio(s.target, blurred, found, true), 4)
            rows.append(row)
            print(row, flush=True)
    df = pd.DataFrame(rows)
    scored = df.dropna(subset=["similarity"])
    summary = scored.groupby("blur").agg(n=("image", "size"), similarity_mean=("similarity", "mean"),
                                         similarity_median=("similarity", "median"),
                                         error_ratio_median=("error_ratio", "median"),
                                         error_ratio_worst=("error_ratio", "max")).round(3)
    summary["verdict_kernel"] = df[df.verdict == "kernel"].groupby("blur").size().reindex(summary.index).fillna(0)
    summary["n_unblurred"] = df[df.true_size == 1].groupby("blur").size().reindex(summary.index).fillna(0)
    summary = summary.astype({"verdict_kernel": int, "n_unblurred": int}).reset_index()
    summary.insert(1, "dataset", a.dataset)
    summary.insert(2, "seed", a.seed)
    print(summary.to_string(index=False))
    if a.write:
        OUT.mkdir(parents=True, exist_ok=True)
        summary.to_csv(OUT / "kernel_accuracy.csv", index=False)
        df.to_csv(OUT / "kernel_accuracy_per_image.csv", index=False)
        print(f"wrote {OUT}/kernel_accuracy.csv and kernel_accuracy_per_image.csv")


if __name__ == "__main__":
    main()
