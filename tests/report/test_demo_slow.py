"""``hybridrl demo --quick`` end to end on the real SmolLM2-135M (minutes on 2 CPU cores)."""

import pytest


@pytest.mark.slow
def test_demo_quick_writes_the_report(tmp_path, capsys):
    from hybridrl.pipelines.demo import run_demo

    assert run_demo(quick=True, output_dir=str(tmp_path / "demo")) == 0
    out = capsys.readouterr().out
    for name in ("report.md", "report.html", "figures/reward.png", "figures/sft_fraction.png",
                 "evals/base.json", "evals/grpo.json", "evals/hpt.json", "grpo/summary.json", "hpt/summary.json"):
        assert (tmp_path / "demo" / name).exists(), name
    assert "| base |" in out and "| grpo |" in out and "| hpt |" in out
    assert "report:" in out
