"""A stand-in network for the cancellation tests of the app (tests/test_app.py, tests/test_browser.py)."""

import time

import torch


class SlowNet(torch.nn.Module):
    """A 'network' that takes `delay` seconds per tile and counts its calls."""

    frames, multiple, halo = 1, 1, 0

    def __init__(self, delay: float = 1.0) -> None:
        super().__init__()
        self.calls, self.delay = 0, delay

    def forward(self, x):
        self.calls += 1
        time.sleep(self.delay)
        return x[:, :3]
