"""Tests for app.py and its tabs (deblur_app/): handlers called directly, then the API through gradio_client.

Networks are tiny untrained models saved into a temporary weights folder (the shipped weights
may not exist yet); images are a few dozen pixels; the server runs on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import pytest
from slow_net import SlowNet
from PIL import Image

import app
from deblur import registry
from deblur.degrade import FAMILIES
from deblur.data import builtin_image
from deblur.io import iter_video, read_image, write_video
from deblur.models import build_model
from deblur.weights import save_weights, write_manifest_entry
from deblur_app import common, lanes, leaderboards_tab, menus, photo_tab, server_status, training_tab, video_tab

ROOT = Path(__file__).resolve().parent.parent
TRAIN_LOG = ("epoch,step,samples,lr,loss,val_loss,val_mse,val_psnr,val_ssim,seconds\n"
             "1,10,160,0.001,0.05,0.055,0.002,27.0,0.80,12.0\n"
             "2,20,320,0.001,0.04,0.045,0.0015,28.2,0.83,24.0\n")


def save_net(weights_dir: Path, name: str, arch: str, task: str, **size) -> None:
    model = build_model(arch, "lite", task, **size)
    sha = save_weights(weights_dir / f"{name}.safetensors", model, {"task": task, "name": name})
    write_manifest_entry(name, f"{name}.safetensors", sha, {"arch": arch, "task": task},
                         weights_dir=weights_dir)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A weights folder with a tiny Gaussian and a tiny motion network and one training log."""
    d = tmp_path_factory.mktemp("weights")
    save_net(d, "carlo_net-gaussian", "carlo_net", "gaussian", layers=2, channels=4)
    save_net(d, "atrous_net-motion", "atrous_net", "motion", blocks=1, stem=4, channels=4, branch=4, head=4)
    (d / "carlo_net-gaussian.log.csv").write_text(TRAIN_LOG)
    return d


@pytest.fixture(scope="module")
def boards(tmp_path_factory) -> Path:
    """eval/leaderboards-like folder: one run with leaderboard + sweep, and one broken file."""
    d = tmp_path_factory.mktemp("leaderboards")
    run = d / "builtin-gaussian"
    run.mkdir()
    pd.DataFrame({
        "model": ["carlo_net-gaussian", "wiener", "blurred"], "kind": ["network", "baseline", "baseline"],
        "dataset": "builtin", "protocol": "full", "blur": "gaussian", "n": 7,
        "psnr": [29.0, 28.0, 26.5], "ssim": [0.88, 0.85, 0.8], "mse": [0.0013, 0.0016, 0.0022],
        "gain_db": [2.5, 1.5, 0.0], "params": [1000, None, None], "seconds_per_mp": [1.0, 0.5, 0.0],
    }).to_csv(run / "leaderboard.csv", index=False)
    pd.DataFrame({
        "model": ["blurred"] * 2 + ["wiener"] * 2, "dataset": "builtin", "protocol": "full", "blur": "gaussian",
        "level": [1.0, 2.0] * 2, "n": 7, "psnr": [30.0, 26.0, 32.0, 28.0], "ssim": [0.9, 0.8, 0.93, 0.85],
        "mse": [0.001, 0.0025, 0.0006, 0.0016],
    }).to_csv(run / "sweep.csv", index=False)
    (d / "broken").mkdir()
    (d / "broken" / "leaderboard.csv").write_text("this,is\nnot,a leaderboard\n")
    return d


@pytest.fixture(scope="module")
def cfg(weights, boards) -> common.AppConfig:
    return common.AppConfig(weights_dir=weights, leaderboards_dir=boards, tile=64)


def upload_folder() -> Path:
    """A fresh folder inside Gradio's upload folder, as Gradio makes one per uploaded file: the app
    opens a visitor's files from there only (deblur_app.uploads.uploaded_file)."""
    d = Path(gr.utils.get_upload_folder()) / f"test-app-{uuid.uuid4().hex}"
    d.mkdir(parents=True)
    return d


@pytest.fixture
def uploads():
    d = upload_folder()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def files():
    """Tiny inputs, good and bad, as uploaded."""
    d = upload_folder()
    rgb = builtin_image("coffee")[100:196:2, 200:328:2]  # 48 x 64, a real photo
    out = {"rgb": d / "photo.png", "grey": d / "grey.png", "rgba": d / "rgba.png", "deep": d / "deep16.png",
           "corrupt": d / "corrupt.png", "text": d / "notes.txt", "empty": d / "empty.jpg"}
    Image.fromarray(rgb).save(out["rgb"])
    Image.fromarray(rgb[..., 1]).save(out["grey"])
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(out["rgba"])
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(out["deep"])
    out["corrupt"].write_bytes(out["rgb"].read_bytes()[:60])
    out["text"].write_text("not a picture\n")
    out["empty"].write_bytes(b"")
    frames = [np.roll(rgb, 2 * i, axis=1) for i in range(5)]
    out["video"] = write_video(d / "clip.mp4", frames, fps=10)
    out["short"] = write_video(d / "short.mp4", frames[:2], fps=10)
    yield out
    shutil.rmtree(d, ignore_errors=True)


class Recorder:
    """Stands in for gr.Progress and records every update."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, value, desc=None, total=None, unit="steps"):
        self.calls.append((value, desc, unit))


def restorer(cfg, name: str, ensemble: bool = False):
    """The app's cached restorer called `name`."""
    return menus.get_restorer(menus.offered(cfg)[name], cfg, ensemble)


def photo(cfg, upload=None, example=None, task="gaussian", model="blurred", blur_first=False, strength=1.5,
          ensemble=False, progress=None):
    return photo_tab.deblur_photo(upload, example, task, model, blur_first, strength, ensemble,
                            progress or Recorder(), cfg=cfg)


# ----------------------------------------------------------------------------- photo handler


def test_photo_network_full_resolution_fresh_png_and_tile_progress(cfg, files):
    progress = Recorder()
    (before, after), png, report = photo(cfg, str(files["rgb"]), model="carlo_net-gaussian", progress=progress)
    src = read_image(files["rgb"])
    assert before.shape == after.shape == src.shape and after.dtype == np.uint8
    np.testing.assert_array_equal(before, src)
    assert np.array_equal(read_image(png), after)
    assert Path(png).name == "photo_carlo_net-gaussian.png"
    assert re.search(r"\*\*carlo_net-gaussian\*\* took \*\*\d+\.\d\d s\*\*", report)
    tiles = [c for c in progress.calls if c[2] == "tiles"]
    assert tiles and tiles[-1][0][0] == tiles[-1][0][1]  # the bar reaches done == total
    # Every request writes its own file: a second run never overwrites the first one's result.
    _, png2, _ = photo(cfg, str(files["rgb"]), model="carlo_net-gaussian")
    assert png2 != png and Path(png).is_file() and Path(png2).is_file()


def test_photo_large_image_is_tiled(cfg, uploads):
    img = builtin_image("astronaut")[::4, ::3][:100, :150]  # larger than the 72 px tile
    Image.fromarray(img).save(uploads / "big.png")
    progress = Recorder()
    _, png, report = photo(cfg, str(uploads / "big.png"), model="carlo_net-gaussian", progress=progress)
    assert read_image(png).shape == img.shape
    assert "tiles" in report
    assert [c for c in progress.calls if c[2] == "tiles"][-1][0][1] > 1


def test_photo_builtin_example_blur_first_scores_both(cfg):
    (before, after), png, report = photo(cfg, example="chelsea", model="wiener", blur_first=True, strength=2.0)
    sharp = builtin_image("chelsea")
    assert after.shape == before.shape == sharp.shape
    assert not np.array_equal(before, sharp)  # the slider's "before" is the blurred photo
    assert "| blurred input |" in report and "| wiener |" in report and "dB** over the blurred input" in report
    assert Path(png).name == "chelsea_wiener.png"


def test_photo_motion_blur_first_with_3_frame_network(cfg, files):
    (before, after), _, report = photo(cfg, str(files["rgb"]), task="motion", model="atrous_net-motion",
                                       blur_first=True, strength=6)
    assert after.shape == (48, 64, 3)
    assert "motion blur" in report and "| atrous_net-motion |" in report


@pytest.mark.parametrize("kind", ["grey", "rgba", "deep"])
def test_photo_converts_grey_rgba_16bit(cfg, files, kind):
    (before, after), png, _ = photo(cfg, str(files[kind]))
    assert after.shape == (48, 64, 3) and after.dtype == np.uint8
    assert read_image(png).shape == (48, 64, 3)


@pytest.mark.parametrize("kind, message", [
    ("corrupt", "corrupt.png"), ("text", "notes.txt"), ("empty", "empty.jpg"),
])
def test_photo_bad_files_are_gr_errors_naming_the_file(cfg, files, kind, message):
    with pytest.raises(gr.Error) as err:
        photo(cfg, str(files[kind]))
    assert message in err.value.message
    assert str(files[kind].parent) not in err.value.message  # no server-side temp path


def test_photo_huge_image_refused_with_the_limit(cfg, files, monkeypatch):
    monkeypatch.setattr(photo_tab, "MAX_PIXELS", 1000)
    with pytest.raises(gr.Error, match="more than the limit of 1,000"):
        photo(cfg, str(files["rgb"]))


def test_blur_first_has_its_own_size_limit(cfg, files, monkeypatch):
    monkeypatch.setattr(photo_tab, "MAX_BLUR_FIRST_PIXELS", 1000)
    with pytest.raises(gr.Error, match="'Blur it first' takes photos of up to"):
        photo(cfg, str(files["rgb"]), blur_first=True)
    photo(cfg, str(files["rgb"]))  # the same photo deblurs as it is


@pytest.mark.parametrize("kwargs, message", [
    ({}, "upload a photo"),
    ({"model": "wiener"}, "tick 'Blur it first'"),
    ({"model": "richardson_lucy"}, "true blur kernel"),
    ({"model": "no_such_model"}, "unknown model 'no_such_model'; choose one of: .*carlo_net-gaussian.*blurred"),
    ({"model": "carlo_net-gaussian", "task": "motion"}, "trained for gaussian blur"),
    ({"task": "sideways"}, "blur type must be one of"),
    ({"example": "not_a_builtin"}, "unknown example"),
    ({"blur_first": True, "strength": 40}, "between 0.5 and 3"),
])
def test_photo_bad_requests_are_gr_errors(cfg, files, kwargs, message):
    args = {"upload": str(files["rgb"]) if "example" not in kwargs and kwargs else None, **kwargs}
    with pytest.raises(gr.Error, match=message):
        photo(cfg, **args)


def test_corrupted_weights_are_refused(tmp_path, files):
    save_net(tmp_path, "carlo_net-gaussian", "carlo_net", "gaussian", layers=2, channels=4)
    path = tmp_path / "carlo_net-gaussian.safetensors"
    data = bytearray(path.read_bytes())
    data[-40:] = bytes(255 - b for b in data[-40:])  # flip bits of the last tensor values
    path.write_bytes(bytes(data))
    bad = common.AppConfig(weights_dir=tmp_path, leaderboards_dir=tmp_path)
    with pytest.raises(gr.Error, match="SHA-256"):
        photo(bad, str(files["rgb"]), model="carlo_net-gaussian")


def test_restorers_are_cached(cfg):
    assert restorer(cfg, "carlo_net-gaussian") is restorer(cfg, "carlo_net-gaussian")
    ens = restorer(cfg, "carlo_net-gaussian", ensemble=True)
    assert ens is restorer(cfg, "carlo_net-gaussian", ensemble=True)
    assert ens.ensemble and not restorer(cfg, "carlo_net-gaussian").ensemble


@pytest.mark.parametrize("model", ["carlo_net-gaussian", "blurred"])
def test_a_request_reads_the_manifest_once(cfg, files, monkeypatch, model):
    """The model is checked, labelled and loaded from one registry.catalog (it was 4-5 reads)."""
    photo(cfg, str(files["rgb"]), model=model)  # the restorers are built and cached
    video_tab.deblur_clip(str(files["video"]), "atrous_net-motion", Recorder(), cfg=cfg)
    reads = []
    real = registry.read_manifest
    monkeypatch.setattr(registry, "read_manifest", lambda folder=None, *a, **k: (
        reads.append(folder) if Path(folder or "") == cfg.weights_dir else None) or real(folder, *a, **k))
    photo(cfg, str(files["rgb"]), model=model)
    video_tab.deblur_clip(str(files["video"]), "atrous_net-motion", Recorder(), cfg=cfg)
    assert len(reads) == 2  # one per request


def test_photo_self_ensemble_runs_eight_views_and_baselines_ignore_it(cfg, files):
    progress = Recorder()
    (_, after), _, report = photo(cfg, str(files["rgb"]), model="carlo_net-gaussian", ensemble=True,
                                  progress=progress)
    (_, plain), _, _ = photo(cfg, str(files["rgb"]), model="carlo_net-gaussian")
    assert after.shape == plain.shape and "averaged over 8 flips / rotations" in report
    src = read_image(files["rgb"])
    net = restorer(cfg, "carlo_net-gaussian")
    views = [np.rot90(net(np.ascontiguousarray(np.rot90(src, k))), -k).astype(float) for k in range(4)]
    views += [np.rot90(net(np.ascontiguousarray(np.rot90(src[:, ::-1], k))), -k)[:, ::-1].astype(float)
              for k in range(4)]
    assert np.abs(after - np.mean(views, axis=0)).max() <= 1  # the mean of 8 rounded views, within rounding
    tiles = [c for c in progress.calls if c[2] == "tiles"]
    assert tiles and tiles[-1][0][0] == tiles[-1][0][1] >= 8  # one step per view (and tile)
    (_, same), _, report = photo(cfg, str(files["rgb"]), model="blurred", ensemble=True)
    np.testing.assert_array_equal(same, src)
    assert "self-ensemble is for networks" in report


def test_model_lists_follow_the_blur_type(cfg, tmp_path):
    gauss = [v for _, v in menus.model_choices(cfg, "gaussian")]
    motion = [v for _, v in menus.model_choices(cfg, "motion")]
    assert gauss[0] == "carlo_net-gaussian" and "atrous_net-motion" not in gauss
    assert motion[0] == "atrous_net-motion" and "carlo_net-gaussian" not in motion
    assert {"blurred", "wiener", "richardson_lucy"} <= set(gauss) & set(motion)
    video = [v for _, v in menus.video_model_choices(cfg)]
    assert video[:2] == ["atrous_net-motion", "carlo_net-gaussian"] and "wiener" not in video
    # the three-frame classical method: motion photos only (too slow for a clip)
    assert "multiframe_wiener" in motion and "multiframe_wiener" not in gauss and "multiframe_wiener" not in video
    models, slider, note = photo_tab.blur_type_changed("motion", cfg=cfg)
    assert models["value"] == "atrous_net-motion" and slider["label"] == photo_tab.STRENGTH["motion"][4]
    empty = common.AppConfig(weights_dir=tmp_path, leaderboards_dir=tmp_path)
    assert menus.default_model(empty, "gaussian") in registry.BASELINES
    assert "No trained networks are shipped yet" in server_status.status_markdown(empty)
    assert "carlo_net-gaussian" in server_status.status_markdown(cfg)


# ----------------------------------------------------------------------------- video handler


def test_video_motion_network_all_frames(cfg, files):
    progress = Recorder()
    (before, after), player, download, report = video_tab.deblur_clip(str(files["video"]), "atrous_net-motion",
                                                                progress, cfg=cfg)
    assert player == download and Path(player).suffix == ".mp4"
    out = list(iter_video(player))
    assert len(out) == 5 and out[0].shape == (48, 64, 3)
    assert before.shape == after.shape == (48, 64, 3)
    assert "5 frames" in report
    assert [c for c in progress.calls if c[2] == "frames"][-1][0] == (5, 5)


def test_video_baseline_and_frame_cap(cfg, files, monkeypatch):
    monkeypatch.setattr(video_tab, "MAX_VIDEO_FRAMES", 3)
    _, player, _, report = video_tab.deblur_clip(str(files["video"]), "blurred", Recorder(), cfg=cfg)
    assert len(list(iter_video(player))) == 3
    assert "only its first 3 were processed" in report


@pytest.mark.parametrize("video, model, message", [
    ("short", "atrous_net-motion", "at least 3 frames"),
    ("text", "blurred", "notes.txt"),
    (None, "blurred", "upload a short video"),
    ("video", "wiener", "no known kernel"),
    ("video", "nope", "unknown model"),
    ("video", "multiframe_wiener", "fits a camera path"),
])
def test_video_bad_requests_are_gr_errors(cfg, files, video, model, message):
    with pytest.raises(gr.Error, match=message):
        video_tab.deblur_clip(str(files[video]) if video else None, model, Recorder(), cfg=cfg)


def test_prior_refining_networks_are_for_photos_not_clips(boards, files, tmp_path):
    """A network on the three-frame path fit (15-40 s a frame) is offered on the Deblur tab for
    motion, labelled as such, but not on the Video tab, and a clip request naming it is refused."""
    d = tmp_path / "weights"
    save_net(d, "atrous_net-motion", "atrous_net", "motion", blocks=1, stem=4, channels=4, branch=4, head=4)
    save_net(d, "multiframe_atrous-motion", "multiframe_atrous", "motion", blocks=1, stem=4, channels=4, branch=4,
             head=4)
    c = common.AppConfig(weights_dir=d, leaderboards_dir=boards, tile=64)
    photo = dict((v, k) for k, v in menus.model_choices(c, "motion"))
    assert "path fit" in photo["multiframe_atrous-motion"] and "path fit" not in photo["atrous_net-motion"]
    clip = [v for _, v in menus.video_model_choices(c)]
    assert "atrous_net-motion" in clip and "multiframe_atrous-motion" not in clip
    assert menus.default_video_model(c) == "atrous_net-motion"
    with pytest.raises(gr.Error, match="fits a camera path"):
        video_tab.deblur_clip(str(files["video"]), "multiframe_atrous-motion", Recorder(), cfg=c)


def test_video_frames_too_large(cfg, files, monkeypatch):
    monkeypatch.setattr(video_tab, "MAX_VIDEO_PIXELS", 100)
    with pytest.raises(gr.Error, match="frames are 64 x 48"):
        video_tab.deblur_clip(str(files["video"]), "blurred", Recorder(), cfg=cfg)


# ---------------------------------------------------------------- leaderboards and training


def test_leaderboards_from_published_csv(cfg):
    message, choice, bars, table, sweep_choice, sweep, speed = leaderboards_tab.refresh_leaderboards(cfg)
    assert choice["value"] == "builtin-gaussian: builtin / full / gaussian"
    assert "Skipped broken/leaderboard.csv" in message
    assert len(bars.data) == 3 and "blurred (input)" in list(bars.data[0].x)
    assert list(table["model"]) == ["carlo_net-gaussian", "wiener", "blurred"]
    assert sweep_choice["value"] == "builtin-gaussian: builtin / full / gaussian"
    assert len(sweep.data) == 4
    assert not speed.data  # no speed.csv published: a message figure


def test_leaderboards_missing_folder_is_a_message(tmp_path):
    empty = common.AppConfig(weights_dir=tmp_path, leaderboards_dir=tmp_path / "nothing")
    message, choice, bars, table, _, sweep, _ = leaderboards_tab.refresh_leaderboards(empty)
    assert "No published leaderboards yet" in message
    assert not bars.data and not sweep.data and table.empty
    # The repository's own folder (empty or not) never raises either.
    leaderboards_tab.refresh_leaderboards(common.AppConfig())


def test_training_curves_from_logs(cfg, tmp_path):
    fig, message = training_tab.training_view(cfg)
    assert "carlo_net-gaussian" in message and len(fig.data) == 5
    fig, message = training_tab.training_view(common.AppConfig(weights_dir=tmp_path, leaderboards_dir=tmp_path))
    assert "No training logs yet" in message and not fig.data


# ------------------------------------------------------------------------- server and client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(cfg):
    demo = app.build_demo(cfg.weights_dir, cfg.leaderboards_dir, tile=cfg.tile)
    app.launch(demo, "127.0.0.1", free_port())
    yield demo
    demo.close()


def test_api_through_gradio_client(server, files):
    from gradio_client import Client, handle_file

    client = Client(server.local_url, verbose=False)
    jobs = [client.submit(handle_file(str(files["rgb"])), None, "gaussian", model, False, 1.5, api_name="/deblur")
            for model in ("carlo_net-gaussian", "blurred")]
    results = [job.result(timeout=120) for job in jobs]
    for (slider, png, report), model in zip(results, ("carlo_net-gaussian", "blurred")):
        assert len(slider) == 2 and model in report
        assert read_image(png).shape == (48, 64, 3)
    assert results[0][1] != results[1][1]  # two visitors, two result files
    np.testing.assert_array_equal(read_image(results[1][1]), read_image(files["rgb"]))

    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="tick 'Blur it first'"):
        client.predict(handle_file(str(files["rgb"])), None, "gaussian", "wiener", False, 1.5, False,
                       api_name="/deblur")
    *_, report = client.predict(handle_file(str(files["rgb"])), None, "gaussian", "carlo_net-gaussian", False, 1.5,
                                True, api_name="/deblur")
    assert "8 flips" in report
    with pytest.raises(AppError, match="at least 3 frames"):
        client.predict(handle_file(str(files["short"])), "blurred", api_name="/deblur_video")
    message, *_ = client.predict(api_name="/leaderboards")
    assert "leaderboard(s)" in message


def test_share_without_internet_keeps_serving(cfg, monkeypatch, capsys):
    import httpx
    from gradio import networking

    def no_tunnel(*args, **kwargs):
        raise RuntimeError("Could not get share link from Gradio API Server.")

    monkeypatch.setattr(networking, "setup_tunnel", no_tunnel)
    demo = app.build_demo(cfg.weights_dir, cfg.leaderboards_dir)
    try:
        assert app.launch(demo, "127.0.0.1", free_port(), share=True) is None
        assert httpx.get(demo.local_url, timeout=30).status_code == 200
    finally:
        demo.close()
    assert "still serving locally at http://127.0.0.1:" in capsys.readouterr().out


def test_import_has_no_side_effects():
    code = ("import threading, app; "
            "assert 'demo' not in vars(app), 'a Blocks was built at import'; "
            "assert threading.active_count() == 1, threading.enumerate(); "
            "import sys; app.main(['--help'])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "--share" in proc.stdout and "--port" in proc.stdout


# ------------------------------------------------- issue 14: the API, errors, cancellation, video


def test_api_accepts_every_blur_type_and_later_shipped_networks(server, files, weights, tmp_path):
    """The /deblur API takes what the page offers now, not what the components were built with."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server.local_url, verbose=False)
    _, png, report = client.predict(handle_file(str(files["rgb"])), None, "motion", "atrous_net-motion", True, 8,
                                    False, api_name="/deblur")
    assert read_image(png).shape == (48, 64, 3) and "path length 8 px" in report
    *_, report = client.predict(handle_file(str(files["rgb"])), None, "camera", "blind_wiener", True, 0.5, False,
                                api_name="/deblur")
    assert "camera blur of strength 0.5" in report and "| blind_wiener |" in report
    # The handler still checks each blur type's own range.
    with pytest.raises(AppError, match="between 0 and 1"):
        client.predict(handle_file(str(files["rgb"])), None, "camera", "blind_wiener", True, 8, False,
                       api_name="/deblur")
    # A network shipped while the server runs is offered at once.
    save_net(weights, "naf_unet-camera", "atrous_net", "camera", blocks=1, stem=4, channels=4, branch=4, head=4)
    try:
        *_, report = client.predict(handle_file(str(files["rgb"])), None, "camera", "naf_unet-camera", False, 0.5,
                                    False, api_name="/deblur")
        assert "**naf_unet-camera** took" in report
    finally:
        manifest = weights / "manifest.json"
        entries = json.loads(manifest.read_text())
        del entries["naf_unet-camera"]
        manifest.write_text(json.dumps(entries))


@pytest.mark.parametrize("task, level", [("gaussian", 2.0), ("motion", 6.0), ("camera", 0.7)])
def test_blur_first_is_the_evaluators_degradation(cfg, files, task, level):
    """"Blur it first" = deblur.degrade with the evaluator's generator for that photo name."""
    from deblur.degrade import degrade
    from eval.inputs import image_rng

    (before, _), _, report = photo(cfg, str(files["rgb"]), task=task, model="blurred", blur_first=True,
                                   strength=level)
    sharp = read_image(files["rgb"])
    want = degrade(task, sharp, image_rng(42, "photo"), **{FAMILIES[task].level: level})
    np.testing.assert_array_equal(before, want.frames[want.frames.shape[0] // 2])
    assert "seed 42, photo name 'photo'" in report


def test_camera_is_the_default_blur_type_with_its_own_line(cfg, weights):
    demo = app.build_demo(cfg.weights_dir, cfg.leaderboards_dir, gallery_dir=cfg.weights_dir / "none")
    radio = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "blur-type")
    model = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model")
    assert radio.value == "camera" and ("Real photo", "camera") in radio.choices
    assert model.value == "blind_wiener"  # no camera network shipped in this folder

    _, slider, note = photo_tab.blur_type_changed("camera", cfg=cfg)
    assert (slider["minimum"], slider["maximum"]) == (0.0, 1.0)
    assert FAMILIES["camera"].description in note and "Real photo" in note
    # With two camera networks shipped, the preferred one is the default, whatever the order: as
    # NAME+psf+guard (a photo with no blur found only denoised; a large disc / straight blur found
    # deconvolved first), or NAME+psf where the guard's prior is not shipped (this folder).
    preferred = menus.PREFERRED_NETWORK["camera"]
    assert preferred.endswith(registry.PSF_SUFFIX + registry.GUARD_SUFFIX)
    preferred = preferred.removesuffix(registry.GUARD_SUFFIX).removesuffix(registry.PSF_SUFFIX)
    other = "atrous_net-camera" if preferred != "atrous_net-camera" else "naf_unet-camera"
    for name in (other, preferred):
        save_net(weights, name, "atrous_net", "camera", blocks=1, stem=4, channels=4, branch=4, head=4)
    try:
        assert menus.default_model(cfg, "camera") == preferred + registry.PSF_SUFFIX
        choices = [v for _, v in menus.model_choices(cfg, "camera")]
        psf = registry.PSF_SUFFIX
        assert {preferred, other, preferred + psf, other + psf, "blind_psf"} <= set(choices)
        menus.check_model(preferred + registry.PSF_SUFFIX, cfg, "camera", have_kernel=False)
        with pytest.raises(gr.Error, match="unknown model"):
            menus.check_model("carlo_net-gaussian" + registry.PSF_SUFFIX, cfg, "gaussian", have_kernel=False)
        assert not any(v.endswith(registry.PSF_SUFFIX) for _, v in menus.model_choices(cfg, "gaussian"))
        assert not any(v.endswith(registry.GUARD_SUFFIX) for v in choices)  # no prior in this folder
        shutil.copytree(registry.W._weights_dir(None) / registry.PRIORS, weights / registry.PRIORS)
        guarded = preferred + psf + registry.GUARD_SUFFIX
        assert menus.default_model(cfg, "camera") == guarded
        labels = menus.model_choices(cfg, "camera")
        assert labels[0] == (f"{guarded} (recommended)", guarded) and all(len(label) <= 40 for label, _ in labels)
        assert (f"{other}{psf}{registry.GUARD_SUFFIX} (guarded)", other + psf + registry.GUARD_SUFFIX) in labels
        menus.check_model(guarded, cfg, "camera", have_kernel=False)
    finally:
        shutil.rmtree(weights / registry.PRIORS, ignore_errors=True)
        manifest = weights / "manifest.json"
        entries = json.loads(manifest.read_text())
        del entries[preferred], entries[other]
        manifest.write_text(json.dumps(entries))


def test_photos_use_automatic_tiling(weights, boards, uploads):
    """As the CLI: a photo up to 1.5 MP runs in one pass (forced 512 px tiles cost 1.7-2.5x)."""
    auto = common.AppConfig(weights_dir=weights, leaderboards_dir=boards)
    img = np.tile(builtin_image("astronaut"), (2, 2, 1))[:700, :900]  # 0.63 MP, above 512 px
    Image.fromarray(img).save(uploads / "big.png")
    progress = Recorder()
    _, _, report = photo(auto, str(uploads / "big.png"), model="carlo_net-gaussian", progress=progress)
    assert [c for c in progress.calls if c[2] == "tiles"][-1][0] == (1, 1)
    assert "tiles" not in report


def test_tiny_photo_with_blur_first_is_a_clear_message(cfg, uploads):
    Image.fromarray(builtin_image("coffee")[:8, :10]).save(uploads / "tiny.png")
    with pytest.raises(gr.Error, match=r"at least 11 x 11 px, or untick 'Blur it first'"):
        photo(cfg, str(uploads / "tiny.png"), blur_first=True)


def test_error_messages_never_show_server_paths(tmp_path, files):
    save_net(tmp_path, "carlo_net-gaussian", "carlo_net", "gaussian", layers=2, channels=4)
    path = tmp_path / "carlo_net-gaussian.safetensors"
    path.write_bytes(path.read_bytes()[:-8] + b"12345678")
    bad = common.AppConfig(weights_dir=tmp_path, leaderboards_dir=tmp_path)
    with pytest.raises(gr.Error) as err:
        photo(bad, str(files["rgb"]), model="carlo_net-gaussian")
    assert "carlo_net-gaussian.safetensors" in err.value.message and str(tmp_path) not in err.value.message
    assert common.public_message(f"cannot read {common.ROOT}/weights/x.safetensors or /tmp/abc/photo.png, 1/255") == \
        "cannot read weights/x.safetensors or photo.png, 1/255"


def test_malformed_manifest_still_builds_and_says_why(tmp_path):
    (tmp_path / "manifest.json").write_text("{ not json")
    demo = app.build_demo(tmp_path, tmp_path)
    status = server_status.status_markdown(common.AppConfig(weights_dir=tmp_path, leaderboards_dir=tmp_path))
    assert "Not offered" in status and "manifest.json is not valid JSON" in status
    assert str(tmp_path) not in status
    assert demo is not None


def test_upload_shows_the_photo_at_once(cfg, files):
    np.testing.assert_array_equal(photo_tab.preview_photo(str(files["rgb"])), read_image(files["rgb"]))
    assert photo_tab.preview_photo(None) is None
    demo = app.build_demo(cfg.weights_dir, cfg.leaderboards_dir)
    upload = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "photo-upload")
    preview = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "photo-preview")
    on_upload = [f for f in demo.fns.values() if any(t[0] == upload._id and t[1] == "upload" for t in f.targets)]
    assert any(preview in f.outputs for f in on_upload)


def test_gallery_examples_list_the_pngs_there(cfg, tmp_path):
    assert photo_tab.gallery_photos(common.AppConfig(gallery_dir=tmp_path / "missing")) == []
    Image.fromarray(builtin_image("coffee")[:40, :50]).save(tmp_path / "b_clock.png")
    Image.fromarray(builtin_image("coffee")[:40, :50]).save(tmp_path / "a_text.png")
    (tmp_path / "notes.txt").write_text("not a photo")
    with_gallery = common.AppConfig(cfg.weights_dir, cfg.leaderboards_dir, cfg.tile, tmp_path)
    assert [p.name for p in photo_tab.gallery_photos(with_gallery)] == ["a_text.png", "b_clock.png"]
    upload, example, task, models, _, _, blur_first, preview = photo_tab.pick_gallery_photo("b_clock", with_gallery)
    assert Path(upload) == tmp_path / "b_clock.png" and task == "camera" and blur_first is False
    assert preview.shape == (40, 50, 3) and models["value"] == "blind_wiener"
    with pytest.raises(gr.Error, match="unknown example photo"):
        photo_tab.pick_gallery_photo("../weights/x", with_gallery)
    demo = app.build_demo(cfg.weights_dir, cfg.leaderboards_dir, gallery_dir=tmp_path)
    gallery = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "examples-gallery")
    assert gallery.visible and len(gallery.value) == 2


def test_examples_start_with_the_most_visible_improvement(cfg, tmp_path):
    """Issue 27: the first one-click example is one the default model visibly improves (a
    misfocused page that becomes readable), the unchanged video frame comes last; photos not
    ranked in GALLERY_ORDER follow in name order."""
    shipped = [p.stem for p in photo_tab.gallery_photos(common.AppConfig())]
    assert shipped[0] == "text_defocus" and shipped[-1] == "bikes_100"
    assert set(shipped) == set(photo_tab.GALLERY_ORDER)  # every shipped example is ranked
    for name in ("zz_new", "bikes_100", "aa_new", "text_defocus"):
        Image.fromarray(builtin_image("coffee")[:40, :50]).save(tmp_path / f"{name}.png")
    ranked = photo_tab.gallery_photos(common.AppConfig(cfg.weights_dir, cfg.leaderboards_dir, cfg.tile, tmp_path))
    assert [p.stem for p in ranked] == ["text_defocus", "bikes_100", "aa_new", "zz_new"]
    demo = app.build_demo(cfg.weights_dir, cfg.leaderboards_dir)
    gallery = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "examples-gallery")
    assert gallery.value[0]["caption"] == "text_defocus"


def test_bad_upload_marks_only_the_upload(cfg, files):
    """Issue 27: Gradio marks every output of a failed event "Error"; the upload's only event that
    can fail (reading the file for the preview) has the upload box and the preview as its outputs,
    so the built-in example dropdown never shows "Error" after a bad upload."""
    demo = app.build_demo(cfg.weights_dir, cfg.leaderboards_dir)
    blocks = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    upload, preview, example = blocks["photo-upload"], blocks["photo-preview"], blocks["example"]
    on_upload = [f for f in demo.fns.values() if any(t[0] == upload._id and t[1] == "upload" for t in f.targets)]
    failed = []
    for f in on_upload:
        try:
            f.fn(*[str(files["text"])] * len(f.inputs))
        except gr.Error as exc:
            failed.append((f, exc.message))
    assert len(failed) == 1 and "notes.txt" in failed[0][1]
    assert failed[0][0].outputs == [upload, preview]  # marked "Error": the upload box, and the preview
    assert any(example in f.outputs for f in on_upload)  # the dropdown is still cleared, by an event that cannot fail


def test_queue_shows_the_measured_time_left_not_a_mean_of_past_runs(server, files, monkeypatch):
    """Issue 27: Gradio's ETA for an event is the mean of its past runs (a fast photo makes a
    25-tile job look like a second); the compute events send none, and the progress says the
    tiles done and the time left at their measured pace."""
    import httpx
    from gradio_client import Client, handle_file

    Client(server.local_url, verbose=False).predict(handle_file(str(files["rgb"])), None, "gaussian", "blurred",
                                                    False, 1.5, False, api_name="/deblur")  # a fast past run
    slow_carlo(monkeypatch, delay=0.2)  # astronaut: 25 tiles of 0.2 s
    index = next(i for i, f in server.fns.items() if f.api_name == "deblur")
    session = uuid.uuid4().hex[:11]
    messages = []
    with httpx.Client(timeout=120) as http:
        http.post(f"{server.local_url}gradio_api/queue/join", json={
            "data": [None, "astronaut", "gaussian", "carlo_net-gaussian", False, 1.5, False],
            "fn_index": index, "session_hash": session, "event_data": None, "trigger_id": None,
        }).raise_for_status()
        with http.stream("GET", f"{server.local_url}gradio_api/queue/data", params={"session_hash": session}) as sse:
            for line in sse.iter_lines():
                if line.startswith("data:"):
                    messages.append(json.loads(line[5:]))
                    if messages[-1].get("msg") == "process_completed":
                        break
    assert messages[-1]["success"], messages[-1]
    starts = [m for m in messages if m.get("msg") == "process_starts"]
    assert starts and all(m.get("eta") is None for m in starts)
    assert all(m.get("rank_eta") is None for m in messages if m.get("msg") == "estimation")
    descs = [u.get("desc") or "" for m in messages if m.get("msg") == "progress" for u in m["progress_data"]]
    assert any(re.fullmatch(r"Deblurring with slow · about \d+ s left", d) for d in descs), descs


def test_time_left_is_the_measured_pace():
    started = time.perf_counter() - 10.0  # 10 s for the units done so far
    assert lanes.time_left(started, 5, 20) == " · about 30 s left"
    assert lanes.time_left(started, 1, 20) == " · about 3 min left"
    assert lanes.time_left(started, 0, 20) == lanes.time_left(started, 20, 20) == ""
    assert lanes.time_left(started, 3, None) == ""


def test_leaderboard_table_calls_true_kernel_baselines_oracles(cfg):
    _, table = leaderboards_tab.leaderboard_view(None, cfg)
    kinds = dict(zip(table["model"], table["kind"]))
    assert kinds == {"carlo_net-gaussian": "network", "wiener": "oracle (given the true kernel)",
                     "blurred": "baseline"}
    message, *_ = leaderboards_tab.refresh_leaderboards(cfg)
    assert "handed the true blur kernel" in message


def test_speed_chart_log_axis_has_decades_only(tmp_path):
    run = tmp_path / "speed-720x1280"
    run.mkdir()
    pd.DataFrame({"model": ["blurred", "wiener", "atrous_net-gaussian"], "kind": ["baseline", "baseline", "network"],
                  "seconds": [0.0016, 0.57, 2.29], "height": 720, "width": 1280}).to_csv(run / "speed.csv", index=False)
    *_, speed = leaderboards_tab.refresh_leaderboards(common.AppConfig(weights_dir=tmp_path, leaderboards_dir=tmp_path))
    ticks = list(speed.layout.yaxis.tickvals)
    assert ticks == [0.001, 0.01, 0.1, 1.0, 10.0]
    assert list(speed.layout.yaxis.ticktext) == ["0.001 s", "0.01 s", "0.1 s", "1 s", "10 s"]


def test_refused_request_logs_one_line_not_a_traceback(server, files, capfd, caplog):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server.local_url, verbose=False)
    capfd.readouterr()
    with caplog.at_level(logging.WARNING, logger="deep-deblur"):
        with pytest.raises(AppError, match="tick 'Blur it first'"):
            client.predict(handle_file(str(files["rgb"])), None, "gaussian", "wiener", False, 1.5, False,
                           api_name="/deblur")
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    refused = [r.getMessage() for r in caplog.records if r.name == "deep-deblur"]
    assert len(refused) == 1 and "wiener deconvolves" in refused[0] and "\n" not in refused[0]


def write_avi(path: Path, n: int = 5) -> Path:
    frames = [np.roll(builtin_image("coffee")[100:196:2, 200:328:2], 2 * i, axis=1) for i in range(n)]
    return write_video(path, frames, fps=10, codec="mpeg4")


def test_video_preview_is_h264_mp4_for_any_container(cfg, uploads):
    import av

    avi = write_avi(uploads / "clip.avi")
    preview, state = video_tab.preview_clip(str(avi))
    assert Path(preview).suffix == ".mp4"
    with av.open(preview) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert len(list(iter_video(preview))) == 5
    # The preview is only shown: deblurring uses the visitor's own file.
    assert video_tab.original_clip(preview, state) == str(avi)
    assert video_tab.original_clip(str(avi), state) == str(avi)
    (_, after), player, _, report = video_tab.deblur_clip(video_tab.original_clip(preview, state), "blurred",
                                                          Recorder(),
                                                    cfg=cfg)
    np.testing.assert_array_equal(after, list(iter_video(avi))[2])


def test_video_is_decoded_and_restored_as_a_stream(cfg, files, monkeypatch):
    """Frames are decoded as the restorer asks for them, not all before the first is restored."""
    real_iter = video_tab.iter_video
    events: list[str] = []

    def logged_iter(path, max_frames=None):
        for frame in real_iter(path, max_frames=max_frames):
            events.append("decode")
            yield frame

    net = restorer(cfg, "atrous_net-motion")
    real_call = type(net).__call__

    def logged_call(self, *args, **kwargs):
        events.append("restore")
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(video_tab, "iter_video", logged_iter)
    monkeypatch.setattr(type(net), "__call__", logged_call)
    video_tab.deblur_clip(str(files["video"]), "atrous_net-motion", Recorder(), cfg=cfg)
    assert events.count("restore") == 5
    # The first frame is restored before the last one is decoded (t-1, t, t+1 held at a time).
    last_decode = len(events) - 1 - events[::-1].index("decode")
    assert events.index("restore") < last_decode


WAITING = "Waiting for another visitor's long job to finish"


def waiting_for_the_long_lane(job) -> bool:
    return any(WAITING == (unit.desc or "") for unit in job.status().progress_data or [])


def slow_carlo(monkeypatch, delay: float = 1.0) -> SlowNet:
    """carlo_net-gaussian becomes a SlowNet in 128 px tiles: `delay` s a tile, 25 tiles on astronaut."""
    from deblur.inference import Deblurrer

    slow = SlowNet(delay)
    real = menus.get_restorer
    monkeypatch.setattr(photo_tab, "get_restorer", lambda info, cfg, ensemble=False: (
        Deblurrer(slow, tile=128, name="slow") if info.name == "carlo_net-gaussian" else real(info, cfg, ensemble)))
    return slow


def test_closed_page_stops_its_job_and_frees_the_worker(server, files, monkeypatch):
    """A visitor who closes the page mid-job frees the long-job lane within seconds; meanwhile a
    second visitor's long job says that it waits for the one before it."""
    import httpx
    from gradio_client import Client

    slow = slow_carlo(monkeypatch)
    monkeypatch.setattr(lanes, "SMALL_PIXELS", 100_000)  # astronaut (512 x 512) is a long job
    url = server.local_url
    index = next(i for i, f in server.fns.items() if f.api_name == "deblur")
    session = uuid.uuid4().hex[:11]
    with httpx.Client(timeout=60) as http:
        # What a browser does: a heartbeat stream for the page, a job, the queue's event stream.
        with http.stream("GET", f"{url}gradio_api/heartbeat/{session}"):
            http.post(f"{url}gradio_api/queue/join", json={
                "data": [None, "astronaut", "gaussian", "carlo_net-gaussian", False, 1.5, False],
                "fn_index": index, "session_hash": session, "event_data": None, "trigger_id": None,
            }).raise_for_status()
            with http.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}) as events:
                for line in events.iter_lines():
                    if slow.calls >= 3:
                        break
                job = Client(url, verbose=False).submit(None, "astronaut", "gaussian", "blurred", False, 1.5, False,
                                                        api_name="/deblur")
                deadline = time.time() + 30
                while not waiting_for_the_long_lane(job) and time.time() < deadline:
                    time.sleep(0.1)
                assert waiting_for_the_long_lane(job)
    closed, calls = time.time(), slow.calls  # the page is gone: both of its streams are closed
    job.result(timeout=60)  # the 25-tile job had some 20 s left to run
    assert time.time() - closed < 10
    time.sleep(1.5)
    assert slow.calls <= calls + 1  # at most the tile that was running


def test_short_requests_are_not_stuck_behind_long_ones(server, files, monkeypatch):
    """Issue 27: while a long job runs and another waits for it, a short request is served at once
    and a third long job is refused at once, saying what to do."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    slow = slow_carlo(monkeypatch, delay=0.5)
    monkeypatch.setattr(lanes, "SMALL_PIXELS", 100_000)  # astronaut (512 x 512) is long, 48 x 64 short
    client = Client(server.local_url, verbose=False)
    long_job = ["astronaut", "gaussian", "carlo_net-gaussian", False, 1.5, False]
    first = client.submit(None, *long_job, api_name="/deblur")
    deadline = time.time() + 60
    while slow.calls < 2 and time.time() < deadline:
        time.sleep(0.1)
    second = Client(server.local_url, verbose=False).submit(None, *long_job, api_name="/deblur")
    while not waiting_for_the_long_lane(second) and time.time() < deadline:
        time.sleep(0.1)
    assert waiting_for_the_long_lane(second)
    t = time.time()
    *_, report = client.predict(handle_file(str(files["rgb"])), None, "gaussian", "carlo_net-gaussian", False, 1.5,
                                False, api_name="/deblur")
    assert "took" in report and not first.done() and time.time() - t < 20
    with pytest.raises(AppError, match="two long jobs .* try again in a few minutes"):
        client.predict(None, *long_job, api_name="/deblur")
    for job in (first, second):
        assert "took" in job.result(timeout=120)[2]


def test_ensemble_and_three_frame_restorers_have_a_size_bound(cfg, files, monkeypatch):
    monkeypatch.setattr(photo_tab, "MAX_ENSEMBLE_PIXELS", 48 * 64 - 1)
    monkeypatch.setattr(photo_tab, "MAX_SLOW_PIXELS", 48 * 64 - 1)
    with pytest.raises(gr.Error, match=r"self-ensemble runs the network 8 times.*64 x 48 px.*untick it.*"
                                       r"python -m deblur photo.png -o sharp.png --model carlo_net-gaussian --ensemble"):
        photo(cfg, str(files["rgb"]), model="carlo_net-gaussian", ensemble=True)
    with pytest.raises(gr.Error, match="multiframe_wiener fits a camera path to three frames.*pick another model"):
        photo(cfg, str(files["rgb"]), task="motion", model="multiframe_wiener", blur_first=True, strength=4)
    photo(cfg, str(files["rgb"]), model="carlo_net-gaussian")  # one pass: no such bound
    photo(cfg, str(files["rgb"]), model="blurred", ensemble=True)  # a baseline runs once anyway
    assert lanes._LONG_JOBS.acquire(blocking=False) and lanes._LONG_JOBS.acquire(blocking=False)  # nothing leaked
    lanes._LONG_JOBS.release(), lanes._LONG_JOBS.release()


def test_blind_psf_says_which_blur_it_found(cfg, uploads):
    from skimage import data as skdata

    from deblur import blur

    sharp = np.repeat(skdata.camera()[:, :, None], 3, axis=-1).astype(np.float32) / 255.0
    x, _ = blur.camera_blur(sharp, np.random.default_rng(0), kernel=blur.linear_motion_kernel(24, 0))
    Image.fromarray(np.rint(x * 255).astype(np.uint8)).save(uploads / "shaken.png")
    Image.fromarray(np.rint(sharp * 255).astype(np.uint8)).save(uploads / "sharp.png")
    (before, after), _, report = photo(cfg, str(uploads / "shaken.png"), task="camera", model="blind_psf")
    assert "Blur found: straight motion, " in report and "; deconvolved." in report
    assert not np.array_equal(before, after)
    (before, after), _, report = photo(cfg, str(uploads / "sharp.png"), task="camera", model="blind_psf")
    assert "No large defocus or straight shake found" in report and np.array_equal(before, after)

    # the kernel read from the photo, beside the result (its own event: /deblur keeps three outputs)
    picture, line = photo_tab.read_blur(str(uploads / "shaken.png"), None, "camera", False, cfg=cfg)
    assert picture["visible"] and picture["value"].shape == (photo_tab.KERNEL_SIDE, photo_tab.KERNEL_SIDE, 3)
    assert "shake, about" in line["value"] and "--save-kernel" in line["value"]
    row = picture["value"][:, :, 0]
    assert row.max() == 255 and (row > 0).mean() < 0.5  # a thin line of light on black, not a blob
    picture, line = photo_tab.read_blur(str(uploads / "sharp.png"), None, "camera", False, cfg=cfg)
    assert "no blur found" in line["value"]
    for task, first in (("gaussian", False), ("camera", True)):  # a synthetic blur is known: nothing to read
        picture, line = photo_tab.read_blur(str(uploads / "sharp.png"), None, task, first, cfg=cfg)
        assert not picture["visible"] and not line["visible"]


def test_network_psf_report_comes_from_the_restorer_not_a_memo():
    """NAME+psf hands back what it found with its result (Deblurrer.report); deblur.psf keeps no memo
    a second request could read."""
    import deblur.psf as psf_module
    from skimage import data as skdata

    from deblur import blur

    assert not hasattr(psf_module, "_LAST")
    sharp = np.repeat(skdata.camera()[:, :, None], 3, axis=-1).astype(np.float32) / 255.0
    x, _ = blur.camera_blur(sharp, np.random.default_rng(0), kernel=blur.linear_motion_kernel(24, 0))
    shaken = np.rint(x * 255).astype(np.uint8)
    out, found = registry.BASELINES["blind_psf"].report(shaken)
    assert found["deconvolved"] and found["psf"].family == "motion"
    info = registry.lookup("blind_psf", "camera")
    assert "straight motion" in photo_tab.blur_found(info, found, shaken).note


def test_the_guarded_default_says_whether_the_network_ran():
    """The default for real photos is behind the guard: a sharp photo is only denoised and the
    report says so; a shaken one runs NAME+psf, whose line is the one it always had."""
    from skimage import data as skdata

    from deblur import blur

    info = registry.lookup(registry.PREFERRED["camera"], "camera")
    restorer = registry.load(info.name, "camera", tile=None)
    sharp = np.repeat(skdata.camera()[:, :, None], 3, axis=-1)
    out, found = restorer.report(sharp)
    assert found["guard"]["ran"] == registry.GUARD_PRIOR
    assert "only denoised" in photo_tab.blur_found(info, found, sharp).note
    x, _ = blur.camera_blur(sharp.astype(np.float32) / 255.0, np.random.default_rng(0),
                            kernel=blur.linear_motion_kernel(24, 0))
    shaken = np.rint(x * 255).astype(np.uint8)
    out, found = restorer.report(shaken)
    assert found["guard"]["ran"] == info.name.removesuffix(registry.GUARD_SUFFIX)
    assert "straight motion" in photo_tab.blur_found(info, found, shaken).note


def test_blind_pnp_is_offered_for_real_photos_only():
    """blind_pnp (the kernel read, then the learned deconvolution: what makes a shaken page readable)
    is the Real photo menu's second entry; other blur types and videos refuse it, it runs once
    whatever the self-ensemble box says, photos are bounded to its cost, and the report says
    what it read and whether it deconvolved."""
    from skimage import data as skdata

    from deblur import blur

    real = common.AppConfig()
    labels = menus.model_choices(real, "camera")
    assert labels[1] == ("blind_pnp (kernel read, deconvolved)", "blind_pnp")
    assert all(v != "blind_pnp" for _, v in menus.model_choices(real, "gaussian"))
    assert all(v != "blind_pnp" for _, v in menus.video_model_choices(real))
    with pytest.raises(gr.Error, match="offered for camera photos"):
        menus.check_model("blind_pnp", real, "gaussian", have_kernel=False)
    with pytest.raises(gr.Error, match="not videos"):
        menus.check_model("blind_pnp", real, None, have_kernel=False)
    info = menus.check_model("blind_pnp", real, "camera", have_kernel=False)
    with pytest.raises(gr.Error, match="up to 4 MP"):
        photo_tab.check_cost(info, 2000, 2500, False)
    restorer = menus.get_restorer(info, real, ensemble=True)
    assert restorer is menus.get_restorer(info, real) and restorer.name == "blind_pnp"
    grey = skdata.camera()[40:296, 120:376]
    sharp = np.repeat(grey[:, :, None], 3, axis=2).astype(np.float32) / 255.0
    x, _ = blur.camera_blur(sharp, np.random.default_rng(0), kernel=blur.linear_motion_kernel(15, 30),
                            noise=False, jpeg=False)
    shaken = np.rint(x * 255).astype(np.uint8)
    out, found = restorer.report(shaken)
    note = photo_tab.blur_found(info, found, shaken)
    assert note.note.startswith("Blur read from the photo:") and "deconvolved with the learned prior" in note.note
    assert note.kernel is not None and abs(note.kernel.sum() - 1.0) < 1e-6


def test_a_shake_the_default_leaves_points_to_blind_pnp():
    """The app's own licenceplate example: the kernel reader reads a straight shake that the spectrum
    search of +psf does not find, so the default's network alone runs; the report says what undoes it."""
    from deblur.io import read_image

    photo = read_image(Path(__file__).resolve().parent.parent / "gallery" / "inputs" / "licenseplate_motion.png")
    info = registry.lookup(registry.PREFERRED["camera"], "camera")
    out, found = registry.load(info.name, "camera").report(photo)
    assert found["guard"]["verdict"] == "kernel" and found["guard"]["shape"] in ("line", "shake")
    note = photo_tab.blur_found(info, found, photo).note
    assert "the network alone ran" in note and "blind_pnp" in note
