"""How a told-kernel row holds up when the kernel it is handed is a few percent off in size.

    python bench/pnp_jitter.py     # 6 hold-out crops of 256 px, camera blur, disc / line / shake, seed 7

Mean / worst PSNR gain over the blurred crop (dB) of pnp_linear, Richardson-Lucy and Wiener,
handed the true kernel, then the kernel rescaled by 1 +- 5 % and 1 +- 10 % (bench/pnp_probe.jittered).
"""
import sys
sys.path.insert(0,'.'); sys.path.insert(0,'bench')
import numpy as np, torch
from pnp_probe import photos, kernel_for, jittered
from deblur import registry, blur as B
from deblur.baselines import RichardsonLucy, Wiener
from deblur.io import to_float, to_uint8
from deblur.metrics import psnr
crops = photos('holdout', 256, 6)
rest = {'pnp_linear': registry.load('pnp_linear'), 'richardson_lucy': RichardsonLucy(), 'wiener': Wiener()}
for jit in (0.0, 0.05, 0.10):
    res = {}
    for fam in ('disc','line','shake'):
        rng = np.random.default_rng(7)
        for name, img in crops:
            k = kernel_for(fam, rng); sharp = to_float(img)
            bl = to_uint8(B.camera_blur(sharp, rng, kernel=k)[0])
            told = jittered(k, rng, jit) if jit else k
            base = psnr(to_float(bl), sharp)
            for n, r in rest.items():
                res.setdefault(n, []).append(psnr(to_float(r(bl[None], told)), sharp) - base)
    print('jitter', jit, {n: (round(float(np.mean(v)),2), round(float(np.min(v)),2)) for n, v in res.items()}, flush=True)
