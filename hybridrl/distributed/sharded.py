"""Sharded checkpoints with ``torch.distributed.checkpoint`` (DCP), for resume under DDP / FSDP2.

Each rank writes its own shards of the model and optimizer state (FSDP2: its DTensor shards;
DDP: the replicated tensors once) into one folder; loading reads them back into an already
wrapped model and optimizer, whatever the rank count was (DCP reshards on load).
Modules outside the engine (value head, learnable loss weights) are saved alongside through
one holder module, so their optimizer state travels too. The run folder's layout around these
shards (step folders, RNG per rank, the COMPLETE marker) is :mod:`hybridrl.training.persistence.checkpoint`'s.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hybridrl.distributed.parallel import Parallel


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


def is_sharded_checkpoint(folder: str | Path) -> bool:
    return (Path(folder) / "dcp").is_dir()
