"""Run folders written before the config had sections hold a flat config.yaml (most of those
committed under docs/results/); new ones hold it nested by section, ``method`` first. Both
must resume and be reused by ``compare`` exactly as before."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hybridrl.config import KEYS, SECTIONS, TrainConfig, build_config, config_to_dict, nested_config, with_legacy_defaults
from hybridrl.pipelines.compare import settings_diff
from hybridrl.report.runs import read_config
from hybridrl.training.loop.runner import _resume_diff, saved_base

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
ALL = sorted(RESULTS.rglob("config.yaml"))


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


OLD = [p for p in ALL if not set(_load(p)) & set(SECTIONS)]  # flat: written before the sections
NEW = [p for p in ALL if p not in OLD]  # nested: committed study runs made since


def _resumed(path: Path, notes: list[str]) -> tuple[dict, TrainConfig]:
    """As ``hybridrl train --resume`` builds the config of an old run folder (no changes)."""
    base = saved_base(with_legacy_defaults(_load(path)), path.parent, log=notes.append)
    return base, build_config(None, base=base, notes=notes)


def test_the_committed_run_folders_hold_many_flat_configs():
    assert len(OLD) >= 20
    assert all(list(_load(p))[0] == "method" for p in NEW)  # the nested ones: method first


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_committed_config_resumes_unchanged(path):
    notes: list[str] = []
    base, cfg = _resumed(path, notes)
    assert cfg.method == _load(path)["method"]
    assert _resume_diff(base, cfg, path.parent) == {}  # --resume with no change: nothing differs


@pytest.mark.parametrize("path", OLD[:: max(1, len(OLD) // 8)], ids=lambda p: str(p.relative_to(RESULTS)))
def test_compare_reuses_an_old_flat_run_and_a_new_nested_one_alike(path, tmp_path):
    _, cfg = _resumed(path, [])
    assert settings_diff(_load(path), cfg) == {}  # the old flat folder: same run
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(nested_config(cfg), sort_keys=False))
    nested = read_config(tmp_path)
    assert settings_diff(yaml.safe_load((tmp_path / "config.yaml").read_text()), cfg) == {}  # new nested: same run
    assert nested == config_to_dict(cfg)  # nested round-trips to the same flat keys
    other = cfg.replace(lr=cfg.lr * 2)
    assert set(settings_diff(_load(path), other)) == {"lr"}  # and a real change is still one


def test_config_yaml_is_nested_with_method_first():
    cfg = TrainConfig(task="chain_sum", method="hpt", lr=2e-6, hpt_gamma=1)
    d = nested_config(cfg)
    assert list(d)[0] == "method" and d["method"] == "hpt"
    assert d["optimizer"]["lr"] == 2e-6 and d["hpt"]["hpt_gamma"] == 1
    assert list(d)[1:] == list(SECTIONS)
    assert {k for s in list(d)[1:] for k in d[s]} | {"method"} == set(KEYS)


def test_a_nested_recipe_loads_and_a_key_in_the_wrong_section_is_refused(tmp_path):
    from hybridrl.config import ConfigError

    p = tmp_path / "r.yaml"
    p.write_text("method: grpo\ndataset:\n  task: chain_sum\noptimizer:\n  lr: 2.0e-6\n")
    cfg = build_config(p, notes=[])
    assert cfg.lr == 2e-6 and cfg.optimizer.lr == 2e-6 and cfg.task == "chain_sum"
    p.write_text("method: grpo\ntask: chain_sum\nloss:\n  lr: 2.0e-6\n")
    with pytest.raises(ConfigError, match="config key 'lr' is in section 'optimizer', not 'loss'"):
        build_config(p, notes=[])
