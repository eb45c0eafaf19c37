"""What one visitor's request costs the others in the app (issue 27).

    python bench/app_load.py cost MODEL:TASK[:x8][:first]:WxH ...   # seconds of one request, by size
    python bench/app_load.py queue --mode today|workers2|lanes       # a short request during long ones

`cost` times the Deblur tab's handler (no server) on a real blurry photo (gallery/inputs/clock.png,
mirror-padded to the size), e.g. `res_unet-camera+psf:camera:x8:1224x816` (self-ensemble) or
`multiframe_wiener:motion:first:512x512` ("Blur it first": three motion-blurred frames).

`queue` starts the app (the shipped weights) and sends, through gradio_client as visitors would, a
self-ensemble of res_unet-camera+psf on a 2400 x 1600 photo (the cost bound is lifted for it), then
a 256 x 256 photo once the long job runs, and prints how long the short one took. Modes:
`today` is one compute worker; `workers2` two workers and no lanes; `lanes` the app as it is
(COMPUTE_WORKERS, one long job at a time). --longs K sends K long jobs before the short one (default
1; 2 in lanes mode, which then sends one more after it: refused at once). Measure on the machine
the demo runs on, and say how busy it was.
"""
import argparse
import contextlib
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import app  # noqa: E402
from deblur.io import read_image  # noqa: E402
from deblur_app import menus, photo_tab  # noqa: E402
from deblur_app.common import AppConfig  # noqa: E402

MODEL = "res_unet-camera+psf"


def photo(folder: Path, w: int, h: int) -> Path:
    """The gallery's clock photo mirror-padded (or cropped) to w x h, saved as PNG in `folder`."""
    img = read_image(ROOT / "gallery" / "inputs" / "clock.png")
    while img.shape[0] < h or img.shape[1] < w:
        img = np.pad(img, ((0, img.shape[0]), (0, img.shape[1]), (0, 0)), mode="symmetric")
    path = folder / f"photo_{w}x{h}.png"
    Image.fromarray(img[:h, :w]).save(path)
    return path


def cost(specs: list[str]) -> None:
    folder = Path(gr.utils.get_upload_folder()) / "bench-app-load"  # as an upload: uploaded_file accepts it
    folder.mkdir(parents=True, exist_ok=True)
    cfg = AppConfig()
    for spec in specs:
        model, task, *flags, size = spec.split(":")
        w, h = map(int, size.split("x"))
        path = photo(folder, w, h)
        ensemble, first = "x8" in flags, "first" in flags
        menus.get_restorer(menus.offered(cfg)[model], cfg, ensemble=ensemble)  # loading is not the request's cost
        photo_tab.MAX_ENSEMBLE_PIXELS = photo_tab.MAX_SLOW_PIXELS = photo_tab.MAX_PIXELS  # time it, whatever the bound
        t = time.perf_counter()
        photo_tab.deblur_photo(str(path), None, task, model, first, 8.0 if task == "motion" else 0.5, ensemble,
                         lambda *a, **k: None, cfg=cfg)
        print(f"{model:26s} {'x8' if ensemble else '  '} {'blur-first' if first else '':10s} {w} x {h} "
              f"({w * h / 1e6:.2f} MP): {time.perf_counter() - t:6.1f} s", flush=True)


def wait_running(job, timeout: float = 600) -> None:
    from gradio_client.utils import Status

    deadline = time.time() + timeout
    while job.status().code not in (Status.PROCESSING, Status.PROGRESS, Status.FINISHED):
        if time.time() > deadline:
            raise SystemExit("the long job never started")
        time.sleep(0.2)


def queue(mode: str, longs: int) -> None:
    from gradio_client import Client, handle_file

    if mode != "lanes":
        photo_tab.COMPUTE_WORKERS = 1 if mode == "today" else 2  # read when build_demo lays the tab out
        photo_tab.compute_lane = lambda long, stop, progress: contextlib.nullcontext()
    photo_tab.MAX_ENSEMBLE_PIXELS = photo_tab.MAX_PIXELS  # the long request: a 2400 x 1600 self-ensemble
    folder = Path(tempfile.mkdtemp())
    big, small = photo(folder, 2400, 1600), photo(folder, 256, 256)
    demo = app.build_demo()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.launch(demo, "127.0.0.1", port)
    t0 = time.time()

    def send(path: Path, ensemble: bool):
        return Client(demo.local_url, verbose=False).submit(handle_file(str(path)), None, "camera", MODEL, False,
                                                             0.5, ensemble, api_name="/deblur")

    def stamp(text: str) -> None:
        print(f"{time.time() - t0:7.1f} s  {text}", flush=True)

    # Warm up: load the network once, outside the measured requests.
    send(small, False).result(timeout=600)
    t0 = time.time()
    jobs = [send(big, True)]
    wait_running(jobs[0])
    stamp("long job 1 (2400 x 1600, self-ensemble) running")
    for i in range(2, longs + 1):
        jobs.append(send(big, True))
        time.sleep(3)
        stamp(f"long job {i} sent: {jobs[-1].status().code}")
    time.sleep(3)
    t = time.time()
    short = send(small, False)
    short.result(timeout=1200)
    stamp(f"short job (256 x 256) served in {time.time() - t:.1f} s")
    if mode == "lanes":
        t = time.time()
        try:
            send(big, True).result(timeout=600)
            stamp(f"long job {longs + 1} ran")
        except Exception as exc:  # noqa: BLE001 - the refusal is what is measured
            stamp(f"long job {longs + 1} refused in {time.time() - t:.1f} s: {' '.join(str(exc).split())[:90]}")
    for i, job in enumerate(jobs, 1):
        job.result(timeout=3600)
        stamp(f"long job {i} done")
    demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("cost").add_argument("specs", nargs="+")
    q = sub.add_parser("queue")
    q.add_argument("--mode", choices=["today", "workers2", "lanes"], default="lanes")
    q.add_argument("--longs", type=int, default=None, help="long jobs sent before the short one "
                   "(default: 2 in lanes mode, else 1)")
    args = parser.parse_args()
    if args.what == "cost":
        cost(args.specs)
    else:
        queue(args.mode, args.longs or (2 if args.mode == "lanes" else 1))


if __name__ == "__main__":
    main()
