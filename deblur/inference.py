"""One inference object for the CLI, the evaluator and the app.

`Deblurrer` wraps a network (any `nn.Module` with the attributes `frames`, `multiple` and
`halo`, see deblur/models.py) and does everything around it that callers must not repeat:

- frames: a single image fed to a 3-frame (motion) model is repeated three times; a 3-frame
  stack fed to a 1-frame (Gaussian) model uses its middle frame;
- padding: H and W are reflect-padded (bottom / right) up to `model.multiple` and cropped after,
  so any size runs and the model itself never pads;
- tiling: the padded image is cut into overlapping tiles that are run one at a time and blended
  with a smooth weight window, so memory is bounded by the tile size and not by the image;
- dtype / layout: fp32 + channels_last by default, optional bf16 autocast;
- self-ensemble (opt-in, `ensemble=True`, name suffix `+x8`): the mean of the network's outputs
  on the 8 flips / 90-degree rotations of the input, each turned back (Lim et al. 2017, "EDSR+").
  Blur has no preferred orientation here (Gaussian is isotropic, camera paths are random), so
  every view is as valid an input; the mean is 8x the work and usually a little sharper;
- grey in, grey out: when every input frame has R = G = B, the output's three channels are
  replaced by their mean, so a black-and-white photo gets no colour fringes;
- backend: the network runs in torch (default) or in ONNX Runtime (`backend="onnxruntime"`,
  deblur.onnx_backend: exported once to a cached file, ~1.5x faster on a CPU); everything above
  is the same code for both, only the call of the network on one tile differs.

Tiling is exact up to float noise when the overlap covers the model's receptive field:
a tile never reaches outside the padded image (border tiles start at the border, so they see
the same border the untiled run sees), every tile starts at a multiple of `model.multiple` (so
strided / pooled layers sample the same grid as the untiled run), and the outer `discard`
(= halo) pixels of a tile's inner sides -- whose context was cut off -- get weight zero in the
blend. bench/tiling.py measures it: at most 1/255 (float difference ~1e-4/255) for every network.

Why fp32 + channels_last is the default: on the project's CPU (no AMX / avx512_bf16) bf16
autocast measured about 4x slower than fp32, while channels_last fp32 convolutions were about
2x faster than contiguous ones. bf16 stays available for CPUs (and GPUs) that have it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import numpy as np
import torch
from torch import nn

from deblur import onnx_backend
from deblur.errors import DeblurError, ImageError
from deblur.psf import deconvolve_large, is_large

# A network name + this suffix is its 8-view self-ensemble (Deblurrer(ensemble=True)); deblur.registry,
# the one parser of model names, reads it from here.
ENSEMBLE_SUFFIX = "+x8"

Progress = Callable[[int, "int | None"], None]
"""progress(done, total): called after each unit of work (tile or video frame); total may be None."""

MIN_OVERLAP = 32
AUTO_TILE = 512
AUTO_WHOLE_PIXELS = 1_500_000  # ~1.1 GB peak for the lite networks; a 720p frame runs in one pass
RAMP = 16  # pixels of cosine cross-fade between neighbouring tiles
# The dihedral group D4: (quarter turns, mirror first). View i of an (.., H, W, ..) array.
DIHEDRAL = [(k, flip) for flip in (False, True) for k in range(4)]
# Where the network itself runs; "auto" = ONNX Runtime when it is installed and the network can run
# there (not a kernel-aware one, not under bf16), else torch.
BACKENDS = ("torch", "onnxruntime")


class Deblurrer:
    """Run a deblurring network on uint8 images of any size, in bounded memory.

    Args:
        model: network taking N x 3F x H x W float in [0, 1] and returning N x 3 x H x W, with
            attributes `frames` (1 or 3), `multiple` and `halo`. It is switched to eval mode (and
            to channels_last if asked) in place.
        tile: side in pixels of the square window fed to the network at once (rounded to a
            multiple of `model.multiple`); None runs the whole image in one pass; "auto" (the
            default) runs images of up to AUTO_WHOLE_PIXELS (padded) in one pass -- tiles
            repeat their overlaps, which costs ~50% at 720p -- and larger ones in AUTO_TILE tiles. A tile smaller
            than 2 * (overlap + discard) is raised to that, so at least half of every tile is new
            output (a KAIST_NET's large halo would otherwise cost many times the untiled work);
            `.tile` holds the size used.
        overlap: margin in pixels on each inner side of a tile that is not fully trusted; None
            derives it from the model: max(32, model.halo + 16). Its outer `discard` =
            min(halo, overlap - min(16, overlap // 2)) pixels, whose context the tile cut off,
            get weight 0; the rest is a cosine cross-fade with the neighbouring tile.
        bf16: run under bfloat16 autocast (fast only where the hardware has bf16 units).
        channels_last: NHWC memory layout for the convolutions (faster on CPU).
        threads: torch intra-op threads to use during a call (restored afterwards); None keeps
            torch's setting.
        name: label reported as `.name` (deblur.registry.load sets the shipped model name).
        ensemble: average the outputs on the 8 flips / rotations of the input (8x the time).
        use_kernel: for a kernel-aware model (``model.takes_sigma``, deblur/kernel_aware.py):
            hand the true kernel passed to each call to its ``per_image`` hook, which tells it
            that kernel's sigma (the "given the true sigma" oracle; `.needs_kernel` is then
            True) instead of its own estimate.
        backend: "torch", "onnxruntime" (deblur.onnx_backend: the network is exported to a
            cached ONNX file on first use and run by an ONNX Runtime CPU session with `threads`
            threads, default torch's count) or "auto" (ONNX Runtime when it is installed and can
            run this network, else torch); `.backend` holds the one used. A kernel-aware network
            and bf16 run in torch only: asking for "onnxruntime" there is a DeblurError.

    A network with a per-image input implements one optional hook, ``model.per_image(frames,
    kernel) -> (frames, inputs)``, called once per image on the whole uint8 (F, H, W, 3) input
    (after ``psf``'s deconvolution, before any tile or view is cut; ``kernel`` is the true PSF with
    ``use_kernel``, else None): the frames it returns (e.g. with a physics prior appended as one
    more frame, deblur.multiframe.MultiFrameRefiner) are what every tile and self-ensemble view
    is cut from, and ``inputs`` (e.g. ``{"sigma": (1,)}``, deblur.kernel_aware.KernelAwareNet)
    are keyword arguments of every forward pass -- one value per image, so tiles agree with each
    other. A network without the hook takes its frames alone.
    """

    needs_kernel = False

    def __init__(
        self,
        model: nn.Module,
        tile: int | None | str = "auto",
        overlap: int | None = None,
        bf16: bool = False,
        channels_last: bool = True,
        threads: int | None = None,
        name: str | None = None,
        ensemble: bool = False,
        use_kernel: bool = False,
        psf: bool = False,
        backend: str = "torch",
    ) -> None:
        for attr in ("frames", "multiple", "halo"):
            if not hasattr(model, attr):
                raise TypeError(f"model {type(model).__name__} lacks the attribute {attr!r}")
        self.frames = int(model.frames)
        if self.frames not in (1, 3):
            raise ValueError(f"model.frames must be 1 or 3, got {self.frames}")
        self.multiple = max(1, int(model.multiple))
        self.halo = max(0, int(model.halo))
        self.overlap = max(MIN_OVERLAP, self.halo + RAMP) if overlap is None else int(overlap)
        if self.overlap < 0:
            raise DeblurError(f"overlap must be >= 0, got {overlap}")
        # Pixels whose context the tile cut off get weight 0; the rest of the margin cross-fades.
        # Exact (up to float noise) when discard covers the receptive field, i.e. halo.
        self.discard = min(self.halo, self.overlap - min(RAMP, self.overlap // 2))
        self.auto = isinstance(tile, str)
        if self.auto:
            if tile != "auto":
                raise DeblurError(f"tile must be a number of pixels, None or 'auto', got {tile!r}")
            tile = AUTO_TILE
        if tile is not None:
            tile = int(tile)
            if tile <= 0:
                raise DeblurError(f"tile must be a positive number of pixels, got {tile}")
            m = self.multiple
            smallest = -(-2 * (self.overlap + self.discard) // m) * m
            tile = max(smallest, tile - tile % m, m)
        self.tile = tile
        self.bf16 = bool(bf16)
        self.channels_last = bool(channels_last)
        self.threads = threads
        self.name = name or type(model).__name__
        self.takes_sigma = bool(getattr(model, "takes_sigma", False))
        if use_kernel and not self.takes_sigma:
            raise DeblurError(f"{self.name} cannot be given the true kernel: only kernel-aware networks take one")
        self.needs_kernel = bool(use_kernel)
        self._per_image = getattr(model, "per_image", None)  # the one optional hook (class docstring)
        self.ensemble = bool(ensemble)
        self.psf = bool(psf)
        if self.psf and self.frames != 1:
            raise DeblurError(f"{self.name} takes {self.frames} frames: deconvolving a large blur first is for "
                              "single-frame networks")
        self.backend = self._choose_backend(model, backend)
        self._ort: onnx_backend.OrtNetwork | None = None  # the session, made on first use
        self._ort_lock = threading.Lock()
        model.eval()
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model

    def __repr__(self) -> str:
        return (
            f"Deblurrer({self.name!r}, frames={self.frames}, tile={self.tile}, "
            f"overlap={self.overlap}, bf16={self.bf16}, channels_last={self.channels_last}, "
            f"ensemble={self.ensemble}, psf={self.psf}, backend={self.backend!r})"
        )

    def _choose_backend(self, model: nn.Module, backend: str) -> str:
        if backend == "auto":
            ok = onnx_backend.available() and onnx_backend.unsupported(model) is None and not self.bf16
            return "onnxruntime" if ok else "torch"
        if backend not in BACKENDS:
            raise DeblurError(f"backend must be one of {', '.join(BACKENDS)} or auto, not {backend!r}")
        if backend == "onnxruntime":
            why = onnx_backend.unsupported(model)
            if why is not None:
                raise DeblurError(f"{self.name} cannot run in ONNX Runtime: {why}; use the torch backend")
            if self.bf16:
                raise DeblurError("bf16 autocast is a torch option; ONNX Runtime runs the exported float32 "
                                  "network: drop bf16 or use the torch backend")
            onnx_backend.require()  # missing: say how to install it now, not at the first image
        return backend

    def _session(self) -> onnx_backend.OrtNetwork:
        """The ONNX Runtime session, exported (or read from the cache) on first use."""
        with self._ort_lock:
            if self._ort is None:
                self._ort = onnx_backend.OrtNetwork(onnx_backend.cached_export(self.model), self.threads)
            return self._ort

    # ------------------------------------------------------------------ public API

    def __call__(
        self,
        frames: np.ndarray,
        kernel: np.ndarray | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Deblur one image.

        Args:
            frames: uint8 (H, W, 3) image or (F, H, W, 3) stack, F = 1 or 3, middle frame = F // 2.
            kernel: the true PSF, used only with ``use_kernel`` (a kernel-aware model told the
                true sigma); otherwise ignored (networks are blind), accepted so networks and
                baselines share one call signature.
            progress: optional progress(done_tiles, total_tiles).

        Returns:
            uint8 (H, W, 3), the restored middle frame; grey (R = G = B) when the input is.
        """
        return self.report(frames, kernel, progress)[0]

    def report(self, frames: np.ndarray, kernel: np.ndarray | None = None,
               progress: Progress | None = None) -> tuple[np.ndarray, dict | None]:
        """Like __call__, and what the restorer found in the photo on the way: for ``psf``
        {"psf": deblur.psf.PSFEstimate, "deconvolved": whether it was deconvolved before the
        network}; None when it looks for nothing. Returned, not kept on the shared object, so two
        requests served at once never read each other's."""
        out, found = self._restore(frames, progress, kernel)
        # In place: a 4K float buffer is 100 MB, so avoid temporaries.
        np.nan_to_num(out, copy=False, nan=0.0)
        np.clip(out, 0.0, 1.0, out=out)
        out *= 255.0
        np.rint(out, out=out)
        return out.astype(np.uint8), found

    def restore_float(self, frames: np.ndarray, progress: Progress | None = None,
                      kernel: np.ndarray | None = None) -> np.ndarray:
        """Like __call__ but returns the network's float32 (H, W, 3) output, not clipped or
        rounded (for checks finer than 1/255, e.g. tiled against untiled). For a grey input
        (every frame R = G = B) it is the mean of the output's channels in all three."""
        return self._restore(frames, progress, kernel)[0]

    def _restore(self, frames: np.ndarray, progress: Progress | None,
                 kernel: np.ndarray | None) -> tuple[np.ndarray, dict | None]:
        stack = self._model_frames(frames)
        found = None
        if self.psf:
            first, est = deconvolve_large(stack[0])
            found = {"psf": est, "deconvolved": is_large(est)}
            stack = first[None]
        if self.needs_kernel and kernel is None:
            raise DeblurError(f"{self.name} is given the true sigma, but no kernel was passed")
        inputs: dict[str, torch.Tensor] = {}
        with self._threads():
            if self._per_image is not None:
                stack, inputs = self._per_image(stack, kernel if self.needs_kernel else None)
            if not self.ensemble:
                out = self._run_tiled(stack, progress, inputs)
            else:
                out = self._run_ensemble(stack, progress, inputs)
        if _is_grey(stack):
            # A grey input holds no colour, so any difference between the output's channels is
            # the network's own (trained on colour photos, its three output channels are not
            # exactly symmetric) and shows as colour fringes. Their mean is the grey answer.
            out[...] = out.mean(axis=2, keepdims=True)
        return out, found

    def deblur_video(
        self, frames: Iterable[np.ndarray], progress: Progress | None = None
    ) -> Iterator[np.ndarray]:
        """Deblur a video lazily; see the module-level `deblur_video`."""
        return deblur_video(self, frames, progress)

    # ------------------------------------------------------------------ internals

    def _model_frames(self, frames: np.ndarray) -> np.ndarray:
        """Validate input and return uint8 (model.frames, H, W, 3)."""
        arr = np.asarray(frames)
        if arr.dtype != np.uint8:
            raise ImageError(f"expected a uint8 image, got dtype {arr.dtype}")
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] not in (1, 3):
            raise ImageError(
                f"expected an (H, W, 3) image or an (F, H, W, 3) stack with F = 1 or 3, "
                f"got shape {tuple(np.shape(frames))}"
            )
        if arr.shape[1] == 0 or arr.shape[2] == 0:
            raise ImageError(f"image has zero size: {arr.shape[1]}x{arr.shape[2]}")
        if self.frames == 3 and arr.shape[0] == 1:
            # No neighbours: a still is a video that does not move.
            arr = np.repeat(arr, 3, axis=0)
        elif self.frames == 1 and arr.shape[0] == 3:
            arr = arr[1:2]
        return arr

    def _run_tiled(self, stack: np.ndarray, progress: Progress | None,
                   inputs: dict[str, torch.Tensor] | None = None) -> np.ndarray:
        """stack uint8 (F, H, W, 3) -> float32 (H, W, 3) model output (unclipped); ``inputs``: the
        per-image keyword inputs of every forward pass (the ``per_image`` hook's)."""
        _, h, w, _ = stack.shape
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            stack = np.pad(stack, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="reflect")
        hp, wp = h + ph, w + pw
        whole = not self.tiles(hp, wp)
        rows = [(0, hp, np.ones(hp, np.float32))] if whole else self._axis_tiles(hp, h)
        cols = [(0, wp, np.ones(wp, np.float32))] if whole else self._axis_tiles(wp, w)
        out = np.zeros((h, w, 3), np.float32)
        total, done = len(rows) * len(cols), 0
        for y0, ty, wy in rows:
            for x0, tx, wx in cols:
                res = self._forward(stack[:, y0 : y0 + ty, x0 : x0 + tx], inputs)
                # Only the part inside the unpadded image is kept.
                ky, kx = min(ty, h - y0), min(tx, w - x0)
                if ky <= 0 or kx <= 0:
                    continue
                res = res[:ky, :kx]
                res *= wy[:ky, None, None]
                res *= wx[None, :kx, None]
                out[y0 : y0 + ky, x0 : x0 + kx] += res
                done += 1
                if progress is not None:
                    progress(done, total)
        return out

    def _run_ensemble(self, stack: np.ndarray, progress: Progress | None,
                      inputs: dict[str, torch.Tensor] | None = None) -> np.ndarray:
        """Mean over the 8 dihedral views of the stack, each output turned back."""
        out: np.ndarray | None = None
        for i, (k, flip) in enumerate(DIHEDRAL):
            view = stack[:, :, ::-1] if flip else stack
            view = np.ascontiguousarray(np.rot90(view, k, axes=(1, 2)))

            def sub(done: int, total: int | None, i: int = i) -> None:
                if progress is not None:
                    progress(i * (total or 1) + done, len(DIHEDRAL) * (total or 1))

            y = np.rot90(self._run_tiled(view, sub, inputs), -k, axes=(0, 1))
            if flip:
                y = y[:, ::-1]
            if out is None:
                out = np.array(y)  # a contiguous copy: the views of y are not writable sums
            else:
                out += y
        return out / len(DIHEDRAL)

    def tiles(self, h: int, w: int) -> bool:
        """Whether an (h, w) image is cut into tiles (else it runs in one pass)."""
        if self.tile is None or (self.auto and h * w <= AUTO_WHOLE_PIXELS):
            return False
        return h > self.tile or w > self.tile

    def _axis_tiles(self, length: int, keep: int) -> list[tuple[int, int, np.ndarray]]:
        """Tiles along one axis of a padded length: (start, size, weight) with weights that
        sum to 1 at every position < keep (normalised here, so the 2-D blend, being the outer
        product of the two axes' weights, needs no weight buffer)."""
        if self.tile is None or length <= self.tile:
            return [(0, length, np.ones(length, np.float32))]
        size, m = self.tile, self.multiple
        stride = max(m, (size - self.overlap - self.discard) // m * m)
        starts = list(range(0, length - size, stride)) + [length - size]
        ramp_len = self.overlap - self.discard
        # Half-pixel samples: strictly inside (0, 1), so every kept pixel gets weight > 0.
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp_len) + 0.5) / max(ramp_len, 1))
        weights = []
        for s in starts:
            wgt = np.ones(size, np.float64)
            if s > 0:
                wgt[: self.discard] = 0.0
                wgt[self.discard : self.overlap] = ramp
            if s + size < length:
                wgt[size - self.discard :] = 0.0
                wgt[size - self.overlap : size - self.discard] = np.minimum(
                    wgt[size - self.overlap : size - self.discard], ramp[::-1]
                )
            weights.append(wgt)
        total = np.zeros(length, np.float64)
        for s, wgt in zip(starts, weights):
            total[s : s + size] += wgt
        # Positions >= keep are padding that is cropped away anyway; their sum may be 0.
        if np.any(total[:keep] <= 0):
            raise AssertionError("tile weights leave pixels uncovered")  # a bug, not user input
        total[total <= 0] = 1.0
        return [
            (s, size, (wgt / total[s : s + size]).astype(np.float32))
            for s, wgt in zip(starts, weights)
        ]

    def _forward(self, tile: np.ndarray, inputs: dict[str, torch.Tensor] | None = None) -> np.ndarray:
        """uint8 (F, h, w, 3) -> float32 (h, w, 3) network output; ``inputs``: per-image keyword
        inputs (a network that takes any runs in torch only: deblur.onnx_backend.unsupported)."""
        f, h, w, _ = tile.shape
        if self.backend == "onnxruntime":
            # The same input as below: frame-major channels, float32 divided by 255.
            x = tile.transpose(0, 3, 1, 2).reshape(1, f * 3, h, w).astype(np.float32) / np.float32(255.0)
            return self._session()(x)[0].transpose(1, 2, 0)
        param = next(self.model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        x = torch.from_numpy(np.ascontiguousarray(tile)).to(device)
        # (F, h, w, 3) -> (1, 3F, h, w), frame-major channels: [f0 RGB, f1 RGB, f2 RGB].
        x = x.permute(0, 3, 1, 2).reshape(1, f * 3, h, w).float().div_(255.0)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = (
            torch.autocast(device_type=device.type, dtype=torch.bfloat16)
            if self.bf16
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            y = self.model(x, **{k: v.to(device) for k, v in (inputs or {}).items()})
        return y[0].float().permute(1, 2, 0).cpu().numpy()

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        if self.threads is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(int(self.threads))
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _is_grey(stack: np.ndarray) -> bool:
    """True if every frame of a uint8 (F, H, W, 3) stack has R = G = B at every pixel."""
    return bool(np.array_equal(stack[..., 0], stack[..., 1]) and np.array_equal(stack[..., 0], stack[..., 2]))


def deblur_video(
    restorer: Callable[..., np.ndarray],
    frames: Iterable[np.ndarray],
    progress: Progress | None = None,
) -> Iterator[np.ndarray]:
    """Deblur a video lazily with any restorer: uint8 (H, W, 3) frames in and out.

    A restorer with `.frames == 3` sees the window (t-1, t, t+1), the first and last frame
    repeated at the ends; a 1-frame restorer maps each frame. A restorer with ``for_clip(frame)``
    is asked once, on the second frame, which restorer runs the whole clip (a guard that reads the
    blur once, so that frames decided apart cannot flicker). Only three input frames are held
    at once, so videos of any length stream. progress(done_frames, total) is called per frame;
    total is len(frames), or None for an iterator.

    Raises:
        ImageError: the video has fewer than 3 frames (raised by this call, before any work)
            or its frames change size (raised when the odd frame is reached).
    """
    total = len(frames) if hasattr(frames, "__len__") else None  # type: ignore[arg-type]
    it = iter(frames)
    head = list(islice(it, 3))
    if len(head) < 3:
        raise ImageError(f"a video needs at least 3 frames, this one has {len(head)}")
    if callable(getattr(restorer, "for_clip", None)):  # a restorer that decides once per clip (deblur.blind.Guarded)
        restorer = restorer.for_clip(head[1])
    return _video(restorer, head, it, total, progress)


def _video(
    restorer: Callable[..., np.ndarray],
    head: list[np.ndarray],
    rest: Iterator[np.ndarray],
    total: int | None,
    progress: Progress | None,
) -> Iterator[np.ndarray]:
    shape = np.shape(head[0])

    def checked(frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.shape != shape:
            raise ImageError(f"video frames change size: {shape} then {frame.shape}")
        return frame

    def step(prev: np.ndarray, cur: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        if getattr(restorer, "frames", 1) == 3:
            return restorer(np.stack([prev, cur, nxt]))
        return restorer(cur)

    stream = _chain([checked(f) for f in head], map(checked, rest))
    done = 0
    prev = cur = next(stream)
    for nxt in stream:
        yield step(prev, cur, nxt)
        done += 1
        if progress is not None:
            progress(done, total)
        prev, cur = cur, nxt
    yield step(prev, cur, cur)
    if progress is not None:
        progress(done + 1, total)


def _chain(head: list[np.ndarray], rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield from head
    yield from rest
