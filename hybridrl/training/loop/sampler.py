"""Prompt sampler: shuffled epochs over the training rows, resumable, shardable."""

from __future__ import annotations

from typing import Any

import torch

from hybridrl.schema import Row


class PromptSampler:
    """Draws ``batch`` rows per step, reshuffling at each epoch with ``seed + epoch``.

    The whole state is (epoch, position), so a resumed run draws exactly the same rows.
    Rows whose id is in ``exclude`` (HPT's removal of SFT-ed questions) are skipped; if
    that leaves an epoch empty the exclusion is ignored rather than looping forever.
    """

    def __init__(self, rows: list[Row], batch: int, seed: int):
        if not rows:
            raise ValueError("no training rows")
        self.rows = rows
        self.batch = batch
        self.seed = seed
        self.epoch = 0
        self.position = 0

    def _order(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.rows), generator=g).tolist()

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.rows) // self.batch)

    def next(self, exclude: set[str] | None = None) -> tuple[list[Row], int]:
        """The next batch and the epoch it was drawn from (the epoch of its first row)."""
        out: list[Row] = []
        epoch_of_batch = self.epoch
        skipped_whole_epoch = 0
        while len(out) < self.batch:
            order = self._order(self.epoch)
            if self.position >= len(order):
                self.epoch += 1
                self.position = 0
                if not out:
                    epoch_of_batch = self.epoch
                continue
            row = self.rows[order[self.position]]
            self.position += 1
            if exclude and row.id in exclude:
                skipped_whole_epoch += 1
                if skipped_whole_epoch > 2 * len(self.rows):
                    exclude = None  # everything is excluded: fall back to plain sampling
                continue
            out.append(row)
        return out, epoch_of_batch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
