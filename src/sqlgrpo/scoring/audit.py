"""Reward audit: does every reward prefer the gold answer to a verified near-miss of it?

    sqlgrpo audit-rewards [--data FILE] [--limit N] [--backend sqlite] [--output FILE.json]

For each row, the gold completion (`<reasoning>` naming the gold's tables, then `<sql>` with the
gold) and one completion of the same form per near-miss (`sqlgrpo.contrastive.near_misses`:
one AST edit away from the gold, verified to run with another outcome) are scored together by
every reward in `sqlgrpo.rewards.REWARDS`, called as TRL calls them (one group per row, the
dataset's columns as keyword lists). Gold and near-miss share their reasoning, so a reward that
only reads the format or the reasoning ties by construction; that is what the audit shows.

Per reward, over gold/near-miss pairs: how often the gold scores strictly higher, the same, or
lower, and the mean reward of each side; the same per edit kind. A last row, `weighted_total`,
ranks by the sum the trainer uses (`DEFAULT_WEIGHTS`, a reward's None counting as nothing, as
TRL's nansum does). Near-misses have another outcome
by construction, so the execution reward must rank the gold higher in every pair: the command
exits with status 1 when it does not. Rows whose gold fails are skipped and counted.

The library function is `audit_rewards(records, backend)`; `add_audit_parser` and `run_audit`
are the CLI layer (they print; the library only logs).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from tqdm import tqdm

from sqlgrpo.common import paths
from sqlgrpo.sql.analysis import references
from sqlgrpo.scoring.near_misses import PARSE_FALLBACKS, near_misses
from sqlgrpo.scoring.rewards import DEFAULT_WEIGHTS, REWARDS, gold_outcome
from sqlgrpo.sql import default_executor

log = logging.getLogger(__name__)

EXECUTION_REWARD = "execution_reward"  # the reward the acceptance check is about
WEIGHTED_TOTAL = "weighted_total"  # DEFAULT_WEIGHTS applied as TRL does: what GRPO ranks by
SHARE_DIGITS = 4  # shares in the report: enough to tell 1 pair in 10,000 from none
MEAN_DIGITS = 4


def _fields(record: Any) -> Mapping[str, Any]:
    """A record's fields: a `sources.RawRecord` (its `.fields`) or a plain mapping (a prepared row)."""
    fields = getattr(record, "fields", record)
    return fields if isinstance(fields, Mapping) else {}


def gold_tables(sql: str, sql_context: str, backend: str = "sqlite") -> list[str]:
    """The tables the gold uses (sorted), read through sqlglot scopes; every table of the schema
    when the gold cannot be parsed."""
    db = default_executor(backend).database(sql_context)
    schema = db.schema if db.ok else {}
    for dialect in (backend, *PARSE_FALLBACKS):
        refs = references(sql, dialect, schema)
        if refs is not None and refs.tables:
            return sorted(refs.tables)
    return sorted(schema)


def completion_for(sql: str, tables: list[str]) -> str:
    """An answer in the training format: a short reasoning naming `tables`, then the SQL."""
    noun = "table" if len(tables) == 1 else "tables"
    reasoning = (f"The question is answered from the {', '.join(tables)} {noun} of the schema, "
                 "reading only the rows and values it asks about.")
    return f"<reasoning>\n{reasoning}\n</reasoning>\n<sql>\n{sql}\n</sql>"


@dataclass
class PairStats:
    """Gold-vs-near-miss comparisons of one reward (optionally of one edit kind)."""

    gold_higher: int = 0
    tie: int = 0
    near_miss_higher: int = 0
    unjudged: int = 0  # the reward returned None for one side: it cannot judge this row
    gold_sum: float = 0.0
    near_miss_sum: float = 0.0

    def add(self, gold: float | None, near_miss: float | None) -> None:
        if gold is None or near_miss is None:
            self.unjudged += 1
            return
        self.gold_sum += gold
        self.near_miss_sum += near_miss
        if gold > near_miss:
            self.gold_higher += 1
        elif gold == near_miss:
            self.tie += 1
        else:
            self.near_miss_higher += 1

    @property
    def pairs(self) -> int:
        return self.gold_higher + self.tie + self.near_miss_higher

    def to_dict(self) -> dict:
        n = self.pairs

        def share(count: int) -> float | None:
            return round(count / n, SHARE_DIGITS) if n else None

        return {
            "pairs": n,
            "gold_higher": share(self.gold_higher),
            "tie": share(self.tie),
            "near_miss_higher": share(self.near_miss_higher),
            "mean_gold": round(self.gold_sum / n, MEAN_DIGITS) if n else None,
            "mean_near_miss": round(self.near_miss_sum / n, MEAN_DIGITS) if n else None,
            "unjudged_pairs": self.unjudged,
        }


def weighted_total(scores: Mapping[str, float | None], weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> float:
    """The trainer's scalar reward for one completion: Σ weight × reward, None skipped (TRL's nansum)."""
    return sum(weights.get(name, 0.0) * score for name, score in scores.items() if score is not None)


def audit_rewards(records: Iterable[Any], backend: str = "sqlite", *, max_per_kind: int = 3,
                  progress: bool = True) -> dict:
    """Score each row's gold completion against its near-misses with every reward.

    `records` are `sources.RawRecord`s or mappings with `sql` and `sql_context`. Returns the
    report: row counts (scored, skipped because the gold fails, without any near-miss), the
    near-misses per edit kind, and per reward the pair statistics (`PairStats.to_dict`: shares
    of pairs where the gold scores higher / the same / lower, means of both sides over judged
    pairs) overall and per edit kind.
    """
    names = [*REWARDS, WEIGHTED_TOTAL]
    stats = {name: PairStats() for name in names}
    by_kind: dict[str, dict[str, PairStats]] = {name: {} for name in names}
    kinds: Counter[str] = Counter()
    rows = scored = gold_failed = without = 0
    records = list(records)
    for record in tqdm(records, desc="audit-rewards", unit="row", disable=not progress):
        rows += 1
        fields = _fields(record)
        gold, context = fields.get("sql"), fields.get("sql_context")
        if not (isinstance(gold, str) and isinstance(context, str)) or not gold_outcome(gold, context, backend).ok:
            gold_failed += 1
            continue
        misses = near_misses(gold, context, backend, max_per_kind=max_per_kind)
        if not misses:
            without += 1
            continue
        scored += 1
        tables = gold_tables(gold, context, backend)
        completions = [completion_for(gold, tables)] + [completion_for(m["sql"], tables) for m in misses]
        k = len(completions)
        kinds.update(m["kind"] for m in misses)
        scores = {name: reward(completions, sql=[gold] * k, sql_context=[context] * k, backend=[backend] * k)
                  for name, reward in REWARDS.items()}
        scores[WEIGHTED_TOTAL] = [weighted_total({name: scores[name][i] for name in REWARDS}) for i in range(k)]
        for name, row_scores in scores.items():
            for miss, score in zip(misses, row_scores[1:]):
                stats[name].add(row_scores[0], score)
                by_kind[name].setdefault(miss["kind"], PairStats()).add(row_scores[0], score)
    report = {
        "backend": backend,
        "rows": rows,
        "rows_scored": scored,
        "skipped_gold_failed": gold_failed,
        "rows_without_near_misses": without,
        "near_misses": sum(kinds.values()),
        "near_misses_by_kind": dict(sorted(kinds.items())),
        "rewards": {name: {**stats[name].to_dict(),
                           "by_kind": {kind: s.to_dict() for kind, s in sorted(by_kind[name].items())}}
                    for name in names},
    }
    execution = report["rewards"].get(EXECUTION_REWARD, {})
    share = execution.get("gold_higher")
    log.info("audit: %d rows, %d scored, %d near-misses; execution reward ranks the gold higher in %s of %d pairs",
             rows, scored, report["near_misses"], "-" if share is None else f"{100 * share:.1f}%",
             execution.get("pairs", 0))
    return report


def execution_accepts(report: dict) -> bool:
    """The acceptance check: the execution reward ranks the gold strictly higher in every judged
    pair and judges them all (true when there are no pairs at all)."""
    execution = report["rewards"].get(EXECUTION_REWARD, {})
    return execution.get("pairs", 0) == 0 or (execution.get("gold_higher") == 1.0
                                              and execution.get("unjudged_pairs", 0) == 0)


# --------------------------------------------------------------------------------------------
# CLI layer


def add_audit_parser(sub: argparse._SubParsersAction) -> None:
    """Register `sqlgrpo audit-rewards` on the CLI's subparsers."""
    from sqlgrpo.sql import BACKENDS

    p = sub.add_parser(
        "audit-rewards", help="check that every reward prefers the gold to verified near-misses",
        description=(
            "Score each row's gold completion and its verified near-misses (one AST edit away, "
            "another execution outcome) with every reward, and report how often each reward "
            "ranks the gold higher. Exits with status 1 when the execution reward does not rank "
            "the gold higher in every pair."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=None, metavar="SRC",
                   help=f"a dataset file or anything `prepare --input` accepts (default: "
                        f"{paths.default_train_file()} if it exists, else the embedded sample)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="audit only the first N rows")
    p.add_argument("--backend", choices=BACKENDS, default="sqlite", help="engine the SQL runs on")
    p.add_argument("--output", default=None, metavar="FILE.json", help="also write the report as JSON here")
    p.set_defaults(func=run_audit)


_NUMBER_WIDTH = len("100.0%")  # a share must never be cropped to "100.…" on a narrow terminal


def _fmt(value: float | None, percent: bool = True) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def print_report(report: dict) -> None:
    """The report as two rich tables: per reward, then per edit kind."""
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


def run_audit(args: argparse.Namespace) -> int:
    """`sqlgrpo audit-rewards`: load, audit, print, write JSON; status 1 when the check fails."""
    from sqlgrpo.cli import EXIT_FAILED, EXIT_OK
    from sqlgrpo.data.sources import SourceError, load_source

    data = args.data
    if data is None:
        train = paths.default_train_file()
        data = str(train) if train.is_file() else "embedded"
    try:
        loaded = load_source(data, limit=args.limit)
    except (SourceError, ValueError) as e:
        log.error("audit-rewards: cannot read %s: %s", data, e)
        return EXIT_FAILED
    report = {"source": data, "options": {"data": data, "limit": args.limit, "backend": args.backend},
              **audit_rewards(loaded.records, args.backend)}
    print_report(report)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log.info("report written to %s", out)
    if not execution_accepts(report):
        log.error("the execution reward does not rank the gold higher in every pair: see %s", EXECUTION_REWARD)
        return EXIT_FAILED
    return EXIT_OK
