"""Where a kernel_aware_atrous checkpoint stands on builtin Gaussian blur (issue 12 diagnostic).

    python bench/kernel_aware_diag.py runs/kernel_aware_atrous-gaussian/checkpoint.pt [--seed 42]

Per blurred builtin photo (full resolution, the leaderboard's blur for that seed): the true sigma,
the model's estimate, and the PSNR of the blurred input, the numpy Wiener oracle, the model's own
finite Wiener at the true sigma (its refinement switched off), the model given the true sigma,
and the model blind. "given true sigma" equal to "finite Wiener" means the refinement has learned
nothing; "blind" far below it means the estimator is what loses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur import baselines  # noqa: E402
from deblur.kernel_aware import sigma_from_kernel  # noqa: E402
from deblur.metrics import psnr  # noqa: E402
from deblur.models import build_model  # noqa: E402
from eval.inputs import degrade, open_items  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path, help="a trainer checkpoint.pt or a .safetensors of kernel_aware_atrous")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dataset", default="builtin", help="python -m eval's --dataset (builtin, photos:DIR, ...)")
    a = p.parse_args(argv)
    if a.checkpoint.suffix == ".safetensors":
        from deblur.weights import load_weights

        model, _ = load_weights(a.checkpoint)
    else:
        state = torch.load(a.checkpoint, weights_only=True, map_location="cpu")["model"]
        model = build_model("kernel_aware_atrous", "lite", "gaussian", **({} if any(k.startswith("gate.") for k in state)
                                                                          else {"gate": 0}))
        model.load_state_dict(state)
    model.eval()
    rows = []
    for item in open_items(a.dataset, "full", "gaussian"):
        s = degrade(item, "gaussian", a.seed, motion_length=8.0)
        if s.params.get("input_is_target"):
            continue
        sigma = sigma_from_kernel(s.kernel)
        x = torch.from_numpy(s.frames[0]).permute(2, 0, 1)[None].float() / 255
        h, w = x.shape[-2:]
        xp = torch.nn.functional.pad(x, (0, w % 2, 0, h % 2), mode="replicate")  # the network wants even sides

        def u8(y: torch.Tensor) -> np.ndarray:
            return (y[..., :h, :w].clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)

        with torch.inference_mode():
            est = float(model.estimate_sigma(x)[0])
            row = {"image": item.name, "sigma": sigma, "estimate": est, "blurred": psnr(s.frames[0], s.target),
                   "wiener (oracle)": psnr(baselines.Wiener()(s.frames, s.kernel), s.target),
                   "finite Wiener": psnr(u8(model.deconvolve(x, torch.tensor([sigma]))), s.target),
                   "given true sigma": psnr(u8(model(xp, torch.tensor([sigma]))), s.target),
                   "blind": psnr(u8(model(xp, torch.tensor([est]))), s.target)}
        rows.append(row)
        print("  ".join(f"{k} {v:.2f}" if isinstance(v, float) else str(v) for k, v in row.items()), flush=True)
    keys = [k for k in rows[0] if k != "image"]
    print("mean  " + "  ".join(f"{k} {np.mean([r[k] for r in rows]):.2f}" for k in keys))


if __name__ == "__main__":
    main()
