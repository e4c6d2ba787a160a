"""``hybridrl demo`` hands its options to run_demo (the run itself is the slow demo test's)."""

from __future__ import annotations

import pytest

from hybridrl.cli import main


@pytest.mark.parametrize("argv, engine, dtype", [([], "auto", "auto"), (["--rollout-engine", "vllm"], "vllm", "auto"),
                                                 (["--rollout-engine", "hf", "--rollout-dtype", "int8"], "hf", "int8")])
def test_demo_passes_the_rollout_engine_and_dtype(monkeypatch, argv, engine, dtype):
    seen = {}

    def fake_run_demo(**kw):
        seen.update(kw)
        return 0

    monkeypatch.setattr("hybridrl.pipelines.demo.run_demo", fake_run_demo)
    assert main(["demo", "--quick", "--output-dir", "x", *argv]) == 0
    assert seen == {"quick": True, "output_dir": "x", "rollout_engine": engine, "rollout_dtype": dtype}


def test_demo_refuses_an_unknown_engine(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--rollout-engine", "vlm"])
    assert e.value.code == 2
    assert "invalid choice: 'vlm'" in capsys.readouterr().err
