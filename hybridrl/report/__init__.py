"""Comparison reports: run folders and eval results in, report.md / report.html / PNGs out."""

from hybridrl.report.build import build_report

__all__ = ["build_report"]
