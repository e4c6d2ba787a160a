"""ReLIFT: RL steps, interleaved with SFT on the questions RL cannot solve (Ma et al. 2025,
"Learning What Reinforcement Learning Can't: Interleaved Online Fine-Tuning for Hardest
Questions", arXiv 2506.07527; official code TheRoadQaQ/ReLIFT, ``verl/relift/trainer.py`` ``fit``, ``actor.py``
``sft_update_policy``).

Every step:

1. an RL update on all the step's rollouts with ``rl_preset`` (recipe: Dr. GRPO, the official
   ``grpo_use_std=False``, ``loss_remove_token_mean=True``);
2. every prompt none of whose n rollouts is correct puts its demonstration into the buffer
   (official: ``solve_none_uids``, all rewards equal to the fail value);
3. when the buffer holds ``B = relift_buffer_size`` demonstrations, one SFT update (token-mean
   NLL, ``compute_sft_loss``) on B of them, after the RL update of the same step.

Buffer order as the official code: each step's new demonstrations go in *front*
(``DataProto.concat([new, buffer])``), the SFT update takes the first B (the newest) and the
rest stay for later; the buffer is never cleared, at the end of an epoch included. It lives in
:meth:`state_dict`, so a resumed run continues with the same buffer.

Logged: ``relift_buffer_size`` (after this step's SFT update), ``relift/num_buffered`` (added
this step), ``relift/sft_step`` (1 when the SFT update ran), ``sft_fraction`` (demonstrations ÷
all samples trained this step).

SFT optimizer: the official worker keeps a second AdamW for the SFT update (same lr 1e-6, betas
and weight decay; no scheduler). Here the SFT update steps the run's optimizer with its own named
state (``relift_separate_optimizer``, default true; ``training/update/optimizer_states.py``): separate
moments as officially, the shared lr schedule and gradient clip.

Departures (docs/methods.md, ReLIFT table): no entropy bonus on the SFT update (official 0.001 × the
demonstrations' entropy); "none correct" is the verifier's exact-match flag, where the official
code compares the reward with its fail value. One process only: the buffer fills per process,
so processes would disagree on when the SFT update runs.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch

from hybridrl.schema import Row
from hybridrl.methods.base import Controller, LossTerm, StepContext, StepData, Update
from hybridrl.methods.spec import MethodSpec
from hybridrl.methods.plain import rollout_term


@dataclass
class ReLIFTOptions:
    """Options of ReLIFT (Ma et al. 2025, arXiv 2506.07527; official TheRoadQaQ/ReLIFT).

    Config section ``relift`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "relift"

    relift_buffer_size: int = 128
    """Demonstrations per SFT step: when the buffer of the demonstrations of prompts none of
    whose rollouts was correct holds this many, one SFT update runs on the newest
    ``relift_buffer_size`` of them (official examples ``sft_data_size=128`` with 128 prompts per
    step; 32 in relift_trainer.yaml)."""
    relift_separate_optimizer: bool = True
    """The SFT update keeps its own AdamW moments, apart from the RL updates' (official: a second
    AdamW, ``actor_sft_optimizer``, same lr and betas). False: one shared optimizer state."""


def unsolved_rows(rows: list[Row], correct: torch.Tensor, prompt_index: torch.Tensor) -> list[int]:
    """Indices of the rows that have a demonstration and none of whose rollouts is correct.

    Args:
        rows: the step's P rows; correct: (N,) bool; prompt_index: (N,) long row of each rollout.
    """
    solved = torch.zeros(len(rows), dtype=torch.long).index_add_(0, prompt_index.long(), correct.long())
    sampled = torch.zeros(len(rows), dtype=torch.long).index_add_(0, prompt_index.long(),
                                                                torch.ones_like(prompt_index, dtype=torch.long))
    return [i for i, r in enumerate(rows) if r.demonstration and sampled[i] > 0 and solved[i] == 0]


class SFTBuffer:
    """ReLIFT's buffer of demonstrations: newest first, drained B at a time."""

    def __init__(self, size: int):
        self.size = size
        self.rows: list[Row] = []

    def add(self, new: list[Row]) -> None:
        self.rows = list(new) + self.rows  # official: concat([new, buffer])

    def take(self) -> list[Row] | None:
        """The first ``size`` rows when the buffer holds at least that many (they leave it)."""
        if len(self.rows) < self.size:
            return None
        batch, self.rows = self.rows[: self.size], self.rows[self.size:]
        return batch

    def __len__(self) -> int:
        return len(self.rows)

    def state_dict(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.rows]

    def load_state_dict(self, rows: list[dict[str, Any]]) -> None:
        self.rows = [Row(**r) for r in rows]


class ReLIFTController(Controller):
    """RL every step; an SFT update whenever the buffer of unsolved prompts is full."""

    def __init__(self, config: Any):
        super().__init__(config)
        if int(config.relift_buffer_size) < 1:
            raise ValueError(f"relift_buffer_size must be >= 1 (got {config.relift_buffer_size})")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ValueError("relift runs on one process: each process would fill its own buffer and they would "
                             "disagree on when the SFT update runs")
        self.preset = config.rl_preset
        self.buffer = SFTBuffer(int(config.relift_buffer_size))
        self.sft_state = "relift_sft" if config.relift_separate_optimizer else None

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        assert data.rollouts is not None and data.correct is not None
        new = unsolved_rows(data.rows, data.correct, data.rollouts.prompt_index)
        self.buffer.add([data.rows[i] for i in new])
        updates = [Update([rollout_term("pg", self.preset, data)], kind="rl")]
        batch = self.buffer.take()
        if batch is not None:
            sft = LossTerm("sft", "sft", "demo", torch.arange(len(batch)), rows=batch)
            updates.append(Update([sft], kind="sft", optimizer_state=self.sft_state))
        n_demo, n_roll = (len(batch) if batch else 0), data.rollouts.num_samples
        self._metrics = {"relift_buffer_size": len(self.buffer), "relift/num_buffered": len(new),
                         "relift/sft_step": int(batch is not None),
                         "sft_fraction": n_demo / max(1, n_demo + n_roll)}
        return updates

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.buffer.load_state_dict(state.get("buffer", []))


SPECS = {
    "relift": MethodSpec(ReLIFTController, "RL every step; SFT on a full buffer of unsolved prompts' demos",
                         "ReLIFT (Ma et al. 2025)", needs_demos=True, options=(ReLIFTOptions,)),
}
