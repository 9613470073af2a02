"""The `compare` command: two eval runs side by side (B − A), as one HTML page.

    sqlgrpo compare outputs/eval-base outputs/eval-tuned [--output-dir outputs/compare]

Each metric's difference comes with its 95% interval (paired on the questions both runs
answered), per class too, and the questions that flipped between right and wrong.
"""

from __future__ import annotations

from pathlib import Path

from sqlgrpo.stages.eval import load_run


def compare_runs(run_a: str | Path, run_b: str | Path, output_dir: str | Path) -> tuple[Path, dict, dict]:
    """An HTML report of two eval runs side by side (B − A), with per-class deltas; returns its
    path and the two runs' metrics."""
    from sqlgrpo.report.compare_page import render_compare_report

    metrics_a, results_a = load_run(run_a)
    metrics_b, results_b = load_run(run_b)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = render_compare_report(metrics_a, metrics_b, out / "compare.html", label_a=Path(run_a).name or str(run_a),
                                 label_b=Path(run_b).name or str(run_b), results_a=results_a, results_b=results_b)
    return page, metrics_a, metrics_b
