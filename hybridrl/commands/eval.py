"""``hybridrl eval``: accuracy of a model on one or more eval sets (in-/out-of-distribution columns)."""

from __future__ import annotations

import argparse
import json
from typing import Any
from pathlib import Path

from hybridrl.commands import EXAMPLE_NOTE, HelpFormatter

EXAMPLES = """examples:
  hybridrl eval --model smollm2-135m --task chain_sum --size 64
  hybridrl eval --model runs/grpo-20260101-120000 --task chain_sum,knights_knaves:2 --samples 8 --k 1,4,8
  hybridrl eval --model runs/hpt-50 --data my_test.jsonl --compare-to runs/grpo-50 --output-dir runs/eval-hpt
  hybridrl eval --model tiny --data my_test.jsonl prompt_column=question answer_column=final
A run folder (or a checkpoint in it) is evaluated with the run's template, token budget, reward_fn and
column mapping (printed); flags override. Accuracy is always the task verifier's; a reward_fn is reported
apart, as mean reward.
""" + EXAMPLE_NOTE


def parse_ks(text: str | None, samples: int) -> tuple[int, ...]:
    """``--k 1,2,4`` -> (1, 2, 4); each k in 1..samples (pass@k needs k sampled answers)."""
    from hybridrl.config import ConfigError

    if not text:
        return (1,)
    try:
        ks = tuple(sorted({int(k) for k in text.split(",") if k.strip()}))
    except ValueError:
        raise ConfigError(f"--k {text}: expected comma-separated integers, e.g. 1,4,8") from None
    if not ks or ks[0] < 1:
        raise ConfigError(f"--k {text}: each k must be >= 1")
    if samples < ks[-1]:
        raise ConfigError(f"--k {text}: pass@k needs k <= --samples (got --samples {samples})")
    return ks


def resolve_bf16(value: str) -> bool:
    from hybridrl.config import native_bf16

    return native_bf16() if value == "auto" else value == "true"


def default_eval_dir(root: str | Path = "runs") -> str:
    """A fresh ``runs/eval-<YYYYmmdd-HHMMSS>`` (never an earlier evaluation's folder)."""
    from hybridrl.config import default_output_dir

    return default_output_dir("eval", root)


EVAL_KEYS = ("prompt_column", "answer_column", "demonstration_column", "data_split", "reward_fn", "template",
             "max_new_tokens", "reward_timeout")
"""``key=value`` words ``hybridrl eval`` accepts (training's names for the same settings)."""


def eval_options(args: argparse.Namespace) -> dict:
    """The user's eval options from flags and ``key=value`` words (None = not given); the same
    setting given twice with two values is refused."""
    from hybridrl.config import ConfigError, spelled_key

    given = {"template": args.template, "max_new_tokens": args.max_new_tokens, "reward_fn": args.reward_fn,
             "timeout_s": None, "prompt_column": args.prompt_column, "answer_column": args.answer_column,
             "demonstration_column": args.demonstration_column, "data_split": args.data_split}
    for item in args.overrides or []:
        key, _, value = item.partition("=")
        key = spelled_key(key)
        key = {"eval_data_split": "data_split", "max_completion_length": "max_new_tokens"}.get(key, key)
        if key not in EVAL_KEYS:
            raise ConfigError(f"hybridrl eval: unknown setting '{key}'; eval takes {', '.join(EVAL_KEYS)} "
                              f"as key=value (or their --flags)")
        name = "timeout_s" if key == "reward_timeout" else key
        if key == "max_new_tokens":
            try:
                value = int(value)
            except ValueError:
                raise ConfigError(f"max_new_tokens={value}: expected an integer") from None
        elif key == "reward_timeout":
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"reward_timeout={value}: expected a number") from None
        if given.get(name) is not None and given[name] != value:
            raise ConfigError(f"{key} is given twice with different values ({given[name]!r} and {value!r}); "
                              f"give it once")
        given[name] = value
    return given


def check_sampling(samples: int, temperature: float, size: int | None = None) -> None:
    """Refuse, before any work, sampling settings that cannot run (for
    example ``--samples -1``, ``--size 0``, sampling at temperature 0)."""
    from hybridrl.config import ConfigError

    if samples < 0:
        raise ConfigError(f"--samples {samples}: must be >= 0 (0 = greedy only)")
    if samples > 0 and temperature <= 0:
        raise ConfigError(f"--temperature {temperature}: sampled answers (--samples {samples}) need a temperature "
                          f"> 0 (greedy answers are always scored; use --samples 0 for greedy only)")
    if size is not None and size < 1:
        raise ConfigError(f"--size {size}: must be >= 1")


def cmd_eval(args: argparse.Namespace) -> int:
    from hybridrl.config import ConfigError, check_reward_fn
    from hybridrl.eval.evaluate import EvalSettings, evaluate_model
    from hybridrl.eval.from_run import resolve

    # every check before any work: options, output folder, data, reward
    check_sampling(args.samples, args.temperature, args.size)
    ks = parse_ks(args.k, args.samples)
    out = Path(args.output_dir or default_eval_dir())
    if args.output_dir and (out / "eval.json").exists() and not args.overwrite:
        raise ConfigError(f"{out} already holds an evaluation (eval.json); use another --output-dir or --overwrite")
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise ConfigError(f"--out {args.out} already exists; use another file or --overwrite")
    model, opts, saved = resolve(args.model, eval_options(args), log=_say)
    check_reward_fn(opts["reward_fn"])
    sets = _eval_sets(args, opts, saved)
    settings = EvalSettings(template=opts["template"], max_new_tokens=opts["max_new_tokens"], samples=args.samples,
                            temperature=args.temperature, top_p=args.top_p, ks=ks, bf16=resolve_bf16(args.bf16),
                            rollout_engine=args.rollout_engine, timeout_s=opts["timeout_s"],
                            reward_fn=opts["reward_fn"], batch_size=args.batch_size, seed=args.seed)
    _say(f"hybridrl: eval: template={settings.template}, max_new_tokens={settings.max_new_tokens}; accuracy is "
         f"the task verifier's" + (f"; reward_fn={settings.reward_fn} is reported apart (mean reward)"
                                   if settings.reward_fn else ""))
    res = evaluate_model(model, sets, settings, label=args.label or args.model)
    _write_eval(args, out, res, sets, settings)
    if args.out:  # the full results of one file, kept for scripts that used --out
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1, default=str))
    print(f"wrote {out / 'eval.json'} and {out / 'eval.md'}")
    return 0


def _eval_sets(args: argparse.Namespace, opts: dict[str, Any], saved: dict[str, Any] | None) -> dict[str, Any]:
    """The named eval sets of --task / --data, or (``eval --model RUN`` alone) the run's own."""
    from hybridrl.config import ConfigError
    from hybridrl.eval.evaluate import load_data_sets, parse_task_specs
    from hybridrl.eval.from_run import columns_of

    sets: dict[str, Any] = {}
    task, data = args.task, args.data
    if not task and not data and saved:  # `eval --model RUN` alone: the run's own eval set
        if saved.get("eval_data"):
            data = [saved["eval_data"]]
            opts["data_split"] = opts["data_split"] or saved.get("eval_data_split")
        elif saved.get("task"):
            task = saved["task"] + (f":{saved['difficulty']}" if saved.get("difficulty") is not None else "")
        if task or data:
            _say(f"hybridrl: eval: no --task/--data: using the run's eval set ({task or data[0]})")
    if not task and not data:
        raise ConfigError("one of --task or --data is required")
    if task:
        sets.update(parse_task_specs(task, size=args.size, seed=args.seed, difficulty=args.difficulty))
    if data:
        sets.update(load_data_sets(data, columns=columns_of(opts), split=opts["data_split"], taken=list(sets)))
    return sets


def _write_eval(args: argparse.Namespace, out: Path, res: dict[str, Any], sets: dict[str, Any], settings: Any) -> None:
    """eval.json and eval.md in ``out`` (with --compare-to, the questions only one model solves),
    the tables printed."""
    from hybridrl.report.tables import eval_tables, exclusive_table

    tables = eval_tables(res)
    if args.compare_to:
        other = _other_eval(args.compare_to, sets, settings)
        name = other.get("label") or args.compare_to
        ours = res.get("label") or args.model
        if name == ours:
            name = f"{name} (other)"
        evals = {ours: res, name: other}
        tables += [t for s in sets if (t := exclusive_table(evals, [(ours, name)], s)) is not None]
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(res, indent=1, default=str))
    md = f"# eval: {args.model}\n\n" + "\n\n".join(t.to_markdown() + f"\n\n*{t.caption}*" for t in tables) + "\n"
    (out / "eval.md").write_text(md)
    print()
    for t in tables:
        print(t.to_markdown())
        print(f"  ({t.caption})\n")


def _say(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr, flush=True)


def _other_eval(target: str, sets, settings):
    """--compare-to: an eval.json, a folder holding one, or a run folder (its final model is
    evaluated here on the same sets with the same settings)."""
    from hybridrl.eval.evaluate import evaluate_model, final_model_dir, load_eval

    p = Path(target)
    if p.is_file() or (p / "eval.json").exists():
        return load_eval(p)
    model = final_model_dir(p) if p.is_dir() else None
    if model is None:
        raise FileNotFoundError(f"--compare-to {target}: not an eval.json, a folder with one, or a run with a checkpoint")
    return evaluate_model(str(model), sets, settings, label=p.name)


def register(sub) -> None:
    e = sub.add_parser("eval", help="greedy accuracy, avg@k and pass@k of a model on one or more eval sets",
                       formatter_class=HelpFormatter, epilog=EXAMPLES,
                       description="Evaluate a model: greedy exact match; with --samples K also avg@K and unbiased "
                                   "pass@k (HPT protocol T=0.6, top-p 0.95); 95% bootstrap CIs; per task/difficulty "
                                   "breakdown. Several sets give in-/out-of-distribution columns. Writes eval.json "
                                   "and eval.md into --output-dir.")
    e.add_argument("--model", required=True,
                   help="tiny | smollm2-135m | HF folder (a checkpoint's model/) | a run folder (its final model)")
    e.add_argument("--task", help="built-in task(s), comma-separated, each NAME or NAME:LEVEL "
                                  "(e.g. chain_sum,knights_knaves:2)")
    e.add_argument("--data", action="append", help="eval file (.jsonl/.parquet/HF folder); repeat for several sets")
    e.add_argument("--size", type=int, default=64, help="questions per built-in task (its test split)")
    e.add_argument("--difficulty", default=None, help="default level for --task entries without :LEVEL")
    e.add_argument("--seed", type=int, default=0, help="seed of the built-in questions and of sampling")
    e.add_argument("--samples", type=int, default=0, help="sampled completions per question (avg@K, pass@k)")
    e.add_argument("--k", default=None, help="comma-separated k for pass@k, e.g. 1,4,8 (k <= --samples)")
    e.add_argument("--temperature", type=float, default=0.6, help="sampling temperature (with --samples)")
    e.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (with --samples)")
    e.add_argument("--template", default=None, choices=["vanilla", "chat", "r1"],
                   help="prompt template (default: a run's own, else chat)")
    e.add_argument("--max-new-tokens", type=int, default=None,
                   help="completion length limit in tokens (default: a run's own, else 256)")
    e.add_argument("--reward-fn", default=None, metavar="MODULE:FUNCTION",
                   help="a reward function, reported apart from accuracy (which is always the task verifier's); "
                        "default: a run's own")
    e.add_argument("--prompt-column", default=None, help="column of --data holding the prompt (default: a run's "
                                                         "own mapping, else 'prompt'), e.g. question")
    e.add_argument("--answer-column", default=None, help="column of --data holding the answer (default 'answer')")
    e.add_argument("--demonstration-column", default=None, help="column of --data holding a worked solution")
    e.add_argument("--data-split", default=None,
                   help="split of a datasets folder given to --data (default: test when it has one)")
    e.add_argument("--batch-size", type=int, default=16, help="questions generated together (larger is faster, up to memory)")
    e.add_argument("--bf16", nargs="?", const="true", default="auto", choices=["auto", "true", "false"],
                   help="bf16 autocast; auto = on only where bf16 is native (CUDA, AVX-512 BF16, AMX)")
    e.add_argument("--rollout-engine", default="hf", choices=["hf", "vllm", "auto"],
                   help="what generates the answers: HF generate, a vLLM engine, or vLLM when installed")
    e.add_argument("--label", default=None, help="name of this model in tables")
    e.add_argument("--compare-to", default=None, metavar="RUN_OR_EVAL_JSON",
                   help="another model's eval.json (or a run folder): print exclusive solves by difficulty "
                        "(+X solved only by this model / -Y only by the other; HPT Table 4)")
    e.add_argument("--output-dir", default=None,
                   help="where eval.json and eval.md go (default: a new runs/eval-<date>-<time>)")
    e.add_argument("--overwrite", action="store_true", help="replace an eval.json already in --output-dir")
    e.add_argument("--out", help="also write the full results (per question) to this JSON file")
    e.add_argument("overrides", nargs="*", metavar="key=value",
                   help=f"training's names for the same settings: {', '.join(EVAL_KEYS)}")
    e.set_defaults(func=cmd_eval)
