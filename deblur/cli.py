"""Command line: deblur an image, a folder of images or a video.

    python -m deblur INPUT -o OUTPUT [--model NAME] [--tile N] [--overlap N] [--bf16]
                     [--threads N] [--sigma S | --kernel FILE] [--save-kernel FILE] [--quiet]
                     [--weights-dir DIR] [--backend torch|onnxruntime|auto]
    python -m deblur PHOTO --save-kernel FILE          (the blur kernel alone)
    python -m deblur --list-models [--task gaussian|motion] [--weights-dir DIR]

NAME is a shipped network (e.g. atrous_net-gaussian), a classical baseline (e.g. wiener) or a
path to a .safetensors weight file; without --model, DEFAULT_MODEL (res_unet-camera+psf+guard, for real
photos). Installed with pip, the same command is ``deblur``. INPUT decides the mode:

- an image file -> OUTPUT is an image file (or an existing folder: same file name inside it);
                   an animated or multi-page file (GIF, TIFF) gives its first frame, with a note;
- a folder      -> OUTPUT is a folder (a new one may not be named like an image or video file);
                   every image keeps its file name (a suffix Pillow cannot write, e.g. .gif,
                   becomes .png). OUTPUT may not be INPUT: input files are never overwritten. An
                   unreadable image is reported and skipped;
- a video file  -> OUTPUT is a video file (H.264 via deblur.io.write_video), same frame rate;
                   motion networks see the frames t-1, t, t+1.

Started by torchrun (``torchrun --nproc_per_node K -m deblur FOLDER -o OUT -m NAME``), a folder is
shared out: rank r deblurs every K-th image from the r-th (deblur.distributed.share) into OUT, so
on several machines OUT should be a folder they all see. A single image or a video is done by
rank 0 alone.

Every user error prints one line "error: ..." on stderr and exits with status 2; errors about
OUTPUT (a folder that cannot be created or written, a wrong kind of name) come before any model is
loaded, not after the computation. Something the user should know but that is not an error (a
--tile raised to the network's minimum, a GIF cut to its first frame, shipped networks left out of
--list-models because their weights are missing) is one line "note: ..." on stderr. All tensor
work happens in deblur.inference; this module only moves files and shows progress.

Kernels (the blur's PSF): ``--kernel FILE`` (.npy: a 2-D float array, x to the right, y down; or
an image, its grey levels; normalised to sum 1, deblur.io.read_kernel) hands that kernel to a
restorer that takes one (wiener, richardson_lucy, pnp, ...); ``--save-kernel FILE`` estimates the
photo's kernel blind (deblur.kernel_estimate) and writes it (.npy: float, sums to 1; .png: a picture
scaled to its maximum), says what was found in one note, and -- when the model takes a kernel and
none was given -- hands it the estimate. With ``--save-kernel`` and no -o nothing else is done.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deblur import distributed, io
from deblur.blur import gaussian_kernel
from deblur.errors import DeblurError, ImageError
from deblur.baselines import BASELINES
from deblur.kernel_estimate import estimate_kernel
from deblur.registry import BLURS, PREFERRED, names as runnable_names, weights_notes
from deblur.registry import load as load_restorer
from deblur.blind import Guarded, network_of
from deblur.inference import BACKENDS, ENSEMBLE_SUFFIX, Deblurrer, deblur_video
from deblur.weights import MANIFEST, WEIGHTS_DIR

EXIT_OK, EXIT_ERROR = 0, 2
# Without --model: the app's default for a real photo (deblur.registry.PREFERRED), the right first try
# for a photo from a camera.
DEFAULT_MODEL = PREFERRED["camera"]


@dataclass(frozen=True)
class Options:
    """What one run does, filled from the command line."""

    input: Path
    output: Path | None  # None: only --save-kernel
    model: str
    tile: int | None | str = "auto"  # pixels, None = whole image, "auto" = Deblurrer's choice
    overlap: int | None = None
    bf16: bool = False
    threads: int | None = None
    sigma: float | None = None
    quiet: bool = False
    ensemble: bool = False
    weights_dir: Path | None = None  # None = the repository's weights/
    kernel: Path | None = None       # --kernel FILE
    save_kernel: Path | None = None  # --save-kernel FILE
    backend: str = "torch"  # where a network runs: deblur.inference.BACKENDS or "auto"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deblur" if Path(sys.argv[0]).name == "deblur" else "python -m deblur",  # console script or -m
        description="Deblur an image, a folder of images or a video with a trained network "
        "or a classical baseline.",
    )
    p.add_argument("input", nargs="?", type=Path, help="image file, folder of images or video file")
    p.add_argument("-o", "--output", type=Path, help="output image, folder or video")
    p.add_argument("-m", "--model", default=DEFAULT_MODEL,
                   help=f"shipped model name, baseline name or .safetensors path (see --list-models; "
                        f"default {DEFAULT_MODEL}, for real photos)")
    p.add_argument("--tile", type=int, default=None,
                   help="tile side in pixels, bounds memory (default: whole image up to 1.5 MP, "
                        "512 px tiles above; 0 = whole image at once). A network with a wide receptive "
                        "field has a minimum tile, 2 x (overlap + cut-off context), e.g. 1056 px for "
                        "res_unet-camera: a smaller --tile is raised to it, with a note on stderr")
    p.add_argument("--overlap", type=int, default=None,
                   help="tile overlap in pixels (default: from the model's receptive field)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast (faster only on CPUs/GPUs with bf16 units)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (>= 1)")
    p.add_argument("--ensemble", action="store_true",
                   help="networks only: average the outputs on the 8 flips / rotations of the input "
                        "(8x the time, a little sharper; same as the model name + '+x8')")
    p.add_argument("--backend", choices=(*BACKENDS, "auto"), default="torch",
                   help="where a network runs: torch (default), onnxruntime (exported once to a cached ONNX "
                        "file; about 1.5x faster on a CPU; pip install onnxruntime onnx) or auto (ONNX Runtime "
                        "when installed and the network can run there). Baselines ignore it")
    p.add_argument("--sigma", type=float, default=None,
                   help="Gaussian blur sigma in pixels: the kernel for baselines that need one "
                   "(wiener, richardson_lucy)")
    p.add_argument("--kernel", type=Path, default=None, metavar="FILE",
                   help="the blur kernel (PSF) for models that take one (wiener, richardson_lucy, pnp ...): "
                        ".npy (2-D float array, x right, y down) or an image (its grey levels); "
                        "normalised to sum 1")
    p.add_argument("--save-kernel", type=Path, default=None, metavar="FILE",
                   help="estimate the photo's blur kernel blind and write it: .npy (float, sums to 1, "
                        "x right, y down) or .png (a picture scaled to its maximum); one photo only. "
                        "Without -o only the kernel is written; with a model that takes a "
                        "kernel and no --kernel / --sigma, the estimate is handed to it")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list-models", action="store_true", help="list valid model names and exit")
    p.add_argument("--weights-dir", type=Path, default=None,
                   help=f"folder holding the shipped networks' weight files and their {MANIFEST} "
                        f"(default: {WEIGHTS_DIR})")
    p.add_argument("--blur", "--task", dest="task", choices=BLURS, default=None,
                   help="with --list-models: only networks for this blur family (--task: its old name)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.list_models:
            for name in runnable_names(args.task, args.weights_dir):
                print(name)
            for line in weights_notes(args.weights_dir):  # else only the baselines, without a word
                _note(line)
            return EXIT_OK
        if args.input is None or (args.output is None and args.save_kernel is None):
            parser.error("INPUT and -o OUTPUT are required (or use --list-models, or INPUT --save-kernel FILE "
                         "for the blur kernel alone)")
        opts = Options(
            input=args.input, output=args.output, model=args.model, tile=_tile_option(args.tile),
            overlap=args.overlap, bf16=args.bf16, threads=args.threads, sigma=args.sigma, quiet=args.quiet,
            ensemble=args.ensemble, weights_dir=args.weights_dir, backend=args.backend, kernel=args.kernel,
            save_kernel=args.save_kernel,
        )
        return run(opts)
    except DeblurError as exc:
        _error(str(exc))
        return EXIT_ERROR
    except OSError as exc:  # permissions, full disk: the user's to fix, not a bug
        _error(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def run(opts: Options) -> int:
    """Deblur opts.input into opts.output; raises DeblurError for bad input."""
    src, dst = opts.input, opts.output
    if not src.exists():
        raise ImageError(f"input not found: {src}")
    if opts.sigma is not None and opts.sigma < 0:
        raise DeblurError(f"--sigma must be >= 0, got {opts.sigma}")
    # Checked here for every model: baselines ignore these options, so nothing later would.
    if opts.threads is not None and opts.threads < 1:
        raise DeblurError(f"--threads must be at least 1 (torch CPU threads), got {opts.threads}")
    if opts.overlap is not None and opts.overlap < 0:
        raise DeblurError(f"--overlap must be >= 0 pixels, got {opts.overlap}")
    given = _given_kernel(opts)  # read (and checked) before anything slow
    if opts.save_kernel is not None:
        _check_save_kernel(src, opts.save_kernel)
        if opts.output is None:  # only the kernel (by one process under torchrun)
            if distributed.world()[0] == 0:
                _save_kernel(io.read_image(src), opts.save_kernel)
            return EXIT_OK
    model = opts.model
    if opts.kernel is not None:
        _check_takes_kernel(model, opts.weights_dir, before_load=True)
    if opts.ensemble and not model.endswith(ENSEMBLE_SUFFIX):
        if model in BASELINES:
            raise DeblurError(f"--ensemble is for networks; {model!r} is a classical baseline")
        model += ENSEMBLE_SUFFIX
    # Everything about the output is checked before a model is even loaded: a wrong or read-only
    # -o must cost seconds, not the whole computation.
    rank, world = distributed.world()
    if src.is_dir():
        files = distributed.share(_folder_images(src), rank, world)
        dst = _folder_output(src, dst)
        if not files:  # more processes than images
            return EXIT_OK
    elif io.is_video_path(src):
        dst = _video_output(src, dst)
    else:
        dst = _image_output(src, dst)
    if rank > 0 and not src.is_dir():  # one image or one video: nothing to share out
        return EXIT_OK
    restorer = load_restorer(
        model, tile=opts.tile, overlap=opts.overlap, bf16=opts.bf16, threads=opts.threads,
        weights_dir=opts.weights_dir, backend=opts.backend,
    )
    _note_tile(restorer, opts.tile)
    takes_kernel = bool(getattr(restorer, "needs_kernel", False))
    if opts.kernel is not None and not takes_kernel:  # a weight file given by path: known only now
        _check_takes_kernel(model, opts.weights_dir, before_load=False)
    kernel = given
    if opts.save_kernel is not None:
        estimated = _save_kernel(io.read_image(src), opts.save_kernel)
        if takes_kernel and kernel is None:
            kernel = estimated
            _note(f"{opts.model} is given the estimated kernel")
    if takes_kernel and kernel is None:
        raise DeblurError(f"model {opts.model!r} needs the blur kernel: pass --sigma S (Gaussian blur of S "
                          "pixels), --kernel FILE, or --save-kernel FILE to estimate it from the photo")
    if src.is_dir():
        return _folder(restorer, kernel, files, src, dst, opts.quiet)
    if io.is_video_path(src):
        _video(restorer, src, dst, opts.quiet)
    else:
        _image(restorer, kernel, src, dst, opts.quiet)
    return EXIT_OK


# ------------------------------------------------------------------------------ kernels


def _given_kernel(opts: Options) -> np.ndarray | None:
    """The kernel the user gave (--kernel FILE or --sigma S), checked against the other options."""
    if opts.kernel is not None and opts.sigma is not None:
        raise DeblurError("--kernel and --sigma both give the blur kernel: pass one of them")
    if opts.kernel is not None and opts.save_kernel is not None:
        raise DeblurError("--kernel gives the kernel and --save-kernel estimates one: pass one of them")
    if opts.kernel is not None and io.is_video_path(opts.input):
        raise DeblurError(f"--kernel is for images and folders of images; {opts.input} is a video")
    if opts.kernel is not None:
        return io.read_kernel(opts.kernel)
    return gaussian_kernel(opts.sigma) if opts.sigma is not None else None


def _check_takes_kernel(model: str, weights_dir: Path | None, before_load: bool) -> None:
    """Refuse --kernel for a model that does not take one. Before the model loads only names the
    registry lists are judged (a weight file given by path is judged once loaded)."""
    listed = runnable_names(None, weights_dir, strict=False)
    without = set(runnable_names(None, weights_dir, kernel=False, strict=False))
    takes = [n for n in listed if n not in without]
    if model in takes or (before_load and model not in listed):
        return
    raise DeblurError(f"model {model!r} does not take a blur kernel, so --kernel would be ignored; "
                      f"models that take one: {', '.join(takes)}")


def _check_save_kernel(src: Path, dst: Path) -> None:
    """--save-kernel: one photo in, a .npy or image file out, writable, not the input."""
    if src.is_dir() or io.is_video_path(src):
        kind = "a folder" if src.is_dir() else "a video"
        raise DeblurError(f"--save-kernel estimates the kernel of one photo; {src} is {kind}")
    if dst.suffix.lower() != ".npy" and dst.suffix.lower() not in io.WRITE_FORMATS:
        raise DeblurError(f"--save-kernel {dst}: use .npy (the values) or .png (a picture)")
    if dst.is_dir():
        raise DeblurError(f"--save-kernel {dst} is a folder; give a file name (.npy or .png)")
    if _same_file(src, dst):
        raise DeblurError(f"--save-kernel {dst} is the input file: refusing to overwrite it")
    _check_can_write(dst.parent, dst)


def _save_kernel(image: np.ndarray, dst: Path) -> np.ndarray:
    """Estimate the photo's kernel, write it, say what was found; returns the kernel."""
    if min(image.shape[:2]) < 48:
        raise ImageError(f"--save-kernel: the photo is {image.shape[1]}x{image.shape[0]} px; a kernel "
                         "is estimated from at least 48x48 px")
    est = estimate_kernel(image)
    dst.parent.mkdir(parents=True, exist_ok=True)
    io.write_kernel(dst, est.kernel)
    _note(f"kernel: {est.description} (verdict {est.verdict}, confidence {est.confidence:.2f}, "
          f"{est.kernel.shape[1]}x{est.kernel.shape[0]} px) written to {dst}")
    return est.kernel


# ------------------------------------------------------------------------------ outputs


def _image_output(src: Path, dst: Path) -> Path:
    """The image file to write for image ``src``, checked (suffix, not the input, writable)."""
    if dst.is_dir():
        dst = dst / _output_name(src)
    _check_writable_image(dst)
    if _same_file(src, dst):
        raise DeblurError(f"output {dst} is the input file: refusing to overwrite it")
    _check_can_write(dst.parent, dst)
    return dst


def _folder_output(src: Path, dst: Path) -> Path:
    """The output folder for folder ``src``, checked (a folder, not the input, writable)."""
    if dst.exists() and not dst.is_dir():
        raise DeblurError(f"input is a folder, so the output must be a folder, not the file {dst}")
    if not dst.exists() and (io.is_image_path(dst) or io.is_video_path(dst)):
        # It would be created as a folder named like a file, which is never what was meant.
        kind = "an image" if io.is_image_path(dst) else "a video"
        raise DeblurError(f"input {src} is a folder, so -o must be a folder for its images; {dst} is named "
                          f"like {kind} file: give a folder name (it is created if needed)")
    if dst.exists() and dst.resolve() == src.resolve():
        raise DeblurError(f"output folder {dst} is the input folder: refusing to overwrite the "
                          "input images; choose another -o")
    _check_can_write(dst)
    return dst


def _video_output(src: Path, dst: Path) -> Path:
    """The video file to write for video ``src``, checked (a video suffix, not the input, writable)."""
    if dst.is_dir():
        dst = dst / src.name
    if not io.is_video_path(dst):
        raise DeblurError(f"input is a video, so the output must be a video file "
                          f"({', '.join(sorted(io.VIDEO_SUFFIXES))}), not {dst}")
    if _same_file(src, dst):
        raise DeblurError(f"output {dst} is the input file: refusing to overwrite it")
    _check_can_write(dst.parent, dst)
    return dst


def _check_can_write(folder: Path, file: Path | None = None) -> None:
    """Raise DeblurError unless output can be written into ``folder``: it exists or can be created,
    and takes new files; an existing ``file`` (to be overwritten) must be writable too.

    The nearest existing folder is probed with a temporary file, removed at once: permission bits
    say nothing to root or on a read-only file system. Nothing is created for folders that do not
    exist yet, so a run that fails later (a bad model name) leaves no empty folder behind.
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise DeblurError(f"cannot write into {folder}: {existing} is a file, not a folder; choose another -o")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".deblur-write-check-")
    except OSError as exc:
        raise DeblurError(f"cannot write into {folder}: folder {existing} does not take new files "
                          f"({exc.strerror or exc}); choose another -o") from exc
    os.close(fd)
    os.unlink(probe)
    if file is not None and file.exists() and not os.access(file, os.W_OK):
        raise DeblurError(f"cannot write {file}: the file exists and is read-only; choose another -o")


# ------------------------------------------------------------------------------- modes


def _image(restorer: Callable, kernel: np.ndarray | None, src: Path, dst: Path,
           quiet: bool) -> None:
    image = io.read_image(src)
    _note_frames(src, _note)
    said: list[str] = []  # said after the progress bar closes, not through it
    if isinstance(network_of(restorer), Deblurrer):  # networks report tiles; baselines run in one go
        with tqdm(desc=src.name, unit="tile", disable=quiet) as bar:
            out = _restore(restorer, image, kernel, bar, said.append)
    else:
        out = _restore(restorer, image, kernel, None, said.append)
    for line in said:
        _note(line)
    io.write_image(dst, out)


def _folder_images(src: Path) -> list[Path]:
    files = sorted(p for p in src.iterdir() if p.is_file() and io.is_image_path(p))
    if not files:
        raise ImageError(f"no images ({', '.join(sorted(io.IMAGE_SUFFIXES))}) in folder {src}")
    return files


def _folder(restorer: Callable, kernel: np.ndarray | None, files: list[Path], src: Path, dst: Path,
            quiet: bool) -> int:
    dst.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in tqdm(files, desc=src.name or str(src), unit="image", disable=quiet):
        try:
            image = io.read_image(path)
            _note_frames(path, lambda line: tqdm.write("note: " + line, file=sys.stderr))
            say = lambda line, name=path.name: tqdm.write(f"note: {name}: {line}", file=sys.stderr)  # noqa: E731
            io.write_image(dst / _output_name(path), _restore(restorer, image, kernel, None, say))
        except ImageError as exc:  # one bad file should not lose the rest of the folder
            tqdm.write(f"error: {exc}", file=sys.stderr)
            failed += 1
    if failed:
        raise ImageError(f"{failed} of {len(files)} images failed (see above); "
                         f"the others are in {dst}")
    return EXIT_OK


def _video(restorer: Callable, src: Path, dst: Path, quiet: bool) -> None:
    fps = io.video_fps(src)
    source = io.iter_video(src)
    if isinstance(restorer, Guarded):  # deblur_video decides the clip on its second frame: say what it decides
        head = list(islice(source, 2))
        source = chain(head, source)
        if len(head) == 2:  # a shorter clip is refused by deblur_video below
            # the same reading deblur_video's for_clip makes (read_kernel keeps it: not read twice)
            guard = restorer.decide(head[1])[1]
            _note("the whole clip, decided on its second frame: " + _guard_line(restorer, guard))
    # deblur_video reads the first frames now, so a short or broken video fails before the
    # progress bar or the output file appear.
    frames = deblur_video(restorer, source)
    io.write_video(dst, tqdm(frames, desc=src.name, unit="frame", disable=quiet), fps)


# ------------------------------------------------------------------------------ helpers


def _restore(restorer: Callable, image: np.ndarray, kernel: np.ndarray | None,
             bar: tqdm | None, say: Callable[[str], None] | None = None) -> np.ndarray:
    """The restored image; a guarded restorer's decision is said (``say``): whether it ran."""
    progress = None
    if isinstance(network_of(restorer), Deblurrer) and bar is not None:
        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

    if isinstance(restorer, Guarded):
        out, found = restorer.report(image, progress=progress)
        guard = found["guard"]
        if say is not None:
            say(_guard_line(restorer, guard))
        return out
    return restorer(image, kernel) if progress is None else restorer(image, kernel, progress=progress)


def _guard_line(restorer: Guarded, guard: dict) -> str:
    """One line on what a guarded restorer decided for one photo."""
    if guard["ran"] == restorer.inner.name:
        read = "" if guard["verdict"] == "unsure" and guard["confidence"] == 0.0 else \
            f" ({guard['description']}, confidence {guard['confidence']:.2f})"
        return f"blur read from the photo{read}: {restorer.inner.name} ran"
    found = "no blur found" if guard["verdict"] == "no blur" else "no blur read with confidence"
    return f"{found}: the photo was only denoised ({restorer.inner.name} did not run)"


def _tile_option(tile: int | None) -> int | None | str:
    """--tile as Deblurrer takes it: None (not given) -> "auto", 0 -> None (whole image).

    A negative size is refused rather than read as 0: a typo must not silently switch off the
    tiling that bounds memory.
    """
    if tile is None:
        return "auto"
    if tile < 0:
        raise DeblurError(f"--tile must be a positive number of pixels, or 0 for the whole image at "
                          f"once; got {tile}")
    return tile or None


def _output_name(src: Path) -> str:
    """The input's file name, or its stem + .png where Pillow cannot write that suffix (.gif)."""
    return src.name if src.suffix.lower() in io.WRITE_FORMATS else src.stem + ".png"


def _error(message: str) -> None:
    print("error: " + " ".join(message.split()), file=sys.stderr)  # always exactly one line


def _note(message: str) -> None:
    print("note: " + " ".join(message.split()), file=sys.stderr)


def _note_tile(restorer: Callable, tile: int | None | str) -> None:
    """Say so when Deblurrer raised the --tile asked for to the network's minimum tile."""
    if not (isinstance(restorer, Deblurrer) and isinstance(tile, int) and restorer.tile is not None
            and restorer.tile > tile):
        return
    shared = restorer.overlap + restorer.discard  # Deblurrer's minimum tile is 2 x shared (rounded up)
    _note(f"--tile {tile} raised to {restorer.tile} px for {restorer.name}: neighbouring tiles share {shared} px "
          f"(overlap {restorer.overlap} + cut-off context {restorer.discard}, from its receptive field), so a tile "
          f"under 2 x {shared} px would be mostly repeated work; --tile 0 runs the whole image at once")


def _note_frames(path: Path, say: Callable[[str], None]) -> None:
    """Say so when an animated or multi-page image is cut to its first frame."""
    n = io.image_frames(path)
    if n > 1:
        what = "pages" if path.suffix.lower() in (".tif", ".tiff") else "frames"
        say(f"{path.name} has {n} {what}; deblurring the first (use a video file for clips)")


def _check_writable_image(path: Path) -> None:
    """Fail before the (slow) restoration rather than after it."""
    if path.suffix.lower() not in io.WRITE_FORMATS:
        raise ImageError(f"cannot write image {path}: unsupported suffix {path.suffix!r} "
                         f"(use one of {', '.join(sorted(io.WRITE_FORMATS))})")


def _same_file(a: Path, b: Path) -> bool:
    return b.exists() and a.resolve() == b.resolve()
