"""What the command line prints: rich tables of a prepare report, a reward audit and the demo's
runs, and the plain-text summary of an eval run (also saved as evaluation_summary.txt).

The library logs; only these functions print, and only the CLI calls them.
"""

from __future__ import annotations

from pathlib import Path

from sqlgrpo.report.stats import format_fraction, shape_rows
from sqlgrpo.report.trends import trend_sentence
from sqlgrpo.scoring.metrics import RATE_KEYS


def print_prepare_report(report: dict) -> None:
    """The prepare report: rows kept and dropped by reason, bad lines, dialects, throughput."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False)
    table = Table(title=f"prepare: {report['source']} ({report['layout']} layout, {report['options']['backend']})")
    table.add_column("what")
    table.add_column("rows", justify="right")
    table.add_column("detail")
    table.add_row("input rows", str(report["input_rows"]), "")
    table.add_row("bad lines", str(report["bad_lines_count"]), "not a record at all (see bad_lines)")
    for bad in report["bad_lines"][:10]:
        # A benchmark question is named by its file and index there, a row by its line.
        where = f"{bad['file']} #{bad['index']}" if bad.get("file") and bad.get("index") is not None \
            else f"line {bad['line']}"
        table.add_row("", "", f"{where}: {bad['reason']}")
    if report["bad_lines_count"] > 10:
        table.add_row("", "", f"... {report['bad_lines_count'] - 10} more in the report")
    for reason, count in report["dropped"].items():
        example = report["drop_examples"].get(reason, [{}])[0]
        table.add_row(f"dropped: {reason}", str(count),
                      f"e.g. line {example.get('line')}: {str(example.get('detail', ''))[:90]}")
    table.add_row("kept", str(report["kept"]), f"{report['train']} train, {report['eval']} eval, "
                                               f"{report['schemas']} schemas")
    table.add_row("dialects", "", ", ".join(f"{k}: {v}" for k, v in report["dialects"].items()))
    if report.get("rows_per_s"):
        table.add_row("throughput", "", f"{report['rows_per_s']} rows/s on {report['workers']} worker(s)")
    console.print(table)
    if report.get("reused"):
        console.print("[dim]outputs were up to date and reused (--force to redo)[/dim]")
    console.print(f"outputs: {report['outputs']['train']}, {report['outputs']['eval']}, {report['outputs']['report']}")



_DEMO_CHANGES = {"format_compliance": "format", "valid_sql_rate": "valid SQL", "execution_accuracy": "execution",
                 "mean_reward": "mean reward", "complexity_reward": "complexity reward"}


def _short_change(row: dict) -> str:
    """One metric of a comparison in a few words: "format +31.2 pts (0/16 -> 5/16, beyond noise)",
    "complexity reward -0.062 (0.220 -> 0.158, beyond noise)"."""
    name = _DEMO_CHANGES[row["metric"]]
    if row.get("interval") is None:
        return f"{name} {row['delta']:+.3f}"
    noise = "within noise" if row.get("within_noise") else "beyond noise"
    if row.get("a_count") is None:  # a score: no counts
        return f"{name} {row['delta']:+.3f} ({row['a']:.3f} -> {row['b']:.3f}, {noise})"
    return (f"{name} {100 * row['delta']:+.1f} pts ({row['a_count']}/{row['n_a']} -> {row['b_count']}/{row['n_b']}, "
            f"{noise})")


def print_demo_summary(summary: dict) -> None:
    """The demo's runs side by side, each comparison in a line, the stage times and the paths."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 110))  # piped output would wrap the table at 80
    runs = summary["runs"]
    n = summary[runs[0]]["n"] if runs else 0
    table = Table(title=f"sqlgrpo demo{' --quick' if summary.get('quick') else ''}: {n} held-out questions")
    for column in ("run", "format compliance", "valid SQL rate", "execution accuracy", "test-suite accuracy",
                   "mean reward", "seconds"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for run in runs:
        m = summary[run]
        seconds = (m.get("train_seconds") or 0) + (m.get("eval_seconds") or 0)
        reward = m.get("mean_reward")
        table.add_row(summary["labels"][run], *(format_fraction(m.get(k), m.get("n")) for k in
                                                ("format_compliance", "valid_sql_rate", "execution_accuracy",
                                                 "test_suite_accuracy")),
                      "-" if reward is None else f"{reward:.3f}", f"{seconds:.0f}")
    console.print(table)
    labels, rows = shape_rows({summary["labels"][run]: summary[run] for run in runs})
    if rows:  # the runs counted their answers' structure
        console.print("answers with " + ", ".join(labels) + ": "
                      + "; ".join(f"{label} {' '.join(cells)}" for label, cells in rows), highlight=False)
    for name, rows in summary.get("comparisons", {}).items():
        later, _, earlier = name.partition(" vs ")
        console.print(f"[bold]{summary['labels'].get(later, later)} vs {summary['labels'].get(earlier, earlier)}[/bold]: "
                      + "; ".join(_short_change(r) for r in rows if r["metric"] in _DEMO_CHANGES), highlight=False)
    stages = ", ".join(f"{s['name']} {s['seconds']:.0f} s{_stage_peak(s)}{' (reused)' if s['reused'] else ''}"
                       for s in summary["stages"])
    console.print(f"stages: {stages}; pipeline {summary['total_seconds']:.0f} s, this run "
                  f"{summary['this_run_seconds']:.0f} s", highlight=False)
    learning = summary.get("grpo_learning") or {}
    sentence = trend_sentence(learning["trend"]) if isinstance(learning.get("trend"), dict) else None
    if sentence:
        tied, runs_tied = learning.get("frac_reward_zero_std_mean"), learning.get("frac_executable_zero_std_mean")
        console.print(f"GRPO reward per step: {sentence}"
                      + ("" if tied is None else f"; groups whose rewards all tie: {100 * tied:.0f}%")
                      + ("" if runs_tied is None else f"; groups whose SQL all runs or all fails: {100 * runs_tied:.0f}%"),
                      highlight=False)
    memory = summary.get("peak_memory_mb") or {}
    if memory.get("stages_in_own_process"):
        console.print(f"peak memory: {memory.get('largest_child', 0) / 1024:.1f} GB resident (the largest stage, "
                      f"each in its own process), {memory.get('process', 0) / 1024:.1f} GB (the demo's own process)",
                      highlight=False)
    elif memory:
        console.print(f"peak memory: {memory.get('process', 0) / 1024:.1f} GB resident (the demo's process, every "
                      f"stage in it), {memory.get('largest_child', 0) / 1024:.1f} GB (its largest child process)",
                      highlight=False)
    out = Path(summary["output_dir"])
    console.print(f"summary: {out / 'demo_summary.json'}", highlight=False)
    console.print(f"report: {out / 'report.html'}", highlight=False)


def _stage_peak(stage: dict) -> str:
    peak = stage.get("peak_mb")
    return f" ({peak / 1024:.1f} GB)" if isinstance(peak, (int, float)) else ""


_NUMBER_WIDTH = len("100.0%")  # a share must never be cropped to "100.…" on a narrow terminal


def _fmt(value: float | None, percent: bool = True) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def print_audit_report(report: dict) -> None:
    """The report as rich tables: per reward, then per edit kind; then the gold's single-edit
    neighbours that agree with it on the shown database, per edit kind, and the share of them the
    execution reward denies full credit with the test suite (over all of them, and over those not
    equivalent to the gold by construction)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    title = (f"audit-rewards: {report.get('source', '?')} ({report['backend']}): {report['rows']} rows, "
             f"{report['rows_scored']} scored, {report['skipped_gold_failed']} gold failed, "
             f"{report['rows_without_near_misses']} without near-misses, {report['near_misses']} near-misses")
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("reward", no_wrap=True)
    for header in ("pairs", "gold wins", "tie", "miss wins", "mean gold", "mean miss", "unjudged"):
        table.add_column(header, justify="right", min_width=_NUMBER_WIDTH)
    for name, r in report["rewards"].items():
        table.add_row(name, str(r["pairs"]), _fmt(r["gold_higher"]), _fmt(r["tie"]), _fmt(r["near_miss_higher"]),
                      _fmt(r["mean_gold"], False), _fmt(r["mean_near_miss"], False), str(r["unjudged_pairs"]))
    console.print(table, crop=False)  # a narrow terminal wraps the lines; it must not cut columns off

    by_kind = Table(title="share of pairs where the gold scores higher, per edit kind", box=box.SIMPLE_HEAD)
    by_kind.add_column("edit kind", no_wrap=True)
    by_kind.add_column("pairs", justify="right", min_width=_NUMBER_WIDTH)
    for name in report["rewards"]:
        by_kind.add_column(name.removesuffix("_reward").replace("_", " "), justify="right", min_width=_NUMBER_WIDTH)
    for kind, count in report["near_misses_by_kind"].items():
        by_kind.add_row(kind, str(count), *(_fmt(r["by_kind"].get(kind, {}).get("gold_higher"))
                                            for r in report["rewards"].values()))
    console.print(by_kind, crop=False)

    found = report.get("discrimination")
    if not found:
        return
    origins = ", ".join(f"{n} {origin.replace('_', ' ')}" for origin, n in found["suite_origins"].items() if n)
    title = (f"single-edit neighbours that agree with the gold on the shown database (<= {found['neighbours_per_kind']} "
             f"per kind and row): how many the execution reward denies full credit; {found['rows_with_suite']} of "
             f"{found['rows']} rows have a test suite ({origins or 'none'})")
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("edit kind", no_wrap=True)
    for header in ("run", "agree", "equiv.", "no suite", "caught w/o suite", "caught with suite", "with suite",
                   "not equiv."):
        table.add_column(header, justify="right", min_width=_NUMBER_WIDTH)

    def row(name: str, s: dict) -> list[str]:
        return [name, str(s["neighbours_run"]), str(s["agreeing"]), str(s["equivalent"]),
                str(s["agreeing_in_rows_without_suite"]), str(s["caught_without_suite"]), str(s["caught_by_suite"]),
                _fmt(s["caught_share"]), _fmt(s["caught_share_not_equivalent"])]

    for kind, s in found["by_kind"].items():
        table.add_row(*row(kind, s))
    table.add_section()
    table.add_row(*row("all", found))
    console.print(table, crop=False)
    if found.get("rows_without_suite"):
        console.print("rows without a suite: " + ", ".join(f"{why} {n}" for why, n in found["rows_without_suite"].items()),
                      highlight=False)


def eval_summary_text(metrics: dict) -> str:
    """The summary table printed at the end and saved as evaluation_summary.txt: who answered,
    under which comparison (`match`), and every rate over the scored questions."""
    n = metrics["n"]
    failed = metrics.get("gold_failed") or 0
    counted = f"{n} samples" + (f"; {failed} more not scored: their gold fails" if failed else "")
    lines = [f"model: {metrics.get('model')}" + (f" + adapter {metrics['adapter']}" if metrics.get("adapter") else ""),
             f"eval file: {metrics.get('eval_file')} ({counted})"]
    predictions = metrics.get("predictions")
    if isinstance(predictions, dict):
        lines.append(f"predictions: {predictions.get('file')} ({predictions.get('format')} format, matched by "
                     f"{predictions.get('matched_by')})")
    match = metrics.get("match") or "ours"
    if metrics.get("match"):
        lines.append(f"comparison: {match}" + (" (correct and execution_accuracy by the benchmark's official rule; "
                                               "rewards by ours)" if match != "ours" else ""))
    lines.append("")
    for key in RATE_KEYS:
        count = metrics.get(f"{key}_count", round(metrics[key] * n))
        lines.append(f"{key:28s} {100 * metrics[key]:6.1f}%  ({count}/{n})")
    if metrics.get("test_suite_accuracy") is not None and match == "ours":
        lines.append(f"{'execution -> test suite':28s} {100 * metrics['execution_accuracy']:6.1f}% -> "
                     f"{100 * metrics['test_suite_accuracy']:.1f}%  (right on the shown database only: "
                     f"{metrics.get('execution_accuracy_count', 0) - metrics.get('test_suite_accuracy_count', 0)})")
    if metrics.get("pass_at_k") is not None:
        k = metrics["num_samples"]
        lines.append(f"{f'pass@{k}':28s} {100 * metrics['pass_at_k']:6.1f}%")
        lines.append(f"{'self_consistency_accuracy':28s} {100 * metrics['self_consistency_accuracy']:6.1f}%")
    if metrics.get("mean_reward") is not None:
        parts = ", ".join(f"{k.removesuffix('_reward')} {v}" for k, v in (metrics.get("reward_means") or {}).items())
        lines.append(f"{'mean_reward':28s} {metrics['mean_reward']:7.3f}  ({parts})")
    lines.append("")
    lines.append("by complexity: " + ", ".join(f"{cls} {100 * m['execution_accuracy']:.0f}% (n={m['n']})"
                                               for cls, m in metrics["by_complexity"].items()))
    lines.append("errors: " + ", ".join(f"{k} {v}" for k, v in metrics["error_taxonomy"].items()))
    if metrics.get("tokens_mean") is not None:
        lines.append(f"tokens/answer {metrics['tokens_mean']}, latency/answer {metrics['latency_mean_s']} s, "
                     f"{metrics['tokens_per_s']} tokens/s")
    judge = metrics.get("judge")
    if judge:
        mean = judge["mean"]
        lines.append(f"judge {judge['model']}: {judge['judged']} judged, {judge['failed']} unreadable; overall "
                     f"{mean.get('overall_score')}, sql {mean.get('sql_score')}, reasoning {mean.get('reasoning_score')}; "
                     f"tokens {judge['prompt_tokens']}+{judge['completion_tokens']}")
    return "\n".join(lines) + "\n"
