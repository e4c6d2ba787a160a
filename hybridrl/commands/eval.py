"""``hybridrl eval``: accuracy of a model on one or more eval sets (in-/out-of-distribution columns)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hybridrl.commands import EXAMPLE_NOTE, HelpFormatter

EXAMPLES = """examples:
  hybridrl eval --model smollm2-135m --task chain_sum --size 64
  hybridrl eval --model runs/grpo-20260101-120000 --task chain_sum,knights_knaves:2 --samples 8 --k 1,4,8
  hybridrl eval --model runs/hpt-50 --data my_test.jsonl --compare-to runs/grpo-50 --output-dir runs/eval-hpt
""" + EXAMPLE_NOTE


def parse_ks(text: str | None, samples: int) -> tuple[int, ...]:
    """``--k 1,2,4`` -> (1, 2, 4); each k in 1..samples (pass@k needs k sampled answers)."""
    from hybridrl.train.config import ConfigError

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
    from hybridrl.train.config import native_bf16

    return native_bf16() if value == "auto" else value == "true"


def default_eval_dir(root: str | Path = "runs") -> str:
    """A fresh ``runs/eval-<YYYYmmdd-HHMMSS>`` (never an earlier evaluation's folder)."""
    import time

    base = Path(root) / f"eval-{time.strftime('%Y%m%d-%H%M%S')}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return str(out)


def cmd_eval(args: argparse.Namespace) -> int:
    from hybridrl.eval.evaluate import EvalSettings, evaluate_model, final_model_dir, load_data_sets, parse_task_specs
    from hybridrl.report.tables import eval_tables, exclusive_table

    sets = {}
    if args.task:
        sets.update(parse_task_specs(args.task, size=args.size, seed=args.seed, difficulty=args.difficulty))
    if args.data:
        sets.update(load_data_sets(args.data))
    ks = parse_ks(args.k, args.samples)
    settings = EvalSettings(template=args.template, max_new_tokens=args.max_new_tokens, samples=args.samples,
                            temperature=args.temperature, top_p=args.top_p, ks=ks, bf16=resolve_bf16(args.bf16),
                            rollout_engine=args.rollout_engine,
                            batch_size=args.batch_size, seed=args.seed)
    model = args.model
    if Path(model).is_dir() and (Path(model) / "checkpoints").is_dir():  # a run folder: its final model
        model = str(final_model_dir(model) or model)
    else:
        from hybridrl.train.config import check_model_name

        check_model_name(model)
    res = evaluate_model(model, sets, settings, label=args.label or args.model)
    tables = eval_tables(res)
    if args.compare_to:
        other = _other_eval(args.compare_to, sets, settings)
        name = other.get("label") or args.compare_to
        ours = res.get("label") or args.model
        if name == ours:
            name = f"{name} (other)"
        evals = {ours: res, name: other}
        tables += [t for s in sets if (t := exclusive_table(evals, [(ours, name)], s)) is not None]
    out = Path(args.output_dir or default_eval_dir())
    if args.output_dir and (out / "eval.json").exists() and not args.overwrite:
        from hybridrl.train.config import ConfigError

        raise ConfigError(f"{out} already holds an evaluation (eval.json); use another --output-dir or --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(res, indent=1, default=str))
    md = f"# eval: {args.model}\n\n" + "\n\n".join(t.to_markdown() + f"\n\n*{t.caption}*" for t in tables) + "\n"
    (out / "eval.md").write_text(md)
    print()
    for t in tables:
        print(t.to_markdown())
        print(f"  ({t.caption})\n")
    if args.out:  # the full results of one file, kept for scripts that used --out
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1, default=str))
    print(f"wrote {out / 'eval.json'} and {out / 'eval.md'}")
    return 0


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
    e.add_argument("--template", default="chat", choices=["vanilla", "chat", "r1"],
                   help="prompt template (use the one the model was trained with)")
    e.add_argument("--max-new-tokens", type=int, default=256, help="completion length limit in tokens")
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

    def check(args):
        if not args.task and not args.data:
            e.error("one of --task or --data is required")
        return cmd_eval(args)

    e.set_defaults(func=check)
