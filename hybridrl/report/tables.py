"""Report tables as plain data (:class:`Table`) rendered to markdown or HTML.

Cell values are already-formatted strings; ``bold`` marks cells (best per column).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

from hybridrl.eval.metrics import exclusive_solves


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)
    """(row, column) cells to emphasise."""
    caption: str = ""

    def to_markdown(self) -> str:
        def cell(i: int, j: int, v: str) -> str:
            return f"**{v}**" if (i, j) in self.bold else v

        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(cell(i, j, v) for j, v in enumerate(r)) + " |" for i, r in enumerate(self.rows)]
        return "\n".join(lines)

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = []
        for i, r in enumerate(self.rows):
            tds = "".join(f"<td class='best'>{html.escape(v)}</td>" if (i, j) in self.bold else f"<td>{html.escape(v)}</td>"
                          for j, v in enumerate(r))
            body.append(f"<tr>{tds}</tr>")
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def metric_names(evals: dict[str, dict[str, Any]]) -> list[str]:
    """The accuracy metrics present in every result: greedy, avg@K, pass@k (in that order)."""
    names = ["greedy_accuracy"]
    first = next(iter(evals.values()), None)
    if first:
        some = next(iter(first["sets"].values()), {})
        names += [k for k in some if k.startswith("avg@") and not k.endswith("_ci95")]
        # pass@1 is avg@K again (same estimator, k = 1); it is present only when asked for (--k 1,...),
        # so it is kept and labelled as such (metric_label)
        names += sorted((k for k in some if k.startswith("pass@") and not k.endswith("_ci95")),
                        key=lambda k: int(k.split("@")[1]))
    return names


def metric_label(metric: str, names: list[str]) -> str:
    """How a metric is named in tables: ``greedy``, ``avg@K``, ``pass@k``; pass@1 next to avg@K
    says that the two are one estimator (``pass@1 (= avg@4)``)."""
    if metric == "greedy_accuracy":
        return "greedy"
    avg = next((n for n in names if n.startswith("avg@")), None)
    return f"pass@1 (= {avg})" if metric == "pass@1" and avg else metric


def accuracy_table(evals: dict[str, dict[str, Any]], metric: str = "greedy_accuracy") -> Table:
    """SuperRL Table 1 shape: models x eval sets, ``acc [lo, hi]`` in percent, best per column bold.

    ``evals`` maps a label (``base``, a method) to an ``eval.json`` structure."""
    set_names: list[str] = []
    for e in evals.values():
        set_names += [s for s in e["sets"] if s not in set_names]
    ci_key = "greedy_ci95" if metric == "greedy_accuracy" else f"{metric}_ci95"
    rows, values = [], []
    for label, e in evals.items():
        row, vals = [label], []
        for s in set_names:
            res = e["sets"].get(s, {})
            v = res.get(metric)
            ci = res.get(ci_key)
            vals.append(v)
            row.append(_pct(v) + (f" [{_pct(ci[0])}, {_pct(ci[1])}]" if v is not None and ci else ""))
        rows.append(row)
        values.append(vals)
    bold = set()
    for j in range(len(set_names)):
        col = [v[j] for v in values if v[j] is not None]
        if col and len(values) > 1 and min(col) < max(col):  # a tie across all rows marks nothing
            best = max(col)
            bold |= {(i, j + 1) for i, v in enumerate(values) if v[j] is not None and v[j] == best}
    n = {s: next((e["sets"][s]["n"] for e in evals.values() if s in e["sets"]), 0) for s in set_names}
    name = "greedy accuracy" if metric == "greedy_accuracy" else metric_label(metric, metric_names(evals))
    return Table(["model"] + [f"{s} (n={n[s]})" for s in set_names], rows, bold,
                 caption=f"{name} (the task verifier) in % with 95% bootstrap CI over questions; best per column in bold")


def reward_table(evals: dict[str, dict[str, Any]]) -> Table | None:
    """Mean reward of a ``reward_fn`` per model and eval set, apart from accuracy;
    None when no evaluation scored one."""
    set_names: list[str] = []
    for e in evals.values():
        set_names += [s for s in e["sets"] if s not in set_names]
    if not any("greedy_reward" in e["sets"].get(s, {}) for e in evals.values() for s in set_names):
        return None
    fn = next((e.get("settings", {}).get("reward_fn") for e in evals.values() if e.get("settings", {}).get("reward_fn")),
              None)
    rows = [[label] + [fmt(e["sets"].get(s, {}).get("greedy_reward")) for s in set_names] for label, e in evals.items()]
    return Table(["model"] + set_names, rows,
                 caption=f"mean reward of the greedy answers under reward_fn {fn} (not accuracy: that is the task "
                         f"verifier's, above)")


def breakdown_table(evals: dict[str, dict[str, Any]], set_name: str, metric: str = "greedy_accuracy") -> Table | None:
    """Per task/difficulty accuracy on one eval set (None when the set has one group)."""
    groups: list[str] = []
    for e in evals.values():
        for g in (e["sets"].get(set_name, {}).get("breakdown") or {}):
            if g not in groups:
                groups.append(g)
    if not groups:
        return None
    rows = []
    for label, e in evals.items():
        b = e["sets"].get(set_name, {}).get("breakdown") or {}
        rows.append([label] + [_pct(b.get(g, {}).get(metric)) for g in groups])
    n = {g: next((e["sets"][set_name]["breakdown"][g]["n"] for e in evals.values()
                  if g in (e["sets"].get(set_name, {}).get("breakdown") or {})), 0) for g in groups}
    return Table(["model"] + [f"{g} (n={n[g]})" for g in groups], rows,
                 caption=f"{set_name}: {metric.replace('_', ' ')} (%) by task/difficulty")


def exclusive_table(evals: dict[str, dict[str, Any]], pairs: list[tuple[str, str]], set_name: str) -> Table | None:
    """HPT Table 4: ``+X / −Y`` per difficulty for each (ours, baseline) pair on one eval set."""
    body, groups = [], []
    for ours, theirs in pairs:
        a = evals.get(ours, {}).get("sets", {}).get(set_name)
        b = evals.get(theirs, {}).get("sets", {}).get(set_name)
        if not a or not b or "rows" not in a or "rows" not in b:
            continue
        ex = exclusive_solves(a["rows"], b["rows"])
        groups = groups or list(ex)
        body.append((f"{ours} vs {theirs}", ex))
    if not body:
        return None
    rows = [[name] + [f"+{ex[g]['plus']} / −{ex[g]['minus']}" if g in ex else "—" for g in groups]
            for name, ex in body]
    n = body[0][1]
    return Table(["pair"] + [f"{g} (N={n[g]['n']})" for g in groups], rows,
                 caption=f"{set_name}: exclusive solves (greedy); +X = solved by the first model only, "
                         f"−Y = by the second only")


def training_table(runs: dict[str, dict[str, Any]]) -> Table:
    """Per method: steps, final train reward, mean SFT fraction, KL min/max/range/variance
    (SuperRL Table 2; — where the run logged no KL) and training wall time."""
    from hybridrl.report.runs import kl_stats, series

    rows = []
    for label, run in runs.items():
        m = run["metrics"]
        _, rew = series(m, "reward")
        _, sft = series(m, "sft_fraction")
        kl = kl_stats(m)
        s = run.get("summary") or {}
        wall = s.get("wall_time_s")
        rows.append([
            label, str(len(m)),
            fmt(sum(rew[-10:]) / len(rew[-10:]) if rew else None),
            fmt(sum(sft) / len(sft) if sft else None),
            fmt(kl["min"], 4) if kl else "—", fmt(kl["max"], 4) if kl else "—",
            fmt(kl["range"], 4) if kl else "—", f"{kl['variance']:.3g}" if kl else "—",
            f"{wall / 60:.1f}" if isinstance(wall, (int, float)) else "—",
        ])
    return Table(["method", "steps", "train reward (last 10)", "SFT fraction (mean)", "KL min", "KL max",
                  "KL range", "KL variance", "train min"], rows,
                 caption="training: reward, SFT share and KL to the reference (SuperRL Table 2; — = no KL logged, beta=0)")


def eval_tables(result: dict[str, Any]) -> list[Table]:
    """``hybridrl eval``'s tables for one model: metrics x eval sets, then a per task/difficulty
    breakdown of each set that has several groups."""
    sets = result["sets"]
    metrics = metric_names({"m": result})
    rows = []
    for m in metrics:
        ci_key = "greedy_ci95" if m == "greedy_accuracy" else f"{m}_ci95"
        row = [metric_label(m, metrics)]
        for res in sets.values():
            v, ci = res.get(m), res.get(ci_key)
            row.append(_pct(v) + (f" [{_pct(ci[0])}, {_pct(ci[1])}]" if v is not None and ci else ""))
        rows.append(row)
    reward_fn = (result.get("settings") or {}).get("reward_fn")
    for key, what in (("greedy_reward", "greedy"), ("sample_reward", "sampled")):
        if any(key in res for res in sets.values()):  # a reward_fn, kept apart from accuracy
            rows.append([f"mean reward ({what})"] + [fmt(res.get(key)) for res in sets.values()])
    scorer = "accuracy (the task verifier) in % with 95% bootstrap CI"
    if reward_fn:
        scorer += f"; mean reward of reward_fn {reward_fn} (not %), apart"
    out = [Table(["metric"] + [f"{s} (n={r['n']})" for s, r in sets.items()], rows,
                 caption=f"{result.get('label', result.get('model'))}: {scorer}")]
    per_set = list(sets.items())
    if len(sets) > 1 and all("rows" in r for r in sets.values()):
        # every question of every set, grouped by task/difficulty (in- vs out-of-distribution levels)
        from hybridrl.eval.evaluate import summarize

        st = result.get("settings") or {}
        allrows = [row for r in sets.values() for row in r["rows"]]
        per_set.append(("all sets", summarize(allrows, samples=st.get("samples", 0), ks=tuple(st.get("ks", (1,))))))
    for s, res in per_set:
        b = res.get("breakdown")
        if not b:
            continue
        out.append(Table(["group", "n"] + [metric_label(m, metrics) for m in metrics],
                         [[g, str(r["n"])] + [_pct(r.get(m)) for m in metrics] for g, r in b.items()],
                         caption=f"{s}: accuracy (%) by task/difficulty"))
    return out
