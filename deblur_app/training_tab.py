"""The Training curves tab: the per-epoch logs shipped beside the weights (weights/<name>.log.csv)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pandas as pd

from deblur import plots
from deblur_app.common import AppConfig, shown_path


def read_training_logs(weights_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """weights/<name>.log.csv files stacked with a `model` column; (logs, problems)."""
    frames, problems = [], []
    for path in sorted(Path(weights_dir).glob("*.log.csv")) if Path(weights_dir).is_dir() else []:
        name = path.name[: -len(".log.csv")]
        try:
            df = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: unreadable ({' '.join(str(exc).split())})")
            continue
        if "epoch" not in df.columns or df.empty:
            problems.append(f"{path.name}: no epochs logged")
            continue
        frames.append(df.assign(model=name))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), problems


def training_view(cfg: AppConfig = AppConfig()):
    """(figure, message) for the Training curves tab."""
    logs, problems = read_training_logs(cfg.weights_dir)
    notes = [f"Skipped {p}." for p in problems]
    if logs.empty:
        return (plots.empty_figure("no training logs yet"),
                "\n\n".join([f"No training logs yet: trained networks are shipped with their logs as "
                             f"`{shown_path(cfg.weights_dir)}/<name>.log.csv`, and none is there so far."] + notes))
    models = list(dict.fromkeys(logs["model"]))
    notes.insert(0, f"Per-epoch training curves of {len(models)} model(s): {', '.join(models)}, from "
                    f"`{shown_path(cfg.weights_dir)}/*.log.csv` (validation on held-out samples).")
    psnr_loss = [m for m in models
                 if "loss" in logs and plots.trained_on_psnr_loss(logs.loc[logs["model"] == m, "loss"])]
    if psnr_loss:
        notes.insert(1, f"Trained on the PSNR loss (minus PSNR in dB, its own panel): {', '.join(psnr_loss)}; the "
                        "others on L1. Validation is L1 for every model.")
    return plots.training_curves(logs), "\n\n".join(notes)


def build(cfg: AppConfig) -> Callable[[gr.Blocks], None]:
    """Returns a function that registers the tab's page-load refresh on the Blocks."""
    message = gr.Markdown()
    figure = gr.Plot(label="Training curves: loss, MSE, PSNR and SSIM per epoch", elem_id="training-curves")
    fn = functools.partial(training_view, cfg=cfg)

    def on_load(demo: gr.Blocks) -> None:
        demo.load(fn, outputs=[figure, message], api_visibility="private")

    return on_load
