"""deep-deblur in the browser: deblur photos and video, leaderboards and training curves.

    python app.py [--host 127.0.0.1] [--port 7860] [--share]

Also runs as a Hugging Face Space as it is (app.py + requirements.txt at the root: the Space
runs `python app.py`, and GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose the address).

Thin by design: the tensors, tiling, padding and frame handling live in deblur.inference (the
one inference object the CLI and the evaluator use too); this file only reads the visitor's
files, calls it, and shows the results. Builders per tab; handlers are plain functions that the
tests call directly. Importing this module has no side effects: build_demo() makes the Blocks
(reading only weights/manifest.json, no model is loaded until a request needs it), and main()
launches. The charts come from what the evaluator PUBLISHED as CSV files in eval/leaderboards/
and from the training logs beside the weights; nothing under eval/ is imported.

"Blur it first" is deblur.degrade.degrade(family, ...) with the evaluator's per-image generator,
so it shows exactly what a leaderboard scores. Every request's model and values are checked by
its handler against what the server offers now (the components accept any value), refusals are
one-line gr.Errors (one log line, no traceback, no server paths), and a job whose page was
closed stops at its next tile or frame (demo.unload marks the session). A request opens only the
files the visitor uploaded (uploaded_file, CheckedBlocks); the self-ensemble and the three-frame
restorers have a size bound (check_cost), and long jobs run one at a time beside the short ones
(compute_lane).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from gradio_client.utils import is_file_obj, traverse
from PIL import Image

from deblur import plots
from deblur.baselines import BASELINES
from deblur.data import BUILTIN_NAMES, builtin_image
from deblur.degrade import FAMILIES, degrade
from deblur.errors import DeblurError
from deblur import registry
from deblur.inference import ENSEMBLE_SUFFIX, Deblurrer, deblur_video
from deblur.registry import PSF_SUFFIX
from deblur.io import iter_video, read_image, video_fps, write_image, write_video
from deblur.metrics import psnr, ssim
from deblur.weights import WEIGHTS_DIR, manifest_problems, read_manifest

ROOT = Path(__file__).resolve().parent
LEADERBOARDS_DIR = ROOT / "eval" / "leaderboards"
GALLERY_DIR = ROOT / "gallery" / "inputs"  # real blurry photos offered as one-click examples (PNG)
LOG = logging.getLogger("deep-deblur")

# Photos up to this many pixels are deblurred at full resolution (the inference object runs up to
# 1.5 MP in one pass and larger photos in overlapping tiles, so memory stays bounded whatever the
# size); above it the app refuses with a gr.Error instead of shrinking.
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE  # 16.8 MP, e.g. 4096 x 4096 or 5000 x 3350
# "Blur it first" synthesises the blur and scores the result on the whole photo, which costs
# far more than deblurring alone (a motion blur averages dozens of warped copies): 4K at most.
MAX_BLUR_FIRST_PIXELS = 3840 * 2160
# ...and at least the SSIM window (deblur.metrics: 11 x 11 Gaussian), or it cannot be scored.
MIN_SCORED_SIDE = 11
TILE = "auto"  # deblur.inference.Deblurrer's own choice, as the CLI makes it
DISPLAY_SIDE = 1600  # the before/after slider shows a copy this large at most; the PNG is full size
# Video: frames past MAX_VIDEO_FRAMES are left out (and the report says so); bigger frames refused.
MAX_VIDEO_FRAMES = 48
MAX_VIDEO_PIXELS = 1280 * 720
PREVIEW_SIDE = 1280  # the uploaded clip's preview (H.264 MP4) is at most this wide or high
MAX_UPLOAD = "300mb"  # Gradio refuses bigger uploads before they reach a handler
# "Blur it first" draws its blur exactly as the evaluator draws a leaderboard's: the evaluator's
# default seed (eval.config.DEFAULT_SEED) and the photo's name, see photo_rng.
BLUR_SEED = 42

# Blur types = the blur families of deblur.degrade; "Real photo" comes first and is the default.
TASKS = ("camera", "gaussian", "motion")
DEFAULT_TASK = "camera"
TASK_LABELS = {"camera": "Real photo", "gaussian": "Gaussian", "motion": "Motion (video frames)"}
# The network each blur type starts with when it is shipped (else its first network, else a baseline).
PREFERRED_NETWORK = {"camera": "res_unet-camera" + PSF_SUFFIX}
# "Blur it first" slider per blur type: (minimum, maximum, step, default, label); the value is
# handed to the family's own keyword, FAMILIES[task].level (sigma / length / strength).
STRENGTH = {
    "camera": (0.0, 1.0, 0.05, 0.5, "Camera blur strength (0 = none, 1 = the strongest the family draws)"),
    "gaussian": (0.5, 3.0, 0.1, 1.5, "Gaussian sigma (px)"),
    "motion": (2.0, 24.0, 1.0, 8.0, "Motion length (px)"),
}
# The slider as built spans every blur type, so an API call is checked against the chosen type's
# own range in the handler (Gradio refuses values outside what the component was built with).
SLIDER_RANGE = (min(v[0] for v in STRENGTH.values()), max(v[1] for v in STRENGTH.values()))
# Model labels stay short enough for the dropdown on a phone (about 40 characters show); the
# dropdown's info line says what the tags mean.
BASELINE_NOTES = {
    "blurred": "the input unchanged",
    "wiener": "classical, true kernel",
    "richardson_lucy": "classical, true kernel",
    "blind_wiener": "classical, Gaussian",
    "blind_psf": "classical, large blur",
    "multiframe_wiener": "classical, path fit",
}
MODEL_INFO = ("'large blur first': a large defocus or straight shake found in the photo is removed before the "
              "network. 'true kernel': needs 'Blur it first'. 'path fit': fits the camera's path to three frames, "
              "15-40 s a frame.")
ORACLE_KIND = "oracle (given the true kernel)"
OUTPUT_DIR = Path(tempfile.gettempdir()) / "deep-deblur-app"
OUTPUT_MAX_AGE_S = 3600  # per-request output folders older than this are removed


@dataclass(frozen=True)
class AppConfig:
    """Where the app reads its inputs; tests point them at temporary folders."""

    weights_dir: Path = WEIGHTS_DIR
    leaderboards_dir: Path = LEADERBOARDS_DIR
    tile: int | str | None = TILE
    gallery_dir: Path = GALLERY_DIR


# ----------------------------------------------------------------------------------- helpers


class VisitorLeft(Exception):
    """The visitor closed the page: their job stops at its next tile or frame."""


# Session hashes of pages that were closed (demo.unload), with the time: a running job of such a
# session stops at its next check. Entries older than OUTPUT_MAX_AGE_S are forgotten.
_LEFT: dict[str, float] = {}
_LEFT_LOCK = threading.Lock()


def visitor_left(request: gr.Request) -> None:
    """demo.unload: the page of this session was closed or reloaded."""
    session = getattr(request, "session_hash", None)
    if not session:
        return
    now = time.time()
    with _LEFT_LOCK:
        for old in [s for s, t in _LEFT.items() if now - t > OUTPUT_MAX_AGE_S]:
            del _LEFT[old]
        _LEFT[session] = now


def stop_check(request: gr.Request | None) -> Callable[[], None]:
    """A function that raises VisitorLeft once the page that sent `request` has been closed.

    Handlers call it between tiles, frames and stages, so a job whose visitor left frees the
    single compute worker within one tile or frame instead of running to its end.
    """
    session = getattr(request, "session_hash", None)

    def check() -> None:
        if session is not None and session in _LEFT:
            raise VisitorLeft(f"stopped a job: its visitor left (session {session[:8]})")

    return check


# Absolute POSIX paths: "/" not preceded by a word character or dot, then non-blank parts.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\"`:,;()]+/)*([^\s'\"`:,;()]+)")


def public_message(text: str) -> str:
    """`text` without the server's absolute paths: the app's own files relative to its folder,
    anything else (uploads, temporary folders) by its name only."""
    text = str(text).replace(str(ROOT) + os.sep, "")
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1), text)


def refuse(message: str) -> gr.Error:
    """A gr.Error for the visitor (no server paths), logged as one line instead of a traceback."""
    message = public_message(" ".join(str(message).split()))
    LOG.warning("refused a request: %s", message)
    return gr.Error(message, print_exception=False)


def user_errors(fn: Callable) -> Callable:
    """Turn the library's user-facing errors into one-line gr.Errors, never a traceback.

    DeblurError (bad file, unknown model, corrupt weights, too few frames...) carries one clear
    sentence already. Anything else is a bug: Gradio logs it and shows a generic error.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error as exc:
            raise refuse(exc.message) from None
        except DeblurError as exc:
            raise refuse(str(exc)) from None
        except MemoryError:
            raise refuse("out of memory: try a smaller image or a shorter clip") from None
        except VisitorLeft as exc:
            LOG.info("%s", exc)
            raise gr.Error("stopped: the page was closed", print_exception=False) from None

    return wrapper


def _upload_path(upload) -> Path | None:
    """The path a gr.File / gr.Video value names (a str, a FileData dict, or an object with .name),
    as the request says it: unchecked, see uploaded_file."""
    if upload is None or upload == "":
        return None
    if isinstance(upload, dict):  # gradio_client style FileData
        upload = upload.get("path") or upload.get("name")
    return Path(getattr(upload, "name", upload))


# ------------------------------------------------------------------ what a request may open

# A request names its files by server path, and a client can write any path there (raw HTTP, or a
# FileData dict): so every file a request names is checked before it is opened, and everything that
# is not the visitor's own upload or one of the app's example photos gets this one message, whether
# the path exists, is a directory, a symlink out of the upload folder or a system file.
NOT_UPLOADED = ("this file was not uploaded through the app: upload it on the page "
                "(or with gradio_client.handle_file)")


def upload_roots(cfg: AppConfig) -> tuple[Path, ...]:
    """The folders a request's files may come from: Gradio's upload folder (GRADIO_TEMP_DIR, else
    <tmp>/gradio; Gradio's cached copies of the gallery photos and the video previews are there
    too) and the app's example photos."""
    return Path(gr.utils.get_upload_folder()).resolve(), Path(cfg.gallery_dir).resolve()


def uploaded_file(upload, cfg: AppConfig) -> Path | None:
    """The real path of the file `upload` names (None: no file), once it is known to be the
    visitor's: it resolves (symlinks followed) to a regular file inside upload_roots(cfg).
    Anything else is refused with NOT_UPLOADED; nothing is opened before that.
    """
    path = _upload_path(upload)
    if path is None:
        return None
    try:
        real = path.resolve()
        ok = any(real.is_relative_to(root) for root in upload_roots(cfg)) and real.is_file()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        ok = False
    if not ok:
        raise gr.Error(NOT_UPLOADED)
    return real


class CheckedBlocks(gr.Blocks):
    """gr.Blocks that checks the files every request names BEFORE Gradio handles them.

    Gradio 6.31 refuses a path outside its upload folder itself before copying it, but with an
    empty error and a traceback in the log, and a Gradio without that check (tests/
    test_app_security.py disables it) copies the file into its cache and hands it to the handler.
    This runs first, on the request's raw values, for every event and every file input (any
    {"path": ...} in a value, or a bare string for a file component), with uploaded_file's message.
    """

    file_check: Callable[[dict], object] | None = None  # set by build_demo: uploaded_file for its cfg

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        if self.file_check is not None:
            for block, value in zip(block_fn.inputs, inputs):
                if getattr(block, "stateful", False):  # gr.State lives on the server
                    continue
                try:
                    if isinstance(value, str) and value and getattr(block, "data_model", None) is not None:
                        raise gr.Error(NOT_UPLOADED)  # a bare path where a file component wants FileData
                    traverse(value, self.file_check, is_file_obj)  # every {"path": ...} in the value
                except gr.Error as exc:
                    raise refuse(exc.message) from None
        return await super().preprocess_data(block_fn, inputs, state, explicit_call)


def _safe_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:60] or "image"


def fresh_output_dir(kind: str) -> Path:
    """A new folder for one request's files: no two requests ever share an output path.

    Gradio copies returned files into its own cache, so folders older than an hour are only
    leftovers and are removed here.
    """
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in OUTPUT_DIR.iterdir():
        try:
            if old.is_dir() and now - old.stat().st_mtime > OUTPUT_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass  # another request removed it first
    return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=OUTPUT_DIR))


def display_copy(img: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """A copy for the browser, longest side at most `side` (the download stays full size)."""
    h, w = img.shape[:2]
    if max(h, w) <= side:
        return img
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))


# ------------------------------------------------------------------------------ the models


def networks(cfg: AppConfig, task: str | None = None) -> list[str]:
    """Shipped networks present in cfg.weights_dir (for one blur type if given).

    A malformed manifest leaves out what it cannot describe (strict=False) instead of stopping
    the app; weights_problems() says what was left out, and the status line shows it.
    """
    return [name for name, info in registry.shipped(cfg.weights_dir, strict=False).items()
            if task is None or info.takes(task)]


def weights_problems(cfg: AppConfig) -> list[str]:
    """One line per shipped model the app cannot offer (malformed manifest, missing file)."""
    return [public_message(why) for why in manifest_problems(cfg.weights_dir).values()]


def _manifest_entry(cfg: AppConfig, name: str) -> dict | None:
    return read_manifest(cfg.weights_dir, strict=False).get(name)


def baseline_choices(kernel_baselines: bool = True, task: str | None = None,
                     single_frame: bool = False) -> list[tuple[str, str]]:
    """(label, name) pairs of the classical baselines: without the kernel-based ones if asked,
    only those for blur type ``task`` if given, only single-frame ones if asked."""
    return [(f"{name} ({BASELINE_NOTES.get(name, 'classical baseline')})", name)
            for name, restorer in BASELINES.items()
            if (kernel_baselines or not restorer.needs_kernel)
            and (task is None or task in getattr(restorer, "blurs", (task,)))
            and (not single_frame or getattr(restorer, "frames", 1) == 1)]


def psf_variants(cfg: AppConfig, task: str) -> list[str]:
    """NAME+psf of every shipped camera network (a large disc / line blur deconvolved first)."""
    if task != "camera":
        return []
    return [name + PSF_SUFFIX for name, info in registry.shipped(cfg.weights_dir, strict=False).items()
            if info.takes(task) and info.frames == 1]


def model_choices(cfg: AppConfig, task: str) -> list[tuple[str, str]]:
    """(label, name) pairs for the photo model dropdown: networks for `task` (the camera ones also
    as NAME+psf, first), then the baselines."""
    psf = [(f"{name} (large blur first)", name) for name in psf_variants(cfg, task)]
    nets = [(f"{name} (path fit)" if registry.takes_prior(info) else f"{name} (network)", name)
            for name, info in registry.shipped(cfg.weights_dir, strict=False).items() if info.takes(task)]
    return psf + nets + baseline_choices(task=task)


def default_model(cfg: AppConfig, task: str) -> str:
    """The blur type's preferred network, else its first one, else the blind classical method."""
    nets = psf_variants(cfg, task) + networks(cfg, task)
    if PREFERRED_NETWORK.get(task) in nets:
        return PREFERRED_NETWORK[task]
    if nets:
        return nets[0]
    return "blind_wiener" if "blind_wiener" in BASELINES else "blurred"


# Networks run in ONNX Runtime when it is installed (pip install onnxruntime onnx: ~1.5x faster on a
# CPU, outputs within 1-2 grey levels of torch) and in torch otherwise, or when a network is torch-only.
BACKEND = "auto"


@functools.lru_cache(maxsize=8)
def _cached_restorer(name: str, weights_dir: str, sha256: str | None, tile: int | str | None,
                     ensemble: bool = False):
    """Build a restorer once per process (a network's hash is checked when it is first built).

    The manifest's SHA-256 is part of the key, so a retrained network replaces the cached one.
    """
    if name in BASELINES:
        return registry.load(name)
    return registry.load(name + (ENSEMBLE_SUFFIX if ensemble else ""), weights_dir=weights_dir, tile=tile,
                         backend=BACKEND)


def get_restorer(name: str, cfg: AppConfig, ensemble: bool = False):
    """The restorer called `name` (cached): callable(frames_u8, kernel=None) -> uint8 (H, W, 3).

    ensemble: a network averages its outputs on the 8 flips / rotations (8x the time); baselines
    have no such option and ignore it.
    """
    if name in BASELINES:
        return _cached_restorer(name, str(cfg.weights_dir), None, cfg.tile)
    sha = (_manifest_entry(cfg, name.removesuffix(PSF_SUFFIX)) or {}).get("sha256")
    return _cached_restorer(name, str(cfg.weights_dir), sha, cfg.tile, bool(ensemble))


def check_model(name: str, cfg: AppConfig, task: str | None, have_kernel: bool) -> None:
    """Refuse a model that is unknown, trained for the other blur type, or needs a kernel we lack.

    This is where a request's model is validated, against the weights shipped NOW: the dropdowns
    accept any value (a network shipped after the server started is valid at once).
    """
    if not name:
        raise gr.Error("choose a model")
    if name in BASELINES:
        if BASELINES[name].needs_kernel and not have_kernel:
            where = ("tick 'Blur it first' so the app knows the blur it applied"
                     if task is not None else "a real video has no known kernel")
            raise gr.Error(
                f"{name} deconvolves with the true blur kernel, which exists only when the app "
                f"blurs the photo itself: {where}, or pick a network or blind_wiener"
            )
        blurs = getattr(BASELINES[name], "blurs", None)
        if task is not None and blurs is not None and task not in blurs:
            raise gr.Error(f"{name} is for {' / '.join(blurs)} blur only; pick another model for {task} blur")
        return
    base = name.removesuffix(PSF_SUFFIX)
    entry = _manifest_entry(cfg, base)
    if entry is None or base not in networks(cfg) or (base != name and name not in psf_variants(cfg, "camera")):
        valid = ", ".join(networks(cfg) + psf_variants(cfg, "camera") + list(BASELINES))
        raise gr.Error(f"unknown model {name!r}; choose one of: {valid}")
    if task is not None and entry.get("task") not in (None, task):
        raise gr.Error(f"{name} was trained for {entry.get('task')} blur, not {task}: pick a {task} "
                       "model or switch the blur type")


def _check_task(task: str) -> str:
    task = (task or "").lower()
    if task not in TASKS:
        raise gr.Error(f"blur type must be one of {', '.join(TASKS)}, got {task!r}")
    return task


def time_left(started: float, done: int, total: int | None) -> str:
    """' · about 40 s left': the units still to do (tiles, views, frames) at the pace measured on
    those done since `started` (time.perf_counter()); '' before the first one, at the end, or when
    the total is unknown. This, not Gradio's guess, is the time a visitor is told (see UntimedEvents)."""
    if not total or done <= 0 or done >= total:
        return ""
    left = (time.perf_counter() - started) / done * (total - done)
    return f" · about {max(1, round(left))} s left" if left < 90 else f" · about {round(left / 60)} min left"


def _run(restorer, frames: np.ndarray, kernel: np.ndarray | None, progress: gr.Progress,
         stop: Callable[[], None]) -> np.ndarray:
    """Call a restorer, wiring a network's per-tile progress (and the time left at its pace) to the
    Gradio progress bar and stopping between tiles once the visitor has left."""
    if isinstance(restorer, Deblurrer):
        started = time.perf_counter()

        def on_tile(done: int, total: int | None) -> None:
            stop()
            progress((done, total), desc=f"Deblurring with {restorer.name}{time_left(started, done, total)}",
                     unit="tiles")

        return restorer(frames, kernel=kernel, progress=on_tile)
    progress(None, desc=f"Running {restorer.name}")
    return restorer(frames, kernel=kernel)


# ------------------------------------------------------------------ what a request may cost

# The 8-view self-ensemble costs 8 passes of a network, and the three-frame restorers that fit a
# camera path cost 11-17 s of fitting per frame plus ~20 s per MP: each runs only up to a size that
# finishes in about a minute on the demo's 2-core machine, and is refused above it with what to do
# instead. Measured (bench/app_load.py cost) with the machine busy (load 6-8: training and tests):
# ensembles of 1 MP took 17 s (res_unet-camera+psf) and 70 s (naf_unet-camera); of 1.5 MP 41 s and
# of 2 MP (tiled) 164 s (res_unet-camera+psf); idle, 1 MP takes 7-15 s (8x the published 720p speed
# table). The three-frame restorers take 25-28 s on a 720p triplet idle (README), but 286-334 s on
# 1 MP and still 152-228 s on 0.26 MP busy: their fit hardly shrinks with the size, so no size
# bound keeps them to a minute on a busy machine; the long-job lane below keeps them from holding
# up short requests.
MAX_ENSEMBLE_PIXELS = 1_000_000
MAX_SLOW_PIXELS = 1_000_000
# Short requests are not stuck behind long ones: COMPUTE_WORKERS workers, and a long job (more
# than SMALL_PIXELS of work: the photo's pixels times the ensemble's views, or a clip's pixels
# times its frames; or any three-frame restorer) runs one at a time with at most one more waiting
# for it. So a worker is always left for short requests, and a third long job is refused.
COMPUTE_WORKERS = 3
SMALL_PIXELS = 1_000_000
_LONG_JOBS = threading.BoundedSemaphore(2)  # the long job running and the one waiting for it
_LONG_RUNNING = threading.Lock()
BUSY = ("two long jobs (large photos, self-ensembles, three-frame restorers or clips) are already running "
        f"or waiting: try again in a few minutes, or send a photo of at most {SMALL_PIXELS / 1e6:g} MP without "
        "the self-ensemble, which runs at once")


def slow_restorer(model: str, cfg: AppConfig) -> bool:
    """A three-frame restorer that fits a camera path per frame (multiframe_wiener and the
    networks that refine it)."""
    if model in BASELINES:
        return getattr(BASELINES[model], "frames", 1) == 3
    info = registry.shipped(cfg.weights_dir, strict=False).get(model)
    return info is not None and registry.takes_prior(info)


def check_cost(model: str, cfg: AppConfig, h: int, w: int, ensemble: bool) -> bool:
    """Refuse a photo request over its cost bound (gr.Error); else whether it is a long job."""
    views = 8 if ensemble and model not in BASELINES else 1
    slow = slow_restorer(model, cfg)
    size = f"{w} x {h} px ({h * w / 1e6:.2f} MP)"
    if views > 1 and h * w > MAX_ENSEMBLE_PIXELS:
        raise gr.Error(f"the self-ensemble runs the network 8 times, so here it takes photos of up to "
                       f"{MAX_ENSEMBLE_PIXELS / 1e6:g} MP and this one is {size}: untick it (one pass), crop "
                       f"the photo, or run `python -m deblur photo.png -o sharp.png --model {model} --ensemble` "
                       "on your own machine")
    if slow and h * w * views > MAX_SLOW_PIXELS:
        raise gr.Error(f"{model} fits a camera path to three frames (tens of times a network's cost), so here it "
                       f"takes photos of up to {MAX_SLOW_PIXELS / 1e6:g} MP and this one is {size}: pick another "
                       f"model, crop the photo, or run `python -m deblur` with --model {model} on your own machine")
    return slow or h * w * views > SMALL_PIXELS


class UntimedEvents(defaultdict):
    """Gradio's record of each event's mean run time (its queue's process_time_per_fn), which
    hides the events in `untimed`: for those the queue sends no ETA, and the page shows the time
    elapsed, the place in the queue and the handler's own progress (tiles or frames done and the
    time left at their measured pace, see time_left) instead.

    Gradio's ETA for an event is the mean of its past runs, and a compute event's runs range from
    0.3 s (a small photo) to minutes (a 1 MP self-ensemble, a three-frame restorer): for a long job
    it was 20-40x off (issue 27: "about 1 s" shown for a 135 s wait). Gradio 6.31 has no setting
    for an event's expected duration, nor for hiding only the ETA (show_progress="hidden" hides
    the progress too), hence this stand-in (installed by untime_compute_events).
    """

    def __init__(self, default_factory: Callable[[], object], untimed: Iterable[object]):
        super().__init__(default_factory)
        self.untimed = frozenset(untimed)

    def __contains__(self, fn: object) -> bool:
        return fn not in self.untimed and super().__contains__(fn)


def untime_compute_events(demo: gr.Blocks) -> None:
    """No Gradio ETA for the events of the "compute" concurrency group (see UntimedEvents)."""
    queue = demo._queue  # created by demo.queue(); Gradio keeps it for launch()
    compute = [fn for fn in demo.fns.values() if fn.concurrency_id == "compute"]
    queue.process_time_per_fn = UntimedEvents(queue.process_time_per_fn.default_factory, compute)


@contextlib.contextmanager
def compute_lane(long: bool, stop: Callable[[], None], progress: gr.Progress) -> Iterator[None]:
    """Run a short job at once, a long one after the long job before it (BUSY if one waits already)."""
    if not long:
        yield
        return
    if not _LONG_JOBS.acquire(blocking=False):
        raise gr.Error(BUSY)
    try:
        if not _LONG_RUNNING.acquire(blocking=False):
            progress(None, desc="Waiting for another visitor's long job to finish")
            while not _LONG_RUNNING.acquire(timeout=0.5):
                stop()  # a visitor who leaves while waiting frees their place
        try:
            yield
        finally:
            _LONG_RUNNING.release()
    finally:
        _LONG_JOBS.release()


# ----------------------------------------------------------------------------- Deblur tab


def load_photo(upload, example: str | None, cfg: AppConfig = AppConfig()) -> tuple[np.ndarray, str]:
    """The visitor's photo (or a built-in example) as uint8 (H, W, 3), plus its name.

    The name is the file's stem as uploaded (or the example's name): what the evaluator calls
    the photo, so "Blur it first" draws its blur from it. Grey, RGBA (on white), palette and
    16-bit images are converted by deblur.io.read_image; non-images, corrupt files and images
    over MAX_PIXELS become gr.Error. Only an uploaded file or an example photo is opened
    (uploaded_file).
    """
    path = uploaded_file(upload, cfg)
    if path is not None:
        try:
            img = read_image(path, max_pixels=MAX_PIXELS)
        except DeblurError as exc:
            msg = public_message(str(exc))
            if "more than the limit" in msg:
                msg += (f". The app deblurs photos of up to {MAX_SIDE} x {MAX_SIDE} = {MAX_PIXELS / 1e6:.1f} "
                        "megapixels at full resolution; use `python -m deblur` for bigger ones")
            raise gr.Error(msg) from exc
        return img, path.stem
    if example:
        if example not in BUILTIN_NAMES:
            raise gr.Error(f"unknown example {example!r}; built-in examples: {', '.join(BUILTIN_NAMES)}")
        return builtin_image(example), example
    raise gr.Error("upload a photo or pick one of the built-in examples")


def preview_photo(upload, cfg: AppConfig = AppConfig()) -> np.ndarray | None:
    """The uploaded photo as the browser shows it, as soon as it is uploaded (None: cleared)."""
    if _upload_path(upload) is None:
        return None
    img, _ = load_photo(upload, None, cfg)
    return display_copy(img, side=800)


def photo_rng(name: str) -> np.random.Generator:
    """The generator "Blur it first" draws from: the evaluator's rule for one image.

    eval.inputs.image_rng(seed, name) is np.random.default_rng([seed, crc32(name)]); the app
    computes it the same way (it reads what the evaluator publishes and never imports eval/), so a
    photo blurred here is blurred exactly as `python -m eval` blurs it under that name.
    """
    return np.random.default_rng([BLUR_SEED, zlib.crc32(name.encode("utf-8"))])


def check_strength(task: str, strength) -> float:
    """The slider value, checked against the blur type's own range (the component spans all)."""
    lo, hi, _, _, label = STRENGTH[task]
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise gr.Error(f"{label} must be a number, got {strength!r}") from None
    if not lo <= value <= hi:
        raise gr.Error(f"{label} must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def synthesise_blur(sharp: np.ndarray, task: str, strength: float, name: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """Blur a sharp uint8 (H, W, 3) photo with one blur family, as the leaderboards do.

    deblur.degrade.degrade(task, ...) at the given level, fed photo_rng(name). Returns (input
    frames uint8 (F, H, W, 3), target uint8 (H, W, 3), true kernel or None, one-line note).
    """
    family = FAMILIES[task]
    value = check_strength(task, strength)
    d = degrade(task, sharp, photo_rng(name), **{family.level: value})
    k = d.kernel.shape[0] if d.kernel is not None else 0
    drawn = f"drawn as the leaderboards draw it (seed {BLUR_SEED}, photo name {name!r})"
    if task == "gaussian":
        note = f"Gaussian blur, sigma {value:g} px ({k}x{k} kernel)"
    elif task == "motion":
        note = f"camera-shake motion blur over 3 frames, path length {value:g} px ({k}x{k} kernel)"
    else:
        p = d.params
        noise = ("no sensor noise" if not p.get("shot") and not p.get("read")
                 else f"sensor noise (shot {p.get('shot', 0):.2g}, read {p.get('read', 0):.2g})")
        jpeg = f"JPEG quality {p['jpeg_quality']}" if p.get("jpeg_quality") else "no JPEG"
        note = (f"camera blur of strength {value:g}: a {p.get('kernel_family', '?')} kernel ({k}x{k}) "
                f"in linear light, {noise}, {jpeg}")
    return d.frames, d.target, d.kernel, f"{note}, {drawn}"


def _metrics_table(sharp: np.ndarray, before: np.ndarray, after: np.ndarray, name: str) -> str:
    rows = [("blurred input", before), (name, after)]
    scores = [(label, psnr(img, sharp), ssim(img, sharp)) for label, img in rows]
    lines = ["| against the sharp original | PSNR (dB) | SSIM |", "|---|---:|---:|"]
    lines += [f"| {label} | {p:.2f} | {s:.4f} |" for label, p, s in scores]
    gain = scores[1][1] - scores[0][1]
    lines.append(f"\n**{name}: {gain:+.2f} dB** over the blurred input "
                 "(PSNR caps at 100 dB for identical images).")
    return "\n".join(lines)


@user_errors
def deblur_photo(upload, example: str | None, task: str, model: str, blur_first: bool, strength: float,
                 ensemble: bool = False, progress: gr.Progress = gr.Progress(), request: gr.Request | None = None,
                 *, cfg: AppConfig = AppConfig()):
    """Deblur one photo. Returns ((before, after) for the slider, PNG path, Markdown report).

    request: the visitor's (Gradio passes it); the job stops between tiles once they leave.
    """
    stop = stop_check(request)
    task = _check_task(task)
    check_model(model, cfg, task, have_kernel=bool(blur_first))
    if blur_first:
        check_strength(task, strength)
    progress(0, desc="Reading the photo")
    img, name = load_photo(upload, example, cfg)
    stem = _safe_stem(name)
    h, w = img.shape[:2]
    if blur_first:
        if h * w > MAX_BLUR_FIRST_PIXELS:
            raise gr.Error(f"'Blur it first' takes photos of up to 3840 x 2160 px "
                           f"({MAX_BLUR_FIRST_PIXELS / 1e6:.1f} MP); this one is {w} x {h}. Untick it "
                           "to deblur the photo as it is, or crop it")
        if min(h, w) < MIN_SCORED_SIDE:
            raise gr.Error(f"'Blur it first' scores the result with SSIM, whose window is {MIN_SCORED_SIDE} x "
                           f"{MIN_SCORED_SIDE} px, and this photo is {w} x {h}: use one of at least "
                           f"{MIN_SCORED_SIDE} x {MIN_SCORED_SIDE} px, or untick 'Blur it first'")
    long = check_cost(model, cfg, h, w, bool(ensemble))
    with compute_lane(long, stop, progress):  # a long job waits for the long job before it
        kernel, sharp, note = None, None, ""
        frames = img
        if blur_first:
            stop()
            progress(0, desc=f"Blurring the photo first ({TASK_LABELS[task].lower()})")
            frames, sharp, kernel, note = synthesise_blur(img, task, strength, name)
            del img  # the target is `sharp` now: one copy of a 4K photo less
        before = frames[frames.shape[0] // 2] if frames.ndim == 4 else frames
        stop()
        progress(0, desc=f"Loading {model}")
        t0 = time.perf_counter()
        restorer = get_restorer(model, cfg, ensemble=bool(ensemble))
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = _run(restorer, frames, kernel, progress, stop)
        run_s = time.perf_counter() - t0
        del frames
        out_dir = fresh_output_dir("photo")
        png = write_image(out_dir / f"{stem}_{_safe_stem(model)}.png", out)
        tiles = ""
        if isinstance(restorer, Deblurrer) and restorer.tiles(h, w):
            tiles = f", in overlapping {restorer.tile} px tiles"
        views = ", averaged over 8 flips / rotations" if getattr(restorer, "ensemble", False) else ""
        report = [f"**{model}** took **{run_s:.2f} s** on {w} x {h} px ({w * h / 1e6:.2f} MP{tiles}{views})"
                  + (f"; loading the model took {load_s:.1f} s (first use only)" if load_s > 0.5 else "") + "."]
        if ensemble and model in BASELINES:
            report.append(f"The 8-view self-ensemble is for networks; {model} ran once.")
        if model == "blind_psf" or getattr(restorer, "psf", False):
            report.append(psf_note(before, first=model != "blind_psf"))
        if max(h, w) > DISPLAY_SIDE:
            report.append(f"The slider shows a copy at most {DISPLAY_SIDE} px wide; the PNG below is full size.")
        if blur_first:
            stop()
            progress(None, desc="Scoring PSNR / SSIM against the original")
            report.append(f"Input: the photo with synthetic {note}.")
            report.append(_metrics_table(sharp, before, out, model))
        return (display_copy(before), display_copy(out)), str(png), "\n\n".join(report)


def psf_note(photo: np.ndarray, first: bool) -> str:
    """One line: the blur deblur.psf finds in the photo and what was done with it."""
    from deblur.psf import identify_psf, is_large

    if min(photo.shape[:2]) < 32:
        return "The photo is too small to look for a large blur in it."
    est = identify_psf(photo)
    if est.family == "none":
        return "No large defocus or straight shake found in the photo" + (": the network alone ran." if first else
                                                                          ": it is returned as it was.")
    if first and not is_large(est):
        return f"Blur found: {est.describe()}; small enough that the network alone handles it."
    return f"Blur found: {est.describe()}; deconvolved" + (" before the network." if first else ".")


def blur_type_note(task: str) -> str:
    """One line: which kind of photo a blur type (and its networks) is for."""
    task = task if task in TASKS else DEFAULT_TASK
    return f"**{TASK_LABELS[task]}**: {FAMILIES[task].description}."


def blur_type_changed(task: str, cfg: AppConfig = AppConfig()):
    """New blur type: its models in the dropdown, its strength slider, and its one-line note."""
    task = task if task in TASKS else DEFAULT_TASK
    lo, hi, step, value, label = STRENGTH[task]
    return (gr.update(choices=model_choices(cfg, task), value=default_model(cfg, task)),
            gr.update(minimum=lo, maximum=hi, step=step, value=value, label=label),
            blur_type_note(task))


def model_changed(model: str, blur_first: bool):
    """Picking a kernel-based baseline ticks 'Blur it first' (it cannot run without it)."""
    restorer = BASELINES.get(model)
    if restorer is not None and restorer.needs_kernel:
        return gr.update(value=True)
    return gr.update(value=blur_first)


# The one-click examples, most visibly improved by the default camera model first (res_unet-camera+psf,
# looked at side by side: `python bench/gallery.py`, README "Real photos"): a misfocused page that becomes
# readable; a shaken page whose lines can be made out; a shaken clock whose outline and hands appear
# (with ghost rims); a licence plate that loses its grain but stays unreadable; two video frames that
# hardly change (bikes_100 comes back as it was: its blur is a passing car's, not the camera's).
# Photos not listed here follow in name order.
GALLERY_ORDER = ("text_defocus", "text_motion", "clock", "licenseplate_motion", "bikes_200", "bikes_100")


def gallery_photos(cfg: AppConfig) -> list[Path]:
    """The real-photo examples: every PNG in cfg.gallery_dir, in GALLERY_ORDER, then by name
    ([] when the folder is missing)."""
    folder = Path(cfg.gallery_dir)
    if not folder.is_dir():
        return []
    rank = {stem: i for i, stem in enumerate(GALLERY_ORDER)}
    return sorted((p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file()),
                  key=lambda p: (rank.get(p.stem, len(rank)), p.name.lower()))


def pick_gallery_photo(caption: str | None, cfg: AppConfig = AppConfig()):
    """A clicked gallery example -> (upload, example, blur type, model, 'Blur it first', preview).

    Only a name listed in the gallery folder is accepted, so a request cannot reach other files.
    The photo is a real blurry one: the blur type becomes "Real photo", with its default model.
    """
    photos = {p.stem: p for p in gallery_photos(cfg)}
    if caption not in photos:
        raise gr.Error(f"unknown example photo {caption!r}")
    path = photos[caption]
    models, slider, note = blur_type_changed("camera", cfg)
    return (str(path), None, "camera", models, slider, note, False, preview_photo(str(path), cfg))


def build_deblur_tab(cfg: AppConfig) -> Callable[[gr.Blocks], None]:
    """Upload, the Deblur button and the examples first, the result beside them (below on a phone):
    all within the first 1280 x 800 screen. Everything a first visit needs no choice for (blur type,
    model, 'Blur it first', the self-ensemble, the sharp built-in photos) is in the closed Options."""
    examples = gallery_photos(cfg)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            upload = gr.File(label="Your blurry photo (PNG, JPEG, TIFF, WebP, BMP...)", file_count="single",
                             height=140, elem_id="photo-upload")
            # Shown once a photo is uploaded (hidden while empty: it would push the examples down).
            preview = gr.Image(label="Your photo", type="numpy", interactive=False, height=170, visible=False,
                               elem_id="photo-preview")
            run = gr.Button("Deblur", variant="primary", elem_id="deblur-button")
            gallery = gr.Gallery(value=[(str(p), p.stem) for p in examples], visible=bool(examples),
                                 label="...or click a real blurry photo to deblur it", columns=3, height="auto",
                                 object_fit="cover", allow_preview=False, elem_id="examples-gallery")
            with gr.Accordion("Options: blur type, model, more", open=False, elem_id="options"):
                task = gr.Radio(choices=[(TASK_LABELS[t], t) for t in TASKS], value=DEFAULT_TASK,
                                label="Blur type", elem_id="blur-type")
                task_note = gr.Markdown(blur_type_note(DEFAULT_TASK), elem_id="blur-type-note")
                # Any value is accepted here and validated by the handler against the weights shipped
                # now (Gradio would otherwise refuse every model of the other blur types, and any
                # network shipped after the server started, in API calls).
                model = gr.Dropdown(choices=model_choices(cfg, DEFAULT_TASK), value=default_model(cfg, DEFAULT_TASK),
                                    allow_custom_value=True, label="Model", elem_id="model", info=MODEL_INFO)
                example = gr.Dropdown(choices=list(BUILTIN_NAMES), value=None,
                                      label="...or a sharp built-in photo (for 'Blur it first')", elem_id="example")
                blur_first = gr.Checkbox(value=False, label="Blur it first (then score against the original)",
                                         info="Applies the blur type's synthetic blur to your sharp photo, exactly "
                                              "as the leaderboards do, deblurs it and shows PSNR / SSIM against the "
                                              "original.")
                lo, hi, step, value, label = STRENGTH[DEFAULT_TASK]
                strength = gr.Slider(*SLIDER_RANGE, value=value, step=step, label=label, visible=False,
                                     elem_id="strength")
                ensemble = gr.Checkbox(value=False, label="Self-ensemble (networks: 8x slower, a little sharper)",
                                       info="Averages the network's outputs on the 8 flips and rotations of "
                                            "the photo: +0.1 to +0.5 dB on the builtin leaderboards. Photos of up "
                                            f"to {MAX_ENSEMBLE_PIXELS / 1e6:g} MP.",
                                       elem_id="ensemble")
                gr.Markdown(f"Photos up to {MAX_SIDE} x {MAX_SIDE} px ({MAX_PIXELS / 1e6:.1f} MP) are deblurred at "
                            "full resolution: in one pass up to 1.5 MP, in overlapping tiles above; larger ones are "
                            "refused ('Blur it first': 11 x 11 to 3840 x 2160; the self-ensemble and the "
                            f"three-frame restorers: up to {MAX_SLOW_PIXELS / 1e6:g} MP). Grey, RGBA and 16-bit "
                            "images are converted to 8-bit RGB.")
        with gr.Column(scale=3, min_width=320):
            slider = gr.ImageSlider(label="Before / after: drag the handle to compare", type="numpy", max_height=460,
                                    elem_id="result-slider")
            report = gr.Markdown(elem_id="report")
            download = gr.File(label="Full-resolution result (PNG)", elem_id="download")

    def run_photo(upload, example, task, model, blur_first, strength, ensemble=False,
                  progress=gr.Progress(), request: gr.Request = None):  # noqa: B008 - Gradio's idiom
        return deblur_photo(upload, example, task, model, blur_first, strength, ensemble, progress, request,
                            cfg=cfg)

    show_preview = user_errors(preview_photo)
    # .upload / .input fire on the visitor's action only, so clearing the other source cannot loop.
    # A file that cannot be read fails in the preview's event, whose outputs are the upload box
    # (left as it is, but marked "Error" on a failure, until the next file) and the preview: Gradio
    # marks every output of a failed event, so the built-in example dropdown is cleared by a
    # separate event that cannot fail.
    def on_upload(upload):
        img = show_preview(upload, cfg)
        return gr.skip(), gr.update(value=img, visible=img is not None)

    upload.upload(on_upload, inputs=upload, outputs=[upload, preview], api_visibility="private")
    upload.upload(lambda: None, outputs=example, queue=False, api_visibility="private")
    upload.clear(lambda: (gr.skip(), gr.update(value=None, visible=False)), outputs=[upload, preview], queue=False,
                 api_visibility="private")  # the upload box as an output too: its "Error" mark goes with the file
    example.input(lambda name: (None, gr.update(value=builtin_image(name) if name in BUILTIN_NAMES else None,
                                                visible=name in BUILTIN_NAMES)),
                  inputs=example, outputs=[upload, preview], queue=False, api_visibility="private")
    type_outputs = [model, strength, task_note]
    task.input(functools.partial(blur_type_changed, cfg=cfg), inputs=task, outputs=type_outputs,
               queue=False, api_visibility="private")
    model.input(model_changed, inputs=[model, blur_first], outputs=blur_first, queue=False,
                api_visibility="private")
    blur_first.change(lambda on: gr.update(visible=bool(on)), inputs=blur_first, outputs=strength,
                      queue=False, api_visibility="private")
    photo_inputs = [upload, example, task, model, blur_first, strength, ensemble]
    photo_outputs = [slider, download, report]
    # scroll_to_output: on a phone the result is below the examples; the page scrolls to it if out of view.
    run.click(run_photo, inputs=photo_inputs, outputs=photo_outputs, api_name="deblur", concurrency_id="compute",
              concurrency_limit=COMPUTE_WORKERS, scroll_to_output=True)

    def on_pick(evt: gr.SelectData):
        caption = evt.value.get("caption") if isinstance(evt.value, dict) else None
        if caption is None and isinstance(evt.index, int) and 0 <= evt.index < len(photos := gallery_photos(cfg)):
            caption = photos[evt.index].stem
        *picked, _ = user_errors(pick_gallery_photo)(caption, cfg)
        # The slider shows the example in a moment; a preview beside it would only push the examples down.
        return *picked, gr.update(value=None, visible=False)

    # One click: the example becomes the photo (blur type "Real photo") and is deblurred at once.
    gallery.select(on_pick, outputs=[upload, example, task, *type_outputs, blur_first, preview],
                   api_visibility="private").success(
        run_photo, inputs=photo_inputs, outputs=photo_outputs, concurrency_id="compute",
        concurrency_limit=COMPUTE_WORKERS, api_visibility="private", scroll_to_output=True)

    def refresh_gallery():
        photos = gallery_photos(cfg)
        return gr.update(value=[(str(p), p.stem) for p in photos], visible=bool(photos))

    def on_load(demo: gr.Blocks) -> None:
        # Networks shipped (and example photos added) while the server runs appear on the next page load.
        demo.load(functools.partial(blur_type_changed, cfg=cfg), inputs=task, outputs=type_outputs,
                  api_visibility="private")
        demo.load(refresh_gallery, outputs=gallery, api_visibility="private")

    return on_load


# ------------------------------------------------------------------------------ Video tab


def video_model_choices(cfg: AppConfig) -> list[tuple[str, str]]:
    """Motion networks first (they see 3 frames), then single-frame ones, then blind baselines."""
    nets = [(f"{n} (network, 3 frames)", n) for n in video_networks(cfg, "motion")]
    nets += [(f"{n} (network, 1 frame)", n) for t in ("gaussian", "camera") for n in video_networks(cfg, t)]
    # Three-frame classical methods fit a camera path per frame (15-40 s): too slow for a clip.
    return nets + baseline_choices(kernel_baselines=False, single_frame=True)


def video_networks(cfg: AppConfig, task: str) -> list[str]:
    """``networks`` without those that fit a camera path per frame (15-40 s each: photos only)."""
    return [name for name, info in registry.shipped(cfg.weights_dir, strict=False).items()
            if info.takes(task) and not registry.takes_prior(info)]


def default_video_model(cfg: AppConfig) -> str:
    nets = video_networks(cfg, "motion") or video_networks(cfg, "gaussian")
    return nets[0] if nets else "blurred"


def preview_clip(video, cfg: AppConfig = AppConfig()) -> tuple[str | None, dict | None]:
    """A playable preview of an uploaded clip, whatever its container: (H.264 MP4 path, state).

    Browsers play few containers (an AVI shows "Video not playable"), so the frames the app will
    process -- the first MAX_VIDEO_FRAMES, at most PREVIEW_SIDE px -- are re-encoded by
    deblur.io.write_video. The state remembers the original, which is what gets deblurred.
    """
    path = uploaded_file(video, cfg)
    if path is None:
        return None, None
    try:
        fps = video_fps(path)
        out = fresh_output_dir("preview") / f"{_safe_stem(path.stem)}-preview.mp4"
        frames = islice(iter_video(path), MAX_VIDEO_FRAMES)
        write_video(out, (display_copy(f, PREVIEW_SIDE) for f in frames), fps, crf=23)
    except DeblurError as exc:
        raise gr.Error(public_message(str(exc))) from exc
    return str(out), {"preview": out.name, "original": str(path)}


def _original_clip(video, state: dict | None):
    """The visitor's own upload when `video` is the preview made of it, else `video` itself."""
    path = _upload_path(video)
    if path is not None and state and path.name == state.get("preview"):
        return state.get("original")
    return video


@user_errors
def deblur_clip(video, model: str, progress: gr.Progress = gr.Progress(), request: gr.Request | None = None,
                *, cfg: AppConfig = AppConfig()):
    """Deblur a short clip as a stream (a motion network sees t-1, t, t+1).

    Frames are decoded, restored and encoded one at a time (three held at once), so memory does
    not grow with the clip, and the job stops between frames once the visitor leaves.
    Returns ((before, after) middle frame, restored MP4 path for the player, the same file for
    download, Markdown report).
    """
    stop = stop_check(request)
    check_model(model, cfg, None, have_kernel=False)
    if model not in {name for _, name in video_model_choices(cfg)}:
        raise gr.Error(f"{model} fits a camera path for every frame (15-40 s each): it is for photos and "
                       "frame triplets on the Deblur tab; pick a network from the list for a clip")
    path = uploaded_file(video, cfg)
    if path is None:
        raise gr.Error("upload a short video clip")
    progress(0, desc="Reading the clip")
    count, shape = 0, None
    try:
        fps = video_fps(path)
        for frame in iter_video(path, max_frames=MAX_VIDEO_FRAMES + 1):  # a counting pass, nothing kept
            shape = shape or frame.shape
            count += 1
            if shape[0] * shape[1] > MAX_VIDEO_PIXELS:
                break
    except DeblurError as exc:
        raise gr.Error(public_message(str(exc))) from exc
    if shape is not None and shape[0] * shape[1] > MAX_VIDEO_PIXELS:
        raise gr.Error(f"video frames are {shape[1]} x {shape[0]}; the app takes frames of up to 1280 x 720 "
                       f"({MAX_VIDEO_PIXELS / 1e6:.2f} MP): use `python -m deblur` for bigger clips")
    truncated = count > MAX_VIDEO_FRAMES
    n = min(count, MAX_VIDEO_FRAMES)
    if n < 3:
        raise gr.Error(f"a video needs at least 3 frames (the motion model looks at t-1, t, t+1); "
                       f"{path.name} has {n}")
    h, w = shape[:2]
    with compute_lane(n * h * w > SMALL_PIXELS, stop, progress):  # a long clip waits for the long job before it
        restorer = get_restorer(model, cfg)
        mid = n // 2
        kept: dict[str, np.ndarray] = {}

        def decoded() -> Iterator[np.ndarray]:
            for i, frame in enumerate(iter_video(path, max_frames=n)):
                stop()
                if i == mid:
                    kept["before"] = frame
                yield frame

        def on_frame(done: int, total: int | None) -> None:
            stop()
            progress((done, n), desc=f"Deblurring with {model}{time_left(t0, done, n)}", unit="frames")

        def restored() -> Iterator[np.ndarray]:
            for i, frame in enumerate(deblur_video(restorer, decoded(), progress=on_frame)):
                if i == mid:
                    kept["after"] = frame
                yield frame

        t0 = time.perf_counter()
        out_dir = fresh_output_dir("video")
        mp4 = str(write_video(out_dir / f"{_safe_stem(path.stem)}_{_safe_stem(model)}.mp4", restored(), fps))
        run_s = time.perf_counter() - t0
        report = (f"**{model}** restored **{n} frames** of {w} x {h} px in **{run_s:.1f} s** "
                  f"({run_s / n:.2f} s per frame). The slider shows frame {mid + 1}.")
        if truncated:
            report += (f"\n\nThe clip is longer than {MAX_VIDEO_FRAMES} frames: only its first "
                       f"{MAX_VIDEO_FRAMES} were processed.")
        return (display_copy(kept["before"]), display_copy(kept["after"])), mp4, mp4, report


def build_video_tab(cfg: AppConfig) -> Callable[[gr.Blocks], None]:
    with gr.Row():
        with gr.Column(scale=2):
            video = gr.Video(label="Short clip", sources=["upload"], elem_id="video-upload")
            original = gr.State(None)  # {"preview": name, "original": path} once a preview replaced the upload
            model = gr.Dropdown(choices=video_model_choices(cfg), value=default_video_model(cfg),
                                allow_custom_value=True, label="Model", elem_id="video-model")
            run = gr.Button("Deblur clip", variant="primary", elem_id="video-button")
            gr.Markdown(f"At least 3 frames; the first {MAX_VIDEO_FRAMES} frames are processed, each at most "
                        "1280 x 720 px. A 3-frame motion network sees each frame with its neighbours. The "
                        "player shows an H.264 preview of those frames; your own file is what gets deblurred.")
        with gr.Column(scale=3):
            slider = gr.ImageSlider(label="Before / after (middle frame)", type="numpy")
            player = gr.Video(label="Restored clip", interactive=False)
            download = gr.File(label="Restored clip (MP4)", elem_id="video-download")
            report = gr.Markdown()

    def run_clip(video, model, state=None, progress=gr.Progress(), request: gr.Request = None):  # noqa: B008
        return deblur_clip(_original_clip(video, state), model, progress, request, cfg=cfg)

    video.upload(user_errors(functools.partial(preview_clip, cfg=cfg)), inputs=video, outputs=[video, original], api_visibility="private",
                 concurrency_id="preview")
    video.clear(lambda: None, outputs=original, queue=False, api_visibility="private")
    run.click(run_clip, inputs=[video, model, original], outputs=[slider, player, download, report],
              api_name="deblur_video", concurrency_id="compute", concurrency_limit=COMPUTE_WORKERS)

    def on_load(demo: gr.Blocks) -> None:
        demo.load(lambda: gr.update(choices=video_model_choices(cfg), value=default_video_model(cfg)),
                  outputs=model, api_visibility="private")

    return on_load


# ------------------------------------------------------------------------ Leaderboards tab

PUBLISHED = {"leaderboard": "leaderboard.csv", "sweep": "sweep.csv", "speed": "speed.csv"}
GROUP_COLUMNS = ("dataset", "protocol", "blur")
TABLE_COLUMNS = ("model", "kind", "n", "psnr", "ssim", "mse", "gain_db", "params", "seconds_per_mp")


def read_published(directory: Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Every published CSV under `directory`, stacked per kind with a `run` column (its folder).

    Returns (tables, problems): unreadable files are reported in `problems`, never raised.
    """
    directory = Path(directory)
    tables: dict[str, pd.DataFrame] = {}
    problems: list[str] = []
    for kind, name in PUBLISHED.items():
        frames = []
        for path in sorted(directory.rglob(name)) if directory.is_dir() else []:
            try:
                df = pd.read_csv(path)
            except (OSError, ValueError) as exc:  # pandas' parser and empty-data errors are ValueErrors
                problems.append(f"{path.relative_to(directory)}: unreadable ({' '.join(str(exc).split())})")
                continue
            if "model" not in df.columns:
                problems.append(f"{path.relative_to(directory)}: no 'model' column")
                continue
            run = path.parent.relative_to(directory).as_posix()
            frames.append(df.assign(run=directory.name if run == "." else run))
        tables[kind] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return tables, problems


def _labels(df: pd.DataFrame) -> pd.Series:
    """'run: dataset / protocol / blur' per row (the unit one chart shows)."""
    if df.empty:
        return pd.Series([], dtype=str)
    cols = [c for c in GROUP_COLUMNS if c in df.columns]
    return df.apply(lambda r: f"{r['run']}: " + " / ".join(str(r[c]) for c in cols if pd.notna(r[c])), axis=1)


def _select(df: pd.DataFrame, choice: str | None) -> tuple[pd.DataFrame, list[str], str | None]:
    if df.empty:
        return df, [], None
    labels = _labels(df)
    options = list(dict.fromkeys(labels))
    choice = choice if choice in options else options[0]
    return df[labels == choice], options, choice


def leaderboard_view(choice: str | None, cfg: AppConfig = AppConfig()):
    """Bars + table of one published leaderboard group."""
    tables, _ = read_published(cfg.leaderboards_dir)
    rows, _, choice = _select(tables["leaderboard"], choice)
    if rows.empty:
        return plots.empty_figure("no published leaderboards yet", height=160), pd.DataFrame()
    table = rows[[c for c in TABLE_COLUMNS if c in rows.columns]].round(4)
    if "kind" in table.columns:
        table = table.assign(kind=[kind_label(m, k) for m, k in zip(table["model"], table["kind"])])
    return plots.leaderboard_bars(rows, title=choice), table


def kind_label(model: str, kind) -> str:
    """The table's kind: true-kernel baselines are oracles, handed what no real photo comes with."""
    restorer = BASELINES.get(str(model))
    return ORACLE_KIND if restorer is not None and restorer.needs_kernel else kind


def sweep_view(choice: str | None, cfg: AppConfig = AppConfig()):
    tables, _ = read_published(cfg.leaderboards_dir)
    rows, _, choice = _select(tables["sweep"], choice)
    if rows.empty:
        return plots.empty_figure("no published sweeps yet", height=160)
    return plots.sweep_curves(rows, title=choice)


def refresh_leaderboards(cfg: AppConfig = AppConfig()):
    """Re-read eval/leaderboards/ (on page load and on demand): status, selectors and charts."""
    tables, problems = read_published(cfg.leaderboards_dir)
    lb, lb_options, lb_choice = _select(tables["leaderboard"], None)
    sw, sw_options, sw_choice = _select(tables["sweep"], None)
    speed = tables["speed"]
    notes = []
    if not lb_options and not sw_options and speed.empty:
        notes.append(f"No published leaderboards yet: the evaluator writes them with `python -m eval ... "
                     f"--out {_shown(cfg.leaderboards_dir)}/<run>` (leaderboard.csv, sweep.csv, speed.csv).")
    else:
        notes.append(f"{len(lb_options)} leaderboard(s), {len(sw_options)} sweep(s) and "
                     f"{speed['run'].nunique() if not speed.empty else 0} speed table(s) from "
                     f"`{_shown(cfg.leaderboards_dir)}`. The hatched grey bar is the blurred input itself: "
                     "a model is worth something only above its dashed line. "
                     + ", ".join(f"`{n}`" for n, r in BASELINES.items() if r.needs_kernel)
                     + f" are oracles: they are handed the true blur kernel, which no real photo comes with, "
                       "so they can top a board that no blind method could.")
    notes += [f"Skipped {p}." for p in problems]
    bars, table = leaderboard_view(lb_choice, cfg)
    if not speed.empty:
        # One panel per frame size (plots.speed_bars); a bar names its run only where two runs share a size.
        speed_fig = plots.speed_bars(speed, title="Seconds per frame, one panel per frame size (blue: networks, "
                                                  "orange: classical methods)")
    else:
        speed_fig = plots.empty_figure("no published speed table yet", height=160)
    return ("\n\n".join(notes), gr.update(choices=lb_options, value=lb_choice), bars, table,
            gr.update(choices=sw_options, value=sw_choice), sweep_view(sw_choice, cfg), speed_fig)


def _shown(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def build_leaderboards_tab(cfg: AppConfig) -> Callable[[gr.Blocks], None]:
    """Returns a function that registers the tab's page-load refresh on the Blocks."""
    message = gr.Markdown(elem_id="leaderboard-message")
    reload = gr.Button("Reload", size="sm")
    choice = gr.Dropdown(label="Leaderboard (run: dataset / protocol / blur)", choices=[], elem_id="leaderboard-choice")
    bars = gr.Plot(label="PSNR / SSIM / MSE per model", elem_id="leaderboard-bars")
    table = gr.Dataframe(label="Leaderboard", interactive=False, wrap=True)
    sweep_choice = gr.Dropdown(label="Sweep (PSNR / SSIM versus blur strength)", choices=[])
    sweep = gr.Plot(label="Versus blur strength", elem_id="sweep-curves")
    speed = gr.Plot(label="Speed", elem_id="speed-bars")
    outputs = [message, choice, bars, table, sweep_choice, sweep, speed]
    refresh = functools.partial(refresh_leaderboards, cfg=cfg)
    reload.click(refresh, outputs=outputs, api_name="leaderboards")
    choice.input(functools.partial(leaderboard_view, cfg=cfg), inputs=choice, outputs=[bars, table],
                 api_visibility="private")
    sweep_choice.input(functools.partial(sweep_view, cfg=cfg), inputs=sweep_choice, outputs=sweep,
                       api_visibility="private")

    def on_load(demo: gr.Blocks) -> None:
        demo.load(refresh, outputs=outputs, api_visibility="private")

    return on_load


# ---------------------------------------------------------------------- Training curves tab


def read_training_logs(weights_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """weights/<name>.log.csv files stacked with a `model` column; (logs, problems)."""
    frames, problems = [], []
    for path in sorted(Path(weights_dir).glob("*.log.csv")) if Path(weights_dir).is_dir() else []:
        name = path.name[: -len(".log.csv")]
        try:
            df = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: unreadable ({' '.join(str(exc).split())})")
            continue
        if "epoch" not in df.columns or df.empty:
            problems.append(f"{path.name}: no epochs logged")
            continue
        frames.append(df.assign(model=name))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), problems


def training_view(cfg: AppConfig = AppConfig()):
    """(figure, message) for the Training curves tab."""
    logs, problems = read_training_logs(cfg.weights_dir)
    notes = [f"Skipped {p}." for p in problems]
    if logs.empty:
        return (plots.empty_figure("no training logs yet"),
                "\n\n".join([f"No training logs yet: trained networks are shipped with their logs as "
                             f"`{_shown(cfg.weights_dir)}/<name>.log.csv`, and none is there so far."] + notes))
    models = list(dict.fromkeys(logs["model"]))
    notes.insert(0, f"Per-epoch training curves of {len(models)} model(s): {', '.join(models)}, from "
                    f"`{_shown(cfg.weights_dir)}/*.log.csv` (validation on held-out samples).")
    psnr_loss = [m for m in models
                 if "loss" in logs and plots.trained_on_psnr_loss(logs.loc[logs["model"] == m, "loss"])]
    if psnr_loss:
        notes.insert(1, f"Trained on the PSNR loss (minus PSNR in dB, its own panel): {', '.join(psnr_loss)}; the "
                        "others on L1. Validation is L1 for every model.")
    return plots.training_curves(logs), "\n\n".join(notes)


def build_training_tab(cfg: AppConfig) -> Callable[[gr.Blocks], None]:
    message = gr.Markdown()
    figure = gr.Plot(label="Training curves: loss, MSE, PSNR and SSIM per epoch", elem_id="training-curves")
    fn = functools.partial(training_view, cfg=cfg)

    def on_load(demo: gr.Blocks) -> None:
        demo.load(fn, outputs=[figure, message], api_visibility="private")

    return on_load


# --------------------------------------------------------------------------------- the app


# The examples gallery is as tall as its thumbnails (Gradio 6.31 gives it a 450 px minimum otherwise);
# on a phone its six thumbnails are one row without captions, so the result starts higher up. An empty
# download box is one line high (236 px otherwise).
# The charts are several panels side by side: on a phone they keep a readable width and scroll
# sideways instead of squeezing their panels into each other.
CSS = """
#examples-gallery .grid-wrap { min-height: 0; height: auto; }
#download .empty, #video-download .empty { min-height: 0; height: 56px; }
@media (max-width: 640px) {
  #examples-gallery .grid-container { grid-template-columns: repeat(6, minmax(0, 1fr)) !important; gap: 4px; }
  #examples-gallery .caption-label { display: none; }
}
#leaderboard-bars .js-plotly-plot, #sweep-curves .js-plotly-plot, #speed-bars .js-plotly-plot { min-width: 720px; }
#training-curves .js-plotly-plot { min-width: 960px; }
#leaderboard-bars, #sweep-curves, #speed-bars, #training-curves { overflow-x: auto !important; }
"""
# What the app does, in one sentence: the first thing a visitor reads.
INTRO = ("Makes blurry photos and short videos sharper: upload a photo or click an example below, then drag "
         "the slider to compare before and after.")


def status_markdown(cfg: AppConfig = AppConfig()) -> str:
    nets = networks(cfg)
    if nets:
        lines = ["Shipped networks: " + ", ".join(f"`{n}`" for n in nets) + "."]
    else:
        lines = ["**No trained networks are shipped yet** (none in weights/manifest.json): the model lists hold "
                 "the classical baselines only -- " + ", ".join(f"`{n}`" for n in BASELINES) + "."]
    lines += [f"Not offered: {why}." for why in weights_problems(cfg)]
    return "\n\n".join(lines)


def build_demo(weights_dir: str | Path = WEIGHTS_DIR, leaderboards_dir: str | Path = LEADERBOARDS_DIR,
               tile: int | str | None = TILE, gallery_dir: str | Path = GALLERY_DIR) -> gr.Blocks:
    """The whole app as a gr.Blocks with its queue enabled. Cheap: no model is loaded here."""
    cfg = AppConfig(Path(weights_dir), Path(leaderboards_dir), tile, Path(gallery_dir))
    demo = CheckedBlocks(title="deep-deblur", analytics_enabled=False, delete_cache=(3600, 3600))
    demo.file_check = functools.partial(uploaded_file, cfg=cfg)
    with demo:
        gr.Markdown(f"# deep-deblur\n{INTRO}", elem_id="intro")
        with gr.Tabs():
            with gr.Tab("Deblur", id="deblur"):
                deblur_load = build_deblur_tab(cfg)
            with gr.Tab("Video", id="video"):
                video_load = build_video_tab(cfg)
            with gr.Tab("Leaderboards", id="leaderboards"):
                leaderboards_load = build_leaderboards_tab(cfg)
            with gr.Tab("Training curves", id="training"):
                training_load = build_training_tab(cfg)
        # Which networks are shipped (and what was left out, and why) is for whoever runs the app:
        # below the tabs and closed, not in a visitor's first screen; open when something is wrong.
        with gr.Accordion("Models on this server", open=bool(weights_problems(cfg)) or not networks(cfg),
                          elem_id="status-accordion"):
            status = gr.Markdown(status_markdown(cfg), elem_id="status")
        demo.load(functools.partial(status_markdown, cfg=cfg), outputs=status, api_visibility="private")
        for register in (deblur_load, video_load, leaderboards_load, training_load):
            register(demo)
        # A closed page stops its running job at the next tile or frame (see stop_check); its
        # waiting jobs Gradio drops from the queue itself.
        demo.unload(visitor_left)
    # The compute events share COMPUTE_WORKERS workers, of which long jobs take one at a time (see
    # compute_lane); every other event runs one at a time. Further requests queue, and each
    # visitor sees their place in the queue.
    demo.queue(max_size=32, default_concurrency_limit=1)
    untime_compute_events(demo)
    return demo


@functools.cache
def _module_demo() -> gr.Blocks:
    return build_demo()


def __getattr__(name: str):
    # `app.demo` for tools that expect one (gradio's reload mode), built on first access only,
    # so importing the module stays free of side effects.
    if name == "demo":
        return _module_demo()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def launch(demo: gr.Blocks, host: str, port: int, share: bool = False) -> str | None:
    """Start serving without blocking; returns the public link, or None.

    --share without internet: Gradio cannot reach its tunnel server; say so in one line and
    keep serving locally instead of failing.
    """
    try:
        demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True,
                    show_error=False, max_file_size=MAX_UPLOAD, allowed_paths=[str(GALLERY_DIR)], css=CSS)
    except Exception as exc:  # noqa: BLE001 - any tunnel failure; the local server is what matters
        if not share:
            raise
        print(f"--share: could not create a public link ({' '.join(str(exc).split())}); serving locally only")
        demo.close()
        demo.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=True,
                    show_error=False, max_file_size=MAX_UPLOAD, allowed_paths=[str(GALLERY_DIR)], css=CSS)
    if share and not demo.share_url:
        print(f"--share: no public link could be created (no internet access?); still serving locally at "
              f"{demo.local_url}", flush=True)
    return demo.share_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="deep-deblur web app (Gradio)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port to listen on (default 7860, or $GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="ask Gradio for a temporary public link")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1 to 65535, got {args.port}")
    # Gradio's telemetry helpers read the environment, not only Blocks(analytics_enabled=False).
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    # Refused requests and stopped jobs are one line each in the server log.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    LOG.setLevel(logging.INFO)
    demo = build_demo()
    try:
        launch(demo, args.host, args.port, args.share)
    except OSError:  # Gradio's "Cannot find empty port": the user's to fix, in one line, not a traceback
        demo.close()
        parser.exit(2, f"error: cannot listen on {args.host}:{args.port} (the port is in use or not allowed): "
                       f"choose another with --port\n")
    demo.block_thread()


if __name__ == "__main__":
    main()
