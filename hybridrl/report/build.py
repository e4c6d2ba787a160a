"""Build a comparison report from run folders and eval results: ``report.md``, a self-contained
``report.html`` (figures inlined as base64) and the PNG figures under ``figures/``.

Pure in the sense that matters here: run folders and eval dicts in, files out; no model,
no training, nothing read from anywhere else.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

from hybridrl.report import plots
from hybridrl.report.runs import load_run
from hybridrl.report.tables import (Table, accuracy_table, breakdown_table, exclusive_table, metric_names,
                                    reward_table, training_table)

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.8em 0 1.6em; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
td.best { font-weight: bold; background: #e6f4e6; }
caption { caption-side: bottom; font-size: 12px; color: #555; text-align: left; padding-top: 4px; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #555; }
code { background: #f5f5f5; padding: 1px 4px; }
"""


def build_report(run_dirs: dict[str, Path], eval_results: dict[str, dict[str, Any]] | None, out_dir: Path, *,
                 title: str = "hybridrl comparison", notes: list[str] | None = None,
                 reference: str | None = None) -> dict[str, Any]:
    """Write the report into ``out_dir``.

    ``run_dirs``: label -> run folder (config.yaml, metrics.jsonl, eval.jsonl,
    group_accuracy.jsonl, summary.json; any may be missing). ``eval_results``: label ->
    ``eval.json`` structure (see :mod:`hybridrl.eval.evaluate`), typically ``base`` and each
    method. ``reference``: the run the difference heatmaps and exclusive solves compare against
    (default: the first run). Returns ``{"markdown", "html", "figures": {name: path}, "skipped": [...]}``.
    """
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = {label: load_run(Path(d)) for label, d in run_dirs.items()}
    evals = dict(eval_results or {})
    reference = reference or next(iter(runs), None)

    sections = _table_sections(runs, evals, reference, notes)
    figs, figures, skipped = _figures(runs, evals, reference, fig_dir)
    sections.append(("Figures", figs))
    if skipped:
        sections.append(("Skipped figures", [f"No data in these runs for: {', '.join(skipped)}."]))

    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(_markdown(title, sections, out_dir))
    html_path.write_text(_html(title, sections))
    return {"markdown": md_path, "html": html_path, "figures": figures, "skipped": skipped}


def _table_sections(runs: dict[str, Any], evals: dict[str, Any], reference: str | None,
                    notes: list[str] | None) -> list[tuple[str, list[Any]]]:
    """Setup, accuracy (one table per metric, breakdowns, exclusive solves) and training tables."""
    sections: list[tuple[str, list[Any]]] = []  # (heading, [str paragraphs | Table | (figure path, caption)])
    sections.append(("Setup", [_setup(runs, evals)] + list(notes or [])))

    # accuracy: one table per metric, then breakdowns and exclusive solves per eval set
    if evals:
        items: list[Any] = [accuracy_table(evals, m) for m in metric_names(evals)]
        set_names = list(dict.fromkeys(s for e in evals.values() for s in e["sets"]))
        for s in set_names:
            b = breakdown_table(evals, s)
            if b is not None:
                items.append(b)
        rt = reward_table(evals)  # a reward_fn's mean, apart from accuracy
        if rt is not None:
            items.append(rt)
        sections.append(("Accuracy", items))
        pairs = _pairs(list(evals), reference)
        ex = [t for s in set_names if (t := exclusive_table(evals, pairs, s)) is not None]
        if ex:
            sections.append(("Exclusive solves (HPT Table 4)", ex))
    if runs:
        sections.append(("Training", [training_table(runs)]))

    return sections


def _figures(runs: dict[str, Any], evals: dict[str, Any], reference: str | None,
             fig_dir: Path) -> tuple[list[Any], dict[str, Path], list[str]]:
    """Every figure the runs have data for: ([(path, caption)], {name: path}, [skipped names])."""
    figures: dict[str, Path] = {}
    skipped: list[str] = []
    base_acc = None
    if "base" in evals:
        first_set = next(iter(evals["base"]["sets"].values()), None)
        base_acc = first_set["greedy_accuracy"] if first_set else None

    def add(name: str, path: Path | None, caption: str, bucket: list) -> None:
        if path is None:
            skipped.append(name)
        else:
            figures[name] = path
            bucket.append((path, caption))

    figs: list[Any] = []
    add("reward", plots.plot_reward(runs, fig_dir / "reward.png"),
        "Training reward per step (faint) with its EMA.", figs)
    add("validation", plots.plot_validation(runs, fig_dir / "validation.png", base_acc),
        "Held-out greedy accuracy during training (eval_every) with EMA smoothing (SuperRL C.7).", figs)
    add("sft_fraction", plots.plot_sft_fraction(runs, fig_dir / "sft_fraction.png"),
        "Share of the step's training samples that are demonstrations trained with the SFT loss: "
        "demonstrations ÷ (demonstrations + rollouts) (HPT Fig. 6, official uni/sft_data_ratio).", figs)
    add("entropy_length", plots.plot_entropy_length(runs, fig_dir / "entropy_length.png"),
        "Token entropy and mean response length of the rollouts (HPT Fig. 7).", figs)
    add("kl", plots.plot_kl(runs, fig_dir / "kl.png"), "KL to the reference policy (SuperRL Table 2).", figs)
    add("sigma", plots.plot_sigmas(runs, fig_dir / "sigma.png"),
        "SuperRL Hybrid Actor: learned σ_pg, σ_sft (log-sigma; a term's weight is σ^-2) or w_pg (theta) "
        "per step; dotted lines mark where the Hybrid Actor started. " + _sigma_caption(runs), figs)
    add("sasr_p", plots.plot_sasr_p(runs, fig_dir / "sasr_p.png"),
        "SASR: probability p_t of an SFT step (Alg. 1).", figs)
    add("hybrid_schedules", plots.plot_hybrid_schedules(runs, fig_dir / "hybrid_schedules.png"),
        "CHORD: weight μ_t of the SFT term; UFT: share of each demonstration given as prefix "
        "(prefix_fraction) and the section probability p_t; ReLIFT: demonstrations waiting in the SFT "
        "buffer after the step.", figs)
    add("switch_probe", plots.plot_switch_probe(runs, fig_dir / "switch_probe.png"),
        "Adaptive Switch probe rewards and decision (SuperRL §3.3, Fig. 2-3).", figs)
    add("pass_at_k", plots.plot_pass_at_k(evals, fig_dir / "pass_at_k.png"),
        "pass@k against k on the eval sets (HPT Fig. 2).", figs)
    order = plots.prompt_order(runs[reference]) if reference in runs else None
    for label, run in runs.items():
        add(f"heatmap_{label}", plots.plot_heatmap(run, fig_dir / f"heatmap_{_slug(label)}.png",
                                                    f"{label}: per-prompt rollout accuracy", order),
            f"{label}: per-prompt rollout accuracy over training (HPT Fig. 3); blank = prompt not drawn.", figs)
    for label, run in runs.items():
        if label == reference:
            continue
        add(f"heatmap_diff_{label}", plots.plot_heatmap_diff(
                run, runs[reference], fig_dir / f"heatmap_diff_{_slug(label)}_vs_{_slug(reference)}.png",
                f"{label} − {reference}", order),
            f"Rollout accuracy of {label} minus {reference} at matched prompts (HPT Fig. 4): "
            f"red = {label} better, blue = {reference} better.", figs)
    return figs, figures, skipped

def _pairs(labels: list[str], reference: str | None) -> list[tuple[str, str]]:
    """Each trained model against the base model and against the reference method."""
    trained = [l for l in labels if l != "base"]
    pairs = [(l, "base") for l in trained if "base" in labels]
    if reference in labels:
        pairs += [(l, reference) for l in trained if l != reference]
    return pairs


def _setup(runs: dict[str, dict[str, Any]], evals: dict[str, dict[str, Any]]) -> str:
    parts = []
    cfg = next((r["config"] for r in runs.values() if r["config"]), {})
    if cfg:
        data = cfg.get("task") or cfg.get("data")
        diff = f" (difficulty {cfg['difficulty']})" if cfg.get("difficulty") is not None else ""
        parts.append(f"model `{cfg.get('model')}`, training data `{data}`{diff}, {cfg.get('steps')} steps, "
                     f"{cfg.get('prompts_per_step')} prompts x {cfg.get('group_size')} completions per step, "
                     f"seed {cfg.get('seed')}, lr {cfg.get('lr')}, max {cfg.get('max_new_tokens')} new tokens.")
    if runs:
        parts.append("Methods: " + ", ".join(f"`{l}` ({r['dir']})" for l, r in runs.items()) + ".")
    if evals:
        # the eval sets by the one name every table uses (the keys of eval.json "sets")
        sets = dict.fromkeys(name for e in evals.values() for name in e["sets"])
        parts.append("Eval sets: " + ", ".join(
            f"`{name}` (n={next(e['sets'][name]['n'] for e in evals.values() if name in e['sets'])})"
            for name in sets) + ".")
        s = next(iter(evals.values())).get("settings") or {}
        if s.get("template"):
            samp = (f"; {s['samples']} samples per question at T={s.get('temperature')}, top-p {s.get('top_p')} "
                    f"for avg@{s['samples']} and pass@k") if s.get("samples") else ""
            parts.append(f"Evaluation: greedy decoding, template `{s.get('template')}`, "
                         f"max {s.get('max_new_tokens')} new tokens{samp}.")
    return " ".join(parts)


def _sigma_caption(runs: dict[str, dict[str, Any]]) -> str:
    """One sentence per SuperRL run: did the weighting shift towards the RL term?"""
    from hybridrl.report.runs import superrl_weights

    parts = []
    for label, r in runs.items():
        w = superrl_weights(r["metrics"])
        if w is None:
            if any(m.get("superrl/phase") for m in r["metrics"]):
                parts.append(f"{label}: never reached the Hybrid Actor (probe still running or dense).")
            continue
        a, b = w["ratio"]
        if a is None or b is None:
            continue
        trend = "towards RL" if b > a else ("towards SFT" if b < a else "neither way")
        parts.append(f"{label}: hybrid from step {w['hybrid_from']} ({w['steps']} steps); "
                     f"w_pg/w_sft {a:.3g} -> {b:.3g}, shifted {trend}.")
    return " ".join(parts)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)


def _markdown(title: str, sections, out_dir: Path) -> str:
    lines = [f"# {title}", ""]
    for head, items in sections:
        if not items:
            continue
        lines += [f"## {head}", ""]
        for it in items:
            if isinstance(it, Table):
                lines += [it.to_markdown(), "", f"*{it.caption}*" if it.caption else "", ""]
            elif isinstance(it, tuple):
                path, cap = it
                lines += [f"![{cap}]({path.relative_to(out_dir).as_posix()})", "", f"*{cap}*", ""]
            else:
                lines += [str(it), ""]
    return "\n".join(lines)


def _html(title: str, sections) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for head, items in sections:
        if not items:
            continue
        body.append(f"<h2>{html.escape(head)}</h2>")
        for it in items:
            if isinstance(it, Table):
                body.append(it.to_html())
            elif isinstance(it, tuple):
                path, cap = it
                b64 = base64.b64encode(Path(path).read_bytes()).decode("ascii")
                body.append(f"<figure><img alt='{html.escape(cap)}' src='data:image/png;base64,{b64}'>"
                            f"<figcaption>{html.escape(cap)}</figcaption></figure>")
            else:
                text = html.escape(str(it))
                text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
                body.append(f"<p>{text}</p>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
