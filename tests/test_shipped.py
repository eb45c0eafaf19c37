"""The shipped networks still deblur: every entry of weights/manifest.json, loaded the normal way,
must gain PSNR on fixed blurred crops, in proportion to what its published leaderboard row says.

Hash checks cannot catch a bad network that was re-hashed on purpose or by a careless ship (weights
scaled by 0.3 with the manifest updated passed the whole suite before this file existed); only
running the network on a blurred image can. The test is parametrised over the manifest, so a newly
shipped network is covered as soon as its manifest row lands.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from deblur.degrade import degrade
from deblur.registry import load as load_restorer
from deblur.io import to_float, to_uint8
from deblur.kernel_aware import sigma_from_kernel
from deblur.metrics import psnr
from deblur.weights import read_manifest

LEADERBOARDS = Path(__file__).resolve().parent.parent / "eval" / "leaderboards"

# Three 128 x 128 crops of photos with both texture and flat areas (a face and helmet, a cup, a cat's
# face). They are builtin evaluation images, which the training corpus refuses, so no network has
# seen them.
CROPS = {
    "astronaut": (data.astronaut, 40, 180),
    "coffee": (data.coffee, 100, 200),
    "chelsea": (data.chelsea, 60, 140),
}
SIDE = 128
SEED = 0

# One fixed blur level per family, near the middle of what the leaderboards draw: the builtin
# Gaussian leaderboard draws sigma ~ U[0, 3] per image; the motion leaderboards use 8 px paths;
# camera strength is a fraction of each kernel family's size range. A family missing here is
# degraded with its own defaults (its parameters drawn from the fixed seed).
BLUR_OPTIONS = {"gaussian": {"sigma": 1.5}, "motion": {"length": 8.0}, "camera": {"strength": 0.5}}

# A network must gain at least this fraction of its published leaderboard gain (mean over the
# crops). Measured with the shipped weights (manifest of commit e99e301), crop gain / published
# gain was 0.86 (atrous_net-gaussian: 4.26 of 4.93 dB), 0.94 (kaist_net-gaussian), 1.09
# (carlo_net-gaussian), 1.48 (atrous_net-motion) and 1.40 (kaist_net-motion): the crops are not
# the leaderboard's images, so 0.6 leaves room for a retrained network whose crop ratio differs.
# atrous_net-gaussian with every tensor scaled by 0.9 still gains 3.8 dB (passes), by 0.8 gains
# 2.1 dB (fails: bar 3.0 dB), by 0.3 gains 0.0 dB (fails).
FRACTION = 0.6
REFINE_OVER_WIENER = 0.25  # dB a kernel-aware network's refinement must add to its Wiener filter (see the test)
BLIND_FRACTION = 0.45  # a kernel-aware network without its sigma, on 128 px crops (see the test)
# A network that refines a classical prior (deblur.multiframe.MultiFrameRefiner) must also add at
# least this fraction of its published gain over that prior's own leaderboard row.
PRIOR_BASELINE = "multiframe_wiener"
PRIOR_FRACTION = 0.3


def _published_gain(name: str, task: str) -> float | None:
    """gain_db of ``name`` in eval/leaderboards/builtin-<task>/leaderboard.csv, None if absent."""
    path = LEADERBOARDS / f"builtin-{task}" / "leaderboard.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["model"] == name and r["blur"] == task]
    return float(rows[0]["gain_db"]) if rows else None


def _crop(name: str) -> np.ndarray:
    load, y, x = CROPS[name]
    return np.ascontiguousarray(load()[y : y + SIDE, x : x + SIDE, :3])


MANIFEST = read_manifest()


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_shipped_network_gains_on_fixed_blurred_crops(name):
    entry = MANIFEST[name]
    task = entry["task"]
    restorer = load_restorer(name)  # the normal path: manifest, SHA-256 check, Deblurrer
    assert restorer.frames == entry["frames"], f"{name}: manifest says {entry['frames']} frames"

    gains, over_prior = {}, {}
    prior_of = getattr(restorer.model, "prior", None) if getattr(restorer.model, "takes_prior", False) else None
    samples = {crop_name: degrade(task, _crop(crop_name), np.random.default_rng([SEED, i]), **BLUR_OPTIONS.get(task, {}))
               for i, crop_name in enumerate(CROPS)}
    for crop_name, d in samples.items():
        blurred = d.frames[d.frames.shape[0] // 2]  # what "blurred" scores on the leaderboards
        if prior_of is None:
            out = restorer(d.frames)
        else:
            # A prior-refining network (deblur/multiframe.py): its prior (a ~15 s path fit) is
            # computed once here and handed to the inference object, so what it adds is measured too.
            prior = prior_of(d.frames)
            restorer.model.prior = lambda frames, prior=prior: prior
            try:
                out = restorer(d.frames)
            finally:
                del restorer.model.prior
            over_prior[crop_name] = psnr(out, d.target) - psnr(prior, d.target)
        gains[crop_name] = psnr(out, d.target) - psnr(blurred, d.target)
    gain = float(np.mean(list(gains.values())))
    if over_prior:
        # The prior alone already gains many dB, so a broken refinement (zeroed, scaled) could
        # still pass the bar below: it must also add part of what its leaderboard row adds.
        adds = float(np.mean(list(over_prior.values())))
        published_prior = _published_gain(PRIOR_BASELINE, task)
        published_self = _published_gain(name, task)
        need = (PRIOR_FRACTION * (published_self - published_prior)
                if published_self is not None and published_prior is not None else 0.0)
        assert adds > max(need, 0.0), (f"{name} adds {adds:.2f} dB to its prior on the fixed crops "
                                       f"({', '.join(f'{k} {v:+.2f}' for k, v in over_prior.items())}), needs {need:.2f}")

    published = _published_gain(name, task)
    detail = ", ".join(f"{k} {v:+.2f}" for k, v in gains.items())
    if published is None or published <= 0.0:
        # No published builtin-<task> row yet (a new family, e.g. camera, before its leaderboard
        # is run), or one that loses on the leaderboard (camera networks that damage the
        # unblurred images there): a fraction of a loss would let a zeroed network pass, so what
        # is asked is only that a trained network improve these moderately blurred crops.
        assert gain > 0.0, f"{name} does not improve blurred {task} crops (dB: {detail})"
    elif getattr(restorer, "takes_sigma", False):
        # A kernel-aware network (deblur/kernel_aware.py) is checked twice. Told the true sigma, its
        # deconvolution + refinement must meet the usual bar against its published "+true_sigma" row.
        # Blind, its estimator sees a 128 px crop instead of a whole photo (it is less sure there:
        # 3.18 of 5.41 dB = 0.59 measured with the shipped weights), so the blind bar is lower; a
        # zeroed or scaled estimator still fails it (sigma ~0 gains nothing).
        told = load_restorer(name + "+true_sigma")
        told_out = {k: told(d.frames, kernel=d.kernel) for k, d in samples.items()}
        told_gains = [psnr(told_out[k], d.target) - psnr(d.frames[0], d.target) for k, d in samples.items()]
        told_published = _published_gain(name + "+true_sigma", task)
        assert told_published is not None, f"{name}+true_sigma has no published builtin-{task} row"
        assert np.mean(told_gains) >= FRACTION * told_published, (
            f"{name} told the true sigma gains {np.mean(told_gains):.2f} dB on the fixed crops, below "
            f"{FRACTION} x its published {told_published:.2f} dB")
        # ... and its refinement must add to its own Wiener filter (told the same sigma): a zeroed or
        # closed-gate refinement scores 0 here. Measured +0.92 / +0.46 / +0.42 dB (mean 0.60) on
        # these crops with the shipped weights (sha 14b5e45d, 2048ae2f); the first shipped one, whose
        # refinement learned nothing, scored ~0.
        over_wiener = []
        for k, d in samples.items():
            x = torch.from_numpy(to_float(d.frames[0])).permute(2, 0, 1)[None]
            with torch.no_grad():
                w = told.model.deconvolve(x, torch.tensor([sigma_from_kernel(d.kernel)]))[0].permute(1, 2, 0)
            over_wiener.append(psnr(told_out[k], d.target) - psnr(to_uint8(w.numpy()), d.target))
        assert np.mean(over_wiener) >= REFINE_OVER_WIENER, (
            f"{name}'s refinement adds {np.mean(over_wiener):.2f} dB to its own Wiener filter on the fixed crops "
            f"({', '.join(f'{v:+.2f}' for v in over_wiener)}), needs {REFINE_OVER_WIENER}")
        assert gain >= BLIND_FRACTION * published, (f"{name} gains {gain:.2f} dB blind on the fixed {task} crops "
                                                    f"({detail}), below {BLIND_FRACTION} x its published {published:.2f} dB")
    else:
        bar = FRACTION * published
        assert gain >= bar, (f"{name} gains {gain:.2f} dB on the fixed {task} crops ({detail}), below "
                             f"{FRACTION} x its published {published:.2f} dB = {bar:.2f} dB")
