"""After the PSF identifier (NAME+psf): Wiener (today) or pnp_linear as the first step, then the network.

    python bench/psf_pnp.py      # builtin photos, seed 2 (held out), camera pipeline, large discs and lines

Per case, mean PSNR (dB) over the builtin photos: blurred, the network alone, Wiener + network (what
res_unet-camera+psf does), pnp_linear / Wiener alone and pnp_linear + network, both with the PSF the
identifier found (where it finds none large, every path is the network alone).
"""
import sys
sys.path.insert(0,'.'); sys.path.insert(0,'bench')
import numpy as np
from psf_identify import kernel_for
from deblur import blur, psf, registry
from deblur.io import to_float, to_uint8
from deblur.metrics import psnr
from eval.inputs import image_rng, open_items
net = registry.load('res_unet-camera', 'camera'); pnp = registry.load('pnp_linear')
CASES = [("defocus", 6, None), ("defocus", 10, None), ("defocus", 15, None), ("motion", 16, "rand"), ("motion", 32, "rand"), ("motion", 48, "rand")]
rows = {}
for item in open_items('builtin', 'full', 'camera'):
    sharp = item.sharp.astype(np.float32) / 255.0
    for ci, (fam, size, angle) in enumerate(CASES, start=2):
        rng = image_rng(2, item.name, ci + (3 if fam == 'motion' else 0))
        ang = float(rng.uniform(0, 180)) if angle == "rand" else angle
        k = kernel_for(fam, size, ang)
        x, _ = blur.camera_blur(sharp, rng, kernel=k)
        x8 = to_uint8(x)
        first, est = psf.deconvolve_large(x8)
        r = dict(blurred=psnr(x8, item.sharp), net=psnr(net(x8), item.sharp), w_net=psnr(net(first), item.sharp))
        if psf.is_large(est):
            p8 = to_uint8(pnp.restore(to_float(x8).astype(np.float64), est.kernel))
            r.update(p=psnr(p8, item.sharp), p_net=psnr(net(p8), item.sharp), w=psnr(first, item.sharp))
        else:
            r.update(p=r['blurred'], p_net=r['net'], w=r['blurred'])
        rows.setdefault(f'{fam} {size}', []).append(r)
        print(item.name, fam, size, {a: round(b, 2) for a, b in r.items()}, flush=True)
for case, rs in rows.items():
    print(case, {a: round(float(np.mean([r[a] for r in rs])), 2) for a in rs[0]})
