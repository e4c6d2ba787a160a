"""Sharded checkpoints with ``torch.distributed.checkpoint`` (DCP), for resume under DDP / FSDP2.

Each rank writes its own shards of the model and optimizer state (FSDP2: its DTensor shards;
DDP: the replicated tensors once) into one folder; loading reads them back into an already
wrapped model and optimizer, whatever the rank count was (DCP reshards on load).
Modules outside the engine (value head, learnable loss weights) are saved alongside through
one holder module, so their optimizer state travels too.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hybridrl.train.parallel import Parallel


class _Holder(nn.Module):
    """Gives every trainable module one name space, so DCP maps optimizer state to parameter names."""

    def __init__(self, modules: dict[str, nn.Module | list[nn.Parameter]]):
        super().__init__()
        for name, m in modules.items():
            if m is None:
                continue
            self.add_module(name, m if isinstance(m, nn.Module) else nn.ParameterList(m))


def save_sharded(par: Parallel, folder: str | Path, modules: dict, optimizer: torch.optim.Optimizer) -> None:
    """Every rank calls this: ``folder`` gets the model and optimizer state, sharded."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    holder = _Holder(modules)
    msd, osd = get_state_dict(holder, optimizer)
    dcp.save({"model": msd, "optim": osd}, checkpoint_id=str(folder))


def load_sharded(par: Parallel, folder: str | Path, modules: dict, optimizer: torch.optim.Optimizer) -> None:
    """Every rank calls this after building and wrapping the model and optimizer as for training."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    holder = _Holder(modules)
    msd, osd = get_state_dict(holder, optimizer)
    state = {"model": msd, "optim": osd}
    dcp.load(state, checkpoint_id=str(folder))
    set_state_dict(holder, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])


# ---------------------------------------------------------------------------------------
# the run's checkpoint folder under DDP / FSDP2 (the same step-* layout as train/checkpoint.py)


def save_parallel_checkpoint(par: Parallel, run_dir: str | Path, step: int, modules: dict,
                             optimizer: torch.optim.Optimizer, model: nn.Module, tokenizer, state: dict,
                             keep_last: int) -> Path:
    """Every rank calls this. ``<run>/checkpoints/step-N/`` gets ``dcp/`` (model, value head, loss
    weights, reference and optimizer state, sharded: what resume reads), ``model/`` (the
    consolidated HF export: what ``eval`` and ``from_pretrained`` read), ``state.pt`` (rank 0: the
    scheduler, controller, sampler, step), ``rng-rank<r>.pt`` (each rank's RNG states) and the
    ``COMPLETE`` marker. Written into ``.tmp-step-N`` and renamed by rank 0 once every rank is done,
    as :func:`hybridrl.train.checkpoint.save_checkpoint` does for one process.
    """
    import shutil

    from hybridrl.train import checkpoint as ckpt

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
        torch.save(ckpt.rng_state(), tmp / f"rng-rank{par.rank}.pt")
        if par.main:
            torch.save(state, tmp / "state.pt")
        par.barrier()
        if par.main:
            (tmp / ckpt.MARKER).write_text(str(step))
            ckpt._fsync_tree(tmp)
            if final.exists():
                ckpt._remove(final)
            import os

            os.replace(tmp, final)
            ckpt._fsync_dir(root)
            ckpt._prune(root, keep_last)
    except BaseException:
        if par.main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    par.barrier()
    return final


def is_sharded_checkpoint(folder: str | Path) -> bool:
    return (Path(folder) / "dcp").is_dir()


def load_parallel_checkpoint(par: Parallel, folder: str | Path, modules: dict,
                             optimizer: torch.optim.Optimizer) -> dict:
    """Every rank calls this: the sharded state into ``modules``/``optimizer``, this rank's RNG
    states restored; returns ``state.pt`` (scheduler, controller, sampler, step)."""
    from hybridrl.train import checkpoint as ckpt

    folder = Path(folder)
    load_sharded(par, folder / "dcp", modules, optimizer)
    state = ckpt.load_state(folder)
    rng = folder / f"rng-rank{par.rank}.pt"
    if rng.exists():  # resumed with as many processes as saved
        state["rng"] = torch.load(rng, map_location="cpu", weights_only=True)
    return state
