"""Tests for deblur/plots.py: data frames in, Plotly figures out, the `blurred` baseline marked."""

import pandas as pd
import plotly.graph_objects as go
import pytest

from deblur import plots


def leaderboard(blur: str = "gaussian", shift: float = 0.0) -> pd.DataFrame:
    # Columns as eval/run.py writes them (a subset; extra columns must not matter).
    return pd.DataFrame({
        "model": ["atrous_net-gaussian", "wiener", "blurred", "blind_wiener"],
        "kind": ["network", "baseline", "baseline", "baseline"],
        "dataset": "builtin", "protocol": "full", "blur": blur, "n": 7,
        "psnr": [30.5 + shift, 29.0 + shift, 27.0 + shift, 27.5 + shift],
        "ssim": [0.91, 0.88, 0.80, 0.82],
        "mse": [0.0009, 0.0013, 0.0020, 0.0018],
        "gain_db": [3.5, 2.0, 0.0, 0.5],
        "ssim_variant": "wang2004",
    })


def bar_traces(fig: go.Figure) -> list[go.Bar]:
    return [t for t in fig.data if isinstance(t, go.Bar)]


def test_leaderboard_bars_one_group_marks_blurred():
    fig = plots.leaderboard_bars(leaderboard())
    bars = bar_traces(fig)
    psnr = bars[0]
    labels = list(psnr.x)
    # Best first, the blurred input last and labelled as the input.
    assert labels == ["atrous_net-gaussian", "wiener", "blind_wiener", "blurred (input)"]
    assert list(psnr.y) == [30.5, 29.0, 27.5, 27.0]
    assert psnr.marker.pattern.shape[-1] == "/" and set(psnr.marker.pattern.shape[:-1]) == {""}
    # A dashed reference line at the blurred value on every panel.
    lines = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert sorted(s.y0 for s in lines) == sorted([27.0, 0.80, 0.0020])
    titles = [a.text for a in fig.layout.annotations]
    assert plots.METRIC_LABELS["mse"] in titles and "blurred input" in titles


def test_leaderboard_bars_several_groups_one_trace_each():
    df = pd.concat([leaderboard("gaussian"), leaderboard("motion", shift=-2.0)])
    fig = plots.leaderboard_bars(df, metrics=("psnr",))
    bars = bar_traces(fig)
    assert [b.name for b in bars] == ["builtin / full / gaussian", "builtin / full / motion"]
    assert all(b.marker.pattern.shape[-1] == "/" for b in bars)
    assert not [s for s in fig.layout.shapes if s.line.dash == "dash"]  # no single baseline line


def test_leaderboard_bars_mse_only_orders_lower_first():
    fig = plots.leaderboard_bars(leaderboard(), metrics=("mse",))
    assert list(bar_traces(fig)[0].x)[0] == "atrous_net-gaussian"
    assert list(bar_traces(fig)[0].y)[:3] == [0.0009, 0.0013, 0.0018]


@pytest.mark.parametrize("df", [pd.DataFrame(), pd.DataFrame({"model": ["a"], "n": [1]}), None])
def test_leaderboard_bars_without_data_is_a_message(df):
    fig = plots.leaderboard_bars(df)
    assert not fig.data and fig.layout.annotations[0].text


def test_sweep_curves_blurred_dashed_and_axis_named():
    df = pd.DataFrame({
        "model": ["blurred"] * 3 + ["wiener"] * 3,
        "blur": "gaussian", "level": [0.0, 1.0, 2.0] * 2,
        "psnr": [100.0, 30.0, 26.0, 100.0, 33.0, 29.0], "ssim": [1.0, 0.9, 0.8, 1.0, 0.95, 0.9],
    })
    fig = plots.sweep_curves(df.iloc[::-1])  # unsorted input still draws left to right
    wiener, blurred = fig.data[0], fig.data[1]
    # PSNR panel: no-blur level left out (identical images cap at 100 dB); SSIM panel keeps it.
    assert wiener.name == "wiener" and list(wiener.x) == [1.0, 2.0] and list(wiener.y) == [33.0, 29.0]
    assert blurred.name == "blurred (input)" and blurred.line.dash == "dash"
    assert list(fig.data[2].x) == [0.0, 1.0, 2.0]
    assert fig.layout.xaxis.title.text == plots.LEVEL_LABELS["gaussian"]
    motion = plots.sweep_curves(df.assign(blur="motion"), metrics=("psnr",))
    assert motion.layout.xaxis.title.text == plots.LEVEL_LABELS["motion"]


def test_training_curves_four_panels_last_row_per_epoch():
    log = pd.DataFrame({
        "epoch": [1, 2, 2, 3], "step": [10, 20, 20, 30],
        "loss": [0.1, 0.09, 0.08, 0.07], "val_loss": [0.11, 0.1, 0.09, 0.08],
        "val_mse": [0.003, 0.002, 0.002, 0.0015], "val_psnr": [25.0, 26.0, 26.5, 27.0],
        "val_ssim": [0.8, 0.82, 0.83, 0.85],
    })
    fig = plots.training_curves(pd.concat([log.assign(model="a"), log.assign(model="b")]))
    assert {t.name.removesuffix(" (val)") for t in fig.data} == {"a", "b"}  # every trace belongs to a model
    psnr_a = [t for t in fig.data if t.name == "a" and t.yaxis == "y3"][0]
    assert list(psnr_a.x) == [1, 2, 3] and list(psnr_a.y) == [25.0, 26.5, 27.0]  # resumed epoch: last kept
    assert sum(t.showlegend is not False for t in fig.data) == 2  # one legend entry per model
    assert plots.training_curves(log).data  # a single log without a model column


def test_training_curves_epoch_0_is_the_input_and_psnr_of_mean_mse_preferred():
    log = pd.DataFrame({
        "epoch": [0, 1, 2], "loss": [float("nan"), 0.05, 0.04], "val_loss": [0.06, 0.05, 0.04],
        "val_mse": [0.004, 0.003, 0.002], "val_psnr": [37.5, 30.0, 31.0], "val_psnr_mean_mse": [24.0, 25.2, 27.0],
        "val_ssim": [0.79, 0.81, 0.84],
    })
    fig = plots.training_curves(log)
    assert "PSNR of the mean MSE" in [a.text for a in fig.layout.annotations][2]
    psnr = [t for t in fig.data if t.yaxis == "y3"]
    line, cross = psnr
    assert list(line.x) == [1, 2] and list(line.y) == [25.2, 27.0]
    assert list(cross.x) == [0] and list(cross.y) == [24.0] and cross.marker.symbol == "x"
    train_loss = [t for t in fig.data if t.yaxis == "y" and t.line.dash == "solid"][0]
    assert list(train_loss.x) == [1, 2]


def test_training_curves_tolerates_missing_columns():
    fig = plots.training_curves(pd.DataFrame({"epoch": [1, 2], "loss": [0.2, 0.1]}))
    assert [list(t.y) for t in fig.data] == [[0.2, 0.1]]  # only the loss there is, drawn
    assert not plots.training_curves(pd.DataFrame()).data


def test_speed_bars_log_scale():
    df = pd.DataFrame({"model": ["richardson_lucy", "atrous_net-gaussian", "blurred"],
                       "kind": ["baseline", "network", "baseline"], "seconds": [2.0, 0.5, 0.001],
                       "height": 720, "width": 1280})
    fig = plots.speed_bars(df)
    assert list(fig.data[0].x) == ["blurred", "atrous_net-gaussian", "richardson_lucy"]
    assert fig.layout.yaxis.type == "log" and "720x1280" in fig.layout.yaxis.title.text
    assert not plots.speed_bars(pd.DataFrame({"model": ["a"]})).data


def test_training_curves_psnr_loss_has_its_own_panel():
    """Issue 27: a model trained on the PSNR loss (minus PSNR, -25 to -38 dB) is not drawn on the
    L1 axis: the L1 panel holds L1 values only, the PSNR loss a titled panel of its own."""
    val = {"val_loss": [0.04, 0.03], "val_mse": [0.004, 0.003], "val_psnr": [24.0, 25.0], "val_ssim": [0.7, 0.75]}
    l1 = pd.DataFrame({"epoch": [1, 2], "loss": [0.03, 0.02], **val}).assign(model="l1_net")
    psnr = pd.DataFrame({"epoch": [1, 2], "loss": [-25.0, -27.5], **val}).assign(model="psnr_net")
    fig = plots.training_curves(pd.concat([l1, psnr]))
    titles = [a.text for a in fig.layout.annotations]
    assert titles[:2] == [plots.L1_PANEL[1], plots.PSNR_LOSS_PANEL[1]] and len(titles) == 5
    on_l1 = [t for t in fig.data if t.yaxis == "y"]
    assert on_l1 and all(min(t.y) >= 0 for t in on_l1)  # only L1 values on the L1 axis
    assert {t.name for t in on_l1} == {"l1_net", "l1_net (val)", "psnr_net (val)"}  # every model's validation L1
    on_psnr = [t for t in fig.data if t.yaxis == "y2"]
    assert [(t.name, list(t.y)) for t in on_psnr] == [("psnr_net", [-25.0, -27.5])]
    assert sum(t.showlegend is True for t in fig.data) == 2  # one legend entry per model
    assert plots.trained_on_psnr_loss(psnr["loss"]) and not plots.trained_on_psnr_loss(l1["loss"])
    # Logs of L1-trained models only: the 2 x 2 layout, no PSNR-loss panel.
    assert plots.PSNR_LOSS_PANEL[1] not in [a.text for a in plots.training_curves(l1).layout.annotations]


def test_speed_bars_one_panel_per_frame_size():
    """Issue 27: 4K and 720p times never share an axis; each panel is titled with its size and
    every bar in it was timed at that size."""
    df = pd.DataFrame({
        "model": ["res_unet-camera", "blurred", "res_unet-camera", "richardson_lucy"],
        "kind": ["network", "baseline", "network", "baseline"], "seconds": [0.8, 0.002, 29.1, 19.8],
        "height": [720, 720, 2160, 2160], "width": [1280, 1280, 3840, 3840],
        "run": ["speed-720x1280", "speed-720x1280", "speed-2160x3840", "speed-2160x3840"],
    })
    fig = plots.speed_bars(df.iloc[::-1])
    assert [a.text for a in fig.layout.annotations] == [plots.frame_size_label(720, 1280),
                                                         plots.frame_size_label(2160, 3840)]
    assert "720x1280" in fig.layout.annotations[0].text and "2160x3840" in fig.layout.annotations[1].text
    small, large = fig.data
    assert list(small.x) == ["blurred", "res_unet-camera"] and list(small.y) == [0.002, 0.8]
    assert list(large.x) == ["richardson_lucy", "res_unet-camera"] and list(large.y) == [19.8, 29.1]
    assert "720x1280" in fig.layout.yaxis.title.text and "2160x3840" in fig.layout.yaxis2.title.text
    assert fig.layout.yaxis.type == fig.layout.yaxis2.type == "log"
    # Each panel scaled and labelled for its own times: 20-30 s has labels between 10 and 100.
    assert list(fig.layout.yaxis.range) == [-3, 0] and list(fig.layout.yaxis2.range) == [1, 2]
    assert list(fig.layout.yaxis2.tickvals) == [10, 20, 50, 100] and fig.layout.yaxis2.ticktext[1] == "20 s"
    # Two runs (or backends) at one size: the bars say which is which.
    twice = plots.speed_bars(pd.concat([df[:1], df[:1].assign(seconds=0.5, run="speed-again")]))
    assert list(twice.data[0].x) == ["res_unet-camera · speed-again", "res_unet-camera · speed-720x1280"]
