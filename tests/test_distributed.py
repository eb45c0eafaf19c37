"""Tests for work spread over processes (deblur/distributed.py, eval/spread.py, the shares of
eval.inputs.open_items and of the CLI's folder mode): two torchrun processes on one machine write
the leaderboard and per-image rows one process writes (timings aside), leave no part files, and
the CLI's folder outputs are the same bytes.

torchrun is started as ``python -m torch.distributed.run --standalone`` (a free local port); the
dataset is a folder of five small crops of the builtin photos plus one unreadable file, scored by
the cheap baselines.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deblur import distributed
from deblur.errors import DatasetError, DeblurError
from eval import spread
from eval.inputs import open_items
from eval.rowlog import RowLog

REPO = Path(__file__).resolve().parent.parent
MODELS = "blurred,wiener,blind_wiener"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    from deblur.data import builtin

    root = tmp_path_factory.mktemp("photos")
    for i, item in enumerate(list(builtin())[:5]):
        Image.fromarray(item.sharp[:48, :64]).save(root / f"p{i}.png")
    (root / "p2b.png").write_bytes(b"not a png")  # unreadable: skipped with a note by every process
    return root


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _python(*args: str, ranks: int = 1) -> subprocess.CompletedProcess:
    launcher = [] if ranks == 1 else ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks)]
    cmd = [sys.executable, *launcher, *args]
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _eval(photos: Path, out: Path, ranks: int, models: str = MODELS) -> subprocess.CompletedProcess:
    return _python("-m", "eval", "--dataset", f"photos:{photos}", "--blur", "gaussian", "--models", models,
                   "--out", str(out), "--no-progress", ranks=ranks)


def test_two_processes_write_the_single_process_leaderboard(photos, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _eval(photos, one, 1)
    proc = _eval(photos, two, 2)
    assert "skipped 1 unreadable file" in proc.stderr  # gathered from the rank that met it
    a, b = pd.read_csv(one / "per_image.csv"), pd.read_csv(two / "per_image.csv")
    assert len(a) == 5 * 3
    # Same rows in the same order; only the timings differ.
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))
    la, lb = pd.read_csv(one / "leaderboard.csv"), pd.read_csv(two / "leaderboard.csv")
    pd.testing.assert_frame_equal(la.drop(columns="seconds_per_mp"), lb.drop(columns="seconds_per_mp"))
    assert not list(two.glob("per_image.part-*"))  # merged, then removed
    assert '"world_size": 2' in (two / "run.json").read_text()

    # Resuming with one more model: only its rows are scored, and the result is still the same.
    _eval(photos, one, 1, MODELS + ",richardson_lucy")
    _eval(photos, two, 2, MODELS + ",richardson_lucy")
    a, b = pd.read_csv(one / "per_image.csv"), pd.read_csv(two / "per_image.csv")
    assert len(b) == 5 * 4
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))


def test_two_processes_share_a_folder_in_the_cli(photos, tmp_path):
    (tmp_path / "in").mkdir()
    for p in sorted(photos.glob("p?.png")):
        (tmp_path / "in" / p.name).write_bytes(p.read_bytes())
    _python("-m", "deblur", str(tmp_path / "in"), "-o", str(tmp_path / "one"), "-m", "blind_wiener", "-q")
    _python("-m", "deblur", str(tmp_path / "in"), "-o", str(tmp_path / "two"), "-m", "blind_wiener", "-q", ranks=2)
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir()) and len(names) == 5
    for name in names:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "one" / name)),
                              np.asarray(Image.open(tmp_path / "two" / name)))


def test_shares_cover_the_dataset_once_in_order():
    whole = [item.name for item in open_items("builtin", "full", "gaussian", limit=5)]
    shares = [[item.name for item in open_items("builtin", "full", "gaussian", limit=5, shard=(r, 2))]
              for r in range(2)]
    assert shares == [whole[0::2], whole[1::2]]
    assert list(open_items("builtin", "full", "gaussian", limit=2, shard=(2, 3))) == []  # more ranks than items
    assert distributed.share(list(range(7)), 1, 3) == [1, 4]


def test_merge_orders_by_dataset_index_and_skips_what_is_there(tmp_path):
    log = RowLog(tmp_path / "per_image.csv", ["model", "image", "psnr"], key=("model", "image"))
    with log:
        log.write({"model": "a", "image": "x0", "psnr": "1"})
    part0 = [{"model": "a", "image": "x0", "psnr": "1", "index": "0"},
             {"model": "a", "image": "x2", "psnr": "3", "index": "2"},
             {"model": "b", "image": "x2", "psnr": "4", "index": "2"}]
    part1 = [{"model": "a", "image": "x1", "psnr": "2", "index": "1"}]
    assert spread.merge(log, [part0, part1]) == 3
    rows = spread.read_rows(log.path)
    assert [(r["model"], r["image"]) for r in rows] == [("a", "x0"), ("a", "x1"), ("a", "x2"), ("b", "x2")]
    assert list(rows[0]) == ["model", "image", "psnr"]  # the index stays in the parts
    with pytest.raises(DatasetError, match="occurs twice"):
        spread.merge(log, [[{"model": "c", "image": "x1", "psnr": "1", "index": "1"}],
                           [{"model": "c", "image": "x1", "psnr": "1", "index": "3"}]])


def test_world_without_torchrun_is_one_process(monkeypatch):
    for key in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    assert distributed.world() == (0, 1)
    with distributed.process_group() as grouped:
        assert grouped is False
        assert distributed.broadcast({"a"}) == {"a"} and distributed.gather(3) == [3]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(DeblurError, match="RANK 2 does not fit WORLD_SIZE 2"):
        distributed.world()
