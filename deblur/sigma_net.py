"""A learned blind estimator of Gaussian blur sigma, trained at the photos' own resolution (issue 12).

Why: the classical estimator (GCV blur identification, ``deblur.baselines.estimate_gaussian_sigma``
and its torch port ``deblur.kernel_aware.gcv_sigma``) is what the blind Gaussian rows lose on.
Measured on every corpus photo at full resolution (runs of ``gcv_sigma`` on the central 384 px,
before and after a known blur): sharp photos read 0.74-1.15 px (2.08 for one), a blur of 1.0 px
reads 0.97-1.53 (mostly ~1.02: GCV's curve has flat stretches and its search stops on them) and a
blur of 2.0 reads anywhere from 1.01 to 2.74. After the fixed "intrinsic blur" correction that is
an error of ~0.25 px at sigma 1 and ~0.5 px at sigma 2: 25-50 %, where Wiener loses 0.5-1.2 dB
at 10 %.

What: ``SigmaNet``, a small fully convolutional network that reads blur from local image
structure (edge profiles): five 3x3 convolutions with dilations 1, 2, 4, 8, 1 (a 33 px receptive
field: a sigma-3 Gaussian spans 19 taps), then per pixel a sigma and a confidence, pooled by a
softmax over pixels -- a confidence-weighted mean, so the same statistic on an 80 px training
crop and a 384 px test crop, and flat regions (no evidence) can be ignored. Each crop is
normalised to zero mean and unit standard deviation first (blur, not contrast, is the question).

Training (``deblur.sigma_train.train``; the trainer sits above this module, with the samplers): crops of the corpus' training photos at their own resolution or reduced by
up to 2x (a sharper-than-native photo is common: phones downscale), flipped and turned, blurred
exactly as the evaluator blurs (``deblur.blur.gaussian_blur_batch``: OpenCV's taps, reflect-101,
8-bit rounding) with sigma ~ U[0, SIGMA_TRAIN_MAX]; loss |error| / (sigma + LOSS_FLOOR): nearly
relative, because Wiener's loss grows with the relative error (5 % costs 0.15-0.6 dB at sigma
1-3 and 3 dB at sigma 0.5, issue 12), without dividing by zero at sigma 0. Every tenth photo is held
out for validation, the builtin evaluation photos are not in the training split at all.

Thumbnails (``--thumbs P``, ``deblur.sigma_train.sample_thumbs``): a fraction of batches are 32 px windows of photos
reduced to a 32-96 px short side, blurred in place, as the cifar protocol makes its samples. The
stage-1 estimator (96 px crops only) erred by 21 % on that protocol (GCV 10 %); fine-tuned with
half its batches thumbnails (``--init FILE --thumbs 0.5``, 64,000 crops) 16 %, and full-resolution
errors fell too (builtin seed 42 6.0 -> 4.7 %).

Use: ``estimate(net, img)`` on a whole image looks at its central ``CROP`` px and averages the 8
flipped / turned views. ``bench/sigma_estimator.py --sigma-net FILE`` reports its error per true
sigma range beside GCV's. Weights load without unpickling (safetensors, config in the metadata):
``python -m deblur.sigma_train --data corpus --out runs/sigma_net/sigma_net-gaussian.safetensors``
(``python -m deblur.sigma_net`` runs the same command).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from deblur.errors import DeblurError

SIGMA_TRAIN_MAX = 3.2   # training draws sigma ~ U[0, this]: a little past the protocol's 3 so 3 is not an edge
CROP = 256              # estimate() looks at the central CROP x CROP px of an image
TRAIN_CROP = 96         # training crops (px); the pooled statistic does not depend on the size
MARGIN = 12             # px cut from each side after blurring: > half the widest kernel (sigma 3.2: 10)
SCALE_RANGE = (0.5, 1.0)  # training photos are used at their size or reduced (log-uniform)
SLOPE = 0.2
LOSS_FLOOR = 0.3        # px added to sigma in the loss's denominator
THUMB = 32              # thumbnail training crops (--thumbs): the cifar protocol's 32 px samples
THUMB_SIDES = (32.0, 96.0)  # ... of photos reduced to this short side (px, log-uniform): whole objects in 32 px


class SigmaNet(nn.Module):
    """sigma (N,) in px of images (N, 3, H, W) in [0, 1] (see the module docstring)."""

    def __init__(self, width: int = 32, dilations: tuple[int, ...] = (1, 2, 4, 8, 1), sigma_max: float = 4.0) -> None:
        super().__init__()
        self.width, self.dilations, self.sigma_max = int(width), tuple(int(d) for d in dilations), float(sigma_max)
        layers: list[nn.Module] = []
        c_in = 3
        for d in self.dilations:
            layers += [nn.Conv2d(c_in, self.width, 3, padding=d, dilation=d), nn.LeakyReLU(SLOPE)]
            c_in = self.width
        layers.append(nn.Conv2d(self.width, 2, 1))
        self.body = nn.Sequential(*layers)

    @property
    def config(self) -> dict[str, Any]:
        return {"width": self.width, "dilations": list(self.dilations), "sigma_max": self.sigma_max}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        f = self.body((x - mean) / (std + 1e-3))
        value, logit = f[:, 0].flatten(1), f[:, 1].flatten(1)
        sigma = (torch.softmax(logit, dim=1) * value).sum(dim=1)
        return sigma.clamp(0.0, self.sigma_max) if not self.training else sigma

    # The estimator interface deblur.kernel_aware.KernelAwareNet calls (SigmaEstimator has it too).
    def estimate_whole(self, x: torch.Tensor) -> torch.Tensor:
        """sigma (N,) of whole images (N, 3, H, W): ``estimate_batch``."""
        return estimate_batch(self, x)

    def training_loss(self, blurred: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Its loss on training crops of known sigma (N,): ``relative_error``."""
        return relative_error(self(blurred), sigma.to(blurred.dtype))


def relative_error(estimate: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The training loss: mean of |estimate - sigma| / (sigma + LOSS_FLOOR)."""
    return ((estimate - sigma).abs() / (sigma + LOSS_FLOOR)).mean()


def _views(x: torch.Tensor) -> torch.Tensor:
    """The 8 flips / quarter turns of a square (1, C, S, S) stacked on the batch axis."""
    out = []
    for v in (x, x.flip(-1)):
        out.extend(torch.rot90(v, k, dims=(-2, -1)) for k in range(4))
    return torch.cat(out)


def estimate_batch(net: SigmaNet, x: torch.Tensor, crop: int = CROP) -> torch.Tensor:
    """sigma (N,) of whole images (N, 3, H, W) in [0, 1]: per image, the mean over the 8 flipped /
    turned views of its central ``crop`` px square (the short side when smaller)."""
    h, w = x.shape[-2:]
    side = min(h, w, crop)
    y, x0 = (h - side) // 2, (w - side) // 2
    c = x[..., y : y + side, x0 : x0 + side].float()
    was = net.training
    net.eval()
    with torch.no_grad():
        out = torch.stack([net(_views(c[i : i + 1])).mean() for i in range(c.shape[0])])
    net.train(was)
    return out


@torch.inference_mode()
def estimate(net: SigmaNet, img: np.ndarray, crop: int = CROP) -> float:
    """sigma (px) of a blurred uint8 image (H, W, 3) (or (H, W) grey): the mean over the 8
    flipped / turned views of its central ``crop`` px square (the whole image when smaller)."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise DeblurError(f"the sigma estimator takes an (H, W, 3) image, got shape {a.shape}")
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255.0
    return float(estimate_batch(net, t, crop)[0])


def save(net: SigmaNet, path: str | Path, info: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path), metadata={"config": json.dumps(net.config), "info": json.dumps(info)})


def load(path: str | Path) -> tuple[SigmaNet, dict[str, Any]]:
    """(the estimator, its training info) from a safetensors file written by ``save``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise DeblurError(f"no sigma estimator at {p}")
    try:
        with safe_open(str(p), "pt") as f:
            meta = f.metadata() or {}
        cfg = json.loads(meta["config"])
        net = SigmaNet(width=cfg["width"], dilations=tuple(cfg["dilations"]), sigma_max=cfg["sigma_max"])
        net.load_state_dict(load_file(str(p)))
    except DeblurError:
        raise
    except Exception as exc:  # a truncated / foreign file: say so in one line
        raise DeblurError(f"{p} is not a sigma estimator file ({type(exc).__name__}: {exc})") from None
    return net.eval(), json.loads(meta.get("info", "{}"))


if __name__ == "__main__":  # the command predates deblur/sigma_train.py, where the trainer now lives
    from deblur.sigma_train import main

    raise SystemExit(main())
