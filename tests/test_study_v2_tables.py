"""scripts/study_v2_tables.py (issue #16): tables of docs/results-v2.md from a study folder.

A tiny handmade study (setting ``mixed``; GRPO and HPT on seeds 0 and 1, SFT on seed 0 only,
a SuperRL run on seed 0, pass@k files for GRPO) whose numbers are worked out by hand below,
and a run over study v1's docs/results/raw (other settings, other seeds) that must not crash.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("study_v2_tables", ROOT / "scripts" / "study_v2_tables.py")
tables = importlib.util.module_from_spec(SPEC)
sys.modules["study_v2_tables"] = tables  # dataclasses look their module up there
SPEC.loader.exec_module(tables)

HELD, OOD = "chain_sum:3", "chain_sum:1"

# greedy correctness per question: held-out q0..q3, OOD o0..o1
CORRECT = {
    # seed 0
    (0, "grpo"): ([1, 0, 0, 0], [0, 0]),  # held 25%, OOD 0%
    (0, "hpt"): ([1, 1, 0, 0], [1, 1]),   # held 50%, OOD 100%
    (0, "sft"): ([0, 0, 0, 1], [0, 1]),   # held 25%, OOD 50% (seed 1 not done)
    # seed 1
    (1, "grpo"): ([0, 0, 1, 0], [1, 0]),  # held 25%, OOD 50%
    (1, "hpt"): ([1, 1, 1, 1], [1, 0]),   # held 100%, OOD 50%
}
# Paired HPT − GRPO, held-out:
#   s0: d = [1-1, 1-0, 0-0, 0-0] = [0, 1, 0, 0]        -> +25.0
#   s1: d = [1-0, 1-0, 1-1, 1-0] = [1, 1, 0, 1]        -> +75.0
#   pooled: per question mean over s0, s1 = [0.5, 1, 0, 0.5] -> mean 2/4 = +50.0 (2 seeds)
# Paired HPT − GRPO, OOD:
#   s0: d = [1, 1] -> +100.0, every resample has mean 1 -> CI [+100.0, +100.0]
#   s1: d = [0, 0] -> +0.0 [+0.0, +0.0]
#   pooled: [0.5, 0.5] -> +50.0 [+50.0, +50.0] (2)
# SFT − GRPO (seed 0 only): held [0,0,0,1] − [1,0,0,0] = [-1, 0, 0, 1] -> +0.0; seed 1 "–";
#   OOD [0,1] − [0,0] = [0, 1] -> +50.0
# Means over seeds: HPT held (50 + 100)/2 = 75.0, GRPO held (25 + 25)/2 = 25.0;
#   HPT OOD (100 + 50)/2 = 75.0, GRPO OOD (0 + 50)/2 = 25.0.


def _eval(label: str, held: list[int], ood: list[int]) -> dict:
    def one(prefix, bits, ci):
        return {"n": len(bits), "greedy_correct": float(sum(bits)), "greedy_accuracy": sum(bits) / len(bits),
                "greedy_ci95": ci, "samples": 0,
                "rows": [{"id": f"{prefix}-{i}", "greedy_correct": bool(b)} for i, b in enumerate(bits)]}

    # the CIs are copied from the file, not recomputed: handmade values to see them printed
    return {"model": label, "label": label, "sets": {HELD: one("q", held, [0.111, 0.222]),
                                                     OOD: one("o", ood, [0.333, 0.444])}}


def _hpt_metrics() -> list[dict]:
    # 40 steps: reward 0.1 at steps 0-9, 0.2 at 10-29, 0.3 at 30-39 -> first 10 / last 10 = 10.0 → 30.0;
    # sft_fraction 1.0 at 0-9, 0.5 at 10-29, 0.25 at 30-39 -> last 10 = 25.0, steps 1-10 = 100.0,
    # steps 31-40 = 25.0; sft_prompt_share 0.75 early, 0.0 late; step_time 3 s x 40 = 2.0 min
    out = []
    for s in range(40):
        early, late = s < 10, s >= 30
        out.append({"step": s, "epoch": 0, "reward": 0.1 if early else 0.3 if late else 0.2,
                    "sft_fraction": 1.0 if early else 0.25 if late else 0.5,
                    "sft_prompt_share": 0.75 if early else 0.0 if late else 0.5, "step_time": 3.0})
    return out


def _grpo_metrics() -> list[dict]:
    # reward 0.0 for 20 steps then 0.5 for 20: first 10 / last 10 = 0.0 → 50.0; 6 s x 40 = 4.0 min
    return [{"step": s, "epoch": 0, "reward": 0.0 if s < 20 else 0.5, "sft_fraction": 0.0, "step_time": 6.0}
            for s in range(40)]


def _superrl_metrics() -> list[dict]:
    # probe k=1: step 0 probing (reward 0.0); step 1 decides sparse; Hybrid Actor from step 1:
    # σ_pg 1.0 -> 1.2, σ_sft 1.0 -> 0.9; w_pg/w_sft = (σ_sft/σ_pg)² = 1 -> (0.9/1.2)² = 0.5625
    base = {"superrl/k": 1, "superrl/increase_num": 0, "superrl/recent_avg": 0.05, "superrl/avg_threshold": 0.2}
    return [{**base, "step": 0, "reward": 0.0, "switch_decision": "probing", "superrl/phase": "probe",
             "sigma_pg": 1.0, "sigma_sft": 1.0, "sft_fraction": 0.0, "step_time": 1.0},
            {**base, "step": 1, "reward": 0.0, "switch_decision": "sparse", "superrl/phase": "hybrid",
             "sigma_pg": 1.0, "sigma_sft": 1.0, "sft_fraction": 0.2, "step_time": 1.0},
            {**base, "step": 2, "reward": 0.25, "switch_decision": "sparse", "superrl/phase": "hybrid",
             "sigma_pg": 1.2, "sigma_sft": 0.9, "sft_fraction": 0.2, "step_time": 1.0}]


def _jsonl(path: Path, recs: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


@pytest.fixture
def study(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    for (seed, m), (held, ood) in CORRECT.items():
        d = root / f"mixed-s{seed}"
        (d / "evals").mkdir(parents=True, exist_ok=True)
        (d / "evals" / f"{m}.json").write_text(json.dumps(_eval(m, held, ood)))
        recs = _hpt_metrics() if m == "hpt" else _grpo_metrics() if m == "grpo" else \
            [{"step": s, "sft_fraction": 1.0, "step_time": 1.0} for s in range(40)]
        _jsonl(d / m / "metrics.jsonl", recs)
        _jsonl(d / m / "eval.jsonl", [{"step": s, "greedy_accuracy": a, "n": 4}
                                      for s, a in [(10, 0.25), (20, 0.5), (40, sum(held) / 4)]])
        _jsonl(d / m / "group_accuracy.jsonl",
               [{"step": s, "ids": [f"p{2 * s}", f"p{2 * s + 1}"], "acc": [0.25 * (m == "hpt"), 0.5]}
                for s in range(40)])
    _jsonl(root / "mixed-s0" / "superrl" / "metrics.jsonl", _superrl_metrics())
    (root / "mixed-s0" / "evals" / "superrl.json").write_text(json.dumps(_eval("superrl", [0, 0, 0, 0], [0, 0])))
    # a run still training (metrics, no final eval) is not done: it must not appear anywhere
    _jsonl(root / "mixed-s1" / "sft" / "metrics.jsonl", [{"step": 0, "reward": 0.9, "step_time": 99.0}])
    passk = root / "passk"
    passk.mkdir()
    for seed, (p1, p4, p8) in {0: (0.25, 0.5, 0.75), 1: (0.35, 0.6, 0.85)}.items():
        (passk / f"mixed-s{seed}-grpo.json").write_text(json.dumps({"label": "grpo", "sets": {HELD: {
            "n": 4, "samples": 8, "pass@1": p1, "pass@4": p4, "pass@8": p8,
            "pass_curve": {"1": p1, "2": (p1 + p4) / 2, "4": p4, "8": p8}}}}))
    return root


def _row(md: str, section: str, label: str) -> list[str]:
    """Cells of the table row ``label`` in the first table after the heading ``section``."""
    part = md.split(section, 1)[1]
    for line in part.splitlines():
        if line.startswith(f"| {label} |"):
            return [c.strip() for c in line.strip().strip("|").split("|")]
    raise AssertionError(f"no row {label!r} after {section!r}")


def test_accuracy_table_per_seed_mean_reward_share_minutes(study):
    md = tables.render(tables.load_study(study))
    head = _row(md, "### mixed", "method")
    assert head == ["method", "held-out s0", "held-out s1", "held-out mean", "OOD s0", "OOD s1", "OOD mean",
                    "train reward first 10 → last 10", "SFT share (last 10)", "train min", "seeds done"]
    assert f"held-out: `{HELD}` (n=4); OOD: `{OOD}` (n=2)" in md
    hpt = _row(md, "### mixed", "HPT")
    assert hpt[1:3] == ["50.0 [11.1, 22.2]", "100.0 [11.1, 22.2]"]  # accuracy [CI copied from the file]
    assert hpt[3].startswith("75.0 [")                               # (50 + 100) / 2
    assert hpt[4:6] == ["100.0 [33.3, 44.4]", "50.0 [33.3, 44.4]"]
    assert hpt[6].startswith("75.0 [")                               # (100 + 50) / 2
    assert hpt[7:] == ["10.0 → 30.0", "25.0", "2.0", "s0, s1"]
    grpo = _row(md, "### mixed", "GRPO")
    assert grpo[3].startswith("25.0 [") and grpo[6].startswith("25.0 [")
    assert grpo[7:] == ["0.0 → 50.0", "0.0", "4.0", "s0, s1"]
    sft = _row(md, "### mixed", "SFT")   # seed 1 has metrics but no final eval: not done, not shown
    assert sft[1:4] == ["25.0 [11.1, 22.2]", "–", "25.0"]   # one seed: the mean is that seed, no pooled CI
    assert sft[7:] == ["–", "100.0", "0.7", "s0, –"]          # no reward logged; 40 x 1 s = 0.67 min


def test_seed_mean_ci_bootstraps_the_per_question_seed_mean(study):
    md = tables.render(tables.load_study(study))
    # HPT held-out per-question seed means: q0 (1+1)/2, q1 (1+1)/2, q2 (0+1)/2, q3 (0+1)/2
    lo, hi = tables.bootstrap([1.0, 1.0, 0.5, 0.5])
    assert _row(md, "### mixed", "HPT")[3] == f"75.0 [{100 * lo:.1f}, {100 * hi:.1f}]"
    assert 0.5 <= lo <= 0.75 <= hi <= 1.0


def test_paired_differences_to_grpo(study):
    md = tables.render(tables.load_study(study))
    sec = "### mixed: method − GRPO"
    assert _row(md, sec, "method − GRPO") == ["method − GRPO", "held-out s0", "held-out s1",
                                             "held-out pooled (seeds)", "OOD s0", "OOD s1", "OOD pooled (seeds)"]
    hpt = _row(md, sec, "HPT")
    lo0, hi0 = tables.bootstrap([0, 1, 0, 0])
    assert hpt[1] == f"+25.0 [{100 * lo0:+.1f}, {100 * hi0:+.1f}]"
    assert hpt[2].startswith("+75.0 [")
    lop, hip = tables.bootstrap([0.5, 1.0, 0.0, 0.5])
    # pooled over 2 seeds; both seeds' own differences (+25, +75) above zero
    assert hpt[3] == f"+50.0 [{100 * lop:+.1f}, {100 * hip:+.1f}] (2: 2+ 0= 0−)"
    # OOD: s0 +100 above zero, s1 +0 at zero
    assert hpt[4:] == ["+100.0 [+100.0, +100.0]", "+0.0 [+0.0, +0.0]", "+50.0 [+50.0, +50.0] (2: 1+ 1= 0−)"]
    sft = _row(md, sec, "SFT")
    assert sft[1].startswith("+0.0 [") and sft[2] == "–" and sft[3].endswith("(1)")
    assert sft[4].startswith("+50.0 [") and sft[5] == "–"
    # no SFT→GRPO run in this study: no table against it
    assert "method − SFT→GRPO" not in md


def test_paired_differences_to_sft(study):
    # "match or beat SFT": a table against SFT too, with only the seeds SFT has (s0)
    md = tables.render(tables.load_study(study))
    sec = "### mixed: method − SFT"
    hpt = _row(md, sec, "HPT")
    lo, hi = tables.bootstrap([1, 1, 0, -1])            # HPT s0 [1,1,0,0] − SFT s0 [0,0,0,1]
    assert hpt[1] == f"+25.0 [{100 * lo:+.1f}, {100 * hi:+.1f}]"
    assert hpt[2] == "–" and hpt[3].endswith("(1)")      # SFT seed 1 not done: nothing to pair
    assert hpt[4].startswith("+50.0 [")                  # OOD [1,1] − [0,1]
    assert _row(md, sec, "GRPO")[1].startswith("+0.0 [")  # [1,0,0,0] − [0,0,0,1]
    assert "| SFT |" not in md.split(sec, 1)[1].split("###", 1)[0]  # no row SFT − SFT


def test_pooled_is_the_seed_mean_per_question_not_the_concatenation():
    a0, b0 = {"q0": 1.0, "q1": 0.0}, {"q0": 0.0, "q1": 0.0}   # d = [1, 0]
    a1, b1 = {"q0": 1.0, "q1": 1.0}, {"q0": 0.0, "q1": 0.0}   # d = [1, 1]
    # per question over the two seeds: q0 (1+1)/2 = 1, q1 (0+1)/2 = 0.5 -> mean 0.75;
    # the CI resamples 2 questions: means in {1, 0.75, 0.5}, both ends inside [0.5, 1]
    m, lo, hi = tables.pooled([(a0, b0), (a1, b1)])
    assert m == pytest.approx(0.75)
    assert (lo, hi) == tables.bootstrap([1.0, 0.5])
    # a question one seed lacks is left out: q1 missing in seed 1 -> only q0, d = (1 + 1)/2
    assert tables.pooled([(a0, b0), ({"q0": 1.0}, {"q0": 0.0})])[0] == pytest.approx(1.0)
    assert tables.pooled([]) is None
    assert tables.paired({"q0": 1.0}, {"x": 0.0}) is None


def test_sign_counts_of_the_per_seed_differences():
    assert tables.sign_counts([0.05, -0.02, 0.0]) == ": 1+ 1= 1−"
    assert tables.sign_counts([0.05, None, 0.01]) == ": 2+ 0= 0−"   # a seed without a pair is not counted
    assert tables.sign_counts([0.05]) == ""                          # one seed: nothing to agree on


def test_runs_table_and_count(study):
    md = tables.render(tables.load_study(study))
    # done: seed 0 GRPO, HPT, SFT, SuperRL; seed 1 GRPO, HPT (seed 1 SFT has metrics only)
    assert md.startswith("_6 training runs done under")
    assert _row(md, "## Runs done", "setting") == ["setting", "method", "s0", "s1", "seeds done"]
    assert _row(md, "## Runs done", "mixed")[:2] == ["mixed", "GRPO"]   # first row: methods in study order
    rows = [l for l in md.split("## Runs done", 1)[1].split("##", 1)[0].splitlines() if l.startswith("| mixed |")]
    assert rows == ["| mixed | GRPO | ✓ | ✓ | 2 |", "| mixed | SFT | ✓ | – | 1 |", "| mixed | HPT | ✓ | ✓ | 2 |",
                    "| mixed | SuperRL | ✓ | – | 1 |"]


def test_a_base_evaluation_is_counted_apart_from_training_runs(study):
    (study / "mixed-s0" / "evals" / "base.json").write_text(json.dumps(_eval("base", [0, 0, 0, 0], [0, 0])))
    md = tables.render(tables.load_study(study))
    assert md.startswith("_6 training runs done under") and ", plus 1 base-model evaluation;" in md.split("\n")[0]
    assert "| mixed | base | ✓ | – | 1 |" in md
    assert "| base |" not in md.split("### mixed: method − GRPO", 1)[1]   # no paired row for the base model


def test_bootstrap_percentile_ci():
    assert tables.bootstrap([0.3] * 7) == pytest.approx((0.3, 0.3))
    lo, hi = tables.bootstrap([0.0, 1.0] * 50)   # mean 0.5, sd of the mean 0.05 -> about ±0.1
    assert 0.38 < lo < 0.45 and 0.55 < hi < 0.62


def test_passk_table_mean_and_per_seed(study):
    md = tables.render(tables.load_study(study))
    row = _row(md, "## pass@k", "mixed")
    # pass@1 (25 + 35)/2 = 30.0; pass@4 (50 + 60)/2 = 55.0; pass@8 (75 + 85)/2 = 80.0;
    # pass@8 − pass@1: (0.5 + 0.5)/2 = +50.0 points
    assert row == ["mixed", "GRPO", f"{HELD} (n=4)", "30.0 (25.0 / 35.0)", "55.0 (50.0 / 60.0)",
                   "80.0 (75.0 / 85.0)", "+50.0", "s0, s1"]


def test_controller_tables(study):
    md = tables.render(tables.load_study(study))
    sw = _row(md, "### Adaptive Switch", "mixed-s0/superrl")
    assert sw[1:] == ["0.0", "0", "5.0", "sparse", "1", "Hybrid Actor"]
    sg = _row(md, "### SuperRL loss weights", "mixed-s0/superrl")
    assert sg[1:] == ["1", "1.000 → 1.200", "1.000 → 0.900", "1.000 → 0.562"]
    hpt = _row(md, "### HPT SFT share", "mixed-s0/hpt")
    assert hpt[1:] == ["100.0", "25.0", "75.0", "0.0"]
    assert "### SASR" not in md   # no SASR run: no table


def test_figures_written_and_linked(study, tmp_path, capsys):
    figs = tmp_path / "figs"
    tables.main([str(study), "--figures", str(figs), "--link-dir", "results/v2"])
    md = capsys.readouterr().out
    for name in ["learning_mixed", "reward_mixed", "sft_share_mixed", "sigma", "passk_mixed",
                 "heatmap_mixed_hpt", "heatmap_mixed_grpo", "heatmap_mixed_hpt_minus_grpo"]:
        assert (figs / f"{name}.png").stat().st_size > 1000, name
        assert f"](results/v2/{name}.png)" in md
    assert not (figs / "sasr_p.png").exists()   # no SASR run: the figure is skipped, not faked


def test_runs_on_study_v1_raw(tmp_path, capsys):
    tables.main([str(ROOT / "docs" / "results" / "raw"), "--figures", str(tmp_path / "v1")])
    md = capsys.readouterr().out
    for setting in ("sparse", "dense", "long-sparse"):
        assert f"### {setting}\n" in md
    # v1's sparse GRPO seed 0: 3 of 200 correct (docs/results.md)
    assert re.search(r"\| GRPO \| 1\.5 \[0\.0, 3\.5\] \| 1\.5 \[0\.0, 3\.5\] \|", md)
    assert "### sparse: method − GRPO" in md


def test_empty_or_missing_study_prints_a_note(tmp_path, capsys):
    tables.main([str(tmp_path / "not-yet")])
    md = capsys.readouterr().out
    assert md.startswith("_0 training runs done under")
    assert "| " not in md   # no table without a finished run


def test_page_gets_the_tables_between_its_markers_and_keeps_the_rest(study, tmp_path, capsys):
    page = tmp_path / "results-v2.md"
    page.write_text(f"# Study\n\nintro\n\n## Results\n\n{tables.START}\nold tables\n{tables.END}\n\n## Verdicts\nkept\n")
    tables.main([str(study), "--page", str(page)])
    assert capsys.readouterr().out == ""  # written to the page, not printed
    text = page.read_text()
    assert text.startswith("# Study\n\nintro\n\n## Results\n\n") and text.endswith(f"{tables.END}\n\n## Verdicts\nkept\n")
    assert "old tables" not in text
    # headings one level down: "## Greedy accuracy per setting" / "### mixed" as printed
    assert "\n### Greedy accuracy per setting\n" in text and "\n## Greedy" not in text
    assert "\n#### mixed\n" in text and "\n### mixed\n" not in text
    once = text
    tables.main([str(study), "--page", str(page)])  # idempotent: a second splice changes nothing
    assert page.read_text() == once


def test_page_without_markers_is_refused(study, tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="needs exactly one"):
        tables.main([str(study), "--page", str(page)])
    assert page.read_text() == "# no markers\n"


def test_fidelity_reruns_are_added_beside_the_v2_rows_they_replace(study, tmp_path):
    # re-runs (raw-fix layout): HPT seeds 0 and 1, HPT-official seed 0
    fix = tmp_path / "raw-fix"
    new = {(0, "hpt"): ([1, 1, 1, 0], [1, 1]), (1, "hpt"): ([1, 1, 1, 1], [0, 0]),
           (0, "hpt_official"): ([0, 0, 0, 1], [0, 1])}
    for (seed, m), (held, ood) in new.items():
        d = fix / f"mixed-s{seed}"
        (d / "evals").mkdir(parents=True, exist_ok=True)
        (d / "evals" / f"{m}.json").write_text(json.dumps(_eval(m, held, ood)))
        _jsonl(d / m / "metrics.jsonl", _hpt_metrics())
    s = tables.merge_fix(tables.load_study(study), tables.load_study(fix))
    md = tables.render(s)
    # the v2 HPT row stays, named for its default; the re-run is its own row
    acc = "### mixed"
    assert _row(md, acc, "HPT (v2: term mean)")[1].startswith("50.0")
    assert _row(md, acc, "HPT (one vote)")[1].startswith("75.0") and _row(md, acc, "HPT (official)")[1].startswith("25.0")
    # new − old, held-out: s0 [1,1,1,0] − [1,1,0,0] = [0,0,1,0] -> +25; s1 [1,1,1,1] − [1,1,1,1] = 0;
    # pooled per question [0, 0, 0.5, 0] -> +12.5 over 2 seeds (1 above, 1 at zero)
    row = _row(md, "## Fidelity re-runs", "mixed")
    assert row[1] == "HPT (one vote) − HPT (v2: term mean)" and row[2].startswith("+12.5 [") and row[2].endswith("(2: 1+ 1= 0−)")
    # a study without re-runs keeps its names (nothing global was changed)
    assert "HPT (v2" not in tables.render(tables.load_study(study))


def test_new_hybrids_get_rows_pairs_with_hpt_and_sft_and_schedules(study, tmp_path):
    # raw-new layout (scripts/study_v2_new.sh): CHORD and ReLIFT on mixed seed 0, with the HPT re-run
    fix, new = tmp_path / "raw-fix", tmp_path / "raw-new"
    (fix / "mixed-s0" / "evals").mkdir(parents=True)
    (fix / "mixed-s0" / "evals" / "hpt.json").write_text(json.dumps(_eval("hpt", [1, 1, 0, 0], [1, 0])))
    _jsonl(fix / "mixed-s0" / "hpt" / "metrics.jsonl", _hpt_metrics())
    (new / "mixed-s0" / "evals").mkdir(parents=True)
    (new / "mixed-s0" / "evals" / "chord.json").write_text(json.dumps(_eval("chord", [1, 1, 1, 1], [0, 0])))
    (new / "mixed-s0" / "evals" / "relift.json").write_text(json.dumps(_eval("relift", [0, 0, 0, 1], [0, 1])))
    # CHORD mu 0.1 over steps 0-9, 0.4 over 30-39; ReLIFT: an SFT update every 10th step (4), 2 buffered
    # per step (80), sft_fraction 0.2 on its SFT steps -> steps 1-10 mean 0.02
    _jsonl(new / "mixed-s0" / "chord" / "metrics.jsonl",
           [{"step": s, "reward": 0.5, "chord_mu": 0.1 if s < 10 else 0.4 if s >= 30 else 0.3, "step_time": 1.0}
            for s in range(40)])
    _jsonl(new / "mixed-s0" / "relift" / "metrics.jsonl",
           [{"step": s, "reward": 0.5, "relift/sft_step": int(s % 10 == 9), "relift/num_buffered": 2,
             "sft_fraction": 0.2 if s % 10 == 9 else 0.0, "step_time": 1.0} for s in range(40)])
    s = tables.merge_new(tables.merge_fix(tables.load_study(study), tables.load_study(fix)), tables.load_study(new))
    md = tables.render(s)
    assert _row(md, "### mixed", "CHORD")[1].startswith("100.0") and _row(md, "### mixed", "ReLIFT")[1].startswith("25.0")
    # CHORD − HPT (one vote), held-out s0: [1,1,1,1] − [1,1,0,0] = [0,0,1,1] -> +50.0 (1 seed)
    sec = "## New hybrids"
    rows = [ln for ln in md.split(sec, 1)[1].split("\n\n")[2].splitlines() if ln.startswith("| mixed")]
    cells = {ln.split("|")[2].strip(): ln.split("|")[3].strip() for ln in rows}
    assert cells["CHORD − HPT (one vote)"].startswith("+50.0 [") and cells["CHORD − HPT (one vote)"].endswith("(1)")
    # ReLIFT − SFT, held-out s0: [0,0,0,1] − [0,0,0,1] = 0
    assert cells["ReLIFT − SFT"].startswith("+0.0 [+0.0, +0.0]")
    # in the method − GRPO table as well: CHORD − GRPO s0 held [1,1,1,1] − [1,0,0,0] -> +75.0
    assert _row(md, "### mixed: method − GRPO", "CHORD")[1].startswith("+75.0")
    sched = md.split("### CHORD, ReLIFT, UFT schedules", 1)[1]
    assert "| mixed-s0/chord | μ (SFT weight) | 10.0 | 40.0 | – |" in sched
    assert "| mixed-s0/relift | SFT share of samples | 2.0 | 2.0 | 4 SFT updates on 80 buffered demonstrations |" in sched


def test_lengths_table_and_pairs_against_a_baseline_study(study, tmp_path):
    # v3 layout: GRPO seed 0 at a longer budget; clipped ratio 0.5 over steps 0-19, 0.1 over 20-39;
    # mean length 60 then 100
    v3 = tmp_path / "v3"
    (v3 / "mixed-s0" / "evals").mkdir(parents=True)
    (v3 / "mixed-s0" / "evals" / "grpo.json").write_text(json.dumps(_eval("grpo", [1, 1, 1, 0], [1, 1])))
    _jsonl(v3 / "mixed-s0" / "grpo" / "metrics.jsonl",
           [{"step": s, "reward": 0.5, "completions/clipped_ratio": 0.5 if s < 20 else 0.1,
             "completions/mean_length": 60.0 if s < 20 else 100.0, "step_time": 1.0} for s in range(40)])
    md = tables.render(tables.load_study(v3), baseline=(tables.load_study(study), "v2 (64 tokens)"))
    assert "| mixed | GRPO | 50.0 → 10.0 | 60.0 → 100.0 | 1 |" in md
    # v3 GRPO − v2 GRPO, seed 0: held [1,1,1,0] − [1,0,0,0] = [0,1,1,0] -> +50.0; OOD [1,1] − [0,0] -> +100.0
    row = _row(md, "## Against v2 (64 tokens)", "mixed")
    assert row[1] == "GRPO − v2 (64 tokens) GRPO"
    assert row[2].startswith("+50.0 [") and row[3] == "–" and row[4].startswith("+50.0 [") and row[4].endswith("(1)")
    assert row[5] == "+100.0 [+100.0, +100.0]" and row[6] == "–"
