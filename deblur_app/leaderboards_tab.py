"""The Leaderboards tab: what the evaluator PUBLISHED as CSV files (eval/ is never imported)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pandas as pd

from deblur import plots
from deblur.registry import BASELINES
from deblur_app.common import AppConfig, shown_path

PUBLISHED = {"leaderboard": "leaderboard.csv", "sweep": "sweep.csv", "speed": "speed.csv"}
GROUP_COLUMNS = ("dataset", "protocol", "blur")
TABLE_COLUMNS = ("model", "kind", "n", "psnr", "ssim", "mse", "gain_db", "params", "seconds_per_mp")
ORACLE_KIND = "oracle (given the true kernel)"


def read_published(directory: Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Every published CSV under `directory`, stacked per kind with a `run` column (its folder).

    Returns (tables, problems): unreadable files are reported in `problems`, never raised.
    """
    directory = Path(directory)
    tables: dict[str, pd.DataFrame] = {}
    problems: list[str] = []
    for kind, name in PUBLISHED.items():
        frames = []
        for path in sorted(directory.rglob(name)) if directory.is_dir() else []:
            try:
                df = pd.read_csv(path)
            except (OSError, ValueError) as exc:  # pandas' parser and empty-data errors are ValueErrors
                problems.append(f"{path.relative_to(directory)}: unreadable ({' '.join(str(exc).split())})")
                continue
            if "model" not in df.columns:
                problems.append(f"{path.relative_to(directory)}: no 'model' column")
                continue
            run = path.parent.relative_to(directory).as_posix()
            frames.append(df.assign(run=directory.name if run == "." else run))
        tables[kind] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return tables, problems


def _labels(df: pd.DataFrame) -> pd.Series:
    """'run: dataset / protocol / blur' per row (the unit one chart shows)."""
    if df.empty:
        return pd.Series([], dtype=str)
    cols = [c for c in GROUP_COLUMNS if c in df.columns]
    return df.apply(lambda r: f"{r['run']}: " + " / ".join(str(r[c]) for c in cols if pd.notna(r[c])), axis=1)


def _select(df: pd.DataFrame, choice: str | None) -> tuple[pd.DataFrame, list[str], str | None]:
    if df.empty:
        return df, [], None
    labels = _labels(df)
    options = list(dict.fromkeys(labels))
    choice = choice if choice in options else options[0]
    return df[labels == choice], options, choice


def kind_label(model: str, kind) -> str:
    """The table's kind: true-kernel baselines are oracles, handed what no real photo comes with."""
    restorer = BASELINES.get(str(model))
    return ORACLE_KIND if restorer is not None and restorer.needs_kernel else kind


def leaderboard_view(choice: str | None, cfg: AppConfig = AppConfig()):
    """Bars + table of one published leaderboard group."""
    tables, _ = read_published(cfg.leaderboards_dir)
    rows, _, choice = _select(tables["leaderboard"], choice)
    if rows.empty:
        return plots.empty_figure("no published leaderboards yet", height=160), pd.DataFrame()
    table = rows[[c for c in TABLE_COLUMNS if c in rows.columns]].round(4)
    if "kind" in table.columns:
        table = table.assign(kind=[kind_label(m, k) for m, k in zip(table["model"], table["kind"])])
    return plots.leaderboard_bars(rows, title=choice), table


def sweep_view(choice: str | None, cfg: AppConfig = AppConfig()):
    tables, _ = read_published(cfg.leaderboards_dir)
    rows, _, choice = _select(tables["sweep"], choice)
    if rows.empty:
        return plots.empty_figure("no published sweeps yet", height=160)
    return plots.sweep_curves(rows, title=choice)


def refresh_leaderboards(cfg: AppConfig = AppConfig()):
    """Re-read eval/leaderboards/ (on page load and on demand): status, selectors and charts."""
    tables, problems = read_published(cfg.leaderboards_dir)
    lb, lb_options, lb_choice = _select(tables["leaderboard"], None)
    sw, sw_options, sw_choice = _select(tables["sweep"], None)
    speed = tables["speed"]
    notes = []
    if not lb_options and not sw_options and speed.empty:
        notes.append(f"No published leaderboards yet: the evaluator writes them with `python -m eval ... "
                     f"--out {shown_path(cfg.leaderboards_dir)}/<run>` (leaderboard.csv, sweep.csv, speed.csv).")
    else:
        notes.append(f"{len(lb_options)} leaderboard(s), {len(sw_options)} sweep(s) and "
                     f"{speed['run'].nunique() if not speed.empty else 0} speed table(s) from "
                     f"`{shown_path(cfg.leaderboards_dir)}`. The hatched grey bar is the blurred input itself: "
                     "a model is worth something only above its dashed line. "
                     + ", ".join(f"`{n}`" for n, r in BASELINES.items() if r.needs_kernel)
                     + " are oracles: they are handed the true blur kernel, which no real photo comes with, "
                       "so they can top a board that no blind method could.")
    notes += [f"Skipped {p}." for p in problems]
    bars, table = leaderboard_view(lb_choice, cfg)
    if not speed.empty:
        # One panel per frame size (plots.speed_bars); a bar names its run only where two runs share a size.
        speed_fig = plots.speed_bars(speed, title="Seconds per frame, one panel per frame size (blue: networks, "
                                                  "orange: classical methods)")
    else:
        speed_fig = plots.empty_figure("no published speed table yet", height=160)
    return ("\n\n".join(notes), gr.update(choices=lb_options, value=lb_choice), bars, table,
            gr.update(choices=sw_options, value=sw_choice), sweep_view(sw_choice, cfg), speed_fig)


def build(cfg: AppConfig) -> Callable[[gr.Blocks], None]:
    """Returns a function that registers the tab's page-load refresh on the Blocks."""
    message = gr.Markdown(elem_id="leaderboard-message")
    reload = gr.Button("Reload", size="sm")
    choice = gr.Dropdown(label="Leaderboard (run: dataset / protocol / blur)", choices=[], elem_id="leaderboard-choice")
    bars = gr.Plot(label="PSNR / SSIM / MSE per model", elem_id="leaderboard-bars")
    table = gr.Dataframe(label="Leaderboard", interactive=False, wrap=True)
    sweep_choice = gr.Dropdown(label="Sweep (PSNR / SSIM versus blur strength)", choices=[])
    sweep = gr.Plot(label="Versus blur strength", elem_id="sweep-curves")
    speed = gr.Plot(label="Speed", elem_id="speed-bars")
    outputs = [message, choice, bars, table, sweep_choice, sweep, speed]
    refresh = functools.partial(refresh_leaderboards, cfg=cfg)
    reload.click(refresh, outputs=outputs, api_name="leaderboards")
    choice.input(functools.partial(leaderboard_view, cfg=cfg), inputs=choice, outputs=[bars, table],
                 api_visibility="private")
    sweep_choice.input(functools.partial(sweep_view, cfg=cfg), inputs=sweep_choice, outputs=sweep,
                       api_visibility="private")

    def on_load(demo: gr.Blocks) -> None:
        demo.load(refresh, outputs=outputs, api_visibility="private")

    return on_load
