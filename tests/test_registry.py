"""deblur.registry: the one parser of model names (catalog = names() with each name's ModelInfo)."""

from __future__ import annotations

import pytest

from deblur import registry
from deblur.models import build_model
from deblur.weights import WEIGHTS_DIR, save_weights, write_manifest_entry


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny camera network (+psf), a tiny kernel-aware Gaussian one (+true_sigma) and a motion one."""
    d = tmp_path_factory.mktemp("weights")
    for name, arch, task, size in [
        ("atrous_net-camera", "atrous_net", "camera", dict(blocks=1, stem=4, channels=4, branch=4, head=4)),
        ("carlo_net-gaussian", "carlo_net", "gaussian", dict(layers=2, channels=4)),
        ("atrous_net-motion", "atrous_net", "motion", dict(blocks=1, stem=4, channels=4, branch=4, head=4)),
    ]:
        sha = save_weights(d / f"{name}.safetensors", build_model(arch, "lite", task, **size), {"task": task})
        write_manifest_entry(name, f"{name}.safetensors", sha, {"arch": arch, "task": task}, weights_dir=d)
    return d


@pytest.mark.parametrize("blur", [None, *registry.BLURS])
@pytest.mark.parametrize("kernel", [True, False])
def test_catalog_is_names_with_their_lookup(weights, blur, kernel):
    for folder in (weights, WEIGHTS_DIR):
        cat = registry.catalog(blur, folder, kernel=kernel, strict=False)
        assert list(cat) == registry.names(blur, folder, kernel=kernel, strict=False)
        for name, info in cat.items():
            assert info == registry.lookup(name, blur, folder), name
