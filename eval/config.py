"""Evaluation constants and the frozen run configuration filled from the command line."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from deblur.degrade import FAMILIES

DEFAULT_SEED = 42  # the paper's code drew its CIFAR-10 sigmas from one stream seeded with 42
SIGMA_MAX = 3.0  # Gaussian protocol: sigma ~ U[0, 3] per image, as in the paper

# Default camera-path length in pixels (arc length of the camera's translation during the middle
# exposure) for `--blur motion` on stills and video, handed to deblur.blur.synthesize_triplet.
# Calibrated so that the blurred input itself scores like the blurred frames of GoPro / REDS
# (26-28 dB; the GoPro blurred input is 26.59 dB): at 8 px the `blurred` baseline scores 26.60 dB
# mean PSNR on builtin (seed 42; per image 23.9 to 30.1 dB). Reproduce (a sweep uses the very
# camera path a run uses, only scaled):
#     python -m eval sweep --blur motion --models blurred --levels 4,6,7,8,9,10,12,18 --out DIR
# Re-calibrate whenever deblur.blur.synthesize_triplet changes.
MOTION_LENGTH = 8.0
# length (px) -> mean PSNR (dB) of `blurred` on builtin, seed 42, measured as above (blur.py of
# commit 08feeba).
CALIBRATION: dict[float, float] = {4.0: 29.52, 6.0: 27.80, 7.0: 27.15, 8.0: 26.60, 9.0: 26.15,
                                   10.0: 25.74, 12.0: 25.05, 18.0: 23.60}

# Sweep grids (`python -m eval sweep`): each blur family's record (deblur.degrade.FAMILIES) holds its own.
SWEEP_SIGMAS = FAMILIES["gaussian"].sweep
SWEEP_LENGTHS = FAMILIES["motion"].sweep
SWEEP_STRENGTHS = FAMILIES["camera"].sweep  # camera: fraction of each kernel family's size range

# Protocol "cifar" without CIFAR-10 on disk: photos are downscaled so their shorter side is one of
# these (whole objects fit in 32x32, as in CIFAR), then cut into deterministic 32x32 crops.
CIFAR_SIZE = 32
CIFAR_SIDES = (32, 36, 40)

BLURS = tuple(FAMILIES)  # gaussian, motion, camera: one record each in deblur.degrade
PROTOCOLS = ("full", "cifar")
# Dataset kinds that carry their own (real) blur; the others get synthetic blur from the seed.
REAL_BLUR_KINDS = ("pairs", "reds", "gopro")


@dataclass(frozen=True)
class RunConfig:
    """One `python -m eval` leaderboard run.

    `identity()` is the part that decides the numbers: a directory holding a run with another
    identity is refused instead of being resumed into. `limit`, `save_images` and the model list
    only select or add rows, so they may change between invocations on the same directory.
    """

    dataset: str = "builtin"
    blur: str = "gaussian"
    models: tuple[str, ...] = ("all",)
    out: Path = Path("runs/eval")
    seed: int = DEFAULT_SEED
    limit: int | None = None
    save_images: bool = False
    protocol: str = "full"
    single_frame: bool = False
    motion_length: float = MOTION_LENGTH
    sigma_max: float = SIGMA_MAX
    tile: int | None = None  # None: deblur.inference default; 0: untiled
    bf16: bool = False
    progress: bool = True

    def identity(self) -> dict:
        d = asdict(self)
        keep = ("dataset", "blur", "seed", "protocol", "single_frame", "sigma_max", "tile", "bf16")
        out = {k: d[k] for k in keep}
        if self.blur == "motion":
            out["motion_length"] = self.motion_length
        return out
