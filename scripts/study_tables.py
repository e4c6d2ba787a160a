"""Tables of docs/results.md from the study's folders (scripts/study.sh).

    python scripts/study_tables.py [runs/study] > tables.md
    python scripts/study_tables.py runs/study --export docs/results/raw   # small copies to commit

Reads ``<study>/<setting>-s<seed>/evals/*.json`` (greedy accuracy, 95% bootstrap CIs) and each
run's ``metrics.jsonl``/``summary.json`` (reward, SFT fraction, Adaptive Switch, wall time).
``--export`` copies what the tables need (configs, metrics, summaries, evals; no checkpoints).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from hybridrl.eval.metrics import bootstrap_ci
from hybridrl.report.runs import read_jsonl

ORDER = ["base", "sft", "grpo", "dr_grpo", "sft_then_rl", "hpt", "superrl", "sasr", "luffy", "auto"]
MAIN = ["grpo", "hpt", "superrl", "sasr"]


def pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def load_evals(d: Path) -> dict[str, dict]:
    out = {}
    for p in sorted((d / "evals").glob("*.json")):
        out[p.stem] = json.loads(p.read_text())
    return dict(sorted(out.items(), key=lambda kv: ORDER.index(kv[0]) if kv[0] in ORDER else 99))


def records(run: Path) -> list[dict]:
    return read_jsonl(run / "metrics.jsonl")


def cell(e: dict, s: str) -> str:
    r = e["sets"].get(s)
    if not r:
        return "–"
    lo, hi = r["greedy_ci95"]
    return f"{pct(r['greedy_accuracy'])} [{pct(lo)}, {pct(hi)}] ({int(r['greedy_correct'])})"


def setting_table(d: Path) -> str:
    evals = load_evals(d)
    if not evals:
        return f"_{d.name}: no evaluation yet_\n"
    sets = list(next(iter(evals.values()))["sets"])
    n = {s: next(iter(evals.values()))["sets"][s]["n"] for s in sets}
    head = ["model"] + [f"{s} (n={n[s]})" for s in sets] + ["train reward first→last", "SFT share", "train min"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, e in evals.items():
        recs = records(d / label)
        rw = [r["reward"] for r in recs if isinstance(r.get("reward"), (int, float))]
        sf = [r["sft_fraction"] for r in recs if isinstance(r.get("sft_fraction"), (int, float))]
        tmin = sum(r.get("step_time", 0.0) for r in recs) / 60
        extra = ([f"{rw[0]:.2f}→{rw[-1]:.2f} (mean {sum(rw) / len(rw):.2f})" if rw else "–",
                  f"{sum(sf) / len(sf):.2f}" if sf else "–", f"{tmin:.1f}" if recs else "–"])
        lines.append("| " + " | ".join([label] + [cell(e, s) for s in sets] + extra) + " |")
    return "\n".join(lines) + "\n"


def seeds_table(study: Path, setting: str, methods: list[str]) -> str:
    dirs = sorted(p for p in study.glob(f"{setting}-s*") if p.is_dir())
    per = {d.name: load_evals(d) for d in dirs}
    if not per:
        return ""
    first = next((e for ev in per.values() for e in ev.values()), None)
    if first is None:
        return ""
    s = next(iter(first["sets"]))
    head = ["method"] + [f"{d} {s}" for d in per] + ["mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        vals = [per[d].get(m, {}).get("sets", {}).get(s, {}).get("greedy_accuracy") for d in per]
        have = [v for v in vals if v is not None]
        lines.append("| " + " | ".join([m] + [pct(v) for v in vals]
                                       + [pct(sum(have) / len(have)) if len(have) == len(vals) else "–"]) + " |")
    return "\n".join(lines) + "\n"


def paired_diff(a: dict, b: dict, s: str) -> tuple[float, float, float] | None:
    """Accuracy of a minus b on set s with a 95% paired bootstrap CI (resampling questions)."""
    ra = {r["id"]: r["greedy_correct"] for r in a["sets"].get(s, {}).get("rows", [])}
    rb = {r["id"]: r["greedy_correct"] for r in b["sets"].get(s, {}).get("rows", [])}
    d = [float(ra[i]) - float(rb[i]) for i in ra if i in rb]
    if not d:
        return None
    return (sum(d) / len(d), *bootstrap_ci(d, iters=2000))


def diff_table(d: Path, ref: str = "grpo") -> str:
    evals = load_evals(d)
    if ref not in evals:
        return ""
    sets = list(evals[ref]["sets"])
    lines = [f"| method − {ref} | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for label, e in evals.items():
        if label == ref:
            continue
        cells = []
        for s in sets:
            r = paired_diff(e, evals[ref], s)
            cells.append("–" if r is None else f"{100 * r[0]:+.1f} [{100 * r[1]:+.1f}, {100 * r[2]:+.1f}]")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def switch_table(study: Path) -> str:
    lines = ["| run | probe rewards (per step) | increase_num | recent_avg | decision | then |",
             "|---|---|---|---|---|---|"]
    for run in sorted(study.glob("*-s*/*")):
        if run.name not in ("superrl", "auto") or not (run / "metrics.jsonl").exists():
            continue
        recs = records(run)
        decided = next((r for r in recs if r.get("switch_decision") not in (None, "probing")), None)
        pre = "superrl" if run.name == "superrl" else "auto"
        k = recs[0].get(f"{pre}/k") if recs else None
        probe = [r["reward"] for r in recs[:k]] if k else []
        if decided is None:
            lines.append(f"| {run.parent.name}/{run.name} | {', '.join(f'{x:.3f}' for x in probe)} | – | – | "
                         f"not decided yet | – |")
            continue
        then = decided.get("auto/method", "hybrid actor" if decided["switch_decision"] == "sparse" else "grpo")
        lines.append(f"| {run.parent.name}/{run.name} | {', '.join(f'{x:.3f}' for x in probe)} | "
                     f"{decided.get(pre + '/increase_num')} | {decided.get(pre + '/recent_avg'):.3f} | "
                     f"{decided['switch_decision']} | {then} |")
    return "\n".join(lines) + "\n"


def accuracy_figure(study: Path, path: Path) -> None:
    """Greedy accuracy (in-distribution set) per method with 95% CIs, one panel per seed-0 setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dirs = [study / "dense-s0", study / "sparse-s0"]
    fig, axes = plt.subplots(1, len(dirs), figsize=(11, 3.6), squeeze=False)
    for ax, d in zip(axes[0], dirs):
        evals = load_evals(d)
        if not evals:
            continue
        s = next(iter(next(iter(evals.values()))["sets"]))
        labels = list(evals)
        acc = [100 * evals[m]["sets"][s]["greedy_accuracy"] for m in labels]
        lo = [a - 100 * evals[m]["sets"][s]["greedy_ci95"][0] for a, m in zip(acc, labels)]
        hi = [100 * evals[m]["sets"][s]["greedy_ci95"][1] - a for a, m in zip(acc, labels)]
        colors = ["grey" if m == "base" else "tab:blue" if m in ("grpo", "dr_grpo") else
                  "tab:green" if m == "sft" else "tab:orange" for m in labels]
        ax.bar(range(len(labels)), acc, yerr=[lo, hi], color=colors, capsize=3)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("greedy accuracy %")
        ax.set_title(f"{d.name.split('-')[0]}: {s}, n={evals[labels[0]]['sets'][s]['n']}, seed 0", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("8 steps x 16 rollouts per method; bars: 95% bootstrap CI (grey base, blue RL, green SFT, "
                 "orange SFT+RL)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def export(study: Path, dest: Path) -> None:
    for d in sorted(p for p in study.glob("*-s*") if p.is_dir()):
        for p in (d / "evals").glob("*.json"):
            e = json.loads(p.read_text())
            (dest / d.name / "evals").mkdir(parents=True, exist_ok=True)
            (dest / d.name / "evals" / p.name).write_text(json.dumps(e, indent=0, default=str))
        for run in d.iterdir():
            if (run / "metrics.jsonl").exists():
                (dest / d.name / run.name).mkdir(parents=True, exist_ok=True)
                for f in ("config.yaml", "metrics.jsonl", "summary.json", "group_accuracy.jsonl"):
                    if (run / f).exists():
                        shutil.copy(run / f, dest / d.name / run.name / f)
        for f in ("report.md",):
            if (d / f).exists():
                shutil.copy(d / f, dest / d.name / f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("study", nargs="?", default="runs/study")
    ap.add_argument("--export", default=None, help="copy configs/metrics/summaries/evals here")
    ap.add_argument("--figure", default=None, help="write the accuracy bar chart (PNG) here")
    a = ap.parse_args()
    study = Path(a.study)
    for d in sorted(p for p in study.glob("*-s*") if p.is_dir()):
        print(f"### {d.name}\n\ngreedy accuracy % [95% bootstrap CI] (correct count)\n")
        print(setting_table(d))
        dt = diff_table(d)
        if dt:
            print("paired difference to GRPO, points of accuracy [95% paired bootstrap CI over questions]\n")
            print(dt)
    for setting in ("sparse", "dense"):
        print(f"### {setting}, over seeds (greedy accuracy % on the in-distribution set)\n")
        print(seeds_table(study, setting, MAIN if setting == "sparse" else ["sft", "grpo", "hpt"]))
    print("### Adaptive Switch\n")
    print(switch_table(study))
    if a.export:
        export(study, Path(a.export))
    if a.figure:
        accuracy_figure(study, Path(a.figure))


if __name__ == "__main__":
    main()
