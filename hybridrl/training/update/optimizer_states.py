"""Named, separate optimizer states on the run's one optimizer.

Some methods step a second optimizer for some updates: ReLIFT's official worker keeps its own
AdamW for the SFT update (same lr, betas and weight decay, its own moments). Here the run keeps one
``torch.optim`` optimizer; an update that names a state (``Update.optimizer_state``) steps it with
that state swapped in: AdamW's moments and step count of that name, fresh at first use, kept apart
from the shared ones. The named states travel with the optimizer's own ``state_dict`` (a hook adds
them under one key, the load hook restores them), so checkpoints and resume need nothing else.

The hyper-parameters (``param_groups``: lr as the scheduler sets it, betas, weight decay) are the
shared optimizer's: only the state is separate.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import torch

_ATTR = "_hybridrl_named_states"
KEY = "hybridrl_named_states"
"""Where the named states live in the optimizer's state_dict."""


def _params(opt: torch.optim.Optimizer) -> list[torch.nn.Parameter]:
    return [p for g in opt.param_groups for p in g["params"]]  # torch's own state_dict order


def _save_hook(opt: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
    index = {id(p): i for i, p in enumerate(_params(opt))}
    state_dict[KEY] = {name: {index[id(p)]: dict(v) for p, v in st.items() if id(p) in index}
                       for name, st in getattr(opt, _ATTR).items()}
    return state_dict


def _load_hook(opt: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
    state_dict = dict(state_dict)  # the caller's dict stays as it was
    packed = state_dict.pop(KEY, {})
    params = _params(opt)
    restored = {}
    for name, st in packed.items():
        d: defaultdict = defaultdict(dict)
        for i, v in st.items():
            p = params[int(i)]
            d[p] = {k: (t.to(p.device) if torch.is_tensor(t) and k != "step" else t) for k, t in v.items()}
        restored[name] = d
    setattr(opt, _ATTR, restored)
    return state_dict


def install_named_states(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Let ``opt`` hold named states (idempotent); call before any ``load_state_dict``."""
    if not hasattr(opt, _ATTR):
        setattr(opt, _ATTR, {})
        opt.register_state_dict_post_hook(_save_hook)
        opt.register_load_state_dict_pre_hook(_load_hook)
    return opt


@contextlib.contextmanager
def named_state(opt: torch.optim.Optimizer, name: str | None) -> Iterator[None]:
    """Within the block, ``opt`` steps with the state called ``name`` (None: the shared one)."""
    if name is None:
        yield
        return
    install_named_states(opt)
    store = getattr(opt, _ATTR)
    shared = opt.state
    opt.state = store.get(name, defaultdict(dict))
    try:
        yield
    finally:
        store[name] = opt.state
        opt.state = shared
