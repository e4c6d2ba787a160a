"""Around one training run: the run folder is never silently reused, ``--resume RUN`` continues RUN
with its own saved config, a Python callable reward is made importable by the reward workers,
and a run that fails before it trained anything leaves no folder behind.

Used by ``hybridrl train`` and by :func:`hybridrl.train` (the Python API), so both behave alike.
What happens in each case is documented in docs/reliability.md ("Run folders, resume, interrupts").
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from hybridrl.config import (SAFE_RESUME_KEYS, ConfigError, TrainConfig, build_config, config_to_dict,
                                   reward_fn_name, validate, with_legacy_defaults)

RUN_FILES = ("config.yaml", "metrics.jsonl", "eval.jsonl", "summary.json", "group_accuracy.jsonl", "checkpoints",
             "tensorboard", "reward_fn.py", "probe.json")
"""What a run writes into its folder (``--overwrite`` removes exactly these)."""

NOT_SETTINGS = frozenset({"output_dir", "progress", "log_every", "report_to"})
"""Keys that do not make two runs different runs (shown, but not a reason to refuse a restart)."""


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_saved_config(run: Path) -> dict[str, Any] | None:
    import yaml

    p = Path(run) / "config.yaml"
    if not p.exists():
        return None
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: unreadable config.yaml ({e})") from None
    return with_legacy_defaults(d) if isinstance(d, dict) else None


def holds_run(folder: Path) -> bool:
    """True when ``folder`` holds (part of) a training run."""
    folder = Path(folder)
    return any((folder / name).exists() for name in ("config.yaml", "metrics.jsonl", "checkpoints", "summary.json"))


def _diff(old: dict[str, Any], new: dict[str, Any], ignore=frozenset()) -> dict[str, tuple[Any, Any]]:
    return {k: (old[k], v) for k, v in new.items() if k in old and k not in ignore and old[k] != v}


def _shown(diff: dict[str, tuple[Any, Any]], limit: int = 6) -> str:
    items = [f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items()]
    more = f", and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def check_output_dir(cfg: TrainConfig, overwrite: bool = False, log=_say) -> None:
    """Refuse to write a run into a folder that holds another one, naming what differs.

    - no run there: fine;
    - ``overwrite``: the other run's files (:data:`RUN_FILES`) are removed first, other files kept;
    - the same settings and no checkpoint (a run that died before its first save): it starts over;
    - otherwise a ConfigError that says what differs and how to continue, replace or avoid it.
    """
    from hybridrl.training.persistence.checkpoint import latest_checkpoint

    out = Path(cfg.output_dir)
    for parent in out.resolve().parents:  # never nest a run inside another run's folder
        if (parent / "config.yaml").is_file() and holds_run(parent):
            raise ConfigError(f"--output-dir {out} is inside the run in {parent}; put the run in a folder of its own")
    if not out.exists() or not holds_run(out):
        return
    if overwrite:
        log(f"hybridrl: --overwrite: removing the run in {out}")
        for name in RUN_FILES:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        return
    old = read_saved_config(out) or {}
    from hybridrl.methods.registry import unused_keys

    new = config_to_dict(cfg)
    diff = _diff(old, new, NOT_SETTINGS | unused_keys(new))
    last = latest_checkpoint(out)
    what = f"a {old.get('method', 'training')} run"
    if last is not None:
        what += f" with a checkpoint at {last.name}"
    if diff:
        raise ConfigError(f"{out} holds another run ({what}); it differs in: {_shown(diff)}. Use another "
                          f"--output-dir, or --overwrite to replace it")
    if last is not None:
        raise ConfigError(f"{out} holds {what} with these settings: continue it with `hybridrl train --resume {out}`, "
                          f"or pass --overwrite to start it again")
    log(f"hybridrl: {out} holds a run with these settings and no checkpoint: starting it again")


def run_folder_of(path: str | Path) -> Path:
    """``--resume`` takes a run folder or one of its checkpoint folders."""
    from hybridrl.training.persistence.checkpoint import MARKER

    p = Path(path)
    if (p / MARKER).exists() and p.parent.name == "checkpoints":
        return p.parent.parent
    return p


def saved_base(saved: dict[str, Any], run: Path, log=_say) -> dict[str, Any]:
    """A run's saved config (flat) as the base of its resumed config: keys this version does not
    know are dropped (said), ``output_dir`` is the run's folder."""
    from hybridrl.config import KEYS

    dropped = sorted(k for k in saved if k not in KEYS)
    if dropped:
        log(f"hybridrl: note: {run}/config.yaml keys this version does not know are ignored: {', '.join(dropped)}")
    base = {k: v for k, v in saved.items() if k in KEYS}
    base["output_dir"] = str(run)
    return base


def _resume_diff(base: dict[str, Any], cfg: TrainConfig, run: Path) -> dict[str, tuple[Any, Any]]:
    """What resuming with ``cfg`` changes against the saved ``base``: only
    :data:`~hybridrl.config.SAFE_RESUME_KEYS`, else a ConfigError listing the others."""
    diff = _diff(base, config_to_dict(cfg))
    diff.pop("output_dir", None)
    unsafe = {k: v for k, v in diff.items() if k not in SAFE_RESUME_KEYS}
    if unsafe:
        raise ConfigError(f"--resume {run}: these would change what the run trains: {_shown(unsafe)}; only "
                          f"{', '.join(sorted(SAFE_RESUME_KEYS))} may change on resume (start a new run for the rest)")
    if "eval_size" in diff and (run / "eval.jsonl").is_file() and (run / "eval.jsonl").read_text().strip():
        # eval.jsonl would mix accuracies over two different question sets
        raise ConfigError(f"--resume {run}: eval_size {diff['eval_size'][0]} -> {diff['eval_size'][1]} would mix two "
                          f"question sets in {run}/eval.jsonl; keep eval_size={diff['eval_size'][0]} (evaluate the "
                          f"final model on other questions with hybridrl eval)")
    return diff


def resume_config(resume: str | Path, yaml_path: str | Path | None = None, cli: dict[str, Any] | None = None,
                  overrides: list[str] | None = None, log=_say) -> TrainConfig:
    """The config to continue run ``resume`` with: its saved config.yaml, plus the user's
    options only where they are safe (:data:`~hybridrl.config.SAFE_RESUME_KEYS`: more
    steps, logging, eval/save cadence, speed settings), each logged; any other change is refused
    with the list of keys. ``output_dir`` is always the run's folder."""
    from hybridrl.training.persistence.checkpoint import latest_checkpoint, load_state

    from hybridrl.training.persistence.checkpoint import MARKER

    run = run_folder_of(resume)
    if not run.is_dir():
        raise ConfigError(f"--resume {resume}: no such run folder")
    last = Path(resume) if (Path(resume) / MARKER).exists() else latest_checkpoint(run)
    if last is None:
        raise ConfigError(f"--resume {resume}: no complete checkpoint found in {run} (nothing to continue: "
                          f"start the run again without --resume)")
    saved = read_saved_config(run)
    if saved is None:
        raise ConfigError(f"--resume {resume}: {run} has no config.yaml (not a hybridrl run folder)")
    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    given_dir = cli.pop("output_dir", None)
    if given_dir is not None and Path(given_dir).resolve() != run.resolve():
        raise ConfigError(f"--resume {resume} continues the run in {run}; --output-dir {given_dir} would start "
                          f"another folder (copy the run folder first to branch off it)")
    base = saved_base(saved, run, log)
    notes: list[str] = []
    cfg = build_config(yaml_path, cli, overrides, base=base, notes=notes)
    if Path(cfg.output_dir).resolve() != run.resolve():  # e.g. --config holding another output_dir
        notes.append(f"output_dir {cfg.output_dir} ignored: --resume continues the run in {run}")
        cfg = cfg.replace(output_dir=str(run))
    diff = _resume_diff(base, cfg, run)
    done = int(load_state(last, optimizer=False).get("step", 0))
    if cfg.steps < done or (cfg.steps == done and (run / "summary.json").exists()):
        raise ConfigError(f"--resume {run}: the run already has {done} of steps={cfg.steps} steps "
                          f"(its last checkpoint is {last.name}); pass --steps N with N > {done} to train further")
    for line in notes:
        log(f"hybridrl: note: {line}" if not line.startswith("warning: ") else f"hybridrl: {line}")
    for k, (a, b) in diff.items():
        log(f"hybridrl: resume: {k} {a!r} -> {b!r}")
    log(f"hybridrl: resuming {run} from {last.name} ({cfg.method}, step {done} of {cfg.steps})")
    return cfg


def make_reward_importable(cfg: TrainConfig, run_dir: Path) -> TrainConfig:
    """A Python callable as ``reward_fn`` becomes a ``module:function`` string the reward
    worker processes can import (:func:`importable_reward`); config.yaml records that string."""
    import dataclasses

    fn = cfg.reward_fn
    if fn is None or isinstance(fn, str):
        return cfg
    return dataclasses.replace(cfg, reward_fn=importable_reward(fn, run_dir))


def importable_reward(fn: Any, folder: Path) -> str:
    """``module:function`` for a reward callable: its own module path when it lives in an
    importable module, else (a notebook or ``__main__`` function, a closure) a small
    ``<folder>/reward_fn.py`` that holds it serialised by value with ``dill``. Used by
    training, :func:`hybridrl.evaluate` and :func:`hybridrl.compare` alike."""
    import importlib

    if isinstance(fn, str):
        return fn
    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if mod and mod != "__main__" and "<" not in qual:
        try:
            obj = importlib.import_module(mod)
            for part in qual.split("."):
                obj = getattr(obj, part)
            if obj is fn:
                return f"{mod}:{qual}"
        except (ImportError, AttributeError):
            pass
    try:
        import dill
    except ImportError:  # pragma: no cover - dill comes with datasets
        raise ConfigError(f"reward_fn {reward_fn_name(fn)} is defined in a notebook or script: "
                          f"pip install dill, or put it in a module and pass 'module:function'") from None
    try:
        blob = dill.dumps(fn, recurse=True)
    except Exception as e:
        raise ConfigError(f"reward_fn {reward_fn_name(fn)} cannot be sent to the reward workers ({e}); put it in "
                          f"a module and pass 'module:function'") from None
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in qual) or "reward_fn"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "reward_fn.py"
    path.write_text(f'"""{reward_fn_name(fn)}, passed as a Python callable, serialised by value (dill)."""\n'
                    f"import dill\n\n{name} = dill.loads(bytes.fromhex({blob.hex()!r}))\n")
    return f"{path.resolve()}:{name}"


def _remove_if_empty_run(out: Path) -> None:
    """After a failure: remove a folder this run created if it holds nothing worth keeping
    (no checkpoint, no logged step)."""
    from hybridrl.training.persistence.checkpoint import latest_checkpoint

    if not out.is_dir() or latest_checkpoint(out) is not None:
        return
    metrics = out / "metrics.jsonl"
    if metrics.exists() and metrics.read_text().strip():
        return
    if all(p.name in RUN_FILES for p in out.iterdir()):
        shutil.rmtree(out, ignore_errors=True)


def run_training(cfg: TrainConfig, resume: str | Path | None = None, overwrite: bool = False,
                 log=_say) -> dict[str, Any]:
    """Validate, guard the run folder, train (or continue ``resume``), return the summary.

    ``cfg`` for a resume comes from :func:`resume_config`. A failure before anything was
    trained removes the folder it created."""
    from hybridrl.training.loop.trainer import train

    validate(cfg, notes=[])  # the caller has shown the notes (build_config or the Python API)
    out = Path(cfg.output_dir)
    created = not out.exists()
    # the outermost folder this run creates (runs/ itself, for a first run): removed too if left empty
    top = out
    while not top.parent.exists():
        top = top.parent
    if resume is None:
        check_output_dir(cfg, overwrite, log)
    log(f"hybridrl: run folder {out}")
    from hybridrl.training.loop.data_setup import test_split_of_data

    if test_split_of_data(cfg):
        log(f"hybridrl: note: eval set: the test split of {cfg.data} (eval_data=FILE to use another)")
    elif cfg.data is not None and cfg.eval_data is None:
        log(f"hybridrl: note: no eval set (training from data={cfg.data}): the held-out evaluation is skipped; "
            f"pass eval_data=FILE to have one")
    from hybridrl.training.loop.interrupt import InterruptGuard

    try:
        cfg = make_reward_importable(cfg, out)
        with InterruptGuard():  # from before the model loads: the loop checkpoints on SIGINT/SIGTERM
            return train(cfg, resume=resume)
    except BaseException:
        if created:
            _remove_if_empty_run(out)
            p = out.parent
            while not out.exists() and p.is_dir() and not any(p.iterdir()) and top != out:
                p.rmdir()
                if p == top:
                    break
                p = p.parent
        raise
