"""The trainer's persistence: its resolved config, checkpoints (one process, or DDP/FSDP2
sharded) and resume. Functions of a :class:`~hybridrl.training.loop.trainer.Trainer` ``t``."""

from __future__ import annotations

from pathlib import Path

from hybridrl.training.persistence import checkpoint as ckpt
from hybridrl.config import nested_config


def write_config(t) -> None:
    """Write the fully resolved config to ``config.yaml`` (main process, atomically)."""
    if not t.par.main:
        return
    import yaml

    tmp = t.run_dir / "config.yaml.tmp"
    tmp.write_text(yaml.safe_dump(nested_config(t.cfg), sort_keys=False))
    tmp.replace(t.run_dir / "config.yaml")


def resume(t, path: Path) -> None:
    """Load the run state of the checkpoint ``path`` (or a run folder's latest one) into the trainer."""
    c = path if (path / ckpt.MARKER).exists() else ckpt.latest_checkpoint(path)
    if c is None:
        raise FileNotFoundError(f"--resume {path}: no complete checkpoint found")
    if t.par.mode != "none":  # every rank reads its shards (DCP) and its RNG states
        from hybridrl.training.persistence.checkpoint import load_parallel_checkpoint

        state = load_parallel_checkpoint(t.par, c, checkpoint_modules(t), t.optimizer)
    else:
        state = ckpt.load_state(c)
        ckpt.load_model_weights(t.model, c)
        t.optimizer.load_state_dict(state["optimizer"])
    t.scheduler.load_state_dict(state["scheduler"])
    t.controller.load_state_dict(state["controller"])
    t.sampler.load_state_dict(state["sampler"])
    if t.value_head is not None and state.get("value_head") is not None:
        t.value_head.load_state_dict(state["value_head"])
    if t.ref_model is not None and state.get("ref_model") is not None:
        t.ref_model.load_state_dict(state["ref_model"])
    ckpt.set_rng_state(state["rng"])
    t.start_step = int(state["step"])
    t.resumed_from = c


def checkpoint_modules(t) -> dict:
    """What the sharded (DCP) checkpoint holds besides the optimizer, by name."""
    return {"policy": t.model, "value_head": t.value_head,
            "loss_weights": list(t.controller.parameters()) or None, "reference": t.ref_model}


def save(t, step: int) -> Path | None:
    """Checkpoint after ``step`` steps (one process: rank 0 writes; DDP/FSDP2: every rank)."""
    if t.par.mode != "none":
        from hybridrl.training.persistence.checkpoint import save_parallel_checkpoint

        state = {"step": step, "scheduler": t.scheduler.state_dict(),
                 "controller": t.controller.state_dict(), "sampler": t.sampler.state_dict(),
                 "rng": ckpt.rng_state()}
        return save_parallel_checkpoint(t.par, t.run_dir, step, checkpoint_modules(t),
                                        t.optimizer, t.model, t.tokenizer, state, t.cfg.keep_last)
    if not t.par.main:
        return None
    state = {
        "step": step,
        "optimizer": t.optimizer.state_dict(),
        "scheduler": t.scheduler.state_dict(),
        "controller": t.controller.state_dict(),
        "sampler": t.sampler.state_dict(),
        "rng": ckpt.rng_state(),
        "value_head": t.value_head.state_dict() if t.value_head is not None else None,
        # the reference only needs saving when it is not the initial model (SFT→RL)
        "ref_model": t.ref_model.state_dict() if t.ref_model is not None else None,
    }
    return ckpt.save_checkpoint(t.run_dir, step, t.model, t.tokenizer, state, t.cfg.keep_last,
                                keep_optimizer=t.cfg.keep_optimizer)
