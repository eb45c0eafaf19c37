import numpy as np
import pytest
import torch

# Two cores: keep torch from oversubscribing when pytest runs alongside other work.
torch.set_num_threads(2)


@pytest.fixture
def photo() -> np.ndarray:
    """A real photograph (scikit-image's coffee), float32 RGB in [0, 1], cropped small."""
    from skimage import data

    return (data.coffee()[100:228, 200:328].astype(np.float32) / 255.0)
