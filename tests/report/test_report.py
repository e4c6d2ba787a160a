"""The report builder on synthetic run folders written here (no model, no training)."""

import json
import math
import re

import pytest
import yaml

from hybridrl.eval.evaluate import summarize
from hybridrl.report import build_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _write_run(d, method, metrics, group_acc=(), evals=()):
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({"method": method, "model": "tiny", "task": "kk", "steps": len(metrics),
                                                   "prompts_per_step": 2, "group_size": 4, "seed": 0, "lr": 1e-6,
                                                   "max_new_tokens": 32}))
    (d / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (d / "group_accuracy.jsonl").write_text("".join(json.dumps(g) + "\n" for g in group_acc))
    (d / "eval.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evals))
    (d / "summary.json").write_text(json.dumps({"method": method, "wall_time_s": 120.0}))
    return d


def _group_acc(steps, shift):
    # 4 prompts, 2 per step, epoch = step // 2: prompts p0,p1 on even steps, p2,p3 on odd steps
    out = []
    for s in range(steps):
        ids = ["p0", "p1"] if s % 2 == 0 else ["p2", "p3"]
        out.append({"step": s, "ids": ids, "acc": [min(1.0, 0.25 * (s // 2) + shift), 0.0]})
    return out


def _eval(label, greedy, samples):
    rows = [{"id": f"q{i}", "task": "kk", "difficulty": 2 + i % 2, "greedy_correct": g, "sample_correct": c}
            for i, (g, c) in enumerate(zip(greedy, samples))]
    return {"model": label, "label": label, "settings": {"samples": 4, "template": "chat"},
            "sets": {"kk": summarize(rows, samples=4, ks=(1, 2, 4)),
                     "ood": summarize(rows[:2], samples=4, ks=(1, 2, 4))}}


@pytest.fixture
def runs(tmp_path):
    steps = 6
    grpo = [{"step": s, "epoch": s // 2, "reward": 0.1 * s, "kl": [0.0, 0.02, 0.01, 0.03, 0.02, 0.04][s],
             "entropy": 1.0 - 0.05 * s, "completions/mean_length": 30 + s, "sft_fraction": 0.0} for s in range(steps)]
    hpt = [{"step": s, "epoch": s // 2, "reward": 0.05 * s, "entropy": 1.2, "completions/mean_length": 40 - s,
            "sft_fraction": 1.0 - s / 5} for s in range(steps)]
    superrl = [{"step": s, "epoch": s // 2, "reward": [0.0, 0.1, 0.0, 0.0, 0.1, 0.1][s],
                "switch_decision": "probing" if s < 3 else "sparse", "superrl/recent_avg": 0.03,
                "superrl/phase": "probe" if s < 3 else "hybrid",
                "superrl/increase_num": 1, "superrl/avg_threshold": 0.2, "sigma_pg": 1 + 0.1 * s,
                "sigma_sft": 1 - 0.05 * s, "sft_fraction": 0.5 if s >= 3 else 0.0} for s in range(steps)]
    sasr = [{"step": s, "epoch": s // 2, "reward": 0.2, "sasr_p": 0.9 - 0.1 * s} for s in range(steps)]
    evals_g = [{"step": 2, "greedy_accuracy": 0.2}, {"step": 4, "greedy_accuracy": 0.4}, {"step": 6, "greedy_accuracy": 0.3}]
    return {
        "grpo": _write_run(tmp_path / "grpo", "grpo", grpo, _group_acc(steps, 0.0), evals_g),
        "hpt": _write_run(tmp_path / "hpt", "hpt", hpt, _group_acc(steps, 0.5)),
        "superrl": _write_run(tmp_path / "superrl", "superrl", superrl),
        "sasr": _write_run(tmp_path / "sasr", "sasr", sasr),
    }


@pytest.fixture
def evals():
    return {
        # 4 questions; base solves 1 (25%), grpo 2 (50%), hpt 3 (75%)
        "base": _eval("base", [True, False, False, False], [1, 0, 0, 0]),
        "grpo": _eval("grpo", [True, True, False, False], [2, 1, 0, 0]),
        "hpt": _eval("hpt", [False, True, True, True], [4, 2, 1, 0]),
    }


def _assert_png(path):
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 5_000, f"{path}: suspiciously small ({len(data)} bytes)"
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        assert w >= 300 and h >= 200
        colors = im.getcolors(maxcolors=1 << 20)
        assert colors is not None and len(colors) > 20, f"{path}: nearly blank image"


def test_report_tables_hold_the_right_numbers(runs, evals, tmp_path):
    out = build_report(runs, evals, tmp_path / "report")
    md = out["markdown"].read_text()
    # greedy accuracy table: hpt is best on kk (75%) and is bold; base 25%, grpo 50%
    assert re.search(r"\| base \| 25\.0 \[", md)
    assert re.search(r"\| grpo \| 50\.0 \[", md)
    assert re.search(r"\| hpt \| \*\*75\.0 \[[\d.]+, [\d.]+\]\*\* \|", md)
    # avg@4 of hpt = (4 + 2 + 1 + 0) / 16 = 43.75% -> 43.8
    assert "43.8 [" in md
    # pass@1 was asked for (ks 1, 2, 4): it stays, named as the avg@4 it equals
    assert "pass@1 (= avg@4)" in md and "pass@2" in md
    # every eval set has one name, the key of eval.json "sets", in the setup and in the tables
    assert "Eval sets: `kk` (n=4), `ood` (n=2)." in md and "| model | kk (n=4) | ood (n=2) |" in md
    # exclusive solves hpt vs grpo on kk: q0 grpo only (level 2), q2, q3 hpt only (levels 2, 3)
    # level 2 = q0, q2 -> +1/-1; level 3 = q1, q3 -> +1/-0; overall +2/-1
    line = next(l for l in md.splitlines() if l.startswith("| hpt vs grpo |") and "+2 / −1" in l)
    assert "+1 / −1" in line and "+1 / −0" in line
    # KL table (SuperRL Table 2): grpo kl = [0, .02, .01, .03, .02, .04]: range 0.04,
    # mean 0.02, variance (4 + 0 + 1 + 1 + 0 + 4)e-4 / 6 = 1.667e-4
    kl_line = next(l for l in md.splitlines() if l.startswith("| grpo | 6 |"))
    assert "| 0.0000 | 0.0400 | 0.0400 | 0.000167 |" in kl_line
    hpt_line = next(l for l in md.splitlines() if l.startswith("| hpt | 6 |"))
    assert "| — | — | — | — |" in hpt_line  # no KL logged
    # mean SFT fraction of hpt = mean(1, .8, .6, .4, .2, 0) = 0.5
    assert "| 0.500 |" in hpt_line


def test_every_plot_is_a_real_png_and_inlined(runs, evals, tmp_path):
    out = build_report(runs, evals, tmp_path / "report")
    expected = {"reward", "validation", "sft_fraction", "entropy_length", "kl", "sigma", "sasr_p", "switch_probe",
                "pass_at_k", "heatmap_grpo", "heatmap_hpt", "heatmap_diff_hpt"}
    assert expected <= set(out["figures"]), set(out["figures"])
    for name, path in out["figures"].items():
        assert path.exists(), name
        _assert_png(path)
    html = out["html"].read_text()
    imgs = re.findall(r"<img [^>]*src='([^']*)'", html)
    assert len(imgs) == len(out["figures"])
    assert all(src.startswith("data:image/png;base64,") for src in imgs)  # self-contained
    assert "<td class='best'>" in html
    # superrl and sasr have no group_accuracy: their heatmaps are skipped, not drawn empty
    assert "heatmap_superrl" in out["skipped"] and "heatmap_sasr" in out["skipped"]
    assert not (tmp_path / "report" / "figures" / "heatmap_superrl.png").exists()


def test_plots_without_data_are_skipped(runs, tmp_path):
    out = build_report({"hpt": runs["hpt"]}, None, tmp_path / "report")
    assert {"kl", "sigma", "sasr_p", "switch_probe", "pass_at_k", "validation"} <= set(out["skipped"])
    assert set(out["figures"]) == {"reward", "sft_fraction", "entropy_length", "heatmap_hpt"}
    files = sorted(p.name for p in (tmp_path / "report" / "figures").iterdir())
    assert files == ["entropy_length.png", "heatmap_hpt.png", "reward.png", "sft_fraction.png"]


def test_heatmap_grid_uses_epochs_when_prompts_repeat(runs):
    from hybridrl.report.runs import accuracy_grid, load_run

    run = load_run(runs["grpo"])
    ids, cols, grid, unit = accuracy_grid(run["group_accuracy"], run["step_epoch"])
    assert unit == "epoch" and cols == [0, 1, 2]
    assert ids == ["p0", "p1", "p2", "p3"]
    # p0 drawn at steps 0, 2, 4 (epochs 0, 1, 2) with acc 0, .25, .5
    assert grid[0] == [0.0, 0.25, 0.5]
    # without epochs: step bins; p0 only drawn on even steps -> NaN on odd columns
    ids, cols, grid, unit = accuracy_grid(run["group_accuracy"], None)
    assert unit == "step" and cols == list(range(6))
    assert grid[0][0] == 0.0 and math.isnan(grid[0][1])


def test_superrl_weights_summary_and_caption(runs):
    from hybridrl.report.build import _sigma_caption
    from hybridrl.report.runs import load_run, superrl_weights

    metrics = load_run(runs["superrl"])["metrics"]
    w = superrl_weights(metrics)
    # hybrid from step 3 to 5: σ_pg = 1 + 0.1 s -> 1.3, 1.5; σ_sft = 1 − 0.05 s -> 0.85, 0.75
    assert w["hybrid_from"] == 3 and w["steps"] == 3
    assert w["sigma_pg"] == pytest.approx((1.3, 1.5)) and w["sigma_sft"] == pytest.approx((0.85, 0.75))
    # w_pg / w_sft = (σ_sft / σ_pg)²: (0.85/1.3)² = 0.4275148 -> (0.75/1.5)² = 0.25: towards SFT
    assert w["ratio"] == pytest.approx((0.4275148, 0.25), abs=1e-6)
    caption = _sigma_caption({"superrl": load_run(runs["superrl"])})
    assert caption == "superrl: hybrid from step 3 (3 steps); w_pg/w_sft 0.428 -> 0.25, shifted towards SFT."
    # a run that never left the probe has no summary, and the caption says so
    probe_only = [dict(m, **{"superrl/phase": "probe"}) for m in metrics]
    assert superrl_weights(probe_only) is None
    assert "never reached" in _sigma_caption({"x": {"metrics": probe_only}})
