"""SmolLM2 conversion cache: atomic build, validation, rebuild of corrupt caches.

The default run swaps the (slow) GGUF conversion for a fake that writes two small files, so the
cache logic is tested in milliseconds; the real conversion is in the slow tests at the bottom.
"""

import json
import time
from pathlib import Path

import pytest

from hybridrl.models import smollm2
from hybridrl.models.smollm2 import FOLDER_NAME, MARKER, is_complete, smollm2_folder


@pytest.fixture
def fake_convert(monkeypatch):
    """Replace the real conversion; records how often it ran; can be told to fail midway."""
    state = {"calls": 0, "fail": False}

    def convert(source, out: Path):
        state["calls"] += 1
        out.mkdir(parents=True)
        (out / "config.json").write_text('{"model_type": "llama"}')
        if state["fail"]:
            raise RuntimeError("disk full")
        (out / "model.safetensors").write_bytes(b"\0" * 1000)

    monkeypatch.setattr(smollm2, "_convert", convert)
    monkeypatch.setattr(smollm2, "gguf_path", lambda: Path(__file__))  # any existing file
    return state


def test_converts_once_then_reuses(tmp_path, fake_convert):
    folder = smollm2_folder(tmp_path)
    assert folder == tmp_path / FOLDER_NAME
    assert is_complete(folder)
    marker = json.loads((folder / MARKER).read_text())
    assert marker["files"] == {"config.json": 23, "model.safetensors": 1000}
    assert smollm2_folder(tmp_path) == folder
    assert fake_convert["calls"] == 1
    # Nothing but the folder and the lock file is left next to it (no temp dirs).
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([FOLDER_NAME, f".{FOLDER_NAME}.lock"])


def test_env_var_sets_cache_root(tmp_path, fake_convert, monkeypatch):
    monkeypatch.setenv("HYBRIDRL_CACHE", str(tmp_path / "root"))
    assert smollm2_folder() == tmp_path / "root" / FOLDER_NAME


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: (f / MARKER).unlink(),  # marker removed (e.g. run killed before it was written)
        lambda f: (f / "model.safetensors").unlink(),  # a file deleted
        lambda f: (f / "model.safetensors").write_bytes(b"\0" * 10),  # truncated weights
        lambda f: (f / MARKER).write_text("{not json"),  # garbled marker
    ],
    ids=["no-marker", "missing-file", "truncated-file", "bad-marker"],
)
def test_corrupt_cache_is_rebuilt(tmp_path, fake_convert, damage):
    folder = smollm2_folder(tmp_path)
    damage(folder)
    assert not is_complete(folder)
    assert smollm2_folder(tmp_path) == folder
    assert fake_convert["calls"] == 2
    assert is_complete(folder)
    assert (folder / "model.safetensors").stat().st_size == 1000


def test_failed_conversion_leaves_nothing_half_written(tmp_path, fake_convert):
    fake_convert["fail"] = True
    with pytest.raises(RuntimeError, match="disk full"):
        smollm2_folder(tmp_path)
    assert not (tmp_path / FOLDER_NAME).exists()
    assert [p.name for p in tmp_path.iterdir()] == [f".{FOLDER_NAME}.lock"]  # temp dir removed
    fake_convert["fail"] = False
    assert is_complete(smollm2_folder(tmp_path))


def test_failed_rebuild_keeps_old_folder_out_of_use(tmp_path, fake_convert):
    folder = smollm2_folder(tmp_path)
    (folder / MARKER).unlink()
    fake_convert["fail"] = True
    with pytest.raises(RuntimeError):
        smollm2_folder(tmp_path)
    assert not is_complete(folder)  # still flagged corrupt, so the next call rebuilds it


def test_is_complete_on_missing_folder(tmp_path):
    assert not is_complete(tmp_path / "nope")


# -- real model (slow) -------------------------------------------------------------------------


@pytest.mark.slow
def test_real_conversion_load_and_generate(tmp_path):
    from hybridrl.models.loading import load_model_and_tokenizer
    from hybridrl.rollout.generator import HFGenerator
    from hybridrl.rollout.types import SamplingParams

    folder = smollm2_folder(tmp_path)  # converts (~30 s)
    assert is_complete(folder)
    load_model_and_tokenizer("smollm2-135m", cache_dir=tmp_path)  # warm imports
    start = time.perf_counter()
    model, tok = load_model_and_tokenizer("smollm2-135m", cache_dir=tmp_path)
    assert time.perf_counter() - start < 2.0
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    assert tok.eos_token == tok.pad_token == "<|im_end|>"
    assert tok.padding_side == "left"

    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2+3?"}], add_generation_prompt=True, tokenize=False
    )
    batch = HFGenerator(model, tok).generate(
        [tok(prompt)["input_ids"]], SamplingParams(n=1, greedy=True, max_new_tokens=32)
    )
    assert "5" in batch.texts[0]
    assert batch.finish_reasons == ["stop"]

    # Corrupt the cache: it is detected and rebuilt, and loads again.
    (folder / "model.safetensors").unlink()
    assert not is_complete(folder)
    model, _ = load_model_and_tokenizer("smollm2-135m", cache_dir=tmp_path)
    assert is_complete(folder)
    (folder / MARKER).unlink()
    assert is_complete(smollm2_folder(tmp_path))
