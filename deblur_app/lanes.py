"""How compute jobs share the server: a lane for long jobs, a stop when the page closes, and the
time left as measured on the job itself (never Gradio's mean of past runs).

Short requests are not stuck behind long ones: the compute events share COMPUTE_WORKERS workers,
and a long job (more than SMALL_PIXELS of work: a photo's pixels times the self-ensemble's views,
or a clip's pixels times its frames; or any three-frame restorer) runs one at a time with at most
one more waiting for it. So a worker is always left for short requests, and a third long job is
refused (BUSY).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

import gradio as gr
import numpy as np

from deblur.blind import network_of
from deblur.inference import Deblurrer
from deblur_app.common import OUTPUT_MAX_AGE_S, VisitorLeft

COMPUTE_WORKERS = 3
SMALL_PIXELS = 1_000_000
_LONG_JOBS = threading.BoundedSemaphore(2)  # the long job running and the one waiting for it
_LONG_RUNNING = threading.Lock()
BUSY = ("two long jobs (large photos, self-ensembles, three-frame restorers or clips) are already running "
        f"or waiting: try again in a few minutes, or send a photo of at most {SMALL_PIXELS / 1e6:g} MP without "
        "the self-ensemble, which runs at once")

# Session hashes of pages that were closed (demo.unload), with the time: a running job of such a
# session stops at its next check. Entries older than OUTPUT_MAX_AGE_S are forgotten.
_LEFT: dict[str, float] = {}
_LEFT_LOCK = threading.Lock()


def visitor_left(request: gr.Request) -> None:
    """demo.unload: the page of this session was closed or reloaded."""
    session = getattr(request, "session_hash", None)
    if not session:
        return
    now = time.time()
    with _LEFT_LOCK:
        for old in [s for s, t in _LEFT.items() if now - t > OUTPUT_MAX_AGE_S]:
            del _LEFT[old]
        _LEFT[session] = now


def stop_check(request: gr.Request | None) -> Callable[[], None]:
    """A function that raises VisitorLeft once the page that sent `request` has been closed.

    Handlers call it between tiles, frames and stages, so a job whose visitor left frees the
    single compute worker within one tile or frame instead of running to its end.
    """
    session = getattr(request, "session_hash", None)

    def check() -> None:
        if session is not None and session in _LEFT:
            raise VisitorLeft(f"stopped a job: its visitor left (session {session[:8]})")

    return check


def is_long(work_pixels: int) -> bool:
    """Whether a job of this much work (pixels times views or frames) takes the long-job lane."""
    return work_pixels > SMALL_PIXELS


@contextlib.contextmanager
def compute_lane(long: bool, stop: Callable[[], None], progress: gr.Progress) -> Iterator[None]:
    """Run a short job at once, a long one after the long job before it (BUSY if one waits already)."""
    if not long:
        yield
        return
    if not _LONG_JOBS.acquire(blocking=False):
        raise gr.Error(BUSY)
    try:
        if not _LONG_RUNNING.acquire(blocking=False):
            progress(None, desc="Waiting for another visitor's long job to finish")
            while not _LONG_RUNNING.acquire(timeout=0.5):
                stop()  # a visitor who leaves while waiting frees their place
        try:
            yield
        finally:
            _LONG_RUNNING.release()
    finally:
        _LONG_JOBS.release()


def time_left(started: float, done: int, total: int | None) -> str:
    """' · about 40 s left': the units still to do (tiles, views, frames) at the pace measured on
    those done since `started` (time.perf_counter()); '' before the first one, at the end, or when
    the total is unknown. This, not Gradio's guess, is the time a visitor is told (see UntimedEvents)."""
    if not total or done <= 0 or done >= total:
        return ""
    left = (time.perf_counter() - started) / done * (total - done)
    return f" · about {max(1, round(left))} s left" if left < 90 else f" · about {round(left / 60)} min left"


def run_restorer(restorer, frames: np.ndarray, kernel: np.ndarray | None, progress: gr.Progress,
                 stop: Callable[[], None]) -> tuple[np.ndarray, dict | None]:
    """Call a restorer, wiring a network's per-tile progress (and the time left at its pace) to the
    Gradio progress bar and stopping between tiles once the visitor has left. Returns (result,
    what the restorer found in the photo: its ``report``, None for restorers that look for nothing)."""
    if isinstance(network_of(restorer), Deblurrer):
        started = time.perf_counter()

        def on_tile(done: int, total: int | None) -> None:
            stop()
            progress((done, total), desc=f"Deblurring with {restorer.name}{time_left(started, done, total)}",
                     unit="tiles")

        return restorer.report(frames, kernel=kernel, progress=on_tile)
    progress(None, desc=f"Running {restorer.name}")
    if hasattr(restorer, "report"):
        return restorer.report(frames)
    return restorer(frames, kernel=kernel), None


class UntimedEvents(defaultdict):
    """Gradio's record of each event's mean run time (its queue's process_time_per_fn), which
    hides the events in `untimed`: for those the queue sends no ETA, and the page shows the time
    elapsed, the place in the queue and the handler's own progress (tiles or frames done and the
    time left at their measured pace, see time_left) instead.

    Gradio's ETA for an event is the mean of its past runs, and a compute event's runs range from
    0.3 s (a small photo) to minutes (a 1 MP self-ensemble, a three-frame restorer): for a long job
    it was 20-40x off (issue 27: "about 1 s" shown for a 135 s wait). Gradio 6.31 has no setting
    for an event's expected duration, nor for hiding only the ETA (show_progress="hidden" hides
    the progress too), hence this stand-in (installed by untime_compute_events).
    """

    def __init__(self, default_factory: Callable[[], object], untimed: Iterable[object]):
        super().__init__(default_factory)
        self.untimed = frozenset(untimed)

    def __contains__(self, fn: object) -> bool:
        return fn not in self.untimed and super().__contains__(fn)


def untime_compute_events(demo: gr.Blocks) -> None:
    """No Gradio ETA for the events of the "compute" concurrency group (see UntimedEvents)."""
    queue = demo._queue  # created by demo.queue(); Gradio keeps it for launch()
    compute = [fn for fn in demo.fns.values() if fn.concurrency_id == "compute"]
    queue.process_time_per_fn = UntimedEvents(queue.process_time_per_fn.default_factory, compute)
