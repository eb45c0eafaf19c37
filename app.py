"""deep-deblur in the browser: deblur photos and video, leaderboards and training curves.

    python app.py [--host 127.0.0.1] [--port 7860] [--share]

Also runs as a Hugging Face Space as it is (app.py + requirements.txt at the root: the Space
runs `python app.py`, and GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose the address).

This file only builds the page and launches it. Each tab is a module of deblur_app/ with its
handlers (plain functions that the tests call directly) and a `build(cfg)` that lays it out;
deblur_app.menus asks deblur.registry which models exist; deblur_app.uploads is what a request may
open; deblur_app.lanes is how long jobs share the server. The tensors, tiling, padding and frames
live in deblur.inference (the one inference object the CLI and the evaluator use too). Importing
this module has no side effects: build_demo() makes the Blocks (reading only the weights'
manifest, no model is loaded until a request needs it), and main() launches.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
from pathlib import Path

import gradio as gr

from deblur.weights import WEIGHTS_DIR
from deblur_app import leaderboards_tab, photo_tab, server_status, training_tab, video_tab
from deblur_app.common import GALLERY_DIR, LEADERBOARDS_DIR, LOG, TILE, AppConfig
from deblur_app.lanes import untime_compute_events, visitor_left
from deblur_app.uploads import CheckedBlocks, uploaded_file

MAX_UPLOAD = "300mb"  # Gradio refuses bigger uploads before they reach a handler

# The examples gallery is as tall as its thumbnails (Gradio 6.31 gives it a 450 px minimum otherwise);
# on a phone its six thumbnails are one row without captions, so the result starts higher up. An empty
# download box is one line high (236 px otherwise).
# The charts are several panels side by side: on a phone they keep a readable width and scroll
# sideways instead of squeezing their panels into each other.
CSS = """
#examples-gallery .grid-wrap { min-height: 0; height: auto; }
#download .empty, #video-download .empty { min-height: 0; height: 56px; }
@media (max-width: 640px) {
  #examples-gallery .grid-container { grid-template-columns: repeat(6, minmax(0, 1fr)) !important; gap: 4px; }
  #examples-gallery .caption-label { display: none; }
}
#leaderboard-bars .js-plotly-plot, #sweep-curves .js-plotly-plot, #speed-bars .js-plotly-plot { min-width: 720px; }
#training-curves .js-plotly-plot { min-width: 960px; }
#leaderboard-bars, #sweep-curves, #speed-bars, #training-curves { overflow-x: auto !important; }
"""
# What the app does, in one sentence: the first thing a visitor reads.
INTRO = ("Makes blurry photos and short videos sharper: upload a photo or click an example below, then drag "
         "the slider to compare before and after.")


def build_demo(weights_dir: str | Path = WEIGHTS_DIR, leaderboards_dir: str | Path = LEADERBOARDS_DIR,
               tile: int | str | None = TILE, gallery_dir: str | Path = GALLERY_DIR) -> gr.Blocks:
    """The whole app as a gr.Blocks with its queue enabled. Cheap: no model is loaded here."""
    cfg = AppConfig(Path(weights_dir), Path(leaderboards_dir), tile, Path(gallery_dir))
    demo = CheckedBlocks(title="deep-deblur", analytics_enabled=False, delete_cache=(3600, 3600))
    demo.file_check = functools.partial(uploaded_file, cfg=cfg)
    with demo:
        gr.Markdown(f"# deep-deblur\n{INTRO}", elem_id="intro")
        with gr.Tabs():
            with gr.Tab("Deblur", id="deblur"):
                tab_loads = [photo_tab.build(cfg)]
            with gr.Tab("Video", id="video"):
                tab_loads.append(video_tab.build(cfg))
            with gr.Tab("Leaderboards", id="leaderboards"):
                tab_loads.append(leaderboards_tab.build(cfg))
            with gr.Tab("Training curves", id="training"):
                tab_loads.append(training_tab.build(cfg))
        status_load = server_status.build(cfg)  # below the tabs, closed: "Models on this server"
        for register in (status_load, *tab_loads):  # page-load refreshes: what was shipped since the start
            register(demo)
        # A closed page stops its running job at the next tile or frame (lanes.stop_check); its
        # waiting jobs Gradio drops from the queue itself.
        demo.unload(visitor_left)
    # The compute events share lanes.COMPUTE_WORKERS workers, of which long jobs take one at a time
    # (lanes.compute_lane); every other event runs one at a time. Further requests queue, and each
    # visitor sees their place in the queue.
    demo.queue(max_size=32, default_concurrency_limit=1)
    untime_compute_events(demo)
    return demo


@functools.cache
def _module_demo() -> gr.Blocks:
    return build_demo()


def __getattr__(name: str):
    # `app.demo` for tools that expect one (gradio's reload mode), built on first access only,
    # so importing the module stays free of side effects.
    if name == "demo":
        return _module_demo()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def launch(demo: gr.Blocks, host: str, port: int, share: bool = False) -> str | None:
    """Start serving without blocking; returns the public link, or None.

    --share without internet: Gradio cannot reach its tunnel server; say so in one line and
    keep serving locally instead of failing.
    """
    try:
        demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True,
                    show_error=False, max_file_size=MAX_UPLOAD, allowed_paths=[str(GALLERY_DIR)], css=CSS)
    except Exception as exc:  # noqa: BLE001 - any tunnel failure; the local server is what matters
        if not share:
            raise
        print(f"--share: could not create a public link ({' '.join(str(exc).split())}); serving locally only")
        demo.close()
        demo.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=True,
                    show_error=False, max_file_size=MAX_UPLOAD, allowed_paths=[str(GALLERY_DIR)], css=CSS)
    if share and not demo.share_url:
        print(f"--share: no public link could be created (no internet access?); still serving locally at "
              f"{demo.local_url}", flush=True)
    return demo.share_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="deep-deblur web app (Gradio)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port to listen on (default 7860, or $GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="ask Gradio for a temporary public link")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1 to 65535, got {args.port}")
    # Gradio's telemetry helpers read the environment, not only Blocks(analytics_enabled=False).
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    # Refused requests and stopped jobs are one line each in the server log.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    LOG.setLevel(logging.INFO)
    demo = build_demo()
    try:
        launch(demo, args.host, args.port, args.share)
    except OSError:  # Gradio's "Cannot find empty port": the user's to fix, in one line, not a traceback
        demo.close()
        parser.exit(2, f"error: cannot listen on {args.host}:{args.port} (the port is in use or not allowed): "
                       f"choose another with --port\n")
    demo.block_thread()


if __name__ == "__main__":
    main()
