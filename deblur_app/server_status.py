"""Below the tabs, closed: which networks this server ships, and what it left out and why.

For whoever runs the app, not in a visitor's first screen; open when something is wrong.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import gradio as gr

from deblur.weights import manifest_problems
from deblur_app.common import AppConfig, public_message
from deblur_app.menus import baselines, networks, offered


def weights_problems(cfg: AppConfig) -> list[str]:
    """One line per shipped model the app cannot offer (malformed manifest, missing file)."""
    return [public_message(why) for why in manifest_problems(cfg.weights_dir).values()]


def status_markdown(cfg: AppConfig = AppConfig()) -> str:
    menu = offered(cfg)
    nets = networks(menu)
    if nets:
        lines = ["Shipped networks: " + ", ".join(f"`{n}`" for n in nets) + "."]
    else:
        lines = ["**No trained networks are shipped yet** (none in weights/manifest.json): the model lists hold "
                 "the classical baselines only -- " + ", ".join(f"`{n}`" for n in baselines(menu)) + "."]
    lines += [f"Not offered: {why}." for why in weights_problems(cfg)]
    return "\n\n".join(lines)


def build(cfg: AppConfig) -> Callable[[gr.Blocks], None]:
    """The closed "Models on this server" accordion; returns its page-load refresh."""
    problems = weights_problems(cfg)
    with gr.Accordion("Models on this server", open=bool(problems) or not networks(offered(cfg)),
                      elem_id="status-accordion"):
        status = gr.Markdown(status_markdown(cfg), elem_id="status")

    def on_load(demo: gr.Blocks) -> None:
        demo.load(functools.partial(status_markdown, cfg=cfg), outputs=status, api_visibility="private")

    return on_load
