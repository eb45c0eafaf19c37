"""Tests for the ONNX Runtime backend (deblur/onnx_backend.py, Deblurrer(backend=...), the CLI's
--backend, python -m deblur.export, eval speed --backend): the shipped camera networks agree with
torch within 2 grey levels through the same padding, tiling and self-ensemble; the export takes
any size; a missing onnxruntime or a torch-only network is one clear error.

Everything that runs ONNX Runtime is skipped when it is not installed; the missing-package
messages are checked either way.
"""

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from deblur import onnx_backend, registry
from deblur.cli import main as cli_main
from deblur.errors import DeblurError
from deblur.export import main as export_main
from deblur.inference import Deblurrer
from deblur.models import build_model

needs_ort = pytest.mark.skipif(not onnx_backend.available(), reason="onnxruntime is not installed")
CAMERA = ["res_unet-camera", "atrous_net-camera"]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    """One export cache for the whole module (exports take seconds), never the user's own."""
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "onnx-cache"))


@pytest.fixture(scope="module")
def blurred() -> np.ndarray:
    """A small real photo (scikit-image's astronaut), blurred a little: 72 x 100, not a multiple of 16."""
    from skimage import data
    from scipy.ndimage import gaussian_filter

    img = data.astronaut()[60:132, 160:260].astype(np.float32)
    return np.clip(gaussian_filter(img, (1.2, 1.2, 0)), 0, 255).round().astype(np.uint8)


def _levels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@needs_ort
@pytest.mark.parametrize("name", CAMERA)
def test_shipped_networks_agree_within_two_grey_levels(name, blurred):
    torch_out = registry.load(name)(blurred)
    ort = registry.load(name, backend="onnxruntime")
    assert ort.backend == "onnxruntime"
    out = ort(blurred)
    assert out.shape == blurred.shape and out.dtype == np.uint8
    assert _levels(out, torch_out) <= 2
    # The network changed the photo: the agreement is not two copies of the input.
    assert _levels(out, blurred) > 2


@needs_ort
def test_tiles_and_self_ensemble_are_the_same_code_on_both_backends(blurred):
    """atrous_net-camera's smallest tile is 232 px: a 240 x 300 photo runs in four tiles; the
    8-view ensemble runs on a crop."""
    big = np.asarray(Image.fromarray(blurred).resize((300, 240), Image.Resampling.BICUBIC))
    a = registry.load("atrous_net-camera", tile=232)
    b = registry.load("atrous_net-camera", tile=232, backend="onnxruntime")
    assert a.tiles(240, 300) and b.tiles(240, 300)
    assert np.abs(a.restore_float(big) - b.restore_float(big)).max() < 1e-4
    a = registry.load("atrous_net-camera+x8")
    b = registry.load("atrous_net-camera+x8", backend="onnxruntime")
    small = blurred[:40, :50]
    assert np.abs(a.restore_float(small) - b.restore_float(small)).max() < 1e-4


@needs_ort
def test_export_is_cached_and_reused(blurred, tmp_path, monkeypatch):
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path))
    torch.manual_seed(0)
    net = build_model("carlo_net", "lite", "gaussian", layers=2, channels=4)
    first = Deblurrer(net, backend="onnxruntime")
    first(blurred)
    files = sorted((tmp_path / "onnx").glob("*.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    second = Deblurrer(build_model("carlo_net", "lite", "gaussian", layers=2, channels=4), backend="onnxruntime")
    # Other weights (a fresh random init): another graph, another file.
    second(blurred)
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 2
    third = Deblurrer(net, backend="onnxruntime")
    third(blurred)
    assert files[0].stat().st_mtime_ns == stamp and len(list((tmp_path / "onnx").glob("*.onnx"))) == 2


@needs_ort
def test_cli_backend_matches_torch(tmp_path, blurred, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(blurred).save(src)
    for name in CAMERA:
        outs = {}
        for backend in ("torch", "onnxruntime"):
            dst = tmp_path / f"{name}-{backend}.png"
            assert cli_main([str(src), "-o", str(dst), "-m", name, "--backend", backend, "-q"]) == 0
            outs[backend] = np.asarray(Image.open(dst))
        assert _levels(outs["torch"], outs["onnxruntime"]) <= 2


@needs_ort
def test_export_cli_writes_a_file_of_any_size(tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    path = tmp_path / "atrous.onnx"
    assert export_main(["atrous_net-camera", "-o", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "largest difference from torch" in printed
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["model"] == "atrous_net-camera" and meta["multiple"] == "2" and len(meta["weights_sha256"]) == 64
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model = registry.load("atrous_net-camera").model
    for h, w in ((33, 47), (64, 64)):  # odd sizes are padded inside the graph and cropped back
        x = np.random.default_rng(h).random((1, 3, h, w), dtype=np.float32)
        y = session.run(None, {"x": x})[0]
        with torch.inference_mode():
            want = onnx_backend.PaddedNetwork(model)(torch.from_numpy(x)).numpy()
        assert y.shape == (1, 3, h, w) and np.abs(y - want).max() < 1e-4


@pytest.mark.parametrize("argv, words", [
    (["wiener"], "classical baseline"),
    (["res_unet-camera+x8"], "network's own name"),
    (["kernel_aware_atrous-gaussian"], "kernel-aware"),
])
def test_export_cli_refuses_what_is_not_one_network(tmp_path, capsys, argv, words):
    assert export_main([*argv, "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1
    assert not (tmp_path / "x.onnx").exists()


def test_kernel_aware_network_stays_torch_only():
    with pytest.raises(DeblurError, match="kernel-aware.*torch"):
        registry.load("kernel_aware_atrous-gaussian", backend="onnxruntime")
    assert registry.load("kernel_aware_atrous-gaussian", backend="auto").backend == "torch"


def test_missing_onnxruntime_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    net = build_model("carlo_net", "lite", "gaussian", layers=2, channels=4)
    with pytest.raises(DeblurError, match=r"pip install onnxruntime onnx"):
        Deblurrer(net, backend="onnxruntime")
    assert Deblurrer(net, backend="auto").backend == "torch"  # the app's choice falls back quietly


def test_bad_backend_and_bf16_are_refused():
    net = build_model("carlo_net", "lite", "gaussian", layers=2, channels=4)
    with pytest.raises(DeblurError, match="backend must be one of"):
        Deblurrer(net, backend="tensorrt")
    if onnx_backend.available():
        with pytest.raises(DeblurError, match="bf16"):
            Deblurrer(net, backend="onnxruntime", bf16=True)


@needs_ort
def test_speed_measures_both_backends_in_one_run(tmp_path, capsys):
    from eval.cli import main as eval_main
    from eval.speed import SPEED_COLUMNS

    out = tmp_path / "speed"
    assert eval_main(["speed", "--models", "blurred,carlo_net@lite", "--size", "40x56", "--peak-size", "128",
                      "--backend", "torch,onnxruntime", "--out", str(out)]) == 0
    import pandas as pd

    df = pd.read_csv(out / "speed.csv")
    assert list(df.columns) == SPEED_COLUMNS
    nets = df[df["model"] == "carlo_net@lite"]
    assert sorted(nets["backend"]) == ["onnxruntime", "torch"]
    assert set(df.loc[df["kind"] == "baseline", "backend"]) == {"-"}
    assert json.loads((out / "speed.json").read_text())["backends"] == ["torch", "onnxruntime"]
    assert "carlo_net@lite: onnxruntime" in capsys.readouterr().out
    assert eval_main(["speed", "--models", "blurred", "--size", "40x56", "--backend", "tvm",
                      "--out", str(tmp_path / "bad")]) == 2
