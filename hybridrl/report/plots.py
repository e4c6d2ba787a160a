"""Report figures (matplotlib, Agg backend). Each function takes data already read from run
folders and writes one PNG, or returns None without writing when the data is absent —
a plot is skipped, never faked.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hybridrl.eval.metrics import ema
from hybridrl.report.runs import accuracy_grid, series

Runs = dict[str, dict[str, Any]]
"""label -> :func:`hybridrl.report.runs.load_run` output."""

EMA_ALPHA = 0.3
"""Weight of the newest point in the EMA lines (SuperRL C.7 does not give its value)."""


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


STYLES = ("-", "--", ":", "-.")
"""Line styles cycled per run, so identical curves stay visible on top of each other."""

LABELS = {"reward": "mean reward", "completions/mean_length": "mean completion length (tokens)",
          "entropy": "entropy (nats per token)", "kl": "KL to the reference", "sft_fraction": "SFT fraction",
          "sasr_p": "SASR p (probability of an SFT step)", "grad_norm": "gradient norm (before clipping)",
          "sigma_pg": "σ_pg (weight of the PG term)", "sigma_sft": "σ_sft (weight of the SFT term)"}
"""Axis labels for metric keys (a key not listed is shown with spaces for underscores)."""


def _label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " ").replace("/", ": "))


def _step_axis(ax) -> None:
    """Steps are integers: no 0.5-step ticks on short runs."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _plt().close(fig)
    return path


def _lines(runs: Runs, keys: list[str], path: Path, *, title: str, ylabel: str, smooth: bool = False,
           min_points: int = 1) -> Path | None:
    """One panel per key; a line per run that logged it (raw faint + EMA when ``smooth``)."""
    panels = [(k, {label: series(r["metrics"], k) for label, r in runs.items()}) for k in keys]
    panels = [(k, {l: s for l, s in d.items() if len(s[0]) >= min_points}) for k, d in panels]
    panels = [(k, d) for k, d in panels if d]
    if not panels:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
    for ax, (key, data) in zip(axes[0], panels):
        for i, (label, (xs, ys)) in enumerate(data.items()):
            ls = STYLES[i % len(STYLES)]
            if smooth and len(ys) > 1:
                line, = ax.plot(xs, ys, alpha=0.3, lw=1, ls=ls)
                ax.plot(xs, ema(ys, EMA_ALPHA), color=line.get_color(), lw=2, ls=ls, label=label)
            else:
                ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, lw=1.5, ls=ls, label=label)
        _step_axis(ax)
        ax.set_ylabel(_label(key) if len(panels) > 1 else ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def plot_reward(runs: Runs, path: Path) -> Path | None:
    """Training reward per step (faint) and its EMA."""
    return _lines(runs, ["reward"], path, title=f"training reward (EMA α={EMA_ALPHA})", ylabel="mean reward",
                  smooth=True)


def plot_validation(runs: Runs, path: Path, base_accuracy: float | None = None) -> Path | None:
    """Held-out greedy accuracy from ``eval.jsonl`` with EMA smoothing (SuperRL C.7); needs
    at least two evaluations in some run (``eval_every``)."""
    data = {label: ([int(e["step"]) for e in r["eval"]], [float(e["greedy_accuracy"]) for e in r["eval"]])
            for label, r in runs.items() if len(r["eval"]) >= 2}
    if not data:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for label, (xs, ys) in data.items():
        line, = ax.plot(xs, ys, "o", alpha=0.4, ms=4)
        ax.plot(xs, ema(ys, EMA_ALPHA), color=line.get_color(), lw=2, label=label)
    if base_accuracy is not None:
        ax.axhline(base_accuracy, color="grey", ls="--", lw=1, label="base (step 0)")
    _step_axis(ax)
    ax.set_ylabel("greedy accuracy")
    ax.set_title(f"validation accuracy (points) and EMA α={EMA_ALPHA} (lines)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_sft_fraction(runs: Runs, path: Path) -> Path | None:
    """Share of the step's training samples that are demonstrations trained by SFT, i.e.
    demonstrations ÷ (demonstrations + rollouts) (HPT Fig. 6/8, official ``uni/sft_data_ratio``);
    1 for an SFT step, 0 for an RL step."""
    return _lines(runs, ["sft_fraction"], path, title="SFT fraction of training samples per step (HPT Fig. 6)",
                  ylabel="SFT fraction")


def plot_entropy_length(runs: Runs, path: Path) -> Path | None:
    """Token entropy and mean response length per step (HPT Fig. 7)."""
    return _lines(runs, ["entropy", "completions/mean_length"], path,
                  title="entropy (left) and response length in tokens (right) (HPT Fig. 7)", ylabel="", smooth=True)


def plot_sigmas(runs: Runs, path: Path) -> Path | None:
    """SuperRL Hybrid Actor weights per step: σ_pg, σ_sft (log-sigma; the weight of a term is
    σ^{-2}) and w_pg (theta variant), one panel each; a dotted line marks where each run's
    Hybrid Actor started (before it the weights sit at their initial values while the Adaptive
    Switch probes)."""
    keys = [k for k in ("sigma_pg", "sigma_sft", "w_pg") if any(series(r["metrics"], k)[0] for r in runs.values())]
    if not keys:
        return None
    starts = {label: next((int(m["step"]) for m in r["metrics"] if m.get("superrl/phase") == "hybrid"), None)
              for label, r in runs.items()}
    plt = _plt()
    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, r in runs.items():
            xs, ys = series(r["metrics"], key)
            if not xs:
                continue
            line, = ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, lw=1.5, label=label)
            if starts[label] is not None:
                ax.axvline(starts[label], color=line.get_color(), ls=":", lw=1)
        _step_axis(ax)
        ax.set_ylabel(_label(key))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("SuperRL loss weights (dotted: the Hybrid Actor starts)")
    return _save(fig, path)


def plot_sasr_p(runs: Runs, path: Path) -> Path | None:
    """SASR's probability p_t of an SFT step (and SSR-cosine's schedule)."""
    return _lines(runs, ["sasr_p", "ssr_cosine/p_sft"], path, title="probability of an SFT step", ylabel="p")


def plot_kl(runs: Runs, path: Path) -> Path | None:
    """KL to the reference per step (SuperRL Table 2's source)."""
    return _lines(runs, ["kl"], path, title="KL to the reference policy", ylabel="KL")


def plot_switch_probe(runs: Runs, path: Path) -> Path | None:
    """Adaptive Switch (SuperRL §3.3, Fig. 2-3): batch-mean reward of the probe steps, the
    running recent average and its threshold, and the decision taken."""
    panels = []
    for label, r in runs.items():
        m = r["metrics"]
        probe = [x for x in m if x.get("switch_decision") is not None]
        if not probe:
            continue
        prefix = next((k.split("/")[0] for k in probe[0] if k.endswith("/avg_threshold")), None)
        # the probe steps: all steps while 'probing' plus the deciding step
        steps = [x for x in probe if x["switch_decision"] == "probing"]
        decided = next((x for x in probe if x["switch_decision"] != "probing"), None)
        if decided is not None:
            steps.append(decided)
        pts = [(int(x["step"]), float(x["reward"])) for x in steps if isinstance(x.get("reward"), (int, float))]
        if pts:
            panels.append((label, pts, probe, prefix, decided))
    if not panels:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
    for ax, (label, pts, probe, prefix, decided) in zip(axes[0], panels):
        xs, ys = zip(*pts)
        ax.plot(xs, ys, "o-", label="batch-mean reward")
        if prefix:
            ra = [(int(x["step"]), x.get(f"{prefix}/recent_avg")) for x in probe if int(x["step"]) <= xs[-1]]
            ra = [(s, v) for s, v in ra if isinstance(v, (int, float))]
            if ra:
                ax.plot(*zip(*ra), "--", label="recent_avg")
            thr = probe[-1].get(f"{prefix}/avg_threshold")
            if isinstance(thr, (int, float)):
                ax.axhline(thr, color="red", lw=1, ls=":", label=f"avg_threshold={thr:g}")
        verdict = decided["switch_decision"] if decided else "still probing"
        inc = decided.get(f"{prefix}/increase_num") if decided and prefix else None
        ax.set_title(f"{label}: {verdict}" + (f" (increase_num={inc})" if inc is not None else ""))
        _step_axis(ax)
        ax.set_ylabel("mean reward")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Adaptive Switch probe (SuperRL §3.3)")
    return _save(fig, path)


def _grid(run: dict[str, Any], order: list[str] | None = None):
    ids, cols, grid, unit = accuracy_grid(run["group_accuracy"], run.get("step_epoch"))
    if order:
        pos = {pid: i for i, pid in enumerate(ids)}
        keep = [p for p in order if p in pos]
        grid = [grid[pos[p]] for p in keep]
        ids = keep
    return ids, cols, grid, unit


def prompt_order(run: dict[str, Any]) -> list[str]:
    """Prompts sorted by their mean rollout accuracy over training (most solved at the top)."""
    ids, _, grid, _ = accuracy_grid(run["group_accuracy"], run.get("step_epoch"))

    def mean(row):
        v = [x for x in row if not math.isnan(x)]
        return sum(v) / len(v) if v else 0.0

    return [pid for _, pid in sorted(((-mean(r), pid) for pid, r in zip(ids, grid)))]


def plot_heatmap(run: dict[str, Any], path: Path, title: str, order: list[str] | None = None) -> Path | None:
    """Per-prompt rollout accuracy over training (HPT Fig. 3): rows = prompts, columns =
    epochs (or step bins); blank = prompt not drawn there."""
    ids, cols, grid, unit = _grid(run, order)
    if not ids:
        return None
    import numpy as np

    plt = _plt()
    a = np.array(grid, dtype=float)
    fig, ax = plt.subplots(figsize=(min(12, max(5.5, 3 + 0.25 * len(cols))), min(10, max(3.2, 2 + 0.12 * len(ids)))))
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(a), aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="rollout accuracy")
    _axes(ax, ids, cols, unit)
    ax.set_title(title)
    return _save(fig, path)


def plot_heatmap_diff(ours: dict[str, Any], theirs: dict[str, Any], path: Path, title: str,
                      order: list[str] | None = None) -> Path | None:
    """HPT Fig. 4: accuracy(ours) − accuracy(theirs) at matched prompts and columns; red = ours
    better, blue = theirs, white = equal or not drawn in both."""
    a_ids, a_cols, a_grid, unit = _grid(ours, order)
    b_ids, b_cols, b_grid, b_unit = _grid(theirs, order)
    if unit != b_unit:
        return None
    common = [p for p in a_ids if p in set(b_ids)]
    ncols = min(len(a_cols), len(b_cols))
    if not common or ncols == 0:
        return None
    import numpy as np

    ai, bi = {p: i for i, p in enumerate(a_ids)}, {p: i for i, p in enumerate(b_ids)}
    d = np.array([[a_grid[ai[p]][c] - b_grid[bi[p]][c] for c in range(ncols)] for p in common], dtype=float)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(min(12, max(5.5, 3 + 0.25 * ncols)), min(10, max(3.2, 2 + 0.12 * len(common)))))
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(d), aspect="auto", cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="accuracy difference")
    _axes(ax, common, a_cols[:ncols], unit)
    ax.set_title(title)
    return _save(fig, path)


def _axes(ax, ids: list[str], cols: list[int], unit: str) -> None:
    ax.set_xlabel(unit + (" (column start)" if unit == "step" else ""))
    ax.set_ylabel(f"prompt ({len(ids)})")
    step = max(1, len(cols) // 12)
    ax.set_xticks(range(0, len(cols), step))
    ax.set_xticklabels([str(c) for c in cols[::step]])
    if len(ids) <= 40:
        ax.set_yticks(range(len(ids)))
        ax.set_yticklabels([i.rsplit("-", 1)[-1] for i in ids], fontsize=6)
    else:
        ax.set_yticks([])


def plot_pass_at_k(evals: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """pass@k against k (log2 axis) per eval set, a line per model (HPT Fig. 2); needs sampled
    evaluations (``samples`` > 0)."""
    sets: list[str] = []
    for e in evals.values():
        sets += [s for s, r in e["sets"].items() if r.get("pass_curve") and s not in sets]
    if not sets:
        return None
    plt = _plt()
    outside = len(evals) > 4  # many models: the legend beside the plot, not over the lines' ends
    fig, axes = plt.subplots(1, len(sets), figsize=((6.5 if outside else 5) * len(sets), 3.6), squeeze=False)
    for ax, s in zip(axes[0], sets):
        for label, e in evals.items():
            curve = (e["sets"].get(s) or {}).get("pass_curve")
            if curve:
                ks = sorted(int(k) for k in curve)
                ax.plot(ks, [100 * curve[str(k)] for k in ks], "o", ls=STYLES[len(ax.lines) % len(STYLES)],
                        label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k")
        ax.set_ylabel("pass@k (%)")  # in % like the tables
        ax.set_title(s)
        ax.grid(alpha=0.3)
        if outside:
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        else:
            ax.legend(fontsize=8)
    fig.suptitle("pass@k (unbiased estimator, HPT Fig. 2)")
    return _save(fig, path)


def plot_hybrid_schedules(runs: Runs, path: Path) -> Path | None:
    """CHORD's μ_t, UFT's prefix fraction (and its p_t), ReLIFT's buffer size per step."""
    return _lines(runs, ["chord_mu", "prefix_fraction", "uft_hint_prob", "relift_buffer_size"], path,
                  title="CHORD μ, UFT prefix share, ReLIFT buffer", ylabel="value")
