"""Export a network to ONNX: ``python -m deblur.export NAME -o FILE.onnx``.

    python -m deblur.export res_unet-camera -o res_unet-camera.onnx [--weights-dir DIR] [--no-check]

NAME is a shipped network or a .safetensors weight file (deblur.registry parses it). The file
takes ``x``: float32 N x C x H x W, RGB in [0, 1], C = 3 per frame (a 3-frame motion network: the
frames t-1, t, t+1 in that order; ``multiframe_atrous`` also takes its physics prior as three more
channels, deblur.multiframe.MultiFrameRefiner.prior), any H and W of at least the network's
``multiple``; it returns ``y``: N x 3 x H x W (clip to [0, 1]). The graph reflect-pads H and W up
to that multiple itself and crops back, as deblur.inference.Deblurrer does. The file's
metadata_props record the model name, its weights' SHA-256, frames, multiple and halo.

With ONNX Runtime installed the export is checked: the file and the torch network are run on a
random input of an odd size (not a multiple) and the largest difference is printed.
Kernel-aware networks (a sigma estimated per image, deconvolution inside) stay torch-only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from deblur import onnx_backend, registry
from deblur.errors import DeblurError
from deblur.models import PRIOR_ARCHITECTURES
from deblur.weights import load_weights, sha256_file

EXIT_OK, EXIT_ERROR = 0, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deblur.export",
                                description="Export a deblurring network to ONNX (dynamic height and width).")
    p.add_argument("model", help="shipped network name or .safetensors path (see python -m deblur --list-models)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--weights-dir", type=Path, default=None, help="folder of the shipped weights and manifest.json")
    p.add_argument("--no-check", action="store_true", help="do not compare the file with torch in ONNX Runtime")
    return p


def check(model: torch.nn.Module, path: Path, size: tuple[int, int] = (75, 101)) -> float:
    """Largest |ONNX Runtime - torch| on a random float input of ``size`` (not a multiple)."""
    m = max(1, int(model.multiple))
    h, w = max(size[0], m), max(size[1], m)
    x = torch.rand(1, onnx_backend.input_channels(model), h, w, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        want = onnx_backend.PaddedNetwork(model)(x).numpy()
    got = onnx_backend.OrtNetwork(path)(x.numpy())
    return float(np.abs(got - want).max())


def export_named(name: str, output: Path, weights_dir: Path | None = None) -> tuple[Path, torch.nn.Module]:
    """Export the network ``name`` (registry) to ``output``; DeblurError for anything else."""
    info = registry.lookup(name, weights_dir=weights_dir)
    if info.kind != "network" or info.path is None:
        raise DeblurError(f"{name} is a classical baseline: there is no network to export")
    if info.name in registry.PRIOR_RESTORERS:
        raise DeblurError(f"{info.name} is plug-and-play deconvolution around a denoiser, not one network")
    if info.ensemble or info.psf or info.needs_kernel:
        raise DeblurError(f"{info.name} is a way of running a network (self-ensemble, +psf or an oracle), not a "
                          "network: export the network's own name")
    if output.suffix.lower() != ".onnx":
        raise DeblurError(f"the output should be a .onnx file, not {output}")
    model, _ = load_weights(info.path, sha256=info.sha256)
    meta = {"model": info.name, "weights_sha256": info.sha256 or sha256_file(info.path), "frames": str(model.frames),
            "multiple": str(model.multiple), "halo": str(model.halo), "input": "float32 N x C x H x W RGB in [0, 1]",
            "channels": str(onnx_backend.input_channels(model))}
    onnx_backend.export(model, output, metadata=meta)
    return output, model


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path, model = export_named(args.model, args.output, args.weights_dir)
        print(f"wrote {path}: input {onnx_backend.INPUT} float32 1 x {onnx_backend.input_channels(model)} x H x W "
              f"in [0, 1] (any H, W >= {model.multiple}; padded to a multiple of {model.multiple} inside), "
              f"output {onnx_backend.OUTPUT} 1 x 3 x H x W")
        if args.no_check:
            return EXIT_OK
        if not onnx_backend.available():
            print("note: ONNX Runtime is not installed, so the file was not checked (pip install onnxruntime)",
                  file=sys.stderr)
            return EXIT_OK
        print(f"checked in ONNX Runtime: largest difference from torch {check(model, path):.2g} (of 1.0)")
        return EXIT_OK
    except DeblurError as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
