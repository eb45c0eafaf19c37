"""Tests for the package as pip installs it (pyproject.toml, deblur.weights.default_weights_dir):
the wheel carries the shipped weights with their manifest, cards, logs and subfolders, the
published leaderboards and app.py; it declares the console commands and the [app] / [onnx]
extras; one version number; the weights are found in an installed copy, a checkout or
$DEBLUR_WEIGHTS.

The wheel is built without build isolation (nothing is downloaded), skipped when the build
backend (setuptools) or pip is missing.
"""

import importlib.util
import json
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import deblur
from deblur import weights

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    if importlib.util.find_spec("setuptools") is None or importlib.util.find_spec("pip") is None:
        pytest.skip("setuptools or pip is not installed: cannot build a wheel")
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(REPO)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = out.glob("deep_deblur-*.whl")
    with zipfile.ZipFile(path) as z:
        yield z


def _dist_file(z: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in z.namelist() if n.endswith(f".dist-info/{name}")]
    return z.read(path).decode()


def test_wheel_carries_every_shipped_file(wheel):
    names = set(wheel.namelist())
    manifest = json.loads((REPO / "weights" / "manifest.json").read_text())
    assert "deblur/_weights/manifest.json" in names
    assert json.loads(wheel.read("deblur/_weights/manifest.json")) == manifest
    for name, entry in manifest.items():
        assert f"deblur/_weights/{entry['file']}" in names, name
    # Every file of weights/ (cards, logs, the estimators/ and priors/ subfolders) and nothing else.
    shipped = {f"deblur/_weights/{p.relative_to(REPO / 'weights').as_posix()}"
               for p in (REPO / "weights").rglob("*") if p.is_file() and p.suffix in (".json", ".md", ".csv", ".safetensors")}
    assert shipped <= names
    assert {n for n in names if n.startswith("deblur/_weights/")} == shipped
    assert any(n.startswith("deblur/_weights/estimators/") for n in names) == (REPO / "weights" / "estimators").is_dir()
    # The bytes are the shipped bytes (the manifest's SHA-256 would refuse anything else).
    entry = manifest["atrous_net-camera"]
    import hashlib

    assert hashlib.sha256(wheel.read(f"deblur/_weights/{entry['file']}")).hexdigest() == entry["sha256"]


def test_wheel_carries_the_code_the_app_and_the_leaderboards(wheel):
    names = set(wheel.namelist())
    for module in ("deblur/__init__.py", "deblur/cli.py", "deblur/export.py", "deblur/onnx_backend.py",
                   "eval/__main__.py", "eval/spread.py", "app.py", "deblur_app/__init__.py",
                   "deblur_app/photo_tab.py", "deblur_app/uploads.py"):
        assert module in names
    published = {p.relative_to(REPO).as_posix() for p in (REPO / "eval" / "leaderboards").rglob("*")
                 if p.suffix in (".csv", ".json")}
    assert published and published <= names
    # No repository clutter: scripts, tests, the corpus, runs.
    assert not [n for n in names if n.split("/")[0] in ("bench", "tests", "corpus", "runs", "gallery", "weights")]


def test_wheel_declares_commands_extras_and_one_version(wheel):
    entry_points = _dist_file(wheel, "entry_points.txt")
    assert "deblur = deblur.cli:main" in entry_points
    assert "deblur-app = app:main" in entry_points
    meta = Parser().parsestr(_dist_file(wheel, "METADATA"))
    assert meta["Version"] == deblur.__version__
    extras = meta.get_all("Provides-Extra")
    assert {"app", "onnx"} <= set(extras)
    requires = meta.get_all("Requires-Dist")
    for extra, packages in {"app": ("gradio", "pandas", "plotly"), "onnx": ("onnxruntime", "onnx")}.items():
        for package in packages:
            assert any(r.startswith(package) and f'extra == "{extra}"' in r for r in requires), (extra, package)


def test_weights_folder_resolution(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "PACKAGED_WEIGHTS", tmp_path / "nowhere")
    monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
    assert weights.default_weights_dir() == REPO / "weights"  # a checkout
    installed = tmp_path / "site" / "deblur" / "_weights"
    installed.mkdir(parents=True)
    (installed / weights.MANIFEST).write_text("{}")
    monkeypatch.setattr(weights, "PACKAGED_WEIGHTS", installed)
    assert weights.default_weights_dir() == installed  # an installed package
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path / "mine"))
    assert weights.default_weights_dir() == tmp_path / "mine"  # the override wins
