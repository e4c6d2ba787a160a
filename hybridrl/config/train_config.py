""":class:`TrainConfig`: the method, then one section per topic (``cfg.optimizer``,
``cfg.rollout`` ...) and one per method's options (``cfg.hpt`` ...). Every key is also a flat
attribute (``cfg.lr`` is ``cfg.optimizer.lr``) and a flat keyword (``TrainConfig(lr=1e-5)``),
so the Python API, recipes and ``key=value`` overrides read as before the split."""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hybridrl.config.keys import DEFAULTS, GENERAL_SECTIONS, KEYS, SECTIONS, canonical_key
from hybridrl.config.rollout import DistributedSection, RolloutSection
from hybridrl.config.run import (CheckpointSection, DatasetSection, EvaluationSection, LoggingSection, PolicySection,
                                 RunSection)
from hybridrl.config.training import BatchSection, CriticSection, LossSection, OptimizerSection, RewardSection
from hybridrl.config.values import ConfigError, Section, check_python_type, check_section


class TrainConfig:
    """The configuration of one run (docs/design.md §5): type- and range-checked when built,
    ``bf16=auto`` and ``output_dir=None`` resolved to what runs."""

    method: str
    run: RunSection
    policy: PolicySection
    dataset: DatasetSection
    batch: BatchSection
    rollout: RolloutSection
    reward: RewardSection
    loss: LossSection
    critic: CriticSection
    optimizer: OptimizerSection
    distributed: DistributedSection
    evaluation: EvaluationSection
    logging: LoggingSection
    checkpoint: CheckpointSection
    # + one attribute per method options section (hpt, superrl, sasr ...), from the registry

    def __init__(self, **keys: Any) -> None:
        given = _canonical_keywords(keys)
        method = check_python_type("method", given.pop("method", DEFAULTS["method"]), str)
        sections = {name: _build_section(name, given.pop(name, None), given) for name in SECTIONS}
        self.__dict__.update(method=method, **sections)
        if self.run.output_dir is None:
            self.run.output_dir = default_output_dir(method)
        from hybridrl.config.checks import check_values

        check_values(self)

    def sections(self) -> dict[str, Any]:
        """Section name -> section, in config.yaml's order."""
        return {name: self.__dict__[name] for name in SECTIONS}

    def replace(self, **changes: Any) -> TrainConfig:
        """A new config with ``changes`` (flat keys, or whole sections by name) applied."""
        return TrainConfig(method=self.method, **self.sections(), **changes)

    def __copy__(self) -> TrainConfig:
        return self.replace()

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, TrainConfig) and self.method == other.method and self.sections() == other.sections()

    def __repr__(self) -> str:
        return f"TrainConfig(method={self.method!r}, " + ", ".join(f"{k}={v!r}" for k, v in self.sections().items()) + ")"


class _Key:
    """A flat key as an attribute: ``cfg.lr`` reads and writes ``cfg.optimizer.lr``;
    ``TrainConfig.lr`` is the key's default."""

    def __init__(self, key: str, section: str) -> None:
        self.key, self.section = key, section
        self.__doc__ = f"``{key}`` of section ``{section}``"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return DEFAULTS.get(self.key)
        return getattr(obj.__dict__[self.section], self.key)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj.__dict__[self.section], self.key, value)


for _key, _section in KEYS.items():
    if _section is not None:
        setattr(TrainConfig, _key, _Key(_key, _section))
# dataclasses.fields / replace / is_dataclass work on a TrainConfig: its fields are the method and the sections
TrainConfig.__annotations__.update({name: cls for name, cls in SECTIONS.items() if name not in GENERAL_SECTIONS})
TrainConfig = dataclass(init=False, repr=False, eq=False)(TrainConfig)  # type: ignore[misc]


def _canonical_keywords(keys: dict[str, Any]) -> dict[str, Any]:
    """Flat keys under their canonical name (``num_generations`` -> ``group_size``, a typo is a
    ConfigError with a suggestion); a key given under two names with two values is refused."""
    given: dict[str, Any] = {}
    notes: list[str] = []
    for k, v in keys.items():
        name = k if k in KEYS or k in SECTIONS else canonical_key(k, notes)
        if name in given and given[name] != v:
            raise ConfigError(f"config key '{name}' is given twice with different values ({given[name]!r} "
                              f"and {v!r}); give it once")
        given[name] = v
    for line in notes:
        print(f"hybridrl: note: {line}", file=sys.stderr)
    return given


def _build_section(name: str, base: Any, given: dict[str, Any]) -> Any:
    """Section ``name`` from ``base`` (a section object, or None for the defaults) with the keys
    of ``given`` that belong to it (taken out of ``given``), checked."""
    cls = SECTIONS[name]
    values = {f.name: getattr(base, f.name) for f in fields(cls)} if base is not None else {}
    values.update({k: given.pop(k) for k in [k for k in given if KEYS.get(k) == name]})
    if issubclass(cls, Section):
        return cls(**values)  # a general section checks itself
    obj = cls(**values)
    try:
        check_section(obj)
    except ConfigError:
        raise
    except ValueError as e:  # a method's own check
        raise ConfigError(str(e)) from None
    return obj


def default_output_dir(method: str, root: str | Path = "runs") -> str:
    """A fresh run folder: ``runs/<method>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3`` ... if taken)."""
    import time

    base = Path(root) / f"{method}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return str(out)
