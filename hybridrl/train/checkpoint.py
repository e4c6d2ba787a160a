"""Atomic, resumable checkpoints.

``<run>/checkpoints/step-000006/`` holds ``model/`` (HF format, loadable by
``from_pretrained``), ``state.pt`` (optimizer, scheduler, RNG states, controller, sampler,
value head, step) and ``COMPLETE``. It is written into a temporary folder and renamed, so
a crash mid-write never leaves a folder that looks complete; ``latest_checkpoint`` only
returns folders with the marker. Older checkpoints beyond ``keep_last`` are deleted
after the new one is complete.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import torch

MARKER = "COMPLETE"


def rng_state() -> dict[str, Any]:
    import numpy as np

    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        # numpy's key array as a tensor so state.pt loads with weights_only=True
        "numpy": [name, torch.from_numpy(keys.astype("int64")), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    random.setstate(state["python"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype("uint32"), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: Path, step: int, model, tokenizer, state: dict[str, Any], keep_last: int) -> Path:
    """Write checkpoint ``step`` atomically; return its folder."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    model.save_pretrained(tmp / "model", safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp / "model")
    torch.save(state, tmp / "state.pt")
    (tmp / MARKER).write_text(str(step))
    _fsync_dir(tmp)
    if final.exists():  # re-saving the same step (e.g. resumed and finished again)
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    _prune(root, keep_last)
    return final


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(root: Path, keep_last: int) -> None:
    done = complete_checkpoints(root.parent)
    for old in done[: max(0, len(done) - max(1, keep_last))]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-step-*"):
        shutil.rmtree(stale, ignore_errors=True)


def complete_checkpoints(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step-*") if (p / MARKER).exists() and (p / "state.pt").exists())


def latest_checkpoint(run_dir: Path) -> Path | None:
    done = complete_checkpoints(run_dir)
    return done[-1] if done else None


def load_state(ckpt: Path) -> dict[str, Any]:
    return torch.load(Path(ckpt) / "state.pt", map_location="cpu", weights_only=True)


def load_model_weights(model, ckpt: Path) -> None:
    """Load the checkpoint's weights into an already-built model (full or LoRA)."""
    from safetensors.torch import load_file

    folder = Path(ckpt) / "model"
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no safetensors weights in {folder}")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(f))
    if hasattr(model, "peft_config"):
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, state)
    else:
        missing, unexpected = model.load_state_dict(state, strict=False)
        # tied embeddings are saved once; anything else missing is an error
        real_missing = [k for k in missing if "lm_head" not in k]
        if real_missing or unexpected:
            raise RuntimeError(f"checkpoint {folder} does not match the model: missing {real_missing[:5]}, unexpected {unexpected[:5]}")
