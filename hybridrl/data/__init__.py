"""Datasets and built-in tasks (docs/design.md §3).

- :mod:`~hybridrl.schema`: the :class:`Row` record.
- :mod:`~hybridrl.data.loading`: ``load_rows`` (.jsonl / .parquet / datasets folder, validated,
  demonstrations verified) and ``write_jsonl``.
- :mod:`~hybridrl.data.tasks`: built-in reasoning-gym tasks with templated demonstrations.
- :mod:`~hybridrl.data.demos`: the demonstration templates.
- :mod:`~hybridrl.data.templates`: prompt templates (``vanilla``, ``chat``, ``r1``) and SFT targets.

Importing this package is cheap: reasoning-gym, datasets and pyarrow are imported on first use.
"""

from hybridrl.data.loading import DataError, load_rows, write_jsonl
from hybridrl.schema import Row
from hybridrl.data.tasks import TASKS, TaskSpec, build_task, describe_tasks
from hybridrl.data.templates import TEMPLATES, format_demonstration, format_prompt

__all__ = [
    "Row",
    "DataError",
    "load_rows",
    "write_jsonl",
    "TASKS",
    "TaskSpec",
    "build_task",
    "describe_tasks",
    "TEMPLATES",
    "format_prompt",
    "format_demonstration",
]
