"""The `sqlgrpo` command: one subcommand per stage, each a thin layer over the library.

    sqlgrpo --help
    sqlgrpo prepare [--input SRC] [--output-dir DIR] [--backend sqlite|duckdb] ...
    sqlgrpo train [--config FILE.yaml] [--model NAME] [--max-steps N] [any config field as --flag]
    sqlgrpo eval [--model NAME] [--adapter DIR] [--limit N] [--no-judge] [--resume] ...
    sqlgrpo compare RUN_A RUN_B
    sqlgrpo ask --schema FILE "question"
    sqlgrpo audit-rewards [--data FILE] [--limit N]
    sqlgrpo demo [--quick] [--output-dir DIR]

The CLI configures logging and prints tables; the library only logs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable

from sqlgrpo import __version__

from sqlgrpo.common import paths

log = logging.getLogger("sqlgrpo")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        datefmt="[%X]", handlers=[RichHandler(show_path=False, rich_tracebacks=False)])
    for noisy in ("httpx", "urllib3", "datasets", "filelock", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --------------------------------------------------------------------------------------------
# prepare

def _add_prepare(sub: argparse._SubParsersAction) -> None:
    from sqlgrpo.stages.prepare import DEFAULT_EVAL_FRACTION, DEFAULT_SEED, SPLIT_BY
    from sqlgrpo.sql import BACKENDS

    p = sub.add_parser(
        "prepare", help="load, cleanse and split a text-to-SQL dataset",
        description=(
            "Load a dataset, keep the rows whose SQL works (context builds, gold executes, every "
            "referenced table and column exists), drop exact duplicates, split train/eval, and "
            "report every dropped row and bad input line with its reason. Writes "
            f"{paths.TRAIN_FILE_NAME}, {paths.EVAL_FILE_NAME} and {paths.PREPARE_REPORT_NAME}. "
            "Rerunning with the same input and options reuses the outputs."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input", default="embedded", metavar="SRC",
                   help="'embedded' (the sample shipped with sqlgrpo), a .jsonl/.json/.csv/.parquet file, or a "
                        "Hugging Face dataset id such as gretelai/synthetic_text_to_sql")
    p.add_argument("--output-dir", default=None, metavar="DIR",
                   help=f"where the outputs go (default: {paths.data_dir()}, or $SQLGRPO_DATA_DIR)")
    p.add_argument("--backend", choices=BACKENDS, default="sqlite",
                   help="engine the golds must execute on (DuckDB is closer to PostgreSQL)")
    p.add_argument("--eval-fraction", type=float, default=DEFAULT_EVAL_FRACTION, metavar="F",
                   help="share of kept rows held out for evaluation, in [0, 1)")
    p.add_argument("--split-by", choices=SPLIT_BY, default="row",
                   help="row: stratified by sql_complexity; schema: each schema on one side only")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="read only the first N records")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the split")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="processes (default: all cores)")
    p.add_argument("--force", action="store_true", help="redo even when the outputs are up to date")
    p.set_defaults(func=_run_prepare)


def _print_prepare_report(report: dict) -> None:
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
        table.add_row("", "", f"line {bad['line']}: {bad['reason']}")
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


def _run_prepare(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.prepare import PrepareError, PrepareOptions, prepare
    from sqlgrpo.data.sources import SourceError

    opts = PrepareOptions(input=args.input, output_dir=args.output_dir, backend=args.backend,
                          eval_fraction=args.eval_fraction, split_by=args.split_by, limit=args.limit,
                          seed=args.seed, workers=args.workers, force=args.force)
    try:
        report = prepare(opts)
    except (SourceError, PrepareError, ValueError) as e:
        log.error("prepare failed: %s", e)
        return EXIT_FAILED
    _print_prepare_report(report)
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# demo

def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the whole pipeline on the embedded model and data, on a CPU, with a measured improvement",
        description=(
            "prepare the embedded sample -> evaluate the base model -> supervised warm-up (sft) -> evaluate -> "
            "contrastive (DPO) from the SFT adapter -> evaluate -> GRPO from the contrastive adapter -> evaluate, "
            "then a table of the four runs, DIR/demo_summary.json and DIR/report.html (differences with 95% "
            "intervals, training curves, time of every stage). A rerun reuses every finished stage whose settings "
            "and inputs are unchanged and resumes an interrupted one. Settings: sqlgrpo/data/demo.yaml."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="fewer steps and samples: under 10 minutes on 2 cores instead of about 25")
    p.add_argument("--output-dir", default=str(paths.output_dir("demo")), metavar="DIR",
                   help="where every stage's outputs, demo_summary.json and report.html go")
    p.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="a config file to use instead of the shipped demo settings (same layout as demo.yaml)")
    p.add_argument("--force", action="store_true", help="redo every stage even when its outputs are up to date")
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.config import ConfigError
    from sqlgrpo.stages.demo import DemoError, run_demo

    try:
        summary = run_demo(args.output_dir, quick=args.quick, config_file=args.config, force=args.force)
    except (DemoError, ConfigError) as e:
        log.error("demo failed: %s", e)
        return EXIT_FAILED
    _print_demo_table(summary)
    return EXIT_OK


_DEMO_CHANGES = {"format_compliance": "format", "valid_sql_rate": "valid SQL", "execution_accuracy": "execution",
                 "mean_reward": "mean reward"}


def _short_change(row: dict) -> str:
    """One metric of a comparison in a few words: "format +31.2 pts (0/16 -> 5/16, beyond noise)"."""
    name = _DEMO_CHANGES[row["metric"]]
    if row.get("interval") is None:
        return f"{name} {row['delta']:+.3f}"
    noise = "within noise" if row.get("within_noise") else "beyond noise"
    return (f"{name} {100 * row['delta']:+.1f} pts ({row['a_count']}/{row['n_a']} -> {row['b_count']}/{row['n_b']}, "
            f"{noise})")


def _print_demo_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from sqlgrpo.report.pages import format_fraction

    console = Console(width=max(Console().width, 110))  # piped output would wrap the table at 80
    runs = summary["runs"]
    n = summary[runs[0]]["n"] if runs else 0
    table = Table(title=f"sqlgrpo demo{' --quick' if summary.get('quick') else ''}: {n} held-out questions")
    for column in ("run", "format compliance", "valid SQL rate", "execution accuracy", "mean reward", "seconds"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for run in runs:
        m = summary[run]
        seconds = (m.get("train_seconds") or 0) + (m.get("eval_seconds") or 0)
        reward = m.get("mean_reward")
        table.add_row(summary["labels"][run], *(format_fraction(m.get(k), m.get("n"))
                                                for k in ("format_compliance", "valid_sql_rate", "execution_accuracy")),
                      "-" if reward is None else f"{reward:.3f}", f"{seconds:.0f}")
    console.print(table)
    for name, rows in summary.get("comparisons", {}).items():
        later, _, earlier = name.partition(" vs ")
        console.print(f"[bold]{summary['labels'].get(later, later)} vs {summary['labels'].get(earlier, earlier)}[/bold]: "
                      + "; ".join(_short_change(r) for r in rows if r["metric"] in _DEMO_CHANGES), highlight=False)
    stages = ", ".join(f"{s['name']} {s['seconds']:.0f} s{' (reused)' if s['reused'] else ''}" for s in summary["stages"])
    console.print(f"stages: {stages}; pipeline {summary['total_seconds']:.0f} s, this run "
                  f"{summary['this_run_seconds']:.0f} s", highlight=False)
    out = Path(summary["output_dir"])
    console.print(f"summary: {out / 'demo_summary.json'}", highlight=False)
    console.print(f"report: {out / 'report.html'}", highlight=False)


# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# train

def _add_config_stage(sub: argparse._SubParsersAction, name: str, help_text: str, description: str,
                      func: Callable[[argparse.Namespace], int]) -> None:
    """A stage configured by the YAML config: `--config FILE` plus one flag per config field."""
    from sqlgrpo.stages.config import add_config_arguments

    p = sub.add_parser(name, help=help_text, description=description,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p, name)
    p.set_defaults(func=func)



def _add_train(sub: argparse._SubParsersAction) -> None:
    _add_config_stage(
        sub, "train", "GRPO fine-tuning with TRL and LoRA, rewards computed by running SQL",
        (
            "GRPO with TRL's GRPOTrainer and a LoRA adapter on the prepared training file. Every option "
            "can come from the YAML config (--config) and be overridden by its flag. Writes "
            "resolved_config.yaml, checkpoints, TensorBoard logs, final_adapter/ and trainer_state.json "
            "into --output-dir. Multi-GPU: accelerate launch -m sqlgrpo.cli train ..."),
        _run_train)


def _run_train(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.config import ConfigError, resolve_from_args
    from sqlgrpo.stages.train import TrainError, train

    try:
        stage = resolve_from_args("train", args)
        summary = train(stage)
    except (ConfigError, TrainError, KeyError) as e:
        log.error("train failed: %s", e.args[0] if e.args else e)
        return EXIT_FAILED
    last = summary.get("last_log", {})
    rewards = ", ".join(f"{k.split('/')[1]}={v:.3f}" for k, v in last.items() if k.startswith("rewards/") and k.endswith("/mean"))
    log.info("trained %s steps in %.0f s; last rewards: %s", summary["steps"], summary["seconds"], rewards or "-")
    if summary.get("final_adapter"):
        log.info("final adapter: %s", summary["final_adapter"])
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# sft

def _add_sft(sub: argparse._SubParsersAction) -> None:
    _add_config_stage(
        sub, "sft", "supervised warm-up on gold answers in the <reasoning>/<sql> format (TRL SFTTrainer, LoRA)",
        ("Train a LoRA adapter with TRL's SFTTrainer on the prepared training file: prompt as in the other "
         "stages, completion = the gold in the answer format with a short reasoning built from its tables and "
         "columns; loss on the completion only. Writes --output-dir/final_adapter; start GRPO from it with "
         "`sqlgrpo train --init-adapter DIR/final_adapter`."),
        _run_sft)


def _run_sft(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.config import ConfigError, resolve_from_args
    from sqlgrpo.stages.sft import SftError, run_sft
    from sqlgrpo.stages.train import TrainError

    try:
        summary = run_sft(resolve_from_args("sft", args))
    except (ConfigError, SftError, TrainError, OSError) as e:
        log.error("sft failed: %s", e)
        return EXIT_FAILED
    log.info("SFT on %d examples, %d steps in %.0f s; adapter: %s", summary["examples"], summary["steps"],
             summary["seconds"], summary["final_adapter"])
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# contrastive

def _add_contrastive(sub: argparse._SubParsersAction) -> None:
    _add_config_stage(
        sub, "contrastive", "DPO on gold vs verified near-miss SQL (a preference stage before GRPO)",
        (
            "Build preference pairs (chosen: the gold answer; rejected: a near-miss one AST edit away, "
            "verified by execution to give another outcome), write them to preferences.jsonl, and train a "
            "LoRA adapter with TRL's DPOTrainer into --output-dir/final_adapter. Start GRPO from it with "
            "`sqlgrpo train --init-adapter DIR/final_adapter`."),
        _run_contrastive)


def _run_contrastive(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.config import ConfigError, resolve_from_args
    from sqlgrpo.stages.contrastive import ContrastiveError, run_contrastive
    from sqlgrpo.stages.train import TrainError

    try:
        summary = run_contrastive(resolve_from_args("contrastive", args))
    except (ConfigError, ContrastiveError, TrainError, OSError) as e:
        log.error("contrastive failed: %s", e)
        return EXIT_FAILED
    log.info("DPO on %d pairs from %d questions, %d steps in %.0f s; adapter: %s", summary["pairs"],
             summary["questions"], summary["steps"], summary["seconds"], summary["final_adapter"])
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# eval, ask, compare

def _add_eval(sub: argparse._SubParsersAction) -> None:
    _add_config_stage(
        sub, "eval", "answers on held-out questions: execution accuracy, format, errors, LLM judge, HTML report",
        (
            "Generate answers for the eval file (batched; greedy, or --num-samples K for pass@K and "
            "self-consistency), score them by execution against the gold with the reward's comparison, "
            "optionally ask an LLM judge (OPENAI_API_KEY or --judge-base-url; skipped otherwise), and write "
            "evaluation_results.json, evaluation_summary.csv/.txt, metrics.json and report.html. "
            "--resume continues an interrupted run without regenerating or re-judging."),
        _run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.config import ConfigError, resolve_from_args
    from sqlgrpo.stages.eval import REPORT_FILE, EvalError, evaluate, summary_text
    from sqlgrpo.stages.train import TrainError

    try:
        stage = resolve_from_args("eval", args)
        metrics = evaluate(stage)
    except (ConfigError, EvalError, TrainError, OSError) as e:
        log.error("eval failed: %s", e)
        return EXIT_FAILED
    print(summary_text(metrics), end="")
    print(f"report: {Path(stage.section.output_dir) / REPORT_FILE}")
    return EXIT_OK


def _add_ask(sub: argparse._SubParsersAction) -> None:
    from sqlgrpo.stages.config import DEFAULT_MODEL

    p = sub.add_parser("ask", help="ask a model one question about a schema",
                       description="One answer, printed with its reasoning; when the schema file holds INSERT rows, "
                                   "the SQL is run on them and the rows are shown.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("question", help="the question, in natural language")
    p.add_argument("--schema", required=True, metavar="FILE", help="a .sql file of CREATE TABLE (and INSERT) statements")
    p.add_argument("--model", default=None, help=f"model name or path (default: the adapter's base, else {DEFAULT_MODEL})")
    p.add_argument("--adapter", default=None, metavar="DIR", help="a LoRA adapter (e.g. outputs/train/final_adapter)")
    p.add_argument("--backend", choices=("sqlite", "duckdb"), default="sqlite")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.set_defaults(func=_run_ask)


def _run_ask(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.config import DEFAULT_MODEL
    from sqlgrpo.stages.eval import ask
    from sqlgrpo.llm.models import model_name_of_adapter

    schema_path = Path(args.schema)
    try:
        schema = schema_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        log.error("cannot read schema file %s: %s", schema_path, e)
        return EXIT_FAILED
    model = args.model or (model_name_of_adapter(args.adapter) if args.adapter else None) or DEFAULT_MODEL
    try:
        answer = ask(args.question, schema, model=model, adapter=args.adapter, backend=args.backend,
                     max_new_tokens=args.max_new_tokens)
    except (OSError, ValueError) as e:
        log.error("ask failed: %s", e)
        return EXIT_FAILED
    print("reasoning:", answer["reasoning"] or "(none)")
    print("sql:", answer["sql"] or "(no SQL found)")
    if answer.get("sql"):
        if answer.get("ok"):
            print("result:", answer["columns"])
            for row in answer["rows"]:
                print("  ", row)
        else:
            print("error:", answer.get("error"))
    if not answer["sql"]:
        print("raw answer:", answer["raw_output"])
    return EXIT_OK


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="two eval runs side by side (e.g. base vs fine-tuned), as an HTML report",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_a", metavar="RUN_A", help="an eval output folder (the baseline)")
    p.add_argument("run_b", metavar="RUN_B", help="another eval output folder")
    p.add_argument("--output-dir", default=str(paths.output_dir("compare")), metavar="DIR")
    p.set_defaults(func=_run_compare)


def _run_compare(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.eval import RATE_KEYS, EvalError, compare_runs, load_run

    try:
        report = compare_runs(args.run_a, args.run_b, args.output_dir)
        (a, _), (b, _) = load_run(args.run_a), load_run(args.run_b)
    except EvalError as e:
        log.error("compare failed: %s", e)
        return EXIT_FAILED
    for key in RATE_KEYS:
        if key in a and key in b:
            print(f"{key:28s} {100 * a[key]:6.1f}% -> {100 * b[key]:6.1f}%  ({100 * (b[key] - a[key]):+.1f} points)")
    print(f"report: {report}")
    return EXIT_OK


def _add_audit(sub: argparse._SubParsersAction) -> None:
    from sqlgrpo.scoring.audit import add_audit_parser

    add_audit_parser(sub)


STAGES: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_prepare, _add_sft, _add_contrastive, _add_train, _add_eval, _add_compare, _add_ask, _add_audit, _add_demo]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sqlgrpo",
        description="Fine-tune language models for text-to-SQL with GRPO, rewards computed by running SQL.")
    parser.add_argument("--version", action="version", version=f"sqlgrpo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for add in STAGES:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
