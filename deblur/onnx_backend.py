"""Run a network in ONNX Runtime instead of torch: export once, cache the file, call a session.

Why a second backend: on a CPU, ONNX Runtime's fused and re-laid-out convolutions ran the shipped
camera networks about 1.5x faster than torch (channels_last fp32) on a 720p frame, with outputs
equal to ~4e-7 (issue 28). The inference object (deblur.inference.Deblurrer, ``backend=``) keeps
everything around the network -- padding, tiling, the self-ensemble, frame handling -- and only
swaps the call of the network itself, so both backends see exactly the same tiles.

The exported graph (``export``) takes float32 N x C x H x W in [0, 1] of ANY height and width:
it reflect-pads the bottom / right up to the network's ``multiple`` and crops the output back,
as the inference object does, so a file is usable on its own. Inside the inference object the
tiles are already multiples and that padding is a no-op.

The TorchScript-based exporter (``dynamo=False``) is used on purpose: the torch.export-based one
needs the extra package onnxscript, and these plain convolutional networks trace exactly (checked
at two sizes in the tests). Exported files are cached under ``cache_dir()`` by a key of the
network's config, its tensors, the torch version and the opset, so the export (a few seconds)
happens once per network and machine.

ONNX Runtime is optional (``pip install onnxruntime onnx``, or the ``[onnx]`` extra); without it
``require()`` raises a DeblurError saying how to install it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deblur.errors import DeblurError
from deblur.models import model_config
from deblur.weights import tensors_sha256

OPSET = 17
INPUT, OUTPUT = "x", "y"
MISSING = ("ONNX Runtime is not installed: pip install onnxruntime onnx (or pip install 'deep-deblur[onnx]'), "
           "or use the torch backend")
CACHE_ENV = "DEBLUR_CACHE"  # folder for cached exports (default: $XDG_CACHE_HOME/deblur or ~/.cache/deblur)


def available() -> bool:
    """Whether ONNX Runtime can be imported (without importing it twice)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> Any:
    """The onnxruntime module, or a DeblurError saying how to install it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise DeblurError(MISSING) from exc
    return onnxruntime


def unsupported(model: nn.Module) -> str | None:
    """Why ``model`` cannot run in ONNX Runtime through the inference object, or None.

    A kernel-aware network (``takes_sigma``) estimates a blur sigma per image with its own CNN and
    deconvolves with it inside the forward pass; it stays torch-only. A network refining a physics
    prior (``takes_prior``) is fine: the prior is computed outside the network (numpy) and enters
    as three more input channels.
    """
    if getattr(model, "takes_sigma", False):
        return ("it is kernel-aware: it estimates the blur's sigma per image and deconvolves with it inside "
                "the network, which runs in torch only")
    return None


def input_channels(model: nn.Module) -> int:
    """Channels the network takes: 3 per frame, plus 3 for the prior of a prior-refining network."""
    return 3 * (int(model.frames) + (1 if getattr(model, "takes_prior", False) else 0))


class PaddedNetwork(nn.Module):
    """``net`` on any H x W: reflect-pad bottom / right to ``net.multiple``, run, crop back.

    Written with tensor shapes only, so the traced graph keeps H and W dynamic. Reflection needs
    the pad to be smaller than the side: inputs of at least ``multiple`` pixels a side.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.multiple = max(1, int(net.multiple))
        self.frames = int(net.frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        m = self.multiple
        if m == 1:
            return self.net(x)
        y = self.net(F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m), mode="reflect"))
        return y[..., :h, :w]


def export(model: nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model`` as an ONNX file taking N x C x H x W float32 in [0, 1], H and W dynamic.

    The file is written under a temporary name and renamed, so a crash never leaves half a file
    under the real one. ``metadata`` (strings) is stored in the file's metadata_props when the
    ``onnx`` package is installed.

    Raises:
        DeblurError: the network is one that runs in torch only (see ``unsupported``).
    """
    why = unsupported(model)
    if why is not None:
        raise DeblurError(f"{getattr(model, 'arch', type(model).__name__)} cannot be exported to ONNX: {why}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    m = max(1, int(model.multiple))
    side = -(-64 // m) * m  # a small traced input; the graph itself does not depend on it
    dummy = torch.rand(1, input_channels(model), side, side, generator=torch.Generator().manual_seed(0))
    param = next(model.parameters(), None)
    if param is not None:
        dummy = dummy.to(param.device)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    axes = {0: "n", 2: "h", 3: "w"}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The legacy exporter announces its own deprecation: it is chosen on purpose (see above).
            warnings.simplefilter("ignore")
            torch.onnx.export(PaddedNetwork(model), (dummy,), str(tmp), dynamo=False, input_names=[INPUT],
                              output_names=[OUTPUT], dynamic_axes={INPUT: axes, OUTPUT: axes},
                              opset_version=OPSET, do_constant_folding=True)
        if metadata:
            _set_metadata(tmp, metadata)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        model.train(was_training)
    return path


def _set_metadata(path: Path, metadata: dict[str, str]) -> None:
    try:
        import onnx
    except ImportError:
        return
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    onnx.save(proto, str(path))


def model_key(model: nn.Module) -> str:
    """SHA-256 naming one exported graph: the network's config and tensors, torch's version, the opset."""
    try:
        config = json.dumps(model_config(model), sort_keys=True)
    except AttributeError:  # a network built without deblur.models.create (tests)
        config = type(model).__qualname__
    h = hashlib.sha256()
    for part in (config, tensors_sha256(model.state_dict()), torch.__version__, str(OPSET),
                 str(input_channels(model)), str(model.multiple)):
        h.update(part.encode() + b"\n")
    return h.hexdigest()


def cache_dir() -> Path:
    """Where exported graphs are kept: $DEBLUR_CACHE, else $XDG_CACHE_HOME/deblur, else ~/.cache/deblur."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser() / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deblur" / "onnx"


_EXPORT_LOCK = threading.Lock()


def cached_export(model: nn.Module) -> Path:
    """The ONNX file of ``model``, exported on first use and reused after (same key = same graph).

    Falls back to the system's temporary folder when the cache folder cannot be written.
    """
    name = f"{getattr(model, 'arch', type(model).__name__.lower())}-{model_key(model)[:20]}.onnx"
    with _EXPORT_LOCK:  # two app requests for the same network export it once
        for folder in (cache_dir(), Path(tempfile.gettempdir()) / "deblur-onnx"):
            path = folder / name
            if path.is_file():
                return path
            try:
                return export(model, path)
            except OSError:
                continue
    raise DeblurError(f"cannot write the ONNX export of {name}: neither {cache_dir()} nor the temporary "
                      f"folder takes files; set {CACHE_ENV} to a writable folder")


class OrtNetwork:
    """An ONNX Runtime session on the CPU: float32 N x C x H x W in [0, 1] -> N x 3 x H x W.

    threads: intra-op threads (None = torch's current setting, so both backends use the same
    cores). One inter-op thread: the graph is one chain of convolutions. Calls are thread-safe
    (ONNX Runtime's run is), so the app may share one session between requests.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        ort = require()
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: np.ascontiguousarray(x, dtype=np.float32)})[0]
