"""`python -m deblur` with kernels: --save-kernel writes the blind estimate of one photo (.npy: float,
sums to 1; .png: a picture scaled to its maximum), --kernel hands a kernel file to a restorer that
takes one; every misuse is one "error: ..." line with exit status 2."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from deblur import blur, io
from deblur.baselines import BASELINES
from deblur.cli import main


@pytest.fixture(scope="module")
def shaken(tmp_path_factory):
    """A 192 x 192 photo blurred by a 13 px line at 30 degrees, and its file."""
    grey = data.camera()[60:252, 150:342].astype(np.float32) / 255.0
    sharp = np.repeat(grey[:, :, None], 3, axis=2)
    img = blur.camera_blur(sharp, np.random.default_rng(0), kernel=blur.linear_motion_kernel(13, 30),
                           noise=False, jpeg=False)[0]
    return io.write_image(tmp_path_factory.mktemp("in") / "shaken.png", io.to_uint8(img))


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_save_kernel_alone_writes_a_normalised_npy_and_a_picture(shaken, tmp_path, capsys):
    code, err = _run(capsys, shaken, "--save-kernel", tmp_path / "k.npy")
    assert code == 0, err
    assert "note: kernel: " in err and "verdict kernel" in err
    k = np.load(tmp_path / "k.npy", allow_pickle=False)
    assert k.dtype == np.float64 and k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.min() >= 0 and k.sum() == pytest.approx(1.0)
    code, err = _run(capsys, shaken, "--save-kernel", tmp_path / "k.png")
    assert code == 0, err
    pic = np.asarray(Image.open(tmp_path / "k.png"))
    assert pic.ndim == 2 and pic.dtype == np.uint8 and pic.max() == 255 and pic.shape == k.shape
    assert np.array_equal(pic, np.rint(k / k.max() * 255).astype(np.uint8))
    assert {p.name for p in tmp_path.iterdir()} == {"k.npy", "k.png"}


def test_kernel_file_is_handed_to_the_restorer(shaken, tmp_path, capsys):
    k = blur.linear_motion_kernel(13, 30)
    np.save(tmp_path / "k.npy", k * 7.0)  # not normalised: the CLI normalises it
    code, err = _run(capsys, shaken, "-o", tmp_path / "out.png", "--model", "wiener", "--kernel", tmp_path / "k.npy")
    assert code == 0, err
    expect = BASELINES["wiener"](io.read_image(shaken), k)
    assert np.array_equal(io.read_image(tmp_path / "out.png"), expect)
    io.write_kernel(tmp_path / "k.png", k)  # a picture works too
    code, err = _run(capsys, shaken, "-o", tmp_path / "rl.png", "--model", "richardson_lucy", "--kernel",
                     tmp_path / "k.png", "-q")
    assert code == 0, err


def test_save_kernel_with_a_kernel_model_uses_the_estimate(shaken, tmp_path, capsys):
    code, err = _run(capsys, shaken, "-o", tmp_path / "a.png", "--model", "wiener", "--save-kernel", tmp_path / "k.npy")
    assert code == 0, err
    assert "given the estimated kernel" in err
    code, err = _run(capsys, shaken, "-o", tmp_path / "b.png", "--model", "wiener", "--kernel", tmp_path / "k.npy")
    assert code == 0, err
    assert np.array_equal(io.read_image(tmp_path / "a.png"), io.read_image(tmp_path / "b.png"))


@pytest.mark.parametrize("case,match", [
    ("folder", "one photo"),
    ("video", "one photo"),
    ("suffix", "use .npy"),
    ("input", "input file"),
])
def test_save_kernel_misuse_is_one_line(shaken, tmp_path, capsys, case, match):
    src, dst = shaken, tmp_path / "k.npy"
    if case == "folder":
        src = shaken.parent
    elif case == "video":
        src = tmp_path / "clip.mp4"
        src.write_bytes(b"")
    elif case == "suffix":
        dst = tmp_path / "k.txt"
    elif case == "input":
        dst = shaken
    code, err = _run(capsys, src, "--save-kernel", dst)
    assert code == 2 and match in _one_error(err)
    assert not (tmp_path / "k.npy").exists()


@pytest.mark.parametrize("case,match", [
    ("model", "does not take a blur kernel"),
    ("sigma", "pass one of them"),
    ("missing", "not found"),
    ("bad", "2-D"),
    ("both", "pass one of them"),
])
def test_kernel_misuse_is_one_line(shaken, tmp_path, capsys, case, match):
    path = tmp_path / "k.npy"
    np.save(path, blur.linear_motion_kernel(13, 30))
    extra: list = []
    model = "wiener"
    if case == "model":
        model = "blind_wiener"
    elif case == "sigma":
        extra = ["--sigma", "1"]
    elif case == "missing":
        path = tmp_path / "nope.npy"
    elif case == "bad":
        np.save(path, np.ones((3, 3, 3)))
    elif case == "both":
        extra = ["--save-kernel", tmp_path / "e.npy"]
    code, err = _run(capsys, shaken, "-o", tmp_path / "out.png", "--model", model, "--kernel", path, *extra)
    line = _one_error(err)
    assert code == 2 and match in line, line
    if case == "model":
        assert "wiener" in line and "richardson_lucy" in line  # says which models take one
    assert not (tmp_path / "out.png").exists()


def test_a_kernel_model_without_a_kernel_says_how_to_give_one(shaken, tmp_path, capsys):
    code, err = _run(capsys, shaken, "-o", tmp_path / "out.png", "--model", "wiener")
    line = _one_error(err)
    assert code == 2 and "--kernel FILE" in line and "--save-kernel" in line
