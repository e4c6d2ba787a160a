"""Evaluation: accuracy metrics (pass@k, CIs, EMA, exclusive solves), evaluating models on eval
sets (``evaluate``) and training several methods on equal terms for a report (``compare``)."""
