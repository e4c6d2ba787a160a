"""The update engine: one controller ``Update`` -> optimizer step(s).

:mod:`.terms` turns one loss term into sequences, micro-batches and forward/backward passes
with global normaliser counts; :mod:`.optimize` runs an update's terms (pre-passes, backward,
clipping, the step, the non-finite skip); :mod:`.minibatches` splits an update into several
optimizer steps; :mod:`.optimizer_states` gives an update its own named optimizer state. They
form one unit because together they fix the gradient a step applies, and they know nothing of
the loop or the run folder: given models, settings and terms they step the optimizer (which is
also what the TRL integration reuses).
"""
