"""Orchestration on top of every other layer: several runs, evaluations and a report.

- :mod:`~hybridrl.pipelines.compare`: train several methods alike, evaluate them, report;
- :mod:`~hybridrl.pipelines.probe`: the Adaptive Switch alone (dense or sparse?);
- :mod:`~hybridrl.pipelines.demo`: the embedded default run (``hybridrl demo``).

Layers (each imports only from those before it; ``tests/test_layers.py`` checks it):
core -> rollout / rewards / data / models -> methods -> train -> eval -> report -> pipelines -> commands.
"""
