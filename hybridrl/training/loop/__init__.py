"""The step loop and what assembles a run around it.

:mod:`.trainer` is the one loop (prompts -> rollouts -> rewards -> the controller's plan ->
updates -> records); :mod:`.setup`, :mod:`.data_setup` and :mod:`.sampler` build what it
consumes (processes, model, optimizer, rows, each step's prompts); :mod:`.heldout` scores the
held-out rows it reports on (and :mod:`hybridrl.eval` reuses); :mod:`.interrupt` lets it stop
at a safe point; :mod:`.runner` wraps one run (run-folder rules, resume config, an importable
reward) for the CLI and the API. Each either runs the steps or decides what they run on; how
an update becomes a gradient and how a run folder is written belong to
:mod:`hybridrl.training.update` and :mod:`hybridrl.training.persistence`, which the loop calls.
The runner sits here, not with persistence, because it starts the loop.
"""
