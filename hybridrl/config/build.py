"""Building a config from its sources: defaults < a saved run's config < YAML < CLI options and
``key=value`` overrides; and finding a ``--config`` file or a recipe by name."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hybridrl.config.keys import DEFAULTS, TYPES, canonical_key
from hybridrl.config.saved import flatten
from hybridrl.config.train_config import TrainConfig
from hybridrl.config.values import ConfigError, coerce


def build_config(
    yaml_path: str | Path | None = None,
    cli: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    *,
    base: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> TrainConfig:
    """Merge defaults < ``base`` (a saved run's config) < YAML < CLI options and ``key=value``
    overrides into a validated TrainConfig. The command line says each key once: the same key
    as an option and as ``key=value`` (or under two spellings) with two values is refused, and
    so are a task and data both given there; a task (or data) on the command line replaces the
    YAML file's data (or task), with a note.

    A value the user set explicitly (YAML, option or override) always wins over the fixed
    options of a method name (``method=superrl superrl_variant=theta`` runs theta). Aliases
    (TRL/verl spellings) and other remarks are appended to ``notes`` if given, else printed
    to stderr as ``hybridrl: note: ...``.
    """
    from hybridrl.config.checks import validate

    said: list[str] = [] if notes is None else notes
    raw = read_yaml_keys(yaml_path, said) if yaml_path is not None else {}
    explicit = set(raw)
    said_by = _command_line(cli, overrides, raw, said)
    explicit |= set(said_by)
    _task_or_data(said_by, raw, said)
    values = {k: coerce(k, v, TYPES[k]) for k, v in {**flatten(base or {}, strict=False), **raw}.items() if k in TYPES}
    _apply_method_overrides(values, explicit, base, said)
    cfg = TrainConfig(**values)
    validate(cfg, notes=said)
    if notes is None:
        for line in said:
            print(f"hybridrl: {line}" if line.startswith("warning: ") else f"hybridrl: note: {line}", file=sys.stderr)
    return cfg


def read_yaml_keys(yaml_path: str | Path, said: list[str]) -> dict[str, Any]:
    """A YAML config file (flat, or nested by section) as canonical flat keys."""
    import yaml

    path = find_config_file(yaml_path)
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value")
    return {canonical_key(str(k), said, str(path)): v for k, v in flatten(loaded, source=str(path)).items()}


def _command_line(cli: dict[str, Any] | None, overrides: list[str] | None, raw: dict[str, Any],
                  said: list[str]) -> dict[str, tuple[str, Any]]:
    """Options and ``key=value`` overrides into ``raw``; returns key -> (as shown, value). The
    command line must say each thing once: the same key twice with two values is refused
    rather than resolved silently."""
    said_by: dict[str, tuple[str, Any]] = {}

    def once(k: str, v: Any, shown: str) -> None:
        if k in said_by and str(said_by[k][1]) != str(v):
            raise ConfigError(f"config key '{k}' is given twice with different values ({said_by[k][0]} and {shown}); "
                              f"give it once")
        said_by[k] = (shown, v)
        raw[k] = v

    for k, v in (cli or {}).items():
        if v is not None:
            once(canonical_key(k, said), v, f"--{k.replace('_', '-')} {v}")
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        k, v = item.split("=", 1)
        once(canonical_key(k, said), v, item)
    return said_by


def _task_or_data(said_by: dict[str, tuple[str, Any]], raw: dict[str, Any], said: list[str]) -> None:
    """--task with --data is refused; either one on the command line replaces the file's other."""
    if said_by.get("task", (0, None))[1] is not None and said_by.get("data", (0, None))[1] is not None:
        raise ConfigError("both a task and data are given (task trains on a built-in task, data on a file); "
                          "give one")
    if "data" in said_by and "task" not in said_by and raw.get("task") is not None:
        said.append(f"data={raw['data']} replaces the config file's task={raw['task']}")
        raw["task"] = None
    elif "task" in said_by and "data" not in said_by and raw.get("data") is not None:
        said.append(f"task={raw['task']} replaces the config file's data={raw['data']}")
        raw["data"] = None


def _apply_method_overrides(values: dict[str, Any], explicit: set[str], base: dict[str, Any] | None,
                            said: list[str]) -> None:
    """A method name such as superrl_theta fixes some options (one source of truth), unless the
    user set that option explicitly: an explicit value always wins."""
    from hybridrl.methods.registry import METHODS

    method = values.get("method", DEFAULTS["method"])
    if method not in METHODS:
        return
    for k, v in METHODS[method].overrides.items():
        if k in explicit and values.get(k) != v:
            said.append(f"method '{method}' fixes {k}={v}, but {k}={values[k]} was set explicitly: using {values[k]}")
        elif base is None or k not in base:
            values[k] = v


def recipe_folders() -> list[Path]:
    """Where named recipes are looked up: ``hybridrl/recipes`` (inside the package, if present)
    and the source checkout's ``recipes/`` next to the package (an editable install)."""
    pkg = Path(__file__).resolve().parents[1]
    return [p for p in (pkg / "recipes", pkg.parent / "recipes") if p.is_dir()]


def find_config_file(name: str | Path) -> Path:
    """``--config``: a YAML path, or a recipe by name from any folder (``superrl``,
    ``superrl.yaml``, ``recipes/superrl.yaml``, ``study/sparse_hpt``). A missing file is a
    ConfigError that says where the recipes are and lists their names."""
    path = Path(name)
    if path.exists():
        return path
    rel = Path(*path.parts[1:]) if path.parts and path.parts[0] == "recipes" else path
    for folder in recipe_folders():
        for cand in (folder / rel, folder / rel.with_suffix(".yaml")):
            if cand.is_file():
                return cand
    folders = recipe_folders()
    names = sorted(p.stem for f in folders for p in f.glob("*.yaml"))
    where = (f"; recipes are in {folders[0]} (pass --config NAME, e.g. --config superrl; names: "
             f"{', '.join(names)})") if names else "; no recipes folder found next to the package"
    raise ConfigError(f"config file not found: {path}{where}")
