"""Bad input through `python -m deblur` and `python -m eval`: every one is a single "error: ..."
line with exit status 2, never a traceback (a malformed weights manifest, --threads 0, --tile -5,
weight files that are corrupted or cannot rebuild their model); an unreadable photo in an
evaluated folder is skipped, as the CLI skips it; and a grey photo comes back grey."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data
import torch
from safetensors import safe_open
from PIL import Image
from safetensors.torch import load_file, save_file

from deblur import cli, io
from deblur import weights as W
from deblur.cli import main as deblur_main
from deblur.inference import Deblurrer
from deblur.models import build_model
from eval import inputs as _inputs, run as _run  # noqa: F401  imported before any test patches weights
from eval.cli import main as eval_main

REPO = Path(__file__).resolve().parent.parent


def _perturbed(arch: str = "carlo_net", task: str = "gaussian", seed: int = 0) -> torch.nn.Module:
    """A tiny network moved away from its identity initialisation, as training would."""
    torch.manual_seed(seed)
    if arch == "carlo_net":
        model = build_model("carlo_net", "lite", task, layers=2, channels=4)
    else:
        model = build_model("atrous_net", "lite", task, blocks=1, stem=4, channels=4, branch=2, head=4)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def weight_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("w") / "tiny-gaussian.safetensors"
    W.save_weights(path, _perturbed(), {"task": "gaussian"})
    return path


@pytest.fixture
def photo(tmp_path) -> Path:
    return io.write_image(tmp_path / "in.png", skimage.data.astronaut()[100:140, 180:228])


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def _deblur(capsys, *argv) -> tuple[int, str]:
    code = deblur_main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _eval(capsys, *argv) -> tuple[int, str]:
    try:
        code = eval_main([str(a) for a in argv] + ["--no-progress"])
    except SystemExit as exc:  # argparse exits by itself
        code = exc.code
    return code, capsys.readouterr().err


def _copy_with(src: Path, dst: Path, **meta: str) -> Path:
    """A copy of a weight file with some metadata strings replaced."""
    with safe_open(str(src), framework="pt") as f:
        raw = dict(f.metadata())
    save_file(load_file(str(src)), str(dst), metadata={**raw, **meta})
    return dst


def _flipped(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    data[8 + header_len + 100] ^= 0x40
    dst.write_bytes(bytes(data))
    return dst


# ------------------------------------------------------------------------ malformed manifest


@pytest.fixture
def broken_manifest(tmp_path, monkeypatch) -> Path:
    """The shipped weights folder, as every caller sees it, holds a truncated manifest.

    Redirected where deblur.weights resolves a folder, so callers that bound WEIGHTS_DIR as a
    default argument at import are redirected too (and none binds the temporary folder).
    """
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / W.MANIFEST).write_text('{"atrous_net-gaussian": {"file": ')
    real, resolve = Path(W.WEIGHTS_DIR), W._weights_dir
    monkeypatch.setattr(W, "_weights_dir",
                        lambda d: folder if d is None or Path(d) == real else resolve(d))
    return folder


@pytest.mark.parametrize("args", [["--list-models"], ["IN", "-o", "OUT", "--model", "atrous_net-gaussian"]])
def test_cli_malformed_manifest_is_one_line(broken_manifest, photo, tmp_path, capsys, args):
    args = [photo if a == "IN" else tmp_path / "out.png" if a == "OUT" else a for a in args]
    code, err = _deblur(capsys, *args)
    assert code == 2 and "manifest" in _one_error_line(err) and "not valid JSON" in err
    assert not (tmp_path / "out.png").exists()


def test_eval_malformed_manifest_is_one_line(broken_manifest, photo, tmp_path, capsys):
    code, err = _eval(capsys, "--dataset", f"photos:{photo}", "--models", "all", "--out", tmp_path / "run")
    assert code == 2 and "not valid JSON" in _one_error_line(err)
    assert not (tmp_path / "run").exists()


def test_baselines_still_run_with_a_malformed_manifest(broken_manifest, photo, tmp_path, capsys):
    code, _ = _deblur(capsys, photo, "-o", tmp_path / "out.png", "--model", "wiener", "--sigma", "1", "-q")
    assert code == 0 and (tmp_path / "out.png").is_file()


# ------------------------------------------------------------------------ --threads, --tile


@pytest.mark.parametrize("model", ["weights", "wiener"])
@pytest.mark.parametrize("flag, value", [("--threads", "0"), ("--threads", "-2"), ("--tile", "-5"),
                                         ("--overlap", "-1")])
def test_cli_bad_numbers_are_one_line(photo, tmp_path, weight_file, capsys, model, flag, value):
    name = str(weight_file) if model == "weights" else "wiener"
    code, err = _deblur(capsys, photo, "-o", tmp_path / "out.png", "--model", name, "--sigma", "1", flag, value)
    assert code == 2 and flag in _one_error_line(err)
    assert not (tmp_path / "out.png").exists()


def test_cli_tile_zero_still_means_whole_image(photo, tmp_path, weight_file, capsys):
    outs = {}
    for tile in ("0", "64"):
        code, _ = _deblur(capsys, photo, "-o", tmp_path / f"{tile}.png", "--model", weight_file, "--tile", tile,
                          "-q", "--threads", "1")
        assert code == 0
        outs[tile] = io.read_image(tmp_path / f"{tile}.png")
    assert np.abs(outs["0"].astype(int) - outs["64"].astype(int)).max() <= 1


@pytest.mark.parametrize("value", ["-5", "abc"])
def test_eval_bad_tile_is_one_line(photo, tmp_path, capsys, value):
    code, err = _eval(capsys, "--dataset", f"photos:{photo}", "--models", "blurred", "--tile", value,
                      "--out", tmp_path / "run")
    assert code == 2 and "--tile" in _one_error_line(err)
    assert not (tmp_path / "run").exists()


def test_threads_zero_through_the_real_entry_point(photo, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "deblur", str(photo), "-o", str(tmp_path / "o.png"),
                           "--model", "blurred", "--threads", "0"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--threads" in _one_error_line(proc.stderr)


# ------------------------------------------------------------------------ bad weight files


@pytest.mark.parametrize("kind, match", [
    ("flipped", "tensor checksum"),
    ("unknown_arch", "unknown architecture"),
    ("wrong_argument", "does not accept"),
])
def test_bad_weight_files_are_one_line_in_cli_and_eval(weight_file, photo, tmp_path, capsys, kind, match):
    bad = tmp_path / f"{kind}.safetensors"
    if kind == "flipped":
        _flipped(weight_file, bad)
    else:
        cfg = {"arch": "no_such_net", "args": {}} if kind == "unknown_arch" else \
            {"arch": "carlo_net", "args": {"layers": 2, "channels": 4, "frames": 1, "depth": 9}}
        _copy_with(weight_file, bad, config=json.dumps(cfg))
    code, err = _deblur(capsys, photo, "-o", tmp_path / "out.png", "--model", bad)
    assert code == 2 and match in _one_error_line(err)
    assert not (tmp_path / "out.png").exists()
    code, err = _eval(capsys, "--dataset", f"photos:{photo}", "--models", bad, "--out", tmp_path / "run")
    assert code == 2 and match in _one_error_line(err)
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------ unreadable photos


@pytest.fixture
def photos_with_a_broken_one(tmp_path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    io.write_image(root / "b_coffee.png", skimage.data.coffee()[120:160, 200:256])
    io.write_image(root / "d_chelsea.png", skimage.data.chelsea()[80:124, 150:198])
    return root


@pytest.mark.parametrize("broken", ["a_first.png", "c_middle.png"])
def test_eval_skips_an_unreadable_photo_and_scores_the_rest(photos_with_a_broken_one, tmp_path, capsys, broken):
    (photos_with_a_broken_one / broken).write_bytes(b"this is not a PNG file")
    out = tmp_path / "run"
    code, err = _eval(capsys, "--dataset", f"photos:{photos_with_a_broken_one}", "--models", "blurred,wiener",
                      "--out", out)
    assert code == 0, err
    rows = pd.read_csv(out / "per_image.csv")
    assert sorted(set(rows["image"])) == ["b_coffee", "d_chelsea"] and len(rows) == 4
    notes = [line for line in err.splitlines() if broken in line]
    assert len(notes) == 1 and notes[0].startswith("skipped: ")
    assert "Traceback" not in err
    lb = pd.read_csv(out / "leaderboard.csv")
    assert set(lb["n"]) == {2}


def test_eval_folder_without_a_readable_photo_is_one_line(tmp_path, capsys):
    root = tmp_path / "photos"
    root.mkdir()
    (root / "a.png").write_bytes(b"junk")
    code, err = _eval(capsys, "--dataset", f"photos:{root}", "--models", "blurred", "--out", tmp_path / "run")
    assert code == 2 and "no readable images" in err.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------ grey in, grey out


def _grey(h: int = 48, w: int = 56) -> np.ndarray:
    g = skimage.data.camera()[200 : 200 + h, 220 : 220 + w]
    return np.repeat(g[:, :, None], 3, axis=2)


@pytest.mark.parametrize("arch, task, opts", [
    ("carlo_net", "gaussian", {"tile": None}),
    ("carlo_net", "gaussian", {"tile": 64, "overlap": 16}),
    ("carlo_net", "gaussian", {"tile": None, "ensemble": True}),
    ("atrous_net", "motion", {"tile": None}),
])
def test_a_grey_photo_comes_back_grey(arch, task, opts):
    model = _perturbed(arch, task)
    grey = _grey(70, 90) if opts.get("tile") else _grey()
    # The network itself is not channel-symmetric: without the fix the output has colour.
    x = torch.from_numpy(grey).permute(2, 0, 1)[None].float().div(255).repeat(1, model.frames, 1, 1)
    with torch.no_grad():
        y = model(x)[0]
    assert (y[0] - y[1]).abs().max() > 1 / 255 and (y[0] - y[2]).abs().max() > 1 / 255
    restorer = Deblurrer(model, channels_last=False, **opts)
    out = restorer(grey)
    assert out.shape == grey.shape
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    assert not np.array_equal(out, grey)  # it was restored, not passed through
    if task == "motion":  # a grey 3-frame stack, as a video gives it
        np.testing.assert_array_equal(np.ptp(restorer(np.stack([grey] * 3)), axis=2), 0)


def test_a_colour_photo_keeps_its_colour():
    model = _perturbed()
    img = _grey()
    img[10, 10, 0] ^= 1  # one pixel off grey: a colour image, which the network restores as is
    restorer = Deblurrer(model, tile=None, channels_last=False)
    out = restorer.restore_float(img)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255)
    with torch.no_grad():
        ref = model(x)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)


def test_grey_photo_through_the_cli(weight_file, tmp_path, capsys):
    src = io.write_image(tmp_path / "grey.png", _grey())
    code, _ = _deblur(capsys, src, "-o", tmp_path / "out.png", "--model", weight_file, "-q")
    assert code == 0
    out = io.read_image(tmp_path / "out.png")
    assert np.ptp(out, axis=2).max() == 0


# ------------------------------------------------------------------------ output checked first, notes


def _no_model_loads(monkeypatch) -> list[str]:
    """Record every model the CLI loads (and load none): an output error must come before any."""
    loaded: list[str] = []

    def spy(name, **opts):
        loaded.append(name)
        raise AssertionError(f"model {name} loaded before the output was checked")

    monkeypatch.setattr(cli, "load_restorer", spy)
    return loaded


@pytest.mark.parametrize("mode", ["image", "folder", "video"])
def test_cli_output_under_a_file_fails_before_any_model_loads(photo, tmp_path, monkeypatch, capsys, mode):
    if mode == "image":
        src, name = photo, "out.png"
    elif mode == "folder":
        src, name = photo.parent, "out"
    else:
        src = io.write_video(tmp_path / "clip.mp4", [skimage.data.astronaut()[:32, :48]] * 3, fps=5)
        name = "out.mp4"
    loaded = _no_model_loads(monkeypatch)
    blocker = tmp_path / "notes.txt"  # a file where the output's folder would have to be
    blocker.write_text("a file, not a folder")
    code, err = _deblur(capsys, src, "-o", blocker / "sub" / name, "--model", "atrous_net-gaussian")
    assert code == 2 and "notes.txt is a file, not a folder" in _one_error_line(err)
    assert loaded == []


def test_cli_read_only_output_folder_fails_before_any_model_loads(photo, tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        try:  # root writes through permission bits; the check would rightly pass there
            (locked / "probe").touch()
            (locked / "probe").unlink()
            pytest.skip("this user can write into a read-only folder (root)")
        except PermissionError:
            pass
        loaded = _no_model_loads(monkeypatch)
        code, err = _deblur(capsys, photo, "-o", locked / "new" / "out.png", "--model", "atrous_net-gaussian")
        assert code == 2 and "does not take new files" in _one_error_line(err) and str(locked) in err
        assert loaded == []
    finally:
        locked.chmod(0o755)


def test_cli_folder_input_refuses_an_output_named_like_an_image(photo, tmp_path, monkeypatch, capsys):
    loaded = _no_model_loads(monkeypatch)
    code, err = _deblur(capsys, photo.parent, "-o", tmp_path / "x.png", "--model", "atrous_net-gaussian")
    line = _one_error_line(err)
    assert code == 2 and "must be a folder" in line and "x.png" in line
    assert not (tmp_path / "x.png").exists() and loaded == []


def _notes(err: str) -> list[str]:
    assert "Traceback" not in err and "error" not in err
    return [line for line in err.splitlines() if line.startswith("note: ")]


def test_cli_tile_below_the_network_minimum_says_it_was_raised(photo, tmp_path, weight_file, capsys):
    smallest = Deblurrer(_perturbed(), tile=1).tile  # what Deblurrer raises any smaller tile to
    assert smallest > 8
    code, err = _deblur(capsys, photo, "-o", tmp_path / "a.png", "--model", weight_file, "--tile", "8", "-q")
    notes = _notes(err)
    assert code == 0 and len(notes) == 1 and err.strip() == notes[0]
    assert notes[0].startswith(f"note: --tile 8 raised to {smallest} px for ") and "overlap" in notes[0]
    for tile in ("0", str(smallest + 16)):  # the whole image, or a tile that is large enough: nothing to say
        code, err = _deblur(capsys, photo, "-o", tmp_path / "b.png", "--model", weight_file, "--tile", tile, "-q")
        assert code == 0 and err == ""


def _animated(path: Path, frames: int) -> Path:
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)) for _ in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=40)
    return path


def test_cli_animated_gif_says_only_its_first_frame_is_deblurred(tmp_path, capsys):
    gif = _animated(tmp_path / "clip.gif", 5)
    code, err = _deblur(capsys, gif, "-o", tmp_path / "out.png", "--model", "blurred", "-q")
    assert code == 0 and _notes(err) == ["note: clip.gif has 5 frames; deblurring the first (use a video file "
                                         "for clips)"]
    np.testing.assert_array_equal(io.read_image(tmp_path / "out.png"), io.read_image(gif))  # the first frame
    folder = tmp_path / "photos"
    folder.mkdir()
    _animated(folder / "a.gif", 3)
    _animated(folder / "b.gif", 1)  # a still GIF: nothing to say
    code, err = _deblur(capsys, folder, "-o", tmp_path / "restored", "--model", "blurred", "-q")
    assert code == 0 and _notes(err) == ["note: a.gif has 3 frames; deblurring the first (use a video file "
                                         "for clips)"]


# ------------------------------------------------------------------------ missing weights


@pytest.fixture
def weights_with_a_missing_file(tmp_path, weight_file) -> Path:
    """A weights folder whose manifest lists carlo_net-gaussian (present) and res_unet-camera (file missing)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "carlo_net-gaussian.safetensors").write_bytes(weight_file.read_bytes())
    W.write_manifest_entry("carlo_net-gaussian", "carlo_net-gaussian.safetensors", W.sha256_file(weight_file),
                           {"task": "gaussian"}, weights_dir=folder)
    W.write_manifest_entry("res_unet-camera", "res_unet-camera.safetensors", "0" * 64, {"task": "camera"},
                           weights_dir=folder)
    return folder


@pytest.mark.parametrize("how", ["--weights-dir", "default folder"])
def test_cli_missing_weight_file_says_so_and_where(weights_with_a_missing_file, photo, tmp_path, monkeypatch,
                                                   capsys, how):
    folder = weights_with_a_missing_file
    if how == "--weights-dir":
        where = ["--weights-dir", folder]
    else:  # the repository's weights/ as every caller resolves it (see broken_manifest)
        where = []
        real, resolve = Path(W.WEIGHTS_DIR), W._weights_dir
        monkeypatch.setattr(W, "_weights_dir", lambda d: folder if d is None or Path(d) == real else resolve(d))
    code, err = _deblur(capsys, photo, "-o", tmp_path / "out.png", "--model", "res_unet-camera", *where)
    line = _one_error_line(err)
    assert code == 2 and "unknown model" not in line
    assert "weights of res_unet-camera are missing" in line and str(folder / "res_unet-camera.safetensors") in line
    code, err = _deblur(capsys, photo, "-o", tmp_path / "out.png", "--model", "carlo_net-gaussian", *where,
                        "-q")  # the folder's present network runs
    assert code == 0 and (tmp_path / "out.png").is_file()
    code = deblur_main(["--list-models", *map(str, where)])
    out, err = capsys.readouterr()
    assert code == 0 and "carlo_net-gaussian" in out.split() and "res_unet-camera" not in out.split()
    notes = _notes(err)
    assert len(notes) == 1 and "res_unet-camera" in notes[0] and "missing" in notes[0] and str(folder) in notes[0]


def test_cli_empty_weights_folder_says_where_weights_are_looked_for(photo, tmp_path, capsys):
    empty = tmp_path / "no_weights"
    empty.mkdir()
    code, err = _deblur(capsys, photo, "-o", tmp_path / "out.png", "--model", "res_unet-camera", "--weights-dir", empty)
    line = _one_error_line(err)
    assert code == 2 and "unknown model" not in line and "no weights for res_unet-camera" in line
    assert f"{empty}, which has no manifest.json" in line
    code = deblur_main(["--list-models", "--weights-dir", str(empty)])
    out, err = capsys.readouterr()
    assert code == 0 and "wiener" in out.split()
    notes = _notes(err)
    assert len(notes) == 1 and "no shipped networks" in notes[0] and str(empty) in notes[0]


def test_cli_help_documents_weights_dir_and_the_minimum_tile(capsys):
    with pytest.raises(SystemExit):
        deblur_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--weights-dir" in text and "manifest.json" in text and "raised" in text


# ------------------------------------------------------------------------ the app's --port


def test_app_busy_port_is_one_line_naming_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "app.py", "--port", str(port)], cwd=REPO, capture_output=True,
                              text=True, timeout=300)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "--port" in line and str(port) in line
