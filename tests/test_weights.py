import json

import pytest
import torch

from deblur.errors import UnknownModelError, WeightsError
from deblur.models import build_model
from deblur.weights import load_model, load_weights, save_weights, shipped_models, write_manifest_entry


def _trained_like(model):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return model


def test_round_trip_rebuilds_model_and_metadata(tmp_path):
    model = _trained_like(build_model("atrous_net", "lite", "motion", blocks=1))
    path = tmp_path / "m.safetensors"
    digest = save_weights(path, model, {"task": "motion", "data": {"corpus": "test"}, "commit": "abc"})
    loaded, meta = load_weights(path, sha256=digest)
    assert meta["task"] == "motion" and meta["data"] == {"corpus": "test"} and meta["commit"] == "abc"
    assert loaded.frames == 3 and loaded.blocks == 1
    x = torch.rand(1, 9, 16, 16)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def test_float16_storage_halves_the_file_and_loads_as_float32(tmp_path):
    model = _trained_like(build_model("atrous_net", "lite", "gaussian", blocks=1))
    full, half = tmp_path / "f.safetensors", tmp_path / "h.safetensors"
    save_weights(full, model, {"task": "gaussian"})
    digest = save_weights(half, model, {"task": "gaussian"}, store="float16")
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded, _ = load_weights(half, sha256=digest)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 3, 24, 24)
    ref = model.eval()(x)
    torch.testing.assert_close(loaded(x), ref, atol=2e-3, rtol=0)
    assert not torch.equal(loaded(x), ref)  # it really went through float16
    with pytest.raises(ValueError, match="store must be one of"):
        save_weights(tmp_path / "x.safetensors", model, store="int8")


def test_weight_files_hold_no_pickles(tmp_path):
    path = tmp_path / "m.safetensors"
    save_weights(path, build_model("carlo_net", "lite", "gaussian"), {"task": "gaussian"})
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_len])
    assert "__metadata__" in header and "config" in header["__metadata__"]


def test_corrupted_or_swapped_file_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    digest = save_weights(path, build_model("carlo_net", "lite", "gaussian"), {"task": "gaussian"})
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="SHA-256"):
        load_weights(path, sha256=digest)
    path.write_bytes(b"not a weight file at all")
    with pytest.raises(WeightsError):
        load_weights(path)
    with pytest.raises(WeightsError, match="not found"):
        load_weights(tmp_path / "missing.safetensors")


def test_manifest_lookup_and_unknown_names(tmp_path):
    model = build_model("kaist_net", "lite", "motion")
    digest = save_weights(tmp_path / "kaist_net-motion.safetensors", model, {"task": "motion"})
    write_manifest_entry("kaist_net-motion", "kaist_net-motion.safetensors", digest,
                         {"arch": "kaist_net", "task": "motion"}, weights_dir=tmp_path)
    assert shipped_models("motion", weights_dir=tmp_path) == ["kaist_net-motion"]
    assert shipped_models("gaussian", weights_dir=tmp_path) == []
    loaded, meta = load_model("kaist_net-motion", weights_dir=tmp_path)
    assert loaded.frames == 3
    with pytest.raises(UnknownModelError, match="kaist_net-motion"):
        load_model("kaist_net-motoin", weights_dir=tmp_path)
