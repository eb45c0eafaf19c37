"""The evaluator on tiny datasets written by the tests: CSVs, determinism, resume, bad input,
agreement with scikit-image on saved images, leaderboard = group-by, sweep, speed, readme."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skimage.data
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from deblur import registry
from eval import inputs
from eval.cli import main
from eval.run import LEADERBOARD_COLUMNS, PER_IMAGE_COLUMNS, TIMING_COLUMNS, leaderboard, safe_name
from eval.speed import SPEED_COLUMNS

KERNEL_BASELINES = "blurred,wiener,richardson_lucy"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Three small real photos (crops of scikit-image's) as PNGs: a photos:DIR dataset."""
    root = tmp_path_factory.mktemp("photos")
    crops = {
        "astronaut": skimage.data.astronaut()[60:108, 180:236],
        "coffee": skimage.data.coffee()[120:160, 200:256],
        "chelsea": skimage.data.chelsea()[80:124, 150:198],
    }
    for name, img in crops.items():
        Image.fromarray(np.ascontiguousarray(img)).save(root / f"{name}.png")
    return root


def run_eval(*args: str) -> int:
    return main([*args, "--no-progress"])


def read(out: Path, name: str = "per_image.csv") -> pd.DataFrame:
    return pd.read_csv(out / name)


def without_timing(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=list(TIMING_COLUMNS)).sort_values(["model", "image"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def gaussian_run(photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "g"
    assert run_eval("--dataset", f"photos:{photos}", "--blur", "gaussian", "--models", KERNEL_BASELINES,
                    "--out", str(out), "--save-images") == 0
    return out


def test_run_writes_csvs_json_and_columns(gaussian_run):
    df = read(gaussian_run)
    assert list(df.columns) == PER_IMAGE_COLUMNS
    assert len(df) == 3 * 3  # 3 images x 3 restorers
    assert set(df["model"]) == {"blurred", "wiener", "richardson_lucy"}
    assert df["sigma"].between(0, 3).all() and (df["kernel_size"] % 2 == 1).all()
    assert (df["ssim_variant"] == df["ssim_variant"].iloc[0]).all()
    lb = read(gaussian_run, "leaderboard.csv")
    assert list(lb.columns) == LEADERBOARD_COLUMNS
    meta = json.loads((gaussian_run / "run.json").read_text())
    assert meta["config"]["seed"] == 42 and meta["config"]["blur"] == "gaussian"
    assert meta["conventions"]["psnr_cap_db"] == 100.0
    assert meta["machine"]["cores"] >= 1 and meta["machine"]["cpu_model"]
    assert "torch" in meta["versions"] and "commit" in meta
    # Every restorer saw the same blurred input: `blurred` rows carry one sigma per image.
    assert df.groupby("image")["sigma"].nunique().eq(1).all()


def test_known_kernel_baselines_beat_blurred_input(gaussian_run):
    df = read(gaussian_run)
    df = df[df["input_is_target"] == 0]
    p = df.pivot(index="image", columns="model", values="psnr")
    # Oracle-kernel deconvolution with reflect padding must improve on doing nothing.
    assert (p["wiener"] > p["blurred"]).mean() >= 2 / 3
    assert (p["richardson_lucy"] > p["blurred"]).mean() >= 2 / 3


def test_saved_images_agree_with_skimage(gaussian_run):
    df = read(gaussian_run)
    for row in df.itertuples():
        out = np.asarray(Image.open(gaussian_run / "images" / row.model / f"{safe_name(row.image)}.png"))
        ref = np.asarray(Image.open(gaussian_run / "images" / "_sharp" / f"{safe_name(row.image)}.png"))
        if np.array_equal(out, ref):
            assert row.psnr_capped == 1
            continue
        psnr = peak_signal_noise_ratio(ref, out, data_range=255)
        ssim = structural_similarity(ref, out, channel_axis=-1, data_range=255, gaussian_weights=True,
                                     sigma=1.5, use_sample_covariance=False)
        assert abs(psnr - row.psnr) < 0.05, (row.model, row.image)
        assert abs(ssim - row.ssim) < 0.002, (row.model, row.image)


def test_leaderboard_is_the_group_by_of_per_image(gaussian_run):
    df = read(gaussian_run)
    lb = read(gaussian_run, "leaderboard.csv").set_index("model")
    scored = df[df["input_is_target"] == 0]
    means = scored.groupby("model")[["psnr", "ssim", "mse"]].mean()
    for model, row in means.iterrows():
        assert lb.loc[model, "psnr"] == pytest.approx(row["psnr"], abs=1e-5)
        assert lb.loc[model, "ssim"] == pytest.approx(row["ssim"], abs=1e-5)
        assert lb.loc[model, "mse"] == pytest.approx(row["mse"], rel=1e-4, abs=1e-9)
        assert lb.loc[model, "n"] == (df["model"] == model).sum()
    base = scored[scored["model"] == "blurred"].set_index("image")["psnr"]
    wiener = scored[scored["model"] == "wiener"].set_index("image")["psnr"]
    assert lb.loc["wiener", "gain_db"] == pytest.approx((wiener - base).mean(), abs=1e-5)
    assert lb.loc["blurred", "gain_db"] == 0
    assert lb.loc["wiener", "psnr_all"] == pytest.approx(df[df.model == "wiener"]["psnr"].mean(), abs=1e-5)
    # the worst image: the lowest gain over the blurred input, named
    gains = wiener - base
    assert lb.loc["wiener", "worst_gain_db"] == pytest.approx(gains.min(), abs=1e-5)
    assert lb.loc["wiener", "worst_image"] == gains.idxmin()
    # what each row was handed: the oracles the true kernel, the rest nothing
    assert lb.loc["wiener", "told"] == "kernel" and pd.isna(lb.loc["blurred", "told"])
    # The function itself is a pure function of the rows (told included; kind and params come from the models).
    pd.testing.assert_frame_equal(leaderboard(df).drop(columns=["kind", "params"]).round(5),
                                  lb.reset_index().drop(columns=["kind", "params"]).round(5),
                                  check_dtype=False)


def test_same_seed_gives_identical_csvs(photos, tmp_path, gaussian_run):
    out = tmp_path / "again"
    assert run_eval("--dataset", f"photos:{photos}", "--models", KERNEL_BASELINES, "--out", str(out)) == 0
    pd.testing.assert_frame_equal(without_timing(read(out)), without_timing(read(gaussian_run)))
    lb_a = read(out, "leaderboard.csv").drop(columns=["seconds_per_mp"])
    lb_b = read(gaussian_run, "leaderboard.csv").drop(columns=["seconds_per_mp"])
    pd.testing.assert_frame_equal(lb_a, lb_b)


def test_other_seed_gives_other_blur(photos, tmp_path):
    out = tmp_path / "seed7"
    assert run_eval("--dataset", f"photos:{photos}", "--models", "blurred", "--out", str(out), "--seed", "7") == 0
    ref = tmp_path / "seed42"
    assert run_eval("--dataset", f"photos:{photos}", "--models", "blurred", "--out", str(ref)) == 0
    assert not np.allclose(read(out)["sigma"], read(ref)["sigma"])


def test_resume_after_limit_and_after_interruption(photos, tmp_path, gaussian_run):
    out = tmp_path / "resume"
    args = ["--dataset", f"photos:{photos}", "--models", KERNEL_BASELINES, "--out", str(out)]
    assert run_eval(*args, "--limit", "1") == 0
    assert len(read(out)) == 3
    assert run_eval(*args) == 0
    pd.testing.assert_frame_equal(without_timing(read(out)), without_timing(read(gaussian_run)))
    # Interruption: the last row lost and the one before torn in the middle of a line.
    path = out / "per_image.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-2]) + lines[-2][:20])
    assert run_eval(*args) == 0
    pd.testing.assert_frame_equal(without_timing(read(out)), without_timing(read(gaussian_run)))
    assert len(read(out)) == 9  # nothing scored twice
    meta = json.loads((out / "run.json").read_text())
    assert len(meta["sessions"]) == 3


def test_refuses_to_resume_into_another_configuration(photos, tmp_path, capsys):
    out = tmp_path / "cfg"
    assert run_eval("--dataset", f"photos:{photos}", "--models", "blurred", "--out", str(out)) == 0
    before = (out / "per_image.csv").read_bytes(), (out / "run.json").read_bytes()
    capsys.readouterr()
    assert run_eval("--dataset", f"photos:{photos}", "--models", "blurred", "--out", str(out), "--seed", "1") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "seed" in err
    assert ((out / "per_image.csv").read_bytes(), (out / "run.json").read_bytes()) == before


def _fake_shipped(weights_dir=None, strict=True):
    """The registry's shipped networks, as if only these two were in the manifest."""
    from deblur.registry import ModelInfo

    shipped = {"carlo_net-gaussian": ("gaussian", 1), "kaist_net-motion": ("motion", 3)}
    return {n: ModelInfo(n, "network", (t,), f, sha256="0" * 64) for n, (t, f) in shipped.items()}


@pytest.mark.parametrize("case", ["missing_path", "wrong_layout", "unknown_model", "gaussian_only_arch",
                                  "gaussian_network_for_motion", "kernel_baseline_on_real_blur",
                                  "cifar_protocol_for_motion", "bad_option", "ensemble_of_a_baseline",
                                  "ensemble_of_unknown_net"])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, photos, tmp_path, capsys, monkeypatch):
    out = tmp_path / "bad"
    monkeypatch.setattr(registry, "shipped", _fake_shipped)
    (tmp_path / "pairs" / "sharp").mkdir(parents=True)
    (tmp_path / "pairs" / "blur").mkdir(parents=True)
    for sub in ("sharp", "blur"):
        Image.fromarray(skimage.data.astronaut()[:32, :32]).save(tmp_path / "pairs" / sub / "a.png")
    args = {
        "missing_path": ["--dataset", f"photos:{tmp_path / 'nope'}"],
        "wrong_layout": ["--dataset", f"pairs:{photos}"],
        "unknown_model": ["--dataset", f"photos:{photos}", "--models", "blurred,no_such_net"],
        "gaussian_only_arch": ["--dataset", f"photos:{photos}", "--blur", "motion", "--models", "carlo_net"],
        "gaussian_network_for_motion": ["--dataset", f"photos:{photos}", "--blur", "motion",
                                        "--models", "carlo_net-gaussian"],
        "kernel_baseline_on_real_blur": ["--dataset", f"pairs:{tmp_path / 'pairs'}", "--models", "wiener"],
        "cifar_protocol_for_motion": ["--dataset", f"photos:{photos}", "--blur", "motion", "--protocol", "cifar"],
        "bad_option": ["--dataset", f"photos:{photos}", "--blur", "defocus"],
        "ensemble_of_a_baseline": ["--dataset", f"photos:{photos}", "--models", "wiener+x8"],
        "ensemble_of_unknown_net": ["--dataset", f"photos:{photos}", "--models", "no_such_net+x8"],
    }[case]
    try:
        code = run_eval(*args, "--out", str(out))
    except SystemExit as exc:  # argparse exits by itself
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert not out.exists()


def test_ensemble_suffix_resolves_like_the_network_it_wraps(monkeypatch):
    monkeypatch.setattr(registry, "shipped", _fake_shipped)
    names, _ = inputs.resolve_models("carlo_net+x8,carlo_net-gaussian,wiener", "gaussian", False)
    assert names == ["blurred", "carlo_net-gaussian+x8", "carlo_net-gaussian", "wiener"]
    names, _ = inputs.resolve_models("kaist_net-motion+x8", "motion", False)
    assert names == ["blurred", "kaist_net-motion+x8"]
    with pytest.raises(inputs.IncompatibleModelError):
        inputs.resolve_models("carlo_net-gaussian+x8", "motion", False)


def test_unknown_model_message_lists_valid_names(photos, tmp_path, capsys):
    assert run_eval("--dataset", f"photos:{photos}", "--models", "nope", "--out", str(tmp_path / "x")) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "richardson_lucy" in err


def test_all_means_baselines_when_no_weights_are_shipped(photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(registry, "shipped", lambda weights_dir=None, strict=True: {})
    out = tmp_path / "all"
    assert run_eval("--dataset", f"photos:{photos}", "--models", "all", "--out", str(out), "--limit", "1") == 0
    # the classical rows (multiframe_wiener is for motion blur only), and the single-frame restorers built
    # on the shipped prior of weights/priors/ (not a network of the manifest; multiframe_pnp: motion only)
    priors = {n for n, r in registry.PRIOR_RESTORERS.items() if r.frames == 1}
    assert priors >= {"pnp", "pnp_linear", "blind_pnp", "prior_denoise"}
    assert set(read(out)["model"]) == set(registry.BASELINES) - {"multiframe_wiener"} | priors
    assert "baselines only" in capsys.readouterr().out


def test_motion_run_three_frames_and_single_frame(photos, tmp_path):
    out = tmp_path / "motion"
    args = ["--dataset", f"photos:{photos}", "--blur", "motion", "--models", "blurred,wiener", "--limit", "2"]
    assert run_eval(*args, "--out", str(out)) == 0
    df = read(out)
    assert (df["motion_length"] == 8.0).all() and df["sigma"].isna().all()
    assert (df["blur_source"] == "synthetic").all()
    single = tmp_path / "single"
    assert run_eval(*args, "--out", str(single), "--single-frame") == 0
    # The middle frame (all that these 1-frame restorers use) is the same in both modes.
    pd.testing.assert_frame_equal(without_timing(read(single)), without_timing(df))
    assert json.loads((single / "run.json").read_text())["config"]["single_frame"] is True


def test_real_blur_pairs_use_their_own_blur(tmp_path):
    root = tmp_path / "pairs"
    sharp = skimage.data.coffee()[100:148, 200:248]
    blurred = np.asarray(Image.fromarray(sharp).resize((24, 24)).resize((48, 48)))
    for sub, img in (("sharp", sharp), ("blur", blurred)):
        (root / sub).mkdir(parents=True)
        Image.fromarray(np.ascontiguousarray(img)).save(root / sub / "cup.png")
    out = tmp_path / "out"
    assert run_eval("--dataset", f"pairs:{root}", "--models", "blurred", "--out", str(out)) == 0
    row = read(out).iloc[0]
    assert row["blur_source"] == "real" and np.isnan(row["sigma"])
    assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(sharp, blurred, data_range=255), abs=1e-3)


def test_cifar_protocol_crops_photos_to_32px(photos, tmp_path):
    out = tmp_path / "cifar"
    assert run_eval("--dataset", f"photos:{photos}", "--protocol", "cifar", "--models", "blurred",
                    "--out", str(out)) == 0
    df = read(out)
    assert (df["height"] == 32).all() and (df["width"] == 32).all()
    assert len(df) >= 3 * 20 and df["image"].is_unique
    assert df["sigma"].between(0, 3).all()


def test_sweep_scores_each_level(photos, tmp_path):
    out = tmp_path / "sweep"
    assert main(["sweep", "--dataset", f"photos:{photos}", "--blur", "gaussian", "--models", "blurred,wiener",
                 "--levels", "0,1.5,3", "--limit", "2", "--out", str(out), "--no-progress"]) == 0
    table = read(out, "sweep.csv")
    assert len(table) == 2 * 3
    blurred = table[table["model"] == "blurred"].set_index("level")["psnr"]
    assert blurred[0.0] == 100.0 and blurred[1.5] > blurred[3.0]  # stronger blur, lower PSNR
    rows = read(out, "sweep_per_image.csv")
    assert set(rows["sigma"]) == {0.0, 1.5, 3.0}
    # what each row was handed, as on the boards: wiener the true kernel, blurred nothing
    assert dict(zip(rows["model"], rows["told"].fillna(""))) == {"blurred": "", "wiener": "kernel"}
    assert dict(zip(table["model"], table["told"].fillna(""))) == {"blurred": "", "wiener": "kernel"}
    assert json.loads((out / "sweep.json").read_text())["sessions"][-1]["argv"][0] == "sweep"


def test_speed_table(tmp_path, capsys):
    out = tmp_path / "speed"
    assert main(["speed", "--models", "blurred,carlo_net@lite", "--size", "40x56", "--peak-size", "256",
                 "--out", str(out)]) == 0
    df = read(out, "speed.csv")
    assert list(df.columns) == SPEED_COLUMNS
    assert set(df["model"]) == {"blurred", "carlo_net@lite", "richardson_lucy"}
    net = df.set_index("model").loc["carlo_net@lite"]
    assert net["gmacs_per_frame"] > 0 and net["achieved_gmac_s"] > 0 and net["efficiency"] > 0
    assert df.set_index("model").loc["richardson_lucy", "x_richardson_lucy"] == pytest.approx(1.0)
    meta = json.loads((out / "speed.json").read_text())
    assert meta["peak_gflop_s"]["fp32"] > 0 and meta["peak_gflop_s"]["bf16"] > 0
    assert meta["argv"][0] == "speed"  # README's "Reproduce" line is built from it
    assert "richardson_lucy" in capsys.readouterr().out


def test_readme_block_is_rendered_from_the_csvs(gaussian_run, tmp_path):
    import shutil

    root = tmp_path / "leaderboards"
    shutil.copytree(gaussian_run, root / "builtin-gaussian", ignore=shutil.ignore_patterns("images"))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- leaderboard:start -->\nold numbers\n<!-- leaderboard:end -->\n\ntail\n")
    assert main(["readme", "--dir", str(root), "--write", str(readme)]) == 0
    text = readme.read_text()
    assert "old numbers" not in text and text.endswith("<!-- leaderboard:end -->\n\ntail\n")
    lb = read(gaussian_run, "leaderboard.csv")
    wiener = lb.set_index("model").loc["wiener", "psnr"]
    assert f"| `wiener` | {wiener:.2f} |" in text
    assert "python -m eval" in text  # the command that reproduces the table
    # Rendering twice changes nothing (the block replaces itself).
    assert main(["readme", "--dir", str(root), "--write", str(readme)]) == 0
    assert readme.read_text() == text


def test_a_folder_written_in_two_sessions_lists_both_commands_and_rows(gaussian_run, photos, tmp_path):
    import shutil

    from eval.readme import render_leaderboard

    out = tmp_path / "g"
    shutil.copytree(gaussian_run, out, ignore=shutil.ignore_patterns("images"))
    # A second session adds a model to the same configuration; the first one's rows stay.
    assert run_eval("--dataset", f"photos:{photos}", "--blur", "gaussian", "--models", "blind_wiener",
                    "--out", str(out)) == 0
    lb = read(out, "leaderboard.csv")
    assert set(lb["model"]) == set(KERNEL_BASELINES.split(",")) | {"blind_wiener"}
    text = render_leaderboard("g", out)
    assert text.count("`python -m eval ") == 2 and "blind_wiener --out" in text and ", then `" in text


def test_cifar_protocol_reads_cifar10_test_batch(tmp_path):
    import pickle

    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    img = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((32, 32), Image.Resampling.LANCZOS))
    images = np.stack([img, img[:, ::-1], img[::-1]])  # (3, 32, 32, 3)
    data = images.transpose(0, 3, 1, 2).reshape(3, 3072)  # CIFAR rows: R plane, G plane, B plane
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": data, b"labels": [3, 3, 3]}, fh)
    out = tmp_path / "out"
    assert run_eval("--dataset", f"cifar10:{tmp_path / 'cifar'}", "--protocol", "cifar",
                    "--models", "blurred,wiener", "--out", str(out)) == 0
    df = read(out)
    assert len(df) == 2 * 3 and (df["height"] == 32).all()
    assert sorted(df["image"].unique()) == ["test_00000", "test_00001", "test_00002"]


@pytest.mark.parametrize("kernel_format", ["npy", "png"])
def test_pairs_with_kernels_score_the_rows_handed_the_kernel(tmp_path, kernel_format):
    from deblur.blur import apply_kernel, linear_motion_kernel
    from deblur.io import to_float, to_uint8

    root = tmp_path / "pairs"
    for sub in ("sharp", "blur", "kernel"):
        (root / sub).mkdir(parents=True)
    kernel = linear_motion_kernel(9.0, 20.0)
    for name, crop in (("cup", skimage.data.coffee()[100:164, 200:264]),
                       ("cat", skimage.data.chelsea()[80:144, 150:214])):
        Image.fromarray(crop).save(root / "sharp" / f"{name}.png")
        Image.fromarray(to_uint8(apply_kernel(to_float(crop), kernel))).save(root / "blur" / f"{name}.png")
        if kernel_format == "npy":
            np.save(root / "kernel" / f"{name}.npy", kernel * 3.0)  # any scale: read back summing to 1
        else:
            Image.fromarray(to_uint8(kernel / kernel.max())).save(root / "kernel" / f"{name}.png")
    out = tmp_path / "out"
    assert run_eval("--dataset", f"pairs:{root}", "--models", "wiener,richardson_lucy", "--out", str(out)) == 0
    df = read(out)
    assert set(df.model) == {"blurred", "wiener", "richardson_lucy"} and (df.blur_source == "real").all()
    assert (df.kernel_size == kernel.shape[0]).all()
    gains = df.pivot(index="image", columns="model", values="psnr")
    assert (gains["richardson_lucy"] > gains["blurred"] + 1.0).all()  # the shipped kernel is the true one
    # one pair without its kernel: the set no longer has kernels, and the oracle rows are refused
    (root / "kernel" / "cat.png").unlink(missing_ok=True)
    (root / "kernel" / "cat.npy").unlink(missing_ok=True)
    assert run_eval("--dataset", f"pairs:{root}", "--models", "wiener", "--out", str(tmp_path / "o2")) == 2
