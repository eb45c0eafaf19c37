"""deblur/weights.py under bad input: the tensor checksum a weight file carries, metadata that
cannot rebuild a model, and a malformed manifest -- each a one-sentence WeightsError."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from deblur import weights as W
from deblur.errors import UnknownModelError, WeightsError
from deblur.models import build_model


def _tiny(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("carlo_net", "lite", "gaussian", layers=2, channels=4)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def _raw_meta(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata())


def _rewrite(path: Path, **changes: str | None) -> None:
    """Rewrite a weight file with some metadata strings changed (None removes the key)."""
    meta = _raw_meta(path)
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    save_file(load_file(str(path)), str(path), metadata=meta)


def _flip_tensor_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    data[8 + header_len + (len(data) - 8 - header_len) // 2] ^= 0x10  # inside the tensor bytes
    path.write_bytes(bytes(data))


def _one_sentence(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.strip() == text
    return text


# --------------------------------------------------------------------------- tensor checksum


@pytest.mark.parametrize("store", ["float32", "float16"])
def test_saved_files_carry_a_checksum_of_their_tensors(tmp_path, store):
    path = tmp_path / "m.safetensors"
    W.save_weights(path, _tiny(), {"task": "gaussian", W.TENSORS_KEY: "stale"}, store=store)
    meta = _raw_meta(path)
    assert meta[W.TENSORS_KEY] == W.tensors_sha256(load_file(str(path)))  # of the stored dtype
    loaded, decoded = W.load_weights(path)
    assert decoded["task"] == "gaussian"


def test_flipped_tensor_bytes_are_refused_when_loaded_by_path(tmp_path):
    path = tmp_path / "m.safetensors"
    W.save_weights(path, _tiny(), {"task": "gaussian"})
    _flip_tensor_byte(path)
    load_file(str(path))  # still a well-formed safetensors file: only the checksum can tell
    with pytest.raises(WeightsError, match="tensor checksum") as exc:
        W.load_weights(path)
    assert str(path) in _one_sentence(exc)


def test_files_without_a_checksum_still_load(tmp_path):
    """Files written before the key existed: loaded unchecked, as they always were."""
    path = tmp_path / "old.safetensors"
    model = _tiny()
    W.save_weights(path, model, {"task": "gaussian"})
    _rewrite(path, **{W.TENSORS_KEY: None})
    loaded, meta = W.load_weights(path)
    assert W.TENSORS_KEY not in meta
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)


def test_checksum_covers_names_dtypes_shapes_and_bytes():
    t = torch.arange(6, dtype=torch.float32)
    base = W.tensors_sha256({"a": t})
    assert W.tensors_sha256({"a": t.clone()}) == base
    assert W.tensors_sha256({"b": t}) != base
    assert W.tensors_sha256({"a": t.reshape(2, 3)}) != base
    assert W.tensors_sha256({"a": t.view(torch.int32)}) != base  # same bytes, other dtype
    assert W.tensors_sha256({"a": t + 1}) != base
    two = {"a": t, "b": torch.zeros(2, dtype=torch.bfloat16)}
    assert W.tensors_sha256(two) == W.tensors_sha256(dict(reversed(two.items())))  # order-free


# --------------------------------------------------------------------------- rebuild metadata


@pytest.mark.parametrize("config, match", [
    ({"arch": "no_such_net", "args": {}}, "unknown architecture 'no_such_net'"),
    ({"arch": ["carlo_net"], "args": {}}, "unknown architecture"),
    ({"arch": "carlo_net", "args": {"layers": 2, "channels": 4, "frames": 1, "colour": True}},
     "constructor arguments carlo_net does not accept"),
    ({"arch": "carlo_net", "args": {"layers": 2, "channels": -4, "frames": 1}},
     "constructor arguments carlo_net does not accept"),
    ({"arch": "carlo_net", "args": [2, 4]}, "malformed constructor arguments"),
    ({"args": {}}, "no model config"),
])
def test_metadata_that_cannot_rebuild_a_model_is_one_weights_error(tmp_path, config, match):
    path = tmp_path / "m.safetensors"
    W.save_weights(path, _tiny(), {"task": "gaussian"})
    _rewrite(path, config=json.dumps(config))
    with pytest.raises(WeightsError, match=re.escape(match)) as exc:
        W.load_weights(path)
    assert str(path) in _one_sentence(exc)


# --------------------------------------------------------------------------- manifest


@pytest.fixture
def shipped_dir(tmp_path) -> Path:
    """A weights folder with one good entry (a real file) written the way training writes it."""
    digest = W.save_weights(tmp_path / "good-gaussian.safetensors", _tiny(), {"task": "gaussian"})
    W.write_manifest_entry("good-gaussian", "good-gaussian.safetensors", digest, {"task": "gaussian"},
                           weights_dir=tmp_path)
    return tmp_path


def _set_manifest(folder: Path, text: str) -> None:
    (folder / W.MANIFEST).write_text(text)


@pytest.mark.parametrize("text, match", [
    ('{"good-gaussian": {"file": "x.safetensors",', "not valid JSON"),
    ("[1, 2]", "holds a JSON list"),
    ('{"a": 3}', "is not an object (got 3)"),
    ('{"a": {"file": "a.safetensors"}}', "no valid 'sha256'"),
    ('{"a": {"file": "../../etc/passwd", "sha256": "' + "0" * 64 + '"}}', "no valid 'file'"),
])
def test_malformed_manifest_is_one_weights_error(shipped_dir, text, match):
    _set_manifest(shipped_dir, text)
    for call in (lambda: W.read_manifest(shipped_dir), lambda: W.shipped_models(weights_dir=shipped_dir)):
        with pytest.raises(WeightsError, match=re.escape(match)) as exc:
            call()
        assert str(shipped_dir / W.MANIFEST) in _one_sentence(exc)
    problems = W.manifest_problems(shipped_dir)
    assert problems and all(match in why for why in problems.values())
    assert W.shipped_models(weights_dir=shipped_dir, strict=False) == []


def test_one_bad_entry_leaves_the_others_usable_for_the_app(shipped_dir):
    manifest = json.loads((shipped_dir / W.MANIFEST).read_text())
    manifest["broken-motion"] = {"file": "broken-motion.safetensors", "task": "motion"}  # no sha256
    manifest["gone-motion"] = {**manifest["good-gaussian"], "file": "gone.safetensors", "task": "motion"}
    _set_manifest(shipped_dir, json.dumps(manifest))
    with pytest.raises(WeightsError, match="broken-motion"):
        W.shipped_models(weights_dir=shipped_dir)  # the CLI and the evaluator refuse it
    assert W.shipped_models(weights_dir=shipped_dir, strict=False) == ["good-gaussian"]
    assert set(W.read_manifest(shipped_dir, strict=False)) == {"good-gaussian", "gone-motion"}
    problems = W.manifest_problems(shipped_dir)
    assert set(problems) == {"broken-motion", "gone-motion"}
    assert "sha256" in problems["broken-motion"] and "missing" in problems["gone-motion"]
    W.load_model("good-gaussian", weights_dir=shipped_dir)
    with pytest.raises(WeightsError, match="sha256"):
        W.load_model("broken-motion", weights_dir=shipped_dir)
    with pytest.raises(UnknownModelError, match="good-gaussian"):
        W.load_model("nope", weights_dir=shipped_dir)


def test_unreadable_manifest_blocks_every_model(shipped_dir):
    _set_manifest(shipped_dir, "{")
    assert set(W.manifest_problems(shipped_dir)) == {W.MANIFEST}
    with pytest.raises(WeightsError, match="not valid JSON"):
        W.load_model("good-gaussian", weights_dir=shipped_dir)
    with pytest.raises(WeightsError, match="not valid JSON"):
        W.write_manifest_entry("x", "x.safetensors", "0" * 64, {}, weights_dir=shipped_dir)
    assert (shipped_dir / W.MANIFEST).read_text() == "{"  # not overwritten with a fresh manifest


def test_a_sound_manifest_has_no_problems(shipped_dir, tmp_path):
    assert W.manifest_problems(shipped_dir) == {}
    assert W.manifest_problems(tmp_path / "no_weights_here") == {}


# --------------------------------------------------------------------------- shipped files


SHIPPED = W.read_manifest()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_files_carry_a_valid_tensor_checksum_and_their_card_agrees(name):
    entry = SHIPPED[name]
    path = W.WEIGHTS_DIR / entry["file"]
    meta = _raw_meta(path)
    assert meta.get(W.TENSORS_KEY) == W.tensors_sha256(load_file(str(path)))
    W.load_model(name)  # the manifest's file SHA-256 matches too
    card = path.with_suffix(".md")
    if card.is_file():
        assert f"SHA-256: `{entry['sha256']}`" in card.read_text()
