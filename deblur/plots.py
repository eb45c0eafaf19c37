"""Plotly figures from the project's tidy tables: pandas DataFrames in, `go.Figure` out.

The one plotting module (the app's charts, and anything else that wants a figure). It only
reads data frames: it does not know where they came from (the CSV files the evaluator publishes
under eval/leaderboards/, the training logs beside the weights), so it never imports eval/ or
touches files.

Tables and the columns each function reads (extra columns are ignored; a missing metric column
drops that panel instead of failing):

- leaderboard_bars: eval's leaderboard.csv rows: model, psnr, ssim, mse; optional dataset,
  protocol, blur (the group a bar belongs to), kind ("network" / "baseline"), gain_db.
- sweep_curves: eval's sweep.csv rows: model, blur, level, psnr, ssim (means per level).
- training_curves: training logs (weights/<name>.log.csv) stacked with a ``model`` column:
  epoch, loss (the training loss, L1 or PSNR loss), val_loss (always L1), val_mse, val_psnr,
  val_ssim.
- speed_bars: eval's speed.csv rows: model, seconds (per frame), optional kind, height, width
  (one panel per frame size), backend / run (named on a bar when they differ within a size).

The `blurred` baseline (the input itself, the score every restorer must beat) is drawn apart
from the rest everywhere: grey hatched bars plus a dashed reference line in bar charts, a grey
dashed curve in sweeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

BASELINE = "blurred"
BASELINE_COLOUR = "#8c8c8c"
KIND_COLOURS = {"network": "#1f77b4", "baseline": "#ff7f0e"}
# Qualitative palette for one trace per model / per group (Plotly's default "D3" order).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#bcbd22", "#17becf", "#7f7f7f")

METRIC_LABELS = {
    "psnr": "PSNR (dB, higher is better)",
    "ssim": "SSIM (higher is better)",
    "mse": "MSE (lower is better)",
    "gain_db": "gain over blurred input (dB)",
}
LEVEL_LABELS = {"gaussian": "Gaussian sigma (px)", "motion": "motion length (px)"}
GROUP_COLUMNS = ("dataset", "protocol", "blur")


def empty_figure(message: str, height: int = 320) -> go.Figure:
    """A blank figure carrying one centred line of text (for "no data yet" states)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 15})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, template="plotly_white", margin={"l": 20, "r": 20, "t": 30, "b": 20})
    return fig


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def group_label(row: pd.Series | dict) -> str:
    """'builtin / full / gaussian' style label of a leaderboard row's dataset, protocol and blur."""
    parts = [str(row[c]) for c in GROUP_COLUMNS if c in row and pd.notna(row[c])]
    return " / ".join(parts) or "all"


def _model_order(df: pd.DataFrame, metric: str) -> list[str]:
    """Models best first by the mean of `metric` (lower first for MSE), `blurred` last."""
    ascending = metric == "mse"
    means = df.groupby("model", sort=False)[metric].mean().sort_values(ascending=ascending, kind="mergesort")
    order = [m for m in means.index if m != BASELINE]
    return order + [BASELINE] if BASELINE in means.index else order


def leaderboard_bars(
    df: pd.DataFrame, metrics: Sequence[str] = ("psnr", "ssim", "mse"), title: str | None = None
) -> go.Figure:
    """Bar charts of `metrics` per model, one panel per metric, the `blurred` baseline marked.

    One (dataset, protocol, blur) group: bars coloured by kind (network / classical baseline),
    `blurred` grey and hatched, and a dashed line at its value across each panel so every gain
    reads off directly. Several groups: bars grouped by model, one colour per group, `blurred`
    bars hatched.
    """
    if df is None or len(df) == 0 or "model" not in df.columns:
        return empty_figure("no leaderboard rows")
    metrics = [m for m in metrics if m in df.columns and df[m].notna().any()]
    if not metrics:
        return empty_figure("the leaderboard has none of the columns psnr, ssim, mse")
    df = df.copy()
    df["_group"] = [group_label(r) for _, r in df.iterrows()]
    groups = list(dict.fromkeys(df["_group"]))
    order = _model_order(df, metrics[0])
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[METRIC_LABELS.get(m, m) for m in metrics],
                        horizontal_spacing=0.08)
    single = len(groups) == 1
    for col, metric in enumerate(metrics, start=1):
        for gi, group in enumerate(groups):
            sub = df[df["_group"] == group].set_index("model").reindex(order)
            sub = sub[sub[metric].notna()]
            if single:
                kinds = sub["kind"] if "kind" in sub.columns else pd.Series("network", index=sub.index)
                colours = [BASELINE_COLOUR if m == BASELINE else KIND_COLOURS.get(str(k), _colour(0))
                           for m, k in zip(sub.index, kinds)]
            else:
                colours = [BASELINE_COLOUR if m == BASELINE else _colour(gi) for m in sub.index]
            patterns = ["/" if m == BASELINE else "" for m in sub.index]
            fig.add_bar(
                x=[f"{m} (input)" if m == BASELINE else m for m in sub.index], y=sub[metric],
                name=group, legendgroup=group, showlegend=(col == 1 and not single),
                marker={"color": colours, "pattern": {"shape": patterns}},
                text=[_fmt(metric, v) for v in sub[metric]], textposition="outside", cliponaxis=False,
                hovertemplate="%{x}<br>" + metric + " %{y:.4g}<extra>" + group + "</extra>",
                row=1, col=col,
            )
            if single and BASELINE in sub.index:
                fig.add_hline(y=float(sub.loc[BASELINE, metric]), line_dash="dash", line_color=BASELINE_COLOUR,
                              annotation_text="blurred input", annotation_position="top left",
                              annotation_font_size=10, row=1, col=col)
        low, high = df[metric].min(), df[metric].max()
        if metric != "mse" and pd.notna(low) and pd.notna(high):
            # Bars from zero hide differences of a few tenths of a dB; start near the lowest bar.
            span = max(high - low, abs(high) * 0.02, 1e-6)
            fig.update_yaxes(range=[low - 0.35 * span, high + 0.25 * span], row=1, col=col)
    fig.update_layout(
        title=title, barmode="group", template="plotly_white", height=430,
        margin={"l": 40, "r": 20, "t": 70 if title else 40, "b": 90},
        legend={"orientation": "h", "y": -0.3},
    )
    fig.update_xaxes(tickangle=-30)
    return fig


def _fmt(metric: str, value: float) -> str:
    if pd.isna(value):
        return ""
    if metric == "psnr" or metric == "gain_db":
        return f"{value:.2f}"
    if metric == "ssim":
        return f"{value:.3f}"
    return f"{value:.2g}"


def sweep_curves(df: pd.DataFrame, metrics: Sequence[str] = ("psnr", "ssim"), title: str | None = None) -> go.Figure:
    """PSNR / SSIM versus blur strength, one line per model, `blurred` grey and dashed.

    `level` is the Gaussian sigma or the motion length in pixels, named on the x axis from the
    `blur` column (the caller passes one blur type at a time).
    """
    if df is None or len(df) == 0 or not {"model", "level"} <= set(df.columns):
        return empty_figure("no sweep rows")
    metrics = [m for m in metrics if m in df.columns and df[m].notna().any()]
    if not metrics:
        return empty_figure("the sweep has none of the columns psnr, ssim")
    blurs = df["blur"].dropna().unique().tolist() if "blur" in df.columns else []
    xlabel = LEVEL_LABELS.get(blurs[0], "blur strength") if len(blurs) == 1 else "blur strength"
    titles = [METRIC_LABELS.get(m, m) + (" (no blur left out)" if m == "psnr" else "") for m in metrics]
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=titles, horizontal_spacing=0.1)
    models = list(dict.fromkeys(df["model"]))
    others = [m for m in models if m != BASELINE]
    for col, metric in enumerate(metrics, start=1):
        for i, model in enumerate(others + ([BASELINE] if BASELINE in models else [])):
            sub = df[df["model"] == model].sort_values("level")
            if metric == "psnr":
                # No blur (level 0) gives identical images, whose PSNR is unbounded (capped at
                # 100 dB): it would flatten every other point, so that panel starts above 0.
                sub = sub[sub["level"] > 0]
            base = model == BASELINE
            fig.add_scatter(
                x=sub["level"], y=sub[metric], mode="lines+markers",
                name=f"{model} (input)" if base else model, legendgroup=model, showlegend=(col == 1),
                line={"color": BASELINE_COLOUR if base else _colour(i), "dash": "dash" if base else "solid",
                      "width": 2},
                row=1, col=col,
            )
        fig.update_xaxes(title_text=xlabel, row=1, col=col)
    fig.update_layout(title=title, template="plotly_white", height=400,
                      margin={"l": 40, "r": 20, "t": 70 if title else 40, "b": 50})
    return fig


# The training loss is L1 or the PSNR loss (minus each sample's PSNR in dB, deblur.train --loss),
# whichever the network was trained with; validation always logs L1 (val_loss). The two scales differ
# by a thousand (0.02 against -30), so a PSNR loss gets its own panel.
L1_PANEL = ("loss", "L1 loss (solid: training, dashed: validation)")
PSNR_LOSS_PANEL = ("psnr_loss", "training PSNR loss (minus PSNR, dB; lower is better)")
TRAINING_PANELS = (
    L1_PANEL,
    ("val_mse", "validation MSE"),
    ("val_psnr", "validation PSNR (dB)"),
    ("val_ssim", "validation SSIM"),
)
# The PSNR of the mean MSE is preferred when logged: a mean of per-sample PSNRs is dominated by
# the samples whose input was barely blurred (identical images cap at 100 dB).
PSNR_OF_MEAN_MSE = "val_psnr_mean_mse"


def trained_on_psnr_loss(loss: pd.Series) -> bool:
    """Whether a log's training `loss` column is the PSNR loss rather than L1.

    Told apart by sign, which is exact: an L1 loss of images in [0, 1] is >= 0, and the PSNR loss
    (minus PSNR) is < 0 for every MSE below 1, i.e. for any two such images that are not opposite.
    """
    values = pd.to_numeric(loss, errors="coerce").dropna()
    return bool(len(values)) and bool((values < 0).any())


def training_curves(logs: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Loss, MSE, PSNR and SSIM per epoch, one panel each (2 x 2), one colour per model.

    `logs` is one or more training logs stacked with a `model` column (a single log without it
    is drawn as one model). Rows repeated for an epoch (a resumed run) keep the last one. An
    epoch-0 row is the validation score of the input itself, before any training: it is drawn
    as a cross, apart from the curve, so the curves show how far training moved from it.

    The L1 panel holds every model's validation L1 and the training L1 of the models trained on
    it; a model trained on the PSNR loss (see trained_on_psnr_loss) has its training loss in a
    panel of its own (3 x 2 then), in dB, never on the L1 axis.
    """
    if logs is None or len(logs) == 0 or "epoch" not in logs.columns:
        return empty_figure("no training logs")
    logs = logs.copy()
    if "model" not in logs.columns:
        logs["model"] = "model"
    logs = logs.drop_duplicates(["model", "epoch"], keep="last")
    models = list(dict.fromkeys(logs["model"]))
    psnr_loss = {m for m in models if "loss" in logs.columns
                 and trained_on_psnr_loss(logs.loc[logs["model"] == m, "loss"])}
    if psnr_loss:
        is_psnr = logs["model"].isin(psnr_loss)
        logs["psnr_loss"] = logs["loss"].where(is_psnr)
        logs["loss"] = logs["loss"].where(~is_psnr)
    panels = list(TRAINING_PANELS)
    if PSNR_OF_MEAN_MSE in logs.columns and logs[PSNR_OF_MEAN_MSE].notna().any():
        panels[2] = (PSNR_OF_MEAN_MSE, "validation PSNR of the mean MSE (dB)")
    if psnr_loss:
        panels.insert(1, PSNR_LOSS_PANEL)
    rows = (len(panels) + 1) // 2
    fig = make_subplots(rows=rows, cols=2, subplot_titles=[t for _, t in panels],
                        horizontal_spacing=0.1, vertical_spacing=0.32 / rows)
    for i, model in enumerate(models):
        sub = logs[logs["model"] == model].sort_values("epoch")
        start, trained = sub[sub["epoch"] <= 0], sub[sub["epoch"] > 0]
        colour = _colour(i)
        for p, (column, _) in enumerate(panels):
            row, col = p // 2 + 1, p % 2 + 1
            series = [(column, "solid")] + ([("val_loss", "dash")] if column == "loss" else [])
            for name, dash in series:
                if name not in sub.columns or not sub[name].notna().any():
                    continue
                fig.add_scatter(x=trained["epoch"], y=trained[name],
                                mode="lines+markers" if dash == "solid" else "lines",
                                name=model if dash == "solid" else f"{model} (val)", legendgroup=model,
                                showlegend=False, line={"color": colour, "dash": dash},
                                marker={"size": 4}, row=row, col=col)
                if len(start) and start[name].notna().any():
                    fig.add_scatter(x=start["epoch"], y=start[name], mode="markers", name=f"{model}: input itself",
                                    legendgroup=model, showlegend=False,
                                    marker={"color": colour, "symbol": "x", "size": 9}, row=row, col=col)
        # One legend entry per model, whichever panels its log fills.
        first = next((t for t in fig.data if t.legendgroup == model and t.name == model), None)
        if first is not None:
            first.showlegend = True
    fig.update_xaxes(title_text="epoch (x at 0: the blurred input, before training)")
    fig.update_layout(title=title, template="plotly_white", height=310 * rows,
                      margin={"l": 40, "r": 20, "t": 70 if title else 40, "b": 40})
    return fig


def frame_size_label(height: int, width: int) -> str:
    """'720x1280 frames (H x W, 0.92 MP)': height first, as `python -m eval speed --size` takes it
    and as the published speed runs are named."""
    return f"{height}x{width} frames (H x W, {height * width / 1e6:.2f} MP)"


def log_seconds_axis(seconds: pd.Series) -> dict:
    """A log axis for times in seconds: from the power of ten below the fastest to the one above
    the slowest, labelled at powers of ten ("0.01 s", "1 s"), and at 2 and 5 between them when the
    times span two decades or less (a 20-64 s panel would otherwise carry no label at all)."""
    values = pd.to_numeric(seconds, errors="coerce")
    values = values[values > 0]
    if values.empty:
        return {"type": "log"}
    lo, hi = math.floor(math.log10(values.min())), math.ceil(math.log10(values.max()))
    hi = max(hi, lo + 1)
    steps = (1, 2, 5) if hi - lo <= 2 else (1,)
    ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in steps if m * 10.0**e <= 10.0**hi]
    return {"type": "log", "range": [lo, hi], "tickmode": "array", "tickvals": ticks,
            "ticktext": [f"{t:g} s" for t in ticks], "minor_showgrid": False}


def speed_bars(df: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Seconds per frame per model, one panel per frame size (log scale: networks and classical
    methods differ by 100x, see log_seconds_axis), each titled with its size.

    Rows of different sizes never share a panel: a 4K time beside a 720p one compares nothing.
    A bar is named by its model, plus its backend and run where those differ within the panel.
    """
    if df is None or len(df) == 0 or not {"model", "seconds"} <= set(df.columns):
        return empty_figure("no speed rows")
    df = df.copy()
    if {"height", "width"} <= set(df.columns):
        df["_size"] = [(int(h), int(w)) if pd.notna(h) and pd.notna(w) else None
                       for h, w in zip(df["height"], df["width"])]
    else:
        df["_size"] = None
    # Largest frames last; rows without a size (an old table) in a panel of their own.
    sizes = sorted({s for s in df["_size"] if s is not None}, key=lambda s: s[0] * s[1])
    sizes += [None] if df["_size"].isna().any() else []
    titles = [frame_size_label(*s) if s is not None else "frame size not recorded" for s in sizes]
    fig = make_subplots(rows=len(sizes), cols=1, subplot_titles=titles, vertical_spacing=0.5 / len(sizes))
    for row, size in enumerate(sizes, start=1):
        sub = df[df["_size"].isna()] if size is None else df[df["_size"] == size]
        sub = sub.sort_values("seconds", kind="mergesort")
        extra = [c for c in ("backend", "run") if c in sub.columns and sub[c].nunique() > 1]
        labels = [" · ".join([str(r["model"])] + [str(r[c]) for c in extra]) for _, r in sub.iterrows()]
        kinds = sub["kind"] if "kind" in sub.columns else pd.Series("network", index=sub.index)
        colours = [BASELINE_COLOUR if m == BASELINE else KIND_COLOURS.get(str(k), _colour(0))
                   for m, k in zip(sub["model"], kinds)]
        fig.add_bar(x=labels, y=sub["seconds"], marker_color=colours, showlegend=False,
                    text=[f"{v:.3g} s" for v in sub["seconds"]], textposition="outside", cliponaxis=False,
                    hovertemplate="%{x}<br>%{y:.3g} s per frame<extra></extra>", row=row, col=1)
        fig.update_yaxes(title_text=f"seconds per {size[0]}x{size[1]} frame" if size else "seconds per frame",
                         **log_seconds_axis(sub["seconds"]), row=row, col=1)
    fig.update_layout(title=title, template="plotly_white", height=120 + 330 * len(sizes),
                      margin={"l": 50, "r": 20, "t": 70 if title else 40, "b": 90})
    fig.update_xaxes(tickangle=-30)
    return fig
