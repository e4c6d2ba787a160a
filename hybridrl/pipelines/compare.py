"""``hybridrl compare``: several methods on the same data, seed, model and step budget, each
final model (and the base model) evaluated on the same eval sets, then a report.

Resumable at two levels: a method whose run folder has ``summary.json`` is not retrained (its
saved config must match, else this fails rather than mixing settings), a half-finished one
resumes from its last complete checkpoint; an evaluation already saved in
``<out>/evals/<label>.json`` with the same settings, model and questions is not redone.

Layout of ``output_dir``::

    <method>/            one run folder per method (hybridrl train's layout)
    evals/<label>.json   eval.json of the base model and of each method's final model
    report.md, report.html, figures/*.png
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hybridrl.eval.evaluate import EvalSettings, evaluate_model, final_model_dir

def ignored_keys() -> frozenset[str]:
    """Config keys that may differ between a run in the output folder and a new request for
    it: the output folder itself and every key ``train --resume`` may change
    (:data:`~hybridrl.config.SAFE_RESUME_KEYS`: logging, saving, evaluation along the
    way, speed), except ``steps`` — a finished run of other length is another run, not this one."""
    from hybridrl.config import SAFE_RESUME_KEYS

    return (SAFE_RESUME_KEYS - {"steps"}) | {"output_dir"}


def _say(msg: str) -> None:
    print(msg, flush=True)


def _same_engine(key: str, old: Any, new: Any) -> bool:
    """A run trained with ``rollout_engine=hf`` (the default before ``auto``) is the run a new
    request with ``auto`` would train where vLLM is not installed."""
    if key != "rollout_engine" or new != "auto" or old != "hf":
        return False
    from hybridrl.rollout.vllm_generator import vllm_available

    return not vllm_available()


def settings_diff(saved: dict[str, Any] | None, cfg) -> dict[str, tuple[Any, Any]]:
    """How the run folder's saved config (a flat or nested ``config.yaml`` as a dict; empty or
    None for no run) differs from ``cfg`` in what it trains: key -> (saved, new). Empty: the
    same run, which ``compare`` reuses."""
    from hybridrl.config import config_defaults, config_to_dict, with_legacy_defaults
    from hybridrl.methods.registry import unused_keys

    old = with_legacy_defaults(saved)
    if not old:
        return {}
    new = config_to_dict(cfg)
    # keys the method never reads (another method's options, a critic's without one) do not
    # make another run: a GRPO run is reused whatever hpt_balance or gae_lambda say
    ignored = ignored_keys() | unused_keys(new)
    defaults = config_defaults()
    # a key the old config.yaml lacks was added since; at its default it keeps the old behaviour
    # (keys whose default changed the behaviour are in LEGACY_DEFAULTS, filled in above)
    return {k: (old.get(k), v) for k, v in new.items() if k not in ignored and old.get(k) != v
            and not (k not in old and v == defaults.get(k)) and not _same_engine(k, old.get(k), v)}


def train_or_resume(cfg, log: Callable[[str], None] = _say) -> tuple[Path, str]:
    """Train ``cfg`` into ``cfg.output_dir`` unless it is finished there; resume a
    half-finished run. Returns (run folder, what happened: ``skipped``/``resumed``/``trained``)."""
    from hybridrl.training.persistence.checkpoint import latest_checkpoint
    from hybridrl.config import ConfigError
    from hybridrl.training.loop.interrupt import InterruptGuard, RunInterrupted
    from hybridrl.training.loop.trainer import train
    from hybridrl.report.runs import read_config

    run_dir = Path(cfg.output_dir)
    diff = settings_diff(read_config(run_dir), cfg)
    if diff:
        shown = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in list(diff.items())[:5])
        raise ConfigError(f"{run_dir} holds a run with other settings ({shown}); "
                          f"use another --output-dir or delete that folder")
    if (run_dir / "summary.json").exists():
        log(f"  {cfg.method}: finished run found in {run_dir} (summary.json), not retrained")
        return run_dir, "skipped"
    ckpt = latest_checkpoint(run_dir)
    if ckpt is not None:
        log(f"  {cfg.method}: resuming from {ckpt}")
    # as `hybridrl train`: Ctrl-C / kill during training saves a checkpoint (without the guard,
    # SIGTERM ended a compare run at once and lost up to save_every steps); evaluation is not
    # guarded (a signal there stops at once: its results are only written when complete)
    with InterruptGuard():
        try:
            train(cfg, resume=run_dir if ckpt is not None else None)
        except RunInterrupted as e:
            raise RunInterrupted(e.signame, e.step, e.checkpoint, e.run_dir,
                                 resume_with="the same hybridrl compare command (finished runs are kept, "
                                             "this one resumes from its checkpoint)") from None
    return run_dir, "resumed" if ckpt is not None else "trained"


def questions_digest(sets: dict[str, list]) -> dict[str, str]:
    """Per eval set, a short sha256 of its questions (prompt and answers, in order)."""
    import hashlib

    out = {}
    for name, rows in sets.items():
        h = hashlib.sha256()
        for r in rows:
            h.update(json.dumps([r.prompt if isinstance(r.prompt, str) else repr(r.prompt), list(r.answer or [])],
                                default=str).encode())
        out[name] = h.hexdigest()[:16]
    return out


def evaluate_cached(label: str, model: str, sets: dict[str, list], settings: EvalSettings, out_dir: Path,
                    log: Callable[[str], None] = _say, model_seed: int = 0) -> dict[str, Any]:
    """Evaluate ``model`` on ``sets`` unless ``out_dir/evals/<label>.json`` already holds the
    same evaluation (model, settings, question ids and a digest of the questions' text: built-in
    ids are positions, so the text tells a set drawn with another seed apart). A file written
    before digests were saved is matched on ids alone."""
    path = out_dir / "evals" / f"{label}.json"
    want = {name: [r.id for r in rows] for name, rows in sets.items()}
    digest = questions_digest(sets)
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
        same = (old.get("model") == str(model) and old.get("settings") == json.loads(json.dumps(asdict(settings)))
                and {s: [r["id"] for r in v.get("rows", [])] for s, v in old.get("sets", {}).items()} == want
                and old.get("questions_digest", digest) == digest)
        if same:
            log(f"  {label}: evaluation found in {path}, not redone")
            return old
    t0 = time.time()
    res = evaluate_model(model, sets, settings, label=label, model_seed=model_seed)
    res["wall_time_s"] = time.time() - t0
    res["questions_digest"] = digest
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1, default=str))
    tmp.replace(path)
    return res


def default_eval_sets(cfg, eval_size: int, eval_tasks: str | None, eval_data: list[str] | None,
                      eval_seed: int | None = None, eval_task_size: int | None = None) -> dict[str, list]:
    """The training task's test split (``eval_size`` questions) — or the config's
    ``eval_data`` — plus any extra eval tasks (``name[:level],...``) and files (out-of-distribution columns).
    Built-in sets are drawn with ``eval_seed`` (default: the training seed), so runs with
    different training seeds can share one test set; extra tasks have ``eval_task_size``
    questions each (default ``eval_size``)."""
    seed = cfg.seed if eval_seed is None else eval_seed
    from hybridrl.data.tasks import build_task
    from hybridrl.eval.evaluate import load_data_sets, parse_task_specs
    from hybridrl.config import ConfigError

    # the training data's column mapping reads every eval file too
    columns = {"prompt": cfg.prompt_column, "answer": cfg.answer_column, "demonstration": cfg.demonstration_column}
    sets: dict[str, list] = {}
    if cfg.eval_data:
        sets.update(load_data_sets([cfg.eval_data], columns=columns, split=cfg.eval_data_split))
    elif cfg.task:
        name = cfg.task + (f":{cfg.difficulty}" if cfg.difficulty is not None else "")
        sets[name] = build_task(cfg.task, size=eval_size, seed=seed, difficulty=cfg.difficulty, split="test")
    if eval_tasks:
        sets.update(parse_task_specs(eval_tasks, size=eval_task_size or eval_size, seed=seed))
    if eval_data:
        sets.update(load_data_sets(eval_data, columns=columns, taken=list(sets)))
    if not sets:
        raise ConfigError("no eval set: training from --data needs --eval-data FILE or --eval-task NAME "
                          "(or eval_data=FILE)")
    return sets


def evaluate_runs(runs: dict[str, Path], base: tuple[str, int] | None, sets: dict[str, list], settings: EvalSettings,
                  out: Path, log: Callable[[str], None], head: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Evaluate the base model (``base`` = (model, seed), or None) and each run's final model."""
    evals: dict[str, dict[str, Any]] = {}
    if base is not None:
        head(f"evaluating the base model {base[0]}")
        evals["base"] = evaluate_cached("base", base[0], sets, settings, out, log, model_seed=base[1])
    for m, run_dir in runs.items():
        head(f"evaluating {m}")
        model_dir = final_model_dir(run_dir)
        if model_dir is None:
            raise FileNotFoundError(f"{run_dir}: the run has no checkpoint to evaluate")
        evals[m] = evaluate_cached(m, str(model_dir), sets, settings, out, log)
    return evals


def _user_keys(overrides: list[str], config: str | Path | None) -> set[str]:
    """Config keys the user set: in ``key=value`` overrides or in the ``--config`` YAML file
    (TRL/verl spellings mapped to ours)."""
    import yaml

    from hybridrl.config import find_config_file, flatten, spelled_key

    keys = [o.split("=", 1)[0] for o in overrides]
    if config is not None:
        data = yaml.safe_load(find_config_file(config).read_text()) or {}
        if isinstance(data, dict):
            keys += [str(k) for k in flatten(data, strict=False)]
    return {spelled_key(k) for k in keys}


def compare_overrides(overrides: list[str] | None, cli: dict[str, Any],
                      config: str | Path | None = None, eval_size: int | None = None) -> list[str]:
    """Every method's ``key=value`` overrides, plus compare's defaults where the user set none
    (neither as ``key=value`` nor in the ``--config`` file): no in-loop evaluation (the final
    models are evaluated on the eval sets), a checkpoint every quarter of the run (an
    interrupted run resumes), only the last checkpoint kept."""
    overrides = list(overrides or [])
    keys = _user_keys(overrides, config)
    if "eval_every" not in keys and "eval_size" not in keys:
        overrides.append("eval_size=0")
    elif "eval_size" not in keys and eval_size is not None:
        # evaluations along the way draw as many questions as --eval-size (they once stayed 64)
        overrides.append(f"eval_size={eval_size}")
    if "save_every" not in keys:
        overrides.append(f"save_every={max(1, int(cli.get('steps') or 100) // 4)}")
    if "keep_last" not in keys:
        overrides.append("keep_last=1")
    return overrides


def run_compare(
    methods: list[str],
    *,
    output_dir: str | Path,
    cli: dict[str, Any],
    overrides: list[str] | None = None,
    config: str | Path | None = None,
    eval_size: int = 64,
    eval_tasks: str | None = None,
    eval_data: list[str] | None = None,
    samples: int = 0,
    ks: tuple[int, ...] = (1,),
    temperature: float = 0.6,
    top_p: float = 0.95,
    evaluate_base: bool = True,
    eval_seed: int | None = None,
    eval_task_size: int | None = None,
    eval_batch_size: int = 16,
    title: str | None = None,
    notes: list[str] | None = None,
    log: Callable[[str], None] = _say,
) -> dict[str, Any]:
    """Train each method (``config``: a YAML file; ``cli``: build_config's CLI dict — model,
    task/data, steps, seed; ``overrides``: ``key=value`` for every method), evaluate base and final models, write
    the report. Returns ``{"runs", "evals", "report", "status", "wall_time_s"}``."""
    from hybridrl.report import build_report
    from hybridrl.config import build_config

    t0 = time.time()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    overrides = compare_overrides(overrides, cli, config, eval_size)
    cfgs = {m: build_config(config, {**cli, "method": m, "output_dir": str(out / m)}, overrides) for m in methods}
    first = next(iter(cfgs.values()))
    sets = default_eval_sets(first, eval_size, eval_tasks, eval_data, eval_seed, eval_task_size)
    settings = EvalSettings(template=first.template, max_new_tokens=first.eval_max_new_tokens or first.max_new_tokens,
                            samples=samples, temperature=temperature, top_p=top_p, ks=tuple(ks), bf16=first.bf16,
                            seed=first.seed, timeout_s=first.reward_timeout, reward_fn=first.reward_fn,
                            batch_size=eval_batch_size, rollout_engine=first.rollout_engine)
    total = len(methods) * 2 + int(evaluate_base)
    stage = 0

    def head(msg: str) -> None:
        nonlocal stage
        stage += 1
        log(f"\n[{stage}/{total}] {msg}  ({(time.time() - t0) / 60:.1f} min elapsed)")

    log(f"compare: {', '.join(methods)} on {first.task or first.data}, model {first.model}, {first.steps} steps, "
        f"seed {first.seed}; eval sets: " + ", ".join(f"{k} (n={len(v)})" for k, v in sets.items()) + f" -> {out}")
    status: dict[str, str] = {}
    runs: dict[str, Path] = {}
    for m, cfg in cfgs.items():
        head(f"training {m}: {cfg.steps} steps of {cfg.prompts_per_step} prompts x {cfg.group_size} completions")
        runs[m], status[m] = train_or_resume(cfg, log)
    base = (first.model, first.seed) if evaluate_base else None
    evals = evaluate_runs(runs, base, sets, settings, out, log, head)
    report = build_report(runs, evals, out, title=title or f"hybridrl compare: {', '.join(methods)}", notes=notes)
    return {"runs": runs, "evals": evals, "report": report, "status": status, "wall_time_s": time.time() - t0}
