"""Sections of what runs: the run itself, the policy model, the data, evaluation, logging and
checkpoints. Each field is a config key (``key=value``, a YAML key, a ``TrainConfig`` argument)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hybridrl.rollout.machine import native_bf16
from hybridrl.config.values import ConfigError, Section, require


@dataclass
class RunSection(Section):
    """How long the run goes, where it is written, its seed."""

    section: ClassVar[str] = "run"

    output_dir: str | None = None
    """Run directory: config.yaml, metrics.jsonl, eval.jsonl, checkpoints, summary. None = a
    fresh ``runs/<method>-<YYYYmmdd-HHMMSS>`` per run; a folder holding another run is refused
    (``hybridrl train --overwrite`` replaces it)."""
    seed: int = 0
    """Seed of the data split, prompt order, sampling and the tiny model's initialisation."""
    steps: int = 100
    """Optimizer steps (an update is one step; SuperRL per_step makes two updates a step)."""
    max_nonfinite_steps: int = 3
    """Stop after this many consecutive updates with a non-finite loss or gradient."""

    def check(self) -> None:
        for key in ("steps", "max_nonfinite_steps"):
            require(getattr(self, key) >= 1, key, "must be >= 1", getattr(self, key))


@dataclass
class PolicySection(Section):
    """The model being trained and how it is held (precision, LoRA, activation memory)."""

    section: ClassVar[str] = "policy"

    model: str = "tiny"
    """``tiny`` (random, built in code), ``smollm2-135m`` (packaged), a local HF folder or hub id."""
    bf16: bool | str = "auto"
    """bf16 autocast for generation and training: ``auto`` (on only where bf16 is native: a CUDA
    GPU, or a CPU with AVX-512 BF16 / AMX; elsewhere it is emulated and ~2.4x slower than fp32),
    ``true`` or ``false``. config.yaml records the value used (true/false)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, ~30% more time."""
    lora_r: int = 0
    """LoRA rank (0 = full fine-tuning)."""
    lora_alpha: int = 16
    """LoRA scaling α (the update is scaled by α / r)."""

    def check(self) -> None:
        if isinstance(self.bf16, str):  # bf16=auto resolves to what this machine runs fast
            v = self.bf16.lower()
            if v not in ("auto", "true", "false"):
                raise ConfigError(f"config key 'bf16': expected true/false or auto, got {self.bf16!r}")
            self.bf16 = native_bf16() if v == "auto" else v == "true"
        require(self.lora_r >= 0, "lora_r", "must be >= 0", self.lora_r)
        require(self.lora_alpha > 0, "lora_alpha", "must be > 0", self.lora_alpha)


@dataclass
class DatasetSection(Section):
    """The training rows: a built-in task or a file / datasets folder, its columns and the prompt
    template."""

    section: ClassVar[str] = "dataset"
    choices: ClassVar[dict[str, tuple]] = {"template": ('vanilla', 'chat', 'r1')}

    task: str | None = None
    """Built-in task (``hybridrl data --help``); rows are generated with ``train_size``/``seed``."""
    data: str | None = None
    """Training data: a .jsonl / .parquet file, a datasets folder (``save_to_disk`` or data files;
    offline) or a hub dataset name (needs network); overrides ``task``. See ``*_column``."""
    difficulty: str | None = None
    """Difficulty of the built-in task (task-specific levels)."""
    train_size: int = 1000
    """Rows generated for a built-in task's train split."""
    data_split: str | None = None
    """Split of ``data`` when it is a datasets folder or a hub dataset (default: ``train``, or its only split)."""
    prompt_column: str | None = None
    """Column of ``data``/``eval_data`` holding the prompt (default ``prompt``), e.g. ``question``."""
    answer_column: str | None = None
    """Column holding the reference answer (default ``answer``)."""
    demonstration_column: str | None = None
    """Column holding a worked solution (default ``demonstration``), e.g. ``solution``."""
    template: str = "chat"
    """Prompt template: ``vanilla``, ``chat`` or ``r1`` (docs/design.md §3)."""

    def check(self) -> None:
        require(self.train_size >= 1, "train_size", "must be >= 1", self.train_size)


@dataclass
class EvaluationSection(Section):
    """The held-out split and when it is scored."""

    section: ClassVar[str] = "evaluation"

    eval_data: str | None = None
    """Held-out evaluation file; default: the built-in task's test split."""
    eval_data_split: str | None = None
    """Split of ``eval_data`` (e.g. ``test`` with ``eval_data`` = the same dataset as ``data``)."""
    eval_size: int = 64
    """Rows in the held-out split of a built-in task."""
    eval_every: int = 0
    """Greedy accuracy on the held-out split every N steps (0 = only at the end)."""
    eval_max_new_tokens: int | None = None
    """None = ``max_new_tokens``."""

    def check(self) -> None:
        for key in ("eval_size", "eval_every"):
            require(getattr(self, key) >= 0, key, "must be >= 0", getattr(self, key))
        require(self.eval_max_new_tokens is None or self.eval_max_new_tokens >= 1, "eval_max_new_tokens", "must be >= 1",
                self.eval_max_new_tokens)


@dataclass
class LoggingSection(Section):
    """What the run reports while it goes (metrics.jsonl always gets every step)."""

    section: ClassVar[str] = "logging"

    log_every: int = 1
    """One summary line every N steps (metrics.jsonl always gets every step)."""
    report_to: str = "none"
    """``none``, ``tensorboard``, ``wandb`` or ``trackio`` (comma-separated)."""
    progress: bool = True
    """Show a progress bar."""

    def check(self) -> None:
        require(self.log_every >= 1, "log_every", "must be >= 1", self.log_every)
        for backend in filter(None, (b.strip() for b in self.report_to.split(","))):
            if backend not in ("none", "tensorboard", "wandb", "trackio"):
                raise ConfigError(f"config key 'report_to': unknown backend '{backend}'; "
                                  f"choose none, tensorboard, wandb or trackio")


@dataclass
class CheckpointSection(Section):
    """When checkpoints are written and which are kept."""

    section: ClassVar[str] = "checkpoint"
    choices: ClassVar[dict[str, tuple]] = {"keep_optimizer": ('latest', 'all')}

    save_every: int = 0
    """Checkpoint every N steps (0 = by ``save_every_minutes`` only, and at the end)."""
    save_every_minutes: float = 10.0
    """Also checkpoint after a step that ends this many minutes after the last checkpoint (or the
    start), so a run killed without warning (``kill -9``, a lost machine) loses at most about
    this much work; 0 = off. Ctrl-C and SIGTERM always save first."""
    keep_last: int = 2
    """Checkpoints kept (older ones are deleted after a new one is complete)."""
    keep_optimizer: str = "latest"
    """Which kept checkpoints hold the optimizer state (AdamW's moments, twice the model's size):
    ``latest`` (the one resume reads) or ``all`` (to resume from an older one too)."""

    def check(self) -> None:
        require(self.keep_last >= 1, "keep_last", "must be >= 1", self.keep_last)
        for key in ("save_every", "save_every_minutes"):
            require(getattr(self, key) >= 0, key, "must be >= 0", getattr(self, key))
