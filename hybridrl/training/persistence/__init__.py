"""Run persistence: what a run leaves in its folder and reads back on resume.

:mod:`.checkpoint` writes and reads atomic checkpoints (one process or sharded);
:mod:`.run_state` saves the resolved config and the trainer's state and restores them on
resume; :mod:`.records` forms the step's metrics record and ``summary.json``; :mod:`.tracking`
appends ``metrics.jsonl`` and feeds the progress bar and the tracking backends. They are apart
from the loop because they hold the on-disk contract of a run folder (docs/design.md §5), which
outlives any one loop and is read by ``eval``, ``compare`` and ``report`` too; they import
nothing of the loop or the update engine.
"""
