"""recipes/<method>.yaml: one per method, each a valid config whose non-default values say
where they come from."""

from pathlib import Path

import pytest
import yaml

from hybridrl.data.tasks import TASKS
from hybridrl.methods.registry import METHODS, OPTION_OWNERS
from hybridrl.config import DEFAULTS, build_config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
# the shape of the run, not a paper's value: no citation needed
RUN_KEYS = {"method", "model", "task", "output_dir", "eval_every", "bf16", "steps", "train_size", "eval_size",
            "template"}


def test_every_method_has_exactly_one_recipe():
    assert sorted(p.stem for p in RECIPES.glob("*.yaml")) == sorted(METHODS)


@pytest.mark.parametrize("method", list(METHODS))
def test_recipe_loads_and_names_its_method(method):
    path = RECIPES / f"{method}.yaml"
    cfg = build_config(path)  # unknown keys or bad values raise ConfigError
    assert cfg.method == method
    assert cfg.model == "smollm2-135m" and cfg.task in TASKS and cfg.data is None
    assert cfg.output_dir == f"runs/{method}"


@pytest.mark.parametrize("method", list(METHODS))
def test_recipe_cites_its_values(method):
    lines = (RECIPES / f"{method}.yaml").read_text().splitlines()
    assert lines[0].startswith("# "), "a recipe opens with what the method is and its paper"
    values = yaml.safe_load("\n".join(lines))
    for i, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key = line.split(":", 1)[0].strip()
        owners = OPTION_OWNERS.get(key)  # the methods whose options section holds the key (registry)
        assert owners is None or method in owners, f"{method}.yaml sets {key}, an option of another method"
        if key in RUN_KEYS or values[key] == DEFAULTS[key]:
            continue
        commented = "#" in line or lines[i - 1].lstrip().startswith("#")
        assert commented, f"{method}.yaml: '{key}: {values[key]}' differs from the default with no comment saying why"


@pytest.mark.parametrize("setting", ["dense", "sparse"])
def test_study_recipes_load_for_every_studied_method(setting):
    """recipes/study/*.yaml (docs/results.md) are shared by every method of the study."""
    for method in ("sft", "grpo", "dr_grpo", "sft_then_rl", "hpt", "superrl", "sasr", "luffy", "auto"):
        cfg = build_config(RECIPES / "study" / f"{setting}.yaml", {"method": method})
        assert cfg.method == method and cfg.task == "chain_sum"


def test_study_settings_differ_only_in_difficulty():
    dense, sparse = (yaml.safe_load((RECIPES / "study" / f"{s}.yaml").read_text()) for s in ("dense", "sparse"))
    assert {k for k in dense.keys() | sparse.keys() if dense.get(k) != sparse.get(k)} == {"difficulty"}


@pytest.mark.parametrize("setting", ["sparse", "mixed", "dense"])
def test_study_v2_recipes_load_for_every_method_they_ran_and_the_new_hybrids(setting):
    """recipes/study/v2/*.yaml (docs/results-v2.md) serve every method of study v2 and the issue #26
    runs (scripts/study_v2_new.sh), whose schedules they scale to the 40-step run."""
    for method in ("sft", "grpo", "sft_then_rl", "hpt", "superrl", "sasr", "luffy", "auto", "chord", "relift", "uft"):
        cfg = build_config(RECIPES / "study" / "v2" / f"{setting}.yaml", {"method": method})
        assert cfg.method == method and cfg.steps == 40 and cfg.max_new_tokens == 64
    raw = yaml.safe_load((RECIPES / "study" / "v2" / f"{setting}.yaml").read_text())
    # CHORD's mu: warm-up then decay fill the 40 steps at the official 1 : 2 ratio (200 : 400 of 600)
    assert raw["chord_mu_warmup_steps"] + raw["chord_mu_decay_steps"] == raw["steps"]
    assert raw["relift_buffer_size"] == raw["prompts_per_step"]  # official: the buffer equals the batch


def test_study_v3_is_v2_mixed_with_only_the_token_budget_changed():
    v2, v3 = (yaml.safe_load((RECIPES / "study" / v / "mixed.yaml").read_text()) for v in ("v2", "v3"))
    assert {k for k in v2.keys() | v3.keys() if v2.get(k) != v3.get(k)} == {"max_new_tokens"}
    assert (v2["max_new_tokens"], v3["max_new_tokens"]) == (64, 256)
    for method in ("grpo", "sft", "sft_then_rl", "hpt", "chord"):
        assert build_config(RECIPES / "study" / "v3" / "mixed.yaml", {"method": method}).max_new_tokens == 256
