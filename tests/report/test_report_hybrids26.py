"""#26: the compare report draws CHORD's μ, UFT's prefix share and ReLIFT's buffer when runs log them."""

from hybridrl.report import build_report
from tests.report.test_report import _assert_png, _write_run


def test_chord_uft_relift_metrics_get_their_figure(tmp_path):
    steps = 4
    chord = [{"step": s + 1, "reward": 0.1, "chord_mu": [0.0, 0.25, 0.5, 0.3][s], "sft_fraction": 0.2}
             for s in range(steps)]
    uft = [{"step": s + 1, "reward": 0.2, "prefix_fraction": 0.9 - 0.2 * s, "uft_hint_prob": 0.95 - 0.2 * s}
           for s in range(steps)]
    relift = [{"step": s + 1, "reward": 0.0, "relift_buffer_size": [2, 1, 3, 0][s]} for s in range(steps)]
    runs = {m: _write_run(tmp_path / m, m, rows) for m, rows in (("chord", chord), ("uft", uft), ("relift", relift))}
    out = build_report(runs, None, tmp_path / "report")
    assert "hybrid_schedules" in out["figures"]
    _assert_png(out["figures"]["hybrid_schedules"])
    # a report of runs that log none of them skips the figure
    grpo = _write_run(tmp_path / "grpo", "grpo", [{"step": 1, "reward": 0.1}])
    assert "hybrid_schedules" in build_report({"grpo": grpo}, None, tmp_path / "r2")["skipped"]
