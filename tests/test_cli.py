"""Tests for the command line (deblur/cli.py, `python -m deblur`): round trips and bad input."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deblur import io
from deblur.cli import main
from deblur.models import build_model
from deblur.weights import save_weights

REPO = Path(__file__).resolve().parent.parent


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """Tiny untrained networks saved as weight files: one per task."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    gauss = build_model("carlo_net", "lite", "gaussian", layers=2, channels=4)
    motion = build_model("atrous_net", "lite", "motion", blocks=1, stem=4, channels=4, branch=2, head=4)
    paths = {"gaussian": root / "tiny-gaussian.safetensors", "motion": root / "tiny-motion.safetensors"}
    save_weights(paths["gaussian"], gauss, {"task": "gaussian"})
    save_weights(paths["motion"], motion, {"task": "motion"})
    return paths


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_image_round_trip(tmp_path, weights, capsys):
    src = io.write_image(tmp_path / "in.png", _image(37, 53))
    code, _ = _run(capsys, src, "-o", tmp_path / "out.png", "--model", weights["gaussian"])
    assert code == 0
    out = io.read_image(tmp_path / "out.png")
    assert out.shape == (37, 53, 3)


def test_image_with_tiles_and_motion_model(tmp_path, weights, capsys):
    src = io.write_image(tmp_path / "in.png", _image(100, 90))
    code, _ = _run(capsys, src, "-o", tmp_path / "out.jpg", "--model", weights["motion"],
                   "--tile", "64", "-q")
    assert code == 0 and io.read_image(tmp_path / "out.jpg").shape == (100, 90, 3)


def test_ensemble_flag_equals_the_x8_name_and_refuses_baselines(tmp_path, weights, capsys):
    src = io.write_image(tmp_path / "in.png", _image(40, 48))
    outs = {}
    for tag, args in {"plain": [], "flag": ["--ensemble"]}.items():
        code, _ = _run(capsys, src, "-o", tmp_path / f"{tag}.png", "--model", weights["gaussian"], "-q", *args)
        assert code == 0
        outs[tag] = io.read_image(tmp_path / f"{tag}.png")
    code, _ = _run(capsys, src, "-o", tmp_path / "name.png", "--model", f"{weights['gaussian']}+x8", "-q")
    assert code == 0
    np.testing.assert_array_equal(io.read_image(tmp_path / "name.png"), outs["flag"])
    assert outs["flag"].shape == outs["plain"].shape == (40, 48, 3)  # tests/test_inference.py checks the views
    code, err = _run(capsys, src, "-o", tmp_path / "w.png", "--model", "wiener", "--sigma", "1", "--ensemble")
    assert code == 2 and "networks" in _one_error_line(err) and not (tmp_path / "w.png").exists()


def test_baseline_with_sigma(tmp_path, capsys):
    src = io.write_image(tmp_path / "in.png", _image(24, 24))
    code, _ = _run(capsys, src, "-o", tmp_path / "out.png", "--model", "wiener", "--sigma", "1")
    assert code == 0 and (tmp_path / "out.png").is_file()
    code, err = _run(capsys, src, "-o", tmp_path / "out2.png", "--model", "wiener")
    assert code == 2 and "--sigma" in _one_error_line(err)


def test_folder_round_trip_keeps_names_and_inputs(tmp_path, weights, capsys):
    src = tmp_path / "photos"
    io.write_image(src / "a.png", _image(20, 30, 1))
    io.write_image(src / "b.jpg", _image(33, 17, 2))
    Image.fromarray(_image(9, 11, 3)).convert("P").save(src / "c.gif")  # read-only format
    (src / "notes.txt").write_text("not an image")
    before = _digest(src)
    dst = tmp_path / "restored"
    code, _ = _run(capsys, src, "-o", dst, "--model", weights["gaussian"])
    assert code == 0
    assert sorted(p.name for p in dst.iterdir()) == ["a.png", "b.jpg", "c.png"]
    assert io.read_image(dst / "b.jpg").shape == (33, 17, 3)
    assert _digest(src) == before


def test_folder_refuses_to_overwrite_its_input(tmp_path, weights, capsys):
    src = tmp_path / "photos"
    io.write_image(src / "a.png", _image(20, 30))
    before = _digest(src)
    code, err = _run(capsys, src, "-o", src / ".." / "photos", "--model", weights["gaussian"])
    assert code == 2 and "input folder" in _one_error_line(err)
    assert _digest(src) == before


def test_folder_reports_a_corrupt_image_and_keeps_going(tmp_path, weights, capsys):
    src = tmp_path / "photos"
    io.write_image(src / "good.png", _image(20, 30))
    (src / "bad.png").write_bytes(b"this is not a png")
    code, err = _run(capsys, src, "-o", tmp_path / "out", "--model", "blurred", "-q")
    assert code == 2 and "bad.png" in err and "1 of 2 images failed" in err
    assert (tmp_path / "out" / "good.png").is_file()


def test_video_round_trip(tmp_path, weights, capsys):
    frames = [_image(32, 48, t) for t in range(5)]
    src = io.write_video(tmp_path / "clip.mp4", frames, fps=10)
    dst = tmp_path / "out.mp4"
    code, _ = _run(capsys, src, "-o", dst, "--model", weights["motion"])
    assert code == 0
    out, fps = io.read_video(dst)
    assert len(out) == 5 and out[0].shape == (32, 48, 3) and fps == pytest.approx(10)


def test_video_with_two_frames_is_refused(tmp_path, weights, capsys):
    src = io.write_video(tmp_path / "short.mp4", [_image(16, 16, t) for t in range(2)], fps=5)
    code, err = _run(capsys, src, "-o", tmp_path / "out.mp4", "--model", weights["motion"])
    assert code == 2 and "at least 3 frames" in _one_error_line(err)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(
    "name, content, expect",
    [("missing.png", None, "not found"), ("empty.png", b"", "empty"),
     ("junk.png", b"\x89PNG garbage", "junk.png"), ("junk.mp4", b"\x00" * 64, "junk.mp4")],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, name, content, expect):
    src = tmp_path / name
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / ("out" + src.suffix)
    code, err = _run(capsys, src, "-o", out, "--model", "blurred")
    assert code == 2 and expect in _one_error_line(err)
    assert not out.exists()


def test_unknown_model_lists_valid_names(tmp_path, capsys):
    src = io.write_image(tmp_path / "in.png", _image(8, 8))
    code, err = _run(capsys, src, "-o", tmp_path / "out.png", "--model", "no_such_net")
    line = _one_error_line(err)
    assert code == 2 and "no_such_net" in line and "blurred" in line and "wiener" in line


def test_missing_weight_file_and_bad_output_suffix(tmp_path, weights, capsys):
    src = io.write_image(tmp_path / "in.png", _image(8, 8))
    code, err = _run(capsys, src, "-o", tmp_path / "o.png", "--model", tmp_path / "nope.safetensors")
    assert code == 2 and "not found" in _one_error_line(err)
    code, err = _run(capsys, src, "-o", tmp_path / "o.xyz", "--model", weights["gaussian"])
    assert code == 2 and "suffix" in _one_error_line(err)


def test_list_models(capsys):
    assert main(["--list-models"]) == 0
    names = capsys.readouterr().out.split()
    assert {"blurred", "wiener", "richardson_lucy"} <= set(names)


def test_python_dash_m_error_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "deblur", str(tmp_path / "none.png"), "-o", str(tmp_path / "o.png"),
         "--model", "blurred"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: input not found: {tmp_path / 'none.png'}"]
