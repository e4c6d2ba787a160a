"""Atomic, resumable checkpoints.

``<run>/checkpoints/step-000006/`` holds ``model/`` (HF format, loadable by
``from_pretrained``), ``state.pt`` (scheduler, RNG states, controller, sampler, value head,
step), ``optimizer.pt`` (AdamW's moments: twice the model's size) and ``COMPLETE``. Only the
latest checkpoint keeps ``optimizer.pt`` (resume continues from the latest; a 135M model's
checkpoint is then 0.5 GB instead of 1.6 GB), unless ``keep_optimizer="all"``. It is written into a temporary folder and renamed, so
a crash mid-write never leaves a folder that looks complete; ``latest_checkpoint`` only
returns folders with the marker. Older checkpoints beyond ``keep_last`` are deleted
after the new one is complete.

Failure modes this is built for (tested in ``tests/reliability``):

- ``kill -9`` at any point: files are fsynced before the rename, the rename is the commit;
  a leftover ``.tmp-step-*`` folder is ignored and removed by the next save.
- a failing write (full disk, ``ENOSPC``): the temporary folder is removed, the error is
  re-raised with a note naming the previous checkpoint, which is untouched.
- deleting (pruning, or replacing the same step): the folder is first renamed out of the
  ``step-*`` namespace, so a crash mid-delete never leaves a half-deleted folder that still
  looks complete.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import torch

MARKER = "COMPLETE"
OPTIMIZER_FILE = "optimizer.pt"


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


def save_checkpoint(run_dir: Path, step: int, model, tokenizer, state: dict[str, Any], keep_last: int,
                    keep_optimizer: str = "latest") -> Path:
    """Write checkpoint ``step`` atomically; return its folder.

    ``state["optimizer"]`` (if any) goes to ``optimizer.pt``; ``keep_optimizer="latest"``
    deletes it from the older kept checkpoints once this one is complete (``"all"`` keeps it).

    On any failure (e.g. ``OSError(ENOSPC)``) the partial folder is removed and the error is
    re-raised; the checkpoints already on disk are left as they were.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir()
        model.save_pretrained(tmp / "model", safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp / "model")
        state = dict(state)
        optimizer = state.pop("optimizer", None)
        if optimizer is not None:
            torch.save(optimizer, tmp / OPTIMIZER_FILE)
            state["optimizer_file"] = True
        torch.save(state, tmp / "state.pt")
        (tmp / MARKER).write_text(str(step))
        _fsync_tree(tmp)  # data on disk before the rename makes it visible
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, Exception):
            prev = latest_checkpoint(run_dir)
            e.add_note(f"checkpoint step {step} was not written ({root}); "
                       f"the previous checkpoint is intact: {prev or 'none'}")
        raise
    if final.exists():  # re-saving the same step (e.g. resumed and finished again)
        _remove(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    _prune(root, keep_last)
    if keep_optimizer != "all":
        for older in complete_checkpoints(run_dir)[:-1]:
            (older / OPTIMIZER_FILE).unlink(missing_ok=True)
    return final


def _fsync_tree(path: Path) -> None:
    for dirpath, _, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(folder: Path) -> None:
    """Delete a checkpoint folder: rename it out of the ``step-*`` namespace first (atomic),
    so a crash mid-delete leaves a ``.trash-*`` folder, never a half-deleted checkpoint."""
    trash = folder.parent / f".trash-{folder.name}-{os.getpid()}"
    if trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _prune(root: Path, keep_last: int) -> None:
    done = complete_checkpoints(root.parent)
    for old in done[: max(0, len(done) - max(1, keep_last))]:
        _remove(old)
    for stale in [*root.glob(".tmp-step-*"), *root.glob(".trash-*")]:
        shutil.rmtree(stale, ignore_errors=True)


def complete_checkpoints(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step-*") if (p / MARKER).exists() and (p / "state.pt").exists())


def latest_checkpoint(run_dir: Path) -> Path | None:
    done = complete_checkpoints(run_dir)
    return done[-1] if done else None


def load_state(ckpt: Path, optimizer: bool = True) -> dict[str, Any]:
    """The checkpoint's state; with ``optimizer``, ``state["optimizer"]`` too (a checkpoint
    whose optimizer state was not kept raises FileNotFoundError naming the one that has it)."""
    state = torch.load(Path(ckpt) / "state.pt", map_location="cpu", weights_only=True)
    if optimizer and state.pop("optimizer_file", False):
        path = Path(ckpt) / OPTIMIZER_FILE
        if not path.exists():
            latest = latest_checkpoint(Path(ckpt).parent.parent)
            raise FileNotFoundError(
                f"{ckpt} has no optimizer state (only the latest checkpoint keeps it: {latest}); resume from the "
                f"run folder, or set keep_optimizer=all to keep it in every checkpoint")
        state["optimizer"] = torch.load(path, map_location="cpu", weights_only=True)
    return state


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


# ---------------------------------------------------------------------------------------
# the same step-* layout under DDP / FSDP2: sharded state (hybridrl.distributed.sharded) + one HF export


def save_parallel_checkpoint(par: Any, run_dir: str | Path, step: int, modules: dict,
                             optimizer: torch.optim.Optimizer, model: torch.nn.Module, tokenizer, state: dict,
                             keep_last: int) -> Path:
    """Every rank calls this. ``<run>/checkpoints/step-N/`` gets ``dcp/`` (model, value head, loss
    weights, reference and optimizer state, sharded: what resume reads), ``model/`` (the
    consolidated HF export: what ``eval`` and ``from_pretrained`` read), ``state.pt`` (rank 0: the
    scheduler, controller, sampler, step), ``rng-rank<r>.pt`` (each rank's RNG states) and the
    ``COMPLETE`` marker. Written into ``.tmp-step-N`` and renamed by rank 0 once every rank is done,
    as :func:`save_checkpoint` does for one process.
    """
    from hybridrl.distributed.sharded import save_sharded

    root = Path(run_dir) / "checkpoints"
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}"  # one name for all ranks (the one-process saver uses its pid)
    if par.main:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    par.barrier()
    try:
        save_sharded(par, tmp / "dcp", modules, optimizer)
        par.export_hf(model, tmp / "model", tokenizer)
        torch.save(rng_state(), tmp / f"rng-rank{par.rank}.pt")
        if par.main:
            torch.save(state, tmp / "state.pt")
        par.barrier()
        if par.main:
            (tmp / MARKER).write_text(str(step))
            _fsync_tree(tmp)
            if final.exists():
                _remove(final)
            os.replace(tmp, final)
            _fsync_dir(root)
            _prune(root, keep_last)
    except BaseException:
        if par.main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    par.barrier()
    return final


def load_parallel_checkpoint(par: Any, folder: str | Path, modules: dict,
                             optimizer: torch.optim.Optimizer) -> dict:
    """Every rank calls this: the sharded state into ``modules``/``optimizer``, this rank's RNG
    states restored; returns ``state.pt`` (scheduler, controller, sampler, step)."""
    from hybridrl.distributed.sharded import load_sharded

    folder = Path(folder)
    load_sharded(par, folder / "dcp", modules, optimizer)
    state = load_state(folder)
    rng = folder / f"rng-rank{par.rank}.pt"
    if rng.exists():  # resumed with as many processes as saved
        state["rng"] = torch.load(rng, map_location="cpu", weights_only=True)
    return state
