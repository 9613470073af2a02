"""The `sqlgrpo` command: one subcommand per stage, each a thin layer over the library.

    sqlgrpo --help
    sqlgrpo prepare [--input SRC] [--output-dir DIR] [--backend sqlite|duckdb] ...
    sqlgrpo train [--config FILE.yaml] [--model NAME] [--max-steps N] [any config field as --flag]
    sqlgrpo eval [--model NAME] [--adapter DIR] [--limit N] [--no-judge] [--resume] ...
    sqlgrpo compare RUN_A RUN_B
    sqlgrpo ask --schema FILE "question"
    sqlgrpo audit-rewards [--data FILE] [--limit N]
    sqlgrpo demo [--quick] [--output-dir DIR]

`COMMANDS` is the table of them, in pipeline order. Every command fails the same way on bad
input: a `SqlgrpoError` (or an OSError: a missing file, a folder that is not an adapter) is
logged as one line naming the input and what would fix it, and the exit status is 1; anything
else is a bug and keeps its traceback. The CLI configures logging and prints tables; the library
only logs. Stages are imported when their command runs, so `sqlgrpo --help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlgrpo import __version__
from sqlgrpo.common import paths
from sqlgrpo.common.errors import SqlgrpoError
from sqlgrpo.sql.dialects import BACKENDS

log = logging.getLogger("sqlgrpo")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
USER_ERRORS = (SqlgrpoError, OSError)  # bad input: one clean line, never a traceback


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        datefmt="[%X]", handlers=[RichHandler(show_path=False, rich_tracebacks=False)])
    for noisy in ("httpx", "urllib3", "datasets", "filelock", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, `--help` texts, its arguments and what it runs. `run` returns
    the exit status and may raise any of `USER_ERRORS`."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    configured: bool = False  # its options come from the YAML config (one flag per field)


def _config_arguments(stage: str) -> Callable[[argparse.ArgumentParser], None]:
    def add(parser: argparse.ArgumentParser) -> None:
        from sqlgrpo.stages.config import add_config_arguments

        add_config_arguments(parser, stage)

    return add


# --------------------------------------------------------------------------------------------
# prepare

def _prepare_arguments(p: argparse.ArgumentParser) -> None:
    from sqlgrpo.scoring.suites import MAX_VARIANTS
    from sqlgrpo.stages.prepare import DEFAULT_EVAL_FRACTION, DEFAULT_SEED, SPLIT_BY

    p.add_argument("--input", default="embedded", metavar="SRC",
                   help="'embedded' (the sample shipped with sqlgrpo), a .jsonl/.json/.csv/.parquet file, a Spider or "
                        "BIRD release folder (dev.json, train_spider.json, ... beside database/ or dev_databases/), "
                        "or a Hugging Face dataset id such as gretelai/synthetic_text_to_sql")
    p.add_argument("--db-root", default=None, metavar="DIR",
                   help="benchmark folders: where the <db_id>/<db_id>.sqlite files are, instead of the release's own "
                        "database folder (e.g. Spider-Syn's dev.json over spider/database)")
    p.add_argument("--eval-split", default=None, metavar="NAME",
                   help="benchmark folders: the split that becomes the eval file, by its file's stem (default: dev, "
                        "else mini_dev_sqlite, else test); train splits go to the train file, others are not read")
    p.add_argument("--output-dir", default=None, metavar="DIR",
                   help=f"where the outputs go (default: {paths.data_dir()}, or $SQLGRPO_DATA_DIR)")
    p.add_argument("--backend", choices=BACKENDS, default="sqlite",
                   help="engine the golds must execute on (DuckDB is closer to PostgreSQL)")
    p.add_argument("--eval-fraction", type=float, default=DEFAULT_EVAL_FRACTION, metavar="F",
                   help="share of kept rows held out for evaluation, in [0, 1) (not for benchmark folders, whose "
                        "splits are kept as released)")
    p.add_argument("--split-by", choices=SPLIT_BY, default="row",
                   help="row: stratified by sql_complexity; schema: each schema on one side only")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="read only the first N records (benchmark folders: of each split)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the split")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="processes (default: all cores)")
    p.add_argument("--force", action="store_true", help="redo even when the outputs are up to date")
    p.add_argument("--no-test-suite", dest="test_suite", action="store_false",
                   help="no test suites: judge answers on the one database each context builds (by default each "
                        "record gets fuzzed variants of its database, distilled to those that tell wrong queries "
                        "apart, and an answer is correct only if it matches the gold on all of them)")
    p.add_argument("--max-variants", type=int, default=MAX_VARIANTS, metavar="N",
                   help=f"largest test suite per record (default {MAX_VARIANTS}); each variant costs one more run "
                        "per answer that matches the gold on the shown database")


def _run_prepare(args: argparse.Namespace) -> int:
    from sqlgrpo.report.console import print_prepare_report
    from sqlgrpo.stages.prepare import PrepareOptions, prepare

    opts = PrepareOptions(input=args.input, output_dir=args.output_dir, backend=args.backend,
                          eval_fraction=args.eval_fraction, split_by=args.split_by, limit=args.limit,
                          seed=args.seed, workers=args.workers, force=args.force, test_suite=args.test_suite,
                          max_variants=args.max_variants, db_root=args.db_root, eval_split=args.eval_split)
    print_prepare_report(prepare(opts))
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# the trainer stages and eval (configured by the YAML config)

def _run_sft(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.config import resolve_from_args
    from sqlgrpo.stages.sft import run_sft

    summary = run_sft(resolve_from_args("sft", args))
    log.info("SFT on %d examples, %d steps in %.0f s; adapter: %s", summary["examples"], summary["steps"],
             summary["seconds"], summary["final_adapter"])
    return EXIT_OK


def _run_contrastive(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.config import resolve_from_args
    from sqlgrpo.stages.contrastive import run_contrastive

    summary = run_contrastive(resolve_from_args("contrastive", args))
    log.info("DPO on %d pairs from %d questions, %d steps in %.0f s; adapter: %s", summary["pairs"],
             summary["questions"], summary["steps"], summary["seconds"], summary["final_adapter"])
    return EXIT_OK


def _run_train(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.config import resolve_from_args
    from sqlgrpo.stages.train import train

    summary = train(resolve_from_args("train", args))
    last = summary.get("last_log", {})
    rewards = ", ".join(f"{k.split('/')[1]}={v:.3f}" for k, v in last.items()
                        if k.startswith("rewards/") and k.endswith("/mean"))
    log.info("trained %s steps in %.0f s; last rewards: %s", summary["steps"], summary["seconds"], rewards or "-")
    if summary.get("final_adapter"):
        log.info("final adapter: %s", summary["final_adapter"])
    return EXIT_OK


def _run_eval(args: argparse.Namespace) -> int:
    from sqlgrpo.report.console import eval_summary_text
    from sqlgrpo.stages.config import resolve_from_args
    from sqlgrpo.stages.eval import REPORT_FILE, evaluate

    stage = resolve_from_args("eval", args)
    metrics = evaluate(stage)
    print(eval_summary_text(metrics), end="")
    print(f"report: {Path(stage.section.output_dir) / REPORT_FILE}")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# compare, ask, audit-rewards, demo

def _compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_a", metavar="RUN_A", help="an eval output folder (the baseline)")
    p.add_argument("run_b", metavar="RUN_B", help="another eval output folder")
    p.add_argument("--output-dir", default=str(paths.output_dir("compare")), metavar="DIR")


def _run_compare(args: argparse.Namespace) -> int:
    from sqlgrpo.scoring.metrics import RATE_KEYS
    from sqlgrpo.stages.compare import compare_runs

    report, a, b = compare_runs(args.run_a, args.run_b, args.output_dir)
    for key in RATE_KEYS:
        if key in a and key in b:
            print(f"{key:28s} {100 * a[key]:6.1f}% -> {100 * b[key]:6.1f}%  ({100 * (b[key] - a[key]):+.1f} points)")
    print(f"report: {report}")
    return EXIT_OK


def _ask_arguments(p: argparse.ArgumentParser) -> None:
    from sqlgrpo.stages.config import DEFAULT_MODEL

    p.add_argument("question", help="the question, in natural language")
    p.add_argument("--schema", required=True, metavar="FILE", help="a .sql file of CREATE TABLE (and INSERT) statements")
    p.add_argument("--model", default=None, help=f"model name or path (default: the adapter's base model, else "
                                                 f"{DEFAULT_MODEL})")
    p.add_argument("--adapter", default=None, metavar="DIR", help="a LoRA adapter (e.g. outputs/train/final_adapter)")
    p.add_argument("--backend", choices=BACKENDS, default="sqlite")
    p.add_argument("--max-new-tokens", type=int, default=256)


def _run_ask(args: argparse.Namespace) -> int:
    from sqlgrpo.stages.ask import ask, read_schema

    answer = ask(args.question, read_schema(args.schema), model=args.model, adapter=args.adapter,
                 backend=args.backend, max_new_tokens=args.max_new_tokens)
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


def _audit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, metavar="SRC",
                   help=f"a dataset file or anything `prepare --input` accepts (default: "
                        f"{paths.default_train_file()} if it exists, else the embedded sample)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="audit only the first N rows")
    p.add_argument("--backend", choices=BACKENDS, default="sqlite", help="engine the SQL runs on")
    p.add_argument("--no-build-suites", dest="build_suites", action="store_false",
                   help="judge raw rows on their one database: no test suite is built for rows that bring none "
                        "(by default one is, about 40 rows/s per core; prepared rows always use their own)")
    p.add_argument("--output", default=None, metavar="FILE.json", help="also write the report as JSON here")


def _run_audit(args: argparse.Namespace) -> int:
    from sqlgrpo.common.files import write_json
    from sqlgrpo.report.console import print_audit_report
    from sqlgrpo.scoring.audit import EXECUTION_REWARD, execution_accepts
    from sqlgrpo.stages.audit import audit_source

    report = audit_source(args.data, limit=args.limit, backend=args.backend, build_suites=args.build_suites)
    print_audit_report(report)
    if args.output:
        write_json(args.output, report)
        log.info("report written to %s", args.output)
    if not execution_accepts(report):
        log.error("the execution reward does not rank the gold higher in every pair: see %s", EXECUTION_REWARD)
        return EXIT_FAILED
    return EXIT_OK


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true",
                   help="fewer steps and samples: under 10 minutes on 2 cores instead of about 25")
    p.add_argument("--output-dir", default=str(paths.output_dir("demo")), metavar="DIR",
                   help="where every stage's outputs, demo_summary.json and report.html go")
    p.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="a config file to use instead of the shipped demo settings (same layout as demo.yaml)")
    p.add_argument("--force", action="store_true", help="redo every stage even when its outputs are up to date")


def _run_demo(args: argparse.Namespace) -> int:
    from sqlgrpo.report.console import print_demo_summary
    from sqlgrpo.stages.demo import run_demo

    print_demo_summary(run_demo(args.output_dir, quick=args.quick, config_file=args.config, force=args.force))
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# The table

COMMANDS: tuple[Command, ...] = (
    Command("prepare", "load, cleanse and split a text-to-SQL dataset",
            "Load a dataset, keep the rows whose SQL works (context builds, gold executes, every referenced table "
            "and column exists), drop exact duplicates, split train/eval, and report every dropped row and bad "
            "input line with its reason. A Spider or BIRD release folder is read as released: golds run on its "
            "database files, splits kept whole and in order (dev -> eval file, train -> train file), Spider "
            "questions labelled easy/medium/hard/extra by the official rules. "
            f"Writes {paths.TRAIN_FILE_NAME}, {paths.EVAL_FILE_NAME} and "
            f"{paths.PREPARE_REPORT_NAME}. Rerunning with the same input and options reuses the outputs.",
            _prepare_arguments, _run_prepare),
    Command("sft", "supervised warm-up on gold answers in the <reasoning>/<sql> format (TRL SFTTrainer, LoRA)",
            "Train a LoRA adapter with TRL's SFTTrainer on the prepared training file: prompt as in the other "
            "stages, completion = the gold in the answer format with a short reasoning built from its tables and "
            "columns; loss on the completion only. Writes --output-dir/final_adapter; start GRPO from it with "
            "`sqlgrpo train --init-adapter DIR/final_adapter`.",
            _config_arguments("sft"), _run_sft, configured=True),
    Command("contrastive", "DPO on gold vs verified near-miss SQL (a preference stage before GRPO)",
            "Build preference pairs (chosen: the gold answer; rejected: a near-miss one AST edit away, verified by "
            "execution to give another outcome), write them to preferences.jsonl, and train a LoRA adapter with "
            "TRL's DPOTrainer into --output-dir/final_adapter. Start GRPO from it with "
            "`sqlgrpo train --init-adapter DIR/final_adapter`.",
            _config_arguments("contrastive"), _run_contrastive, configured=True),
    Command("train", "GRPO fine-tuning with TRL and LoRA, rewards computed by running SQL",
            "GRPO with TRL's GRPOTrainer and a LoRA adapter on the prepared training file. Every option can come "
            "from the YAML config (--config) and be overridden by its flag. Writes resolved_config.yaml, "
            "checkpoints, TensorBoard logs, final_adapter/ and trainer_state.json into --output-dir. Multi-GPU: "
            "accelerate launch -m sqlgrpo.cli train ...",
            _config_arguments("train"), _run_train, configured=True),
    Command("eval", "answers on held-out questions: execution accuracy, format, errors, LLM judge, HTML report",
            "Generate answers for the eval file (batched; greedy, or --num-samples K for pass@K and "
            "self-consistency; locally with transformers, with --use-vllm on a GPU, or through a running "
            "OpenAI-compatible server with --generation-base-url URL --generation-model NAME), score them by execution against the gold with the reward's own verdict, "
            "optionally ask an LLM judge (OPENAI_API_KEY or --judge-base-url; skipped otherwise), and write "
            "evaluation_results.json, evaluation_summary.csv/.txt, metrics.json and report.html. --resume "
            "continues an interrupted run without regenerating or re-judging.",
            _config_arguments("eval"), _run_eval, configured=True),
    Command("compare", "two eval runs side by side (e.g. base vs fine-tuned), as an HTML report",
            "B - A per metric and per class, with 95% intervals (paired on the questions both runs answered), "
            "and the questions that flipped; writes DIR/compare.html.",
            _compare_arguments, _run_compare),
    Command("ask", "ask a model one question about a schema",
            "One answer, printed with its reasoning; when the schema file holds INSERT rows, the SQL is run on "
            "them and the rows are shown.",
            _ask_arguments, _run_ask),
    Command("audit-rewards", "check that every reward prefers the gold to verified near-misses",
            "Score each row's gold answer and its verified near-misses (one AST edit away, another execution "
            "outcome) with every reward, and report how often each reward ranks the gold higher. Then count the "
            "single-edit neighbours that agree with the gold on the shown database, and how many of them the "
            "execution reward denies full credit with the row's test suite, per edit kind. Exits with "
            "status 1 when the execution reward does not rank the gold higher in every pair.",
            _audit_arguments, _run_audit),
    Command("demo", "the whole pipeline on the embedded model and data, on a CPU, with a measured improvement",
            "prepare the embedded sample -> evaluate the base model -> supervised warm-up (sft) -> evaluate -> "
            "contrastive (DPO) from the SFT adapter -> evaluate -> GRPO from the contrastive adapter -> evaluate, "
            "then a table of the four runs, DIR/demo_summary.json and DIR/report.html (differences with 95% "
            "intervals, training curves, time of every stage). A rerun reuses every finished stage whose settings "
            "and inputs are unchanged and resumes an interrupted one. Settings: sqlgrpo/data/demo.yaml.",
            _demo_arguments, _run_demo),
)


def _dispatch(command: Command, args: argparse.Namespace) -> int:
    """Run a command; bad input ends it with one line naming the input, the same for every command."""
    try:
        return command.run(args)
    except USER_ERRORS as e:
        log.error("%s failed: %s", command.name, e)
        return EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sqlgrpo",
        description="Fine-tune language models for text-to-SQL with GRPO, rewards computed by running SQL.")
    parser.add_argument("--version", action="version", version=f"sqlgrpo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for command in COMMANDS:
        formatter = argparse.RawDescriptionHelpFormatter if command.configured else argparse.ArgumentDefaultsHelpFormatter
        p = sub.add_parser(command.name, help=command.help, description=command.description, formatter_class=formatter)
        command.add_arguments(p)
        p.set_defaults(command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return _dispatch(args.command, args)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
