"""The Deblur tab: one photo (uploaded, a real blurry example, or a sharp built-in one blurred first).

"Blur it first" is deblur.degrade.degrade(family, ...) with the evaluator's per-image generator, so
it shows exactly what a leaderboard scores. The request's model, blur type and strength are checked
by the handler (the components accept any value); the self-ensemble and the three-frame restorers
have a size bound (check_cost), and long jobs take the long-job lane (lanes.compute_lane).
"""

from __future__ import annotations

import functools
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

from deblur import registry
from deblur.data import BUILTIN_NAMES, builtin_image
from deblur.degrade import FAMILIES, degrade
from deblur.errors import DeblurError
from deblur.inference import Deblurrer
from deblur.io import read_image, write_image
from deblur.metrics import psnr, ssim
from deblur.blind import network_of, read_kernel
from deblur.psf import is_large
from deblur.registry import PRIOR_RESTORERS, ModelInfo
from deblur_app.common import (DISPLAY_SIDE, AppConfig, display_copy, fresh_output_dir, public_message, safe_stem,
                               user_errors)
from deblur_app.lanes import COMPUTE_WORKERS, compute_lane, is_long, run_restorer, stop_check
from deblur_app.menus import MODEL_INFO, check_model, default_model, get_restorer, model_choices, offered, \
    one_pass, slow_restorer
from deblur_app.uploads import upload_path, uploaded_file

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
# "Blur it first" draws its blur exactly as the evaluator draws a leaderboard's: the evaluator's
# default seed (eval.config.DEFAULT_SEED) and the photo's name, see photo_rng.
BLUR_SEED = 42
# The 8-view self-ensemble costs 8 passes of a network, and the three-frame restorers that fit a
# camera path cost 11-17 s of fitting per frame plus ~20 s per MP: each runs only up to a size that
# finishes in about a minute on the demo's 2-core machine, and is refused above it with what to do
# instead. Measured (bench/app_load.py cost) with the machine busy (load 6-8: training and tests):
# ensembles of 1 MP took 17 s (res_unet-camera+psf) and 70 s (naf_unet-camera); of 1.5 MP 41 s and
# of 2 MP (tiled) 164 s (res_unet-camera+psf); idle, 1 MP takes 7-15 s (8x the published 720p speed
# table). The three-frame restorers take 25-28 s on a 720p triplet idle (docs/three-frames.md), but 286-334 s on
# 1 MP and still 152-228 s on 0.26 MP busy: their fit hardly shrinks with the size, so no size
# bound keeps them to a minute on a busy machine; the long-job lane keeps them from holding up
# short requests.
MAX_ENSEMBLE_PIXELS = 1_000_000
MAX_SLOW_PIXELS = 1_000_000
MAX_PRIOR_PIXELS = 4_000_000  # blind_pnp: a kernel read plus ~16 s a megapixel of learned deconvolution

# Blur types = the blur families of deblur.degrade (one record each: its slider's range, its level
# keyword, its one-line description), "Real photo" first and the default. A family added there
# appears here under its own name and level until it is given friendlier words below.
DEFAULT_TASK = "camera"
TASKS = (DEFAULT_TASK, *(name for name in FAMILIES if name != DEFAULT_TASK))
TASK_LABELS = {"camera": "Real photo", "gaussian": "Gaussian", "motion": "Motion (video frames)"}
LEVEL_LABELS = {"camera": "Camera blur strength (0 = none, 1 = the strongest the family draws)",
                "gaussian": "Gaussian sigma (px)", "motion": "Motion length (px)"}
# "Blur it first" slider per blur type: (minimum, maximum, step, default, label); the value is
# handed to the family's own keyword, FAMILIES[task].level (sigma / length / strength).
STRENGTH = {t: (*FAMILIES[t].app_range, LEVEL_LABELS.get(t, FAMILIES[t].sweep_label)) for t in TASKS}
# The slider as built spans every blur type, so an API call is checked against the chosen type's
# own range in the handler (Gradio refuses values outside what the component was built with).
SLIDER_RANGE = (min(v[0] for v in STRENGTH.values()), max(v[1] for v in STRENGTH.values()))
# The one-click examples, most visibly improved by the default camera model first (res_unet-camera+psf,
# looked at side by side: `python bench/gallery.py`, docs/real-photos.md): a misfocused page that becomes
# readable; a shaken page whose lines can be made out; a shaken clock whose outline and hands appear
# (with ghost rims); a licence plate that loses its grain but stays unreadable; two video frames that
# hardly change (bikes_100 comes back as it was: its blur is a passing car's, not the camera's).
# Photos not listed here follow in name order.
GALLERY_ORDER = ("text_defocus", "text_motion", "clock", "licenseplate_motion", "bikes_200", "bikes_100")


# ------------------------------------------------------------------------------ the photo


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
    if upload_path(upload) is None:
        return None
    img, _ = load_photo(upload, None, cfg)
    return display_copy(img, side=800)


def task_label(task: str) -> str:
    return TASK_LABELS.get(task, task.capitalize())


def check_task(task: str) -> str:
    task = (task or "").lower()
    if task not in TASKS:
        raise gr.Error(f"blur type must be one of {', '.join(TASKS)}, got {task!r}")
    return task


def check_cost(info: ModelInfo, h: int, w: int, ensemble: bool) -> bool:
    """Refuse a photo request over its cost bound (gr.Error); else whether it is a long job."""
    views = 8 if ensemble and not one_pass(info) else 1
    slow = slow_restorer(info)
    if info.name in PRIOR_RESTORERS and h * w > MAX_PRIOR_PIXELS:
        raise gr.Error(f"{info.name} reads the photo's kernel and deconvolves it with a learned prior (about 16 s a "
                       f"megapixel here), so here it takes photos of up to {MAX_PRIOR_PIXELS / 1e6:g} MP and this one "
                       f"is {w} x {h} px ({h * w / 1e6:.2f} MP): crop the photo, or run `python -m deblur photo.png "
                       f"-o sharp.png --model {info.name}` on your own machine")
    size = f"{w} x {h} px ({h * w / 1e6:.2f} MP)"
    if views > 1 and h * w > MAX_ENSEMBLE_PIXELS:
        raise gr.Error(f"the self-ensemble runs the network 8 times, so here it takes photos of up to "
                       f"{MAX_ENSEMBLE_PIXELS / 1e6:g} MP and this one is {size}: untick it (one pass), crop "
                       f"the photo, or run `python -m deblur photo.png -o sharp.png --model {info.name} --ensemble` "
                       "on your own machine")
    if slow and h * w * views > MAX_SLOW_PIXELS:
        raise gr.Error(f"{info.name} fits a camera path to three frames (tens of times a network's cost), so here "
                       f"it takes photos of up to {MAX_SLOW_PIXELS / 1e6:g} MP and this one is {size}: pick another "
                       f"model, crop the photo, or run `python -m deblur` with --model {info.name} on your own machine")
    return slow or is_long(h * w * views)


# ------------------------------------------------------------------------- "Blur it first"


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


def check_blur_first_size(h: int, w: int) -> None:
    if h * w > MAX_BLUR_FIRST_PIXELS:
        raise gr.Error(f"'Blur it first' takes photos of up to 3840 x 2160 px "
                       f"({MAX_BLUR_FIRST_PIXELS / 1e6:.1f} MP); this one is {w} x {h}. Untick it "
                       "to deblur the photo as it is, or crop it")
    if min(h, w) < MIN_SCORED_SIDE:
        raise gr.Error(f"'Blur it first' scores the result with SSIM, whose window is {MIN_SCORED_SIDE} x "
                       f"{MIN_SCORED_SIDE} px, and this photo is {w} x {h}: use one of at least "
                       f"{MIN_SCORED_SIDE} x {MIN_SCORED_SIDE} px, or untick 'Blur it first'")


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
    elif task != "camera":
        note = f"{task} blur, {family.sweep_label} {value:g} ({k}x{k} kernel)"
    else:
        p = d.params
        noise = ("no sensor noise" if not p.get("shot") and not p.get("read")
                 else f"sensor noise (shot {p.get('shot', 0):.2g}, read {p.get('read', 0):.2g})")
        jpeg = f"JPEG quality {p['jpeg_quality']}" if p.get("jpeg_quality") else "no JPEG"
        note = (f"camera blur of strength {value:g}: a {p.get('kernel_family', '?')} kernel ({k}x{k}) "
                f"in linear light, {noise}, {jpeg}")
    return d.frames, d.target, d.kernel, f"{note}, {drawn}"


def metrics_table(sharp: np.ndarray, before: np.ndarray, after: np.ndarray, name: str) -> str:
    rows = [("blurred input", before), (name, after)]
    scores = [(label, psnr(img, sharp), ssim(img, sharp)) for label, img in rows]
    lines = ["| against the sharp original | PSNR (dB) | SSIM |", "|---|---:|---:|"]
    lines += [f"| {label} | {p:.2f} | {s:.4f} |" for label, p, s in scores]
    gain = scores[1][1] - scores[0][1]
    lines.append(f"\n**{name}: {gain:+.2f} dB** over the blurred input "
                 "(PSNR caps at 100 dB for identical images).")
    return "\n".join(lines)


# --------------------------------------------------------------------- what it found, the run


@dataclass(frozen=True)
class Found:
    """What a restorer found in the photo: one line for the report, and the kernel (None: no blur)."""

    note: str
    kernel: np.ndarray | None = None


def blur_found(info: ModelInfo, found: dict | None, photo: np.ndarray) -> Found | None:
    """One line on what the restorer `info` names found in `photo`, from what it reported
    (deblur.inference.Deblurrer.report / the baselines' report): None when it looks for nothing.

    NAME+psf and blind_psf look for a large defocus disc or straight shake (deblur.psf); NAME+guard
    first reads the photo's kernel and only denoises a photo in which it finds no blur."""
    if info.name in PRIOR_RESTORERS and found is not None and "verdict" in found:  # blind_pnp: what it read
        if found["verdict"] == "no blur":
            return Found("No blur found in the photo: it was only denoised.")
        read = f"Blur read from the photo: {found['description']} (confidence {found['confidence']:.2f})"
        if found.get("deconvolved"):
            return Found(read + "; deconvolved with the learned prior.", found["kernel"])
        return Found(read + f"; not deconvolved ({found.get('why') or found['verdict']}): only denoised.",
                     found["kernel"])
    guard = (found or {}).get("guard")
    if guard is not None and guard.get("ran") == registry.GUARD_PRIOR:
        sure = guard.get("verdict") == "no blur"
        return Found(("No blur found in the photo" if sure else "No blur read from the photo with confidence")
                     + ": it was only denoised, the network did not run (a sharp photo comes back as it was).")
    if not info.psf and info.name != "blind_psf":
        return None
    first = info.psf  # the network runs after: what was found is deconvolved first, or left to it
    if found is None or min(photo.shape[:2]) < 32:
        return Found("The photo is too small to look for a large blur in it.")
    est = found["psf"]
    if est.family == "none":
        # the kernel reader (the guard's) may read a shake the spectrum search does not find: say what undoes it
        shake = guard is not None and guard.get("shape") in ("line", "shake")
        return Found("No large defocus or straight shake found in the photo"
                     + (": the network alone ran." if first else ": it is returned as it was.")
                     + (f" The photo reads as a {guard['description']} (below), which this model does not undo: "
                        "blind_pnp (second in the model menu) deconvolves it." if shake else ""))
    if first and not is_large(est):
        return Found(f"Blur found: {est.describe()}; small enough that the network alone handles it.", est.kernel)
    return Found(f"Blur found: {est.describe()}; deconvolved" + (" before the network." if first else "."),
                 est.kernel)


KERNEL_SIDE = 120  # px: the kernel picture beside the result
MIN_READ_SIDE = 48  # deblur.kernel_estimate's minimum


def kernel_picture(kernel: np.ndarray, side: int = KERNEL_SIDE) -> np.ndarray:
    """A blur kernel as a uint8 (side, side, 3) picture: white where the light went, scaled to its
    peak, each kernel pixel a square (nearest neighbour), on black; x right, y down."""
    k = np.clip(np.asarray(kernel, dtype=np.float64), 0.0, None)
    k = k / k.max() if k.max() > 0 else k
    n = max(k.shape)
    rep = max(1, side // max(n, 1))
    big = np.kron(k, np.ones((rep, rep)))
    canvas = np.zeros((side, side))
    top, left = (side - big.shape[0]) // 2, (side - big.shape[1]) // 2
    canvas[top:top + big.shape[0], left:left + big.shape[1]] = big[:side, :side]
    return np.repeat(np.rint(canvas * 255.0).astype(np.uint8)[:, :, None], 3, axis=2)


@user_errors
def read_blur(upload, example: str | None, task: str, blur_first: bool, cfg: AppConfig = AppConfig()):
    """The blur kernel read from a real photo (deblur.kernel_estimate, blind, whatever the model),
    beside the result: (kernel picture update, one-line Markdown update). Only for the Real photo
    type without 'Blur it first' (a synthetic blur is known, and shown in the report)."""
    hidden = gr.update(value=None, visible=False), gr.update(value="", visible=False)
    if task != "camera" or blur_first:
        return hidden
    img, _ = load_photo(upload, example, cfg)
    if min(img.shape[:2]) < MIN_READ_SIDE:
        return gr.update(value=None, visible=False), gr.update(
            value=f"The photo is too small to read a blur kernel from (at least {MIN_READ_SIDE} px a side).",
            visible=True)
    est = read_kernel(img)  # the guarded default has just read it: kept, not read twice
    if est.verdict == "no blur":
        line = "**Blur read from the photo:** no blur found."
    else:
        line = (f"**Blur read from the photo:** {est.description} (confidence {est.confidence:.2f}). "
                "`python -m deblur PHOTO --save-kernel k.npy` writes it; `--kernel k.npy` hands it to "
                "any restorer that takes one.")
    return gr.update(value=kernel_picture(est.kernel), visible=True), gr.update(value=line, visible=True)


@user_errors
def deblur_photo(upload, example: str | None, task: str, model: str, blur_first: bool, strength: float,
                 ensemble: bool = False, progress: gr.Progress = gr.Progress(), request: gr.Request | None = None,
                 *, cfg: AppConfig = AppConfig()):
    """Deblur one photo. Returns ((before, after) for the slider, PNG path, Markdown report).

    request: the visitor's (Gradio passes it); the job stops between tiles once they leave.
    """
    stop = stop_check(request)
    task = check_task(task)
    info = check_model(model, cfg, task, have_kernel=bool(blur_first))
    if blur_first:
        check_strength(task, strength)
    progress(0, desc="Reading the photo")
    img, name = load_photo(upload, example, cfg)
    stem = safe_stem(name)
    h, w = img.shape[:2]
    if blur_first:
        check_blur_first_size(h, w)
    long = check_cost(info, h, w, bool(ensemble))
    with compute_lane(long, stop, progress):  # a long job waits for the long job before it
        kernel, sharp, note = None, None, ""
        frames = img
        if blur_first:
            stop()
            progress(0, desc=f"Blurring the photo first ({task_label(task).lower()})")
            frames, sharp, kernel, note = synthesise_blur(img, task, strength, name)
            del img  # the target is `sharp` now: one copy of a 4K photo less
        before = frames[frames.shape[0] // 2] if frames.ndim == 4 else frames
        stop()
        progress(0, desc=f"Loading {model}")
        t0 = time.perf_counter()
        restorer = get_restorer(info, cfg, ensemble=bool(ensemble))
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out, reported = run_restorer(restorer, frames, kernel, progress, stop)
        run_s = time.perf_counter() - t0
        del frames
        found = blur_found(info, reported, before)
        png = write_image(fresh_output_dir("photo") / f"{stem}_{safe_stem(model)}.png", out)
        tiles = ""
        denoised = ((reported or {}).get("guard") or {}).get("ran") == registry.GUARD_PRIOR
        net = None if denoised else network_of(restorer)  # no blur found: the network did not run
        if isinstance(net, Deblurrer) and net.tiles(h, w):
            tiles = f", in overlapping {net.tile} px tiles"
        views = ", averaged over 8 flips / rotations" if getattr(net, "ensemble", False) else ""
        report = [f"**{model}** took **{run_s:.2f} s** on {w} x {h} px ({w * h / 1e6:.2f} MP{tiles}{views})"
                  + (f"; loading the model took {load_s:.1f} s (first use only)" if load_s > 0.5 else "") + "."]
        if ensemble and one_pass(info):
            report.append(f"The 8-view self-ensemble is for networks; {model} ran once.")
        if found is not None:
            report.append(found.note)
        if max(h, w) > DISPLAY_SIDE:
            report.append(f"The slider shows a copy at most {DISPLAY_SIDE} px wide; the PNG below is full size.")
        if blur_first:
            stop()
            progress(None, desc="Scoring PSNR / SSIM against the original")
            report.append(f"Input: the photo with synthetic {note}.")
            report.append(metrics_table(sharp, before, out, model))
        return (display_copy(before), display_copy(out)), str(png), "\n\n".join(report)


# ------------------------------------------------------------------- options and examples


def blur_type_note(task: str) -> str:
    """One line: which kind of photo a blur type (and its networks) is for."""
    task = task if task in TASKS else DEFAULT_TASK
    return f"**{task_label(task)}**: {FAMILIES[task].description}."


def blur_type_changed(task: str, cfg: AppConfig = AppConfig()):
    """New blur type: its models in the dropdown, its strength slider, and its one-line note."""
    task = task if task in TASKS else DEFAULT_TASK
    lo, hi, step, value, label = STRENGTH[task]
    menu = offered(cfg)
    return (gr.update(choices=model_choices(cfg, task, menu), value=default_model(cfg, task, menu)),
            gr.update(minimum=lo, maximum=hi, step=step, value=value, label=label),
            blur_type_note(task))


def model_changed(model: str, blur_first: bool):
    """Picking a kernel-based baseline ticks 'Blur it first' (it cannot run without it)."""
    restorer = registry.BASELINES.get(model)
    if restorer is not None and restorer.needs_kernel:
        return gr.update(value=True)
    return gr.update(value=blur_first)


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


# ------------------------------------------------------------------------------ the layout


def build(cfg: AppConfig) -> Callable[[gr.Blocks], None]:
    """Upload, the Deblur button and the examples first, the result beside them (below on a phone):
    all within the first 1280 x 800 screen. Everything a first visit needs no choice for (blur type,
    model, 'Blur it first', the self-ensemble, the sharp built-in photos) is in the closed Options.
    Returns a function that registers the tab's page-load events on the Blocks."""
    examples = gallery_photos(cfg)
    menu = offered(cfg)
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
                task = gr.Radio(choices=[(task_label(t), t) for t in TASKS], value=DEFAULT_TASK,
                                label="Blur type", elem_id="blur-type")
                task_note = gr.Markdown(blur_type_note(DEFAULT_TASK), elem_id="blur-type-note")
                # Any value is accepted here and validated by the handler against the weights shipped
                # now (Gradio would otherwise refuse every model of the other blur types, and any
                # network shipped after the server started, in API calls).
                model = gr.Dropdown(choices=model_choices(cfg, DEFAULT_TASK, menu),
                                    value=default_model(cfg, DEFAULT_TASK, menu),
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
            with gr.Row(equal_height=False):
                kernel_image = gr.Image(label="Blur kernel read from the photo", type="numpy", interactive=False,
                                        height=KERNEL_SIDE + 40, width=KERNEL_SIDE + 40, visible=False,
                                        buttons=[], elem_id="kernel-image")
                kernel_note = gr.Markdown(visible=False, elem_id="kernel-note")

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
    blur_inputs = [upload, example, task, blur_first]
    blur_outputs = [kernel_image, kernel_note]
    read = functools.partial(read_blur, cfg=cfg)
    # The result first; the kernel read from the photo a moment later (1-3 s per megapixel), in its own
    # event, so the /deblur API keeps its three outputs.
    run.click(run_photo, inputs=photo_inputs, outputs=photo_outputs, api_name="deblur", concurrency_id="compute",
              concurrency_limit=COMPUTE_WORKERS, scroll_to_output=True).success(
        read, inputs=blur_inputs, outputs=blur_outputs, api_name="read_blur", concurrency_id="compute",
        concurrency_limit=COMPUTE_WORKERS)

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
        concurrency_limit=COMPUTE_WORKERS, api_visibility="private", scroll_to_output=True).success(
        read, inputs=blur_inputs, outputs=blur_outputs, concurrency_id="compute",
        concurrency_limit=COMPUTE_WORKERS, api_visibility="private")

    def refresh_gallery():
        photos = gallery_photos(cfg)
        return gr.update(value=[(str(p), p.stem) for p in photos], visible=bool(photos))

    def on_load(demo: gr.Blocks) -> None:
        # Networks shipped (and example photos added) while the server runs appear on the next page load.
        demo.load(functools.partial(blur_type_changed, cfg=cfg), inputs=task, outputs=type_outputs,
                  api_visibility="private")
        demo.load(refresh_gallery, outputs=gallery, api_visibility="private")

    return on_load
