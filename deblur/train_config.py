"""What a training run is: the frozen ``TrainConfig`` filled from ``python -m deblur.train``'s
command line, and the losses it may name.

Split from the training loop (deblur/train.py) so that what reads a run's configuration -- the
samplers (deblur/sampling.py), the model card (deblur/card.py) -- imports it from below instead of
from the loop that imports them. Per-family defaults (crop, batch, the level's training range)
come from the family's record (deblur.degrade.FAMILIES).
"""

from __future__ import annotations

from dataclasses import dataclass

from deblur.degrade import family

@dataclass(frozen=True)
class TrainConfig:
    model: str = "atrous_net"
    preset: str = "lite"
    task: str = "gaussian"
    data: str = "corpus"
    name: str = ""                 # output name; default "<model>-<task>"
    out: str = "runs"              # where --ship writes weights, card and log; --out weights ships into the repo
    run_dir: str = "runs"          # checkpoints (git-ignored)
    crop: int = 0                  # 0 = the paper's: 32 (gaussian) or 256 (motion)
    batch: int = 0                 # 0 = the paper's: 32 (gaussian) or 4 (motion)
    lr: float = 1e-4
    min_lr: float = 1e-6
    plateau_patience: int = 2
    clip: float = 1.0
    epochs: int = 20               # epochs of this run (an --init stage: more epochs on top of the log's)
    steps_per_epoch: int = 200
    cache_samples: int = 4000      # pre-rendered training samples
    val_samples: int = 256
    seed: int = 0
    minutes: float = 0.0           # stop cleanly after this many minutes (0 = no limit)
    budget: int = 0                # stop after this many training samples in all (0 = no limit); with
                                   # --schedule cosine the decay runs over samples, not minutes, so two
                                   # networks given one budget see the same data however busy the CPU
    budget_more: bool = False      # --budget +N: N samples on top of the count this stage starts from
                                   # (an --init file's log), not N in all
    threads: int = 0
    bf16: bool = False             # bf16 autocast: only pays on CPUs with AMX / avx512_bf16
    channels_last: bool = True
    motion_length: tuple[float, float] = (2.0, 14.0)
    sigma: tuple[float, float] = (0.0, 3.0)  # Gaussian sigma ~ U[lo, hi]: the paper's U[0, 3]
    sharp: float = 0.0             # camera task: extra fraction of training samples left sharp and noise-free
    psf: float = 0.0               # camera task: fraction of samples that are large blurs Wiener-deconvolved (NAME+psf's input)
    online: bool = False           # synthesise every batch afresh on the training device (GPU)
    schedule: str = "plateau"      # plateau (the paper's, automated) or cosine over --minutes
    loss: str = "l1"               # l1 (the paper's) or psnr (mean over samples of each one's PSNR)
    psnr_floor: float = 1e-6       # psnr loss: each sample's MSE + this (1e-4: samples past ~40 dB weigh less)
    init: str = ""                 # start from these weights (.safetensors, same architecture)
    estimator: str = ""            # kernel-aware models with a SigmaNet: start it from this deblur.sigma_net file
    resume: bool = False
    ship: bool = False             # write <out>/<name>.safetensors + manifest + card at the end
    store: str = "float32"         # dtype of the shipped file: float32, or float16 (half the size)

    @property
    def run_name(self) -> str:
        return self.name or f"{self.model}-{self.task}"

    @property
    def crop_size(self) -> int:
        return self.crop or family(self.task).crop

    @property
    def batch_size(self) -> int:
        return self.batch or family(self.task).batch

    @property
    def level_range(self) -> tuple[float, float]:
        """The training range of the task's level: --sigma for gaussian, --motion-length for
        motion, the family record's own range for any other."""
        fam = family(self.task)
        return fam.pick_range(sigma=self.sigma, length=self.motion_length) or fam.level_range


LOSSES = {
    "l1": "L1 loss (mean)",
    "psnr": "PSNR loss (minus the mean over samples of each sample's PSNR, MSE floored at {floor:g})",
}
PSNR_LOSS_FLOOR = 1e-6  # 60 dB: a sample restored better than this stops pulling on the weights
