"""Reward audit: does every reward prefer the gold answer to a verified near-miss of it, and
how many wrong neighbours of the gold does the execution reward miss?

    sqlgrpo audit-rewards [--data FILE] [--limit N] [--backend sqlite] [--no-build-suites] [--output FILE.json]

Two sections. The pair table: for each row, the gold's answer and one answer per near-miss
(`sqlgrpo.scoring.near_misses`: one AST edit away from the gold, verified by the metric's verdict
to run with another outcome), each written as the training stages write answers
(`sqlgrpo.scoring.answers.target_answer`: a reasoning naming the tables and columns the query
uses, then the SQL), are scored together by every reward in `sqlgrpo.scoring.rewards.REWARDS`,
called as TRL calls them (one group per row, the dataset's columns as keyword lists, the row's
`test_suite` among them). The audit thus measures the very pairs the contrastive stage trains
on; a reward that only reads the format ties by construction.

Per reward, over gold/near-miss pairs: how often the gold scores strictly higher, the same, or
lower, and the mean reward of each side; the same per edit kind. A last row, `weighted_total`,
ranks by the sum the trainer uses (`DEFAULT_WEIGHTS`, a reward's None counting as nothing, as
TRL's nansum does). Near-misses have another outcome by construction, so the execution reward
must rank the gold higher in every pair (`execution_accepts`): the command exits with status 1
when it does not. Rows whose gold fails are skipped and counted.

The discrimination section asks what the pair table cannot: near-misses are chosen to differ on
the shown database, so they say nothing about the wrong queries that happen to agree with the
gold there. For every row, every single-edit neighbour of the gold (each kind of `EDITS`, at most
`NEIGHBOURS_PER_KIND` per kind) that runs on the shown database is counted; those that give the
gold's outcome there are the coincidences a one-database reward pays in full. Each coincidence is
scored by the execution reward as TRL calls it, without and with the row's test suite
(`sqlgrpo.scoring.suites`): without, it gets full credit by definition; with, it loses it when a
variant of the database proves it wrong. Some neighbours cannot be proven wrong by any database,
because the edit cannot change the result (`equivalent_by_construction`); the share caught is
reported over all coincidences and over those that are not equivalent.

Suites: a prepared record carries its own (`test_suite`, possibly empty: prepare found none); a
raw record has none, and one is built for it (`build_suite`, over every core, with a progress
bar) unless `build_suites=False`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlglot import exp
from tqdm import tqdm

from sqlgrpo.common.parallel import parallel_map
from sqlgrpo.common.text import statement_key
from sqlgrpo.scoring.answers import target_answer
from sqlgrpo.scoring.near_misses import (EDITS, MAX_TRIES_PER_KIND, Example, edit_candidates, near_misses,
                                         parse_gold, render)
from sqlgrpo.scoring.rewards import DEFAULT_WEIGHTS, REWARDS, execution_reward
from sqlgrpo.scoring.suites import TEST_SUITE_FIELD, build_suite, record_suite
from sqlgrpo.scoring.verdict import EXEC_MATCH, gold_outcome, verdict, verdicts
from sqlgrpo.sql import ExecResult
from sqlgrpo.sql.analysis import SQLGLOT_DIALECT, parse_statements

log = logging.getLogger(__name__)

EXECUTION_REWARD = "execution_reward"  # the reward the acceptance check is about
WEIGHTED_TOTAL = "weighted_total"  # DEFAULT_WEIGHTS applied as TRL does: what GRPO ranks by
SHARE_DIGITS = 4  # shares in the report: enough to tell 1 pair in 10,000 from none
MEAN_DIGITS = 4
NEIGHBOURS_PER_KIND = MAX_TRIES_PER_KIND  # single-edit neighbours run per edit kind and row: the
# near-misses' budget of tries, so a gold with dozens of comparisons costs no more here than there
ALL_KINDS = "all"  # the discrimination row over every edit kind

# Suite origins, counted per audited row.
SUITE_FROM_RECORD = "from_record"  # a prepared record's own `test_suite` (possibly empty)
SUITE_BUILT = "built"  # a raw record's suite, built here
SUITE_NOT_BUILT = "not_built"  # a raw record, with building turned off

# What became of an audited row's neighbours.
NEIGHBOURS_SCORED = "scored"  # they were run and counted
NO_NEIGHBOURS_UNPARSED = "gold_does_not_parse"
NO_NEIGHBOURS_ROUND_TRIP = "gold_does_not_round_trip"  # sqlglot's rewriting of the gold changes its outcome
_NO_NEIGHBOURS = (NO_NEIGHBOURS_UNPARSED, NO_NEIGHBOURS_ROUND_TRIP)


def _fields(record: Any) -> Mapping[str, Any]:
    """A record's fields: a `sources.RawRecord` (its `.fields`) or a plain mapping (a prepared row)."""
    fields = getattr(record, "fields", record)
    return fields if isinstance(fields, Mapping) else {}


def _share(count: int, n: int) -> float | None:
    return round(count / n, SHARE_DIGITS) if n else None


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
        return {
            "pairs": n,
            "gold_higher": _share(self.gold_higher, n),
            "tie": _share(self.tie, n),
            "near_miss_higher": _share(self.near_miss_higher, n),
            "mean_gold": round(self.gold_sum / n, MEAN_DIGITS) if n else None,
            "mean_near_miss": round(self.near_miss_sum / n, MEAN_DIGITS) if n else None,
            "unjudged_pairs": self.unjudged,
        }


@dataclass
class NeighbourStats:
    """Single-edit neighbours of golds (of one edit kind, or all): how many run, how many agree
    with the gold on the shown database, and how many of those the execution reward denies full
    credit without and with the test suite."""

    run: int = 0  # neighbours that run on the shown database
    agreeing: int = 0  # ... and give the gold's outcome there: coincidences
    equivalent: int = 0  # agreeing, and equivalent to the gold by construction
    in_rows_without_suite: int = 0  # agreeing, in a row without a suite: nothing can catch them
    caught_without_suite: int = 0  # agreeing, less than full credit from the one-database reward
    caught_by_suite: int = 0  # agreeing, less than full credit with the suite
    caught_not_equivalent: int = 0  # caught_by_suite among those not equivalent by construction

    def add(self, *, agrees: bool, equivalent: bool = False, plain: float | None = None,
            with_suite: float | None = None, has_suite: bool = False) -> None:
        self.run += 1
        if not agrees:
            return
        self.agreeing += 1
        self.equivalent += equivalent
        self.in_rows_without_suite += not has_suite
        self.caught_without_suite += plain is not None and plain < EXEC_MATCH
        caught = with_suite is not None and with_suite < EXEC_MATCH
        self.caught_by_suite += caught
        self.caught_not_equivalent += caught and not equivalent

    def to_dict(self) -> dict:
        not_equivalent = self.agreeing - self.equivalent
        return {
            "neighbours_run": self.run,
            "agreeing": self.agreeing,
            "equivalent": self.equivalent,
            "agreeing_not_equivalent": not_equivalent,
            "agreeing_in_rows_without_suite": self.in_rows_without_suite,
            "caught_without_suite": self.caught_without_suite,
            "caught_by_suite": self.caught_by_suite,
            "caught_share_without_suite": _share(self.caught_without_suite, self.agreeing),
            "caught_share": _share(self.caught_by_suite, self.agreeing),
            "caught_share_not_equivalent": _share(self.caught_not_equivalent, not_equivalent),
            # A suite cannot tell apart what no database can: anything here is a classifier or suite bug.
            "equivalent_caught": self.caught_by_suite - self.caught_not_equivalent,
        }


def weighted_total(scores: Mapping[str, float | None], weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> float:
    """The trainer's scalar reward for one completion: Σ weight × reward, None skipped (TRL's nansum)."""
    return sum(weights.get(name, 0.0) * score for name, score in scores.items() if score is not None)


# --------------------------------------------------------------------------------------------
# Equivalent by construction

def equivalent_by_construction(kind: str, gold_sql: str, neighbour_sql: str, backend: str = "sqlite") -> bool:
    """Whether a single-edit neighbour returns the gold's result on every database, because the
    edit of its kind cannot change it. Exactly these cases, each a rewriting that keeps the
    meaning of any query it applies to:

    - `toggle_distinct`: DISTINCT on a SELECT that returns at most one row (an aggregate of its
      own in the select list, no GROUP BY), or on a SELECT whose GROUP BY keys all appear as
      select-list items (every group is one row, and the keys make the rows distinct; `GROUP BY
      x` is the selected `t.x` when t is one of the SELECT's own tables);
      DISTINCT inside MIN or MAX.
    - any kind, in a text of several SELECTs: an edit to a SELECT before the last (only the last
      one's rows are the outcome, and a SELECT writes nothing).
    - `change_join`: a LEFT JOIN whose right-hand table the WHERE rejects NULLs of (a top-level
      conjunct compares one of its columns, `t.x = ...`, `t.x IN (...)`, `t.x IS NOT NULL`, ...)
      is an INNER JOIN: the rows the outer join adds have NULLs there and are filtered out.

    Both texts are read in the backend's dialect, those rewritings applied to each wherever they
    hold, and the results compared as text: equal means equivalent. Conservative: anything it is
    not sure of (another kind, an unqualified column, RIGHT/FULL joins in the same SELECT,
    ROLLUP, a text that does not parse) gives False. Never raises.
    """
    dialect = SQLGLOT_DIALECT.get(backend, backend)
    try:
        gold_trees, neighbour_trees = parse_statements(gold_sql, backend), parse_statements(neighbour_sql, backend)
        if not gold_trees or not neighbour_trees or len(gold_trees) != len(neighbour_trees):
            return False
        if _only_earlier_selects_differ(gold_trees, neighbour_trees, dialect):
            return True
        rewritings = _EQUIVALENCES.get(kind)
        if not rewritings:
            return False
        return _normal_form(gold_trees, rewritings, dialect) == _normal_form(neighbour_trees, rewritings, dialect)
    except Exception:  # noqa: BLE001 - an odd tree is simply not known to be equivalent
        log.debug("equivalent_by_construction failed on %r", neighbour_sql, exc_info=True)
        return False


def _only_earlier_selects_differ(gold: list[exp.Expression], neighbour: list[exp.Expression], dialect: str) -> bool:
    """A text of several SELECTs answers with its last one: an edit to an earlier SELECT (which
    writes nothing) cannot change the outcome."""
    if len(gold) < 2 or not all(isinstance(t, (exp.Select, exp.SetOperation)) for t in gold + neighbour):
        return False
    return gold[-1].sql(dialect=dialect) == neighbour[-1].sql(dialect=dialect) and \
        [t.sql(dialect=dialect) for t in gold] != [t.sql(dialect=dialect) for t in neighbour]


def _normal_form(trees: list[exp.Expression], rewritings: Sequence[Callable[[exp.Expression], None]],
                 dialect: str) -> list[str]:
    out = []
    for tree in trees:
        tree = tree.copy()
        for rewrite in rewritings:
            rewrite(tree)
        out.append(tree.sql(dialect=dialect))
    return out


def _own_aggregate(select: exp.Select, node: exp.AggFunc) -> bool:
    """An aggregate of this SELECT (not of a subquery, not a window), of one argument: SQLite's
    MAX(a, b) is a scalar function."""
    return not node.args.get("expressions") and node.find_ancestor(exp.Window, exp.Select) is select


def _at_most_one_row(select: exp.Select) -> bool:
    return select.args.get("group") is None and any(
        _own_aggregate(select, node) for projection in select.expressions for node in projection.find_all(exp.AggFunc))


def _source_names(select: exp.Select) -> list[str]:
    """The names (aliases, else table names) of a SELECT's own FROM and JOIN sources, lower case."""
    sources = [select.args["from_"].this] if select.args.get("from_") else []
    return [s.alias_or_name.lower() for s in sources + [j.this for j in select.args.get("joins") or []]]


def _same_column(a: exp.Expression, b: exp.Expression, sources: set[str]) -> bool:
    """Two references to one column: the same text, or the same name once with and once without
    a qualifier naming one of the SELECT's own sources (in a query that runs, the bare name can
    mean no other column: the innermost source holding it wins, and two would be ambiguous)."""
    if a.sql() == b.sql():
        return True
    if not (isinstance(a, exp.Column) and isinstance(b, exp.Column)) or a.name.lower() != b.name.lower():
        return False
    tables = {a.table.lower(), b.table.lower()}
    return "" in tables and len((tables - {""}) & sources) == 1


def _grouped_by_selected_keys(select: exp.Select) -> bool:
    group = select.args.get("group")
    if group is None or not group.expressions or any(group.args.get(k) for k in ("grouping_sets", "cube", "rollup",
                                                                                  "totals", "all")):
        return False
    projections = select.expressions
    selected = [p.unalias() for p in projections]
    sources = set(_source_names(select))
    for key in group.expressions:
        if isinstance(key, exp.Literal) and not key.is_string:  # GROUP BY 2: the second select item
            if not (key.this.isdigit() and 1 <= int(key.this) <= len(projections)):
                return False
            continue
        # A key matching a selected item is selected whether the engine reads a bare name as a
        # column or as an alias (an alias is a selected item too). A key that only names an alias
        # (`... AS month GROUP BY month`) is not: a table may hold a column of that name.
        if not any(_same_column(key, item, sources) for item in selected):
            return False
    return True


def _drop_redundant_distinct(tree: exp.Expression) -> None:
    for select in list(tree.find_all(exp.Select)):
        distinct = select.args.get("distinct")
        if distinct is not None and not distinct.args.get("on") and (_at_most_one_row(select)
                                                                      or _grouped_by_selected_keys(select)):
            select.set("distinct", None)


def _drop_min_max_distinct(tree: exp.Expression) -> None:
    for node in list(tree.find_all(exp.Min, exp.Max)):
        arg = node.this
        if isinstance(arg, exp.Distinct) and len(arg.expressions) == 1 and not node.args.get("expressions"):
            node.set("this", arg.expressions[0])


# Predicates that are not true when their bare column operand is NULL (NULL-safe ones excluded).
_NULL_REJECTING_BINARY = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Glob)


def _unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _null_rejected_tables(where: exp.Where | None) -> set[str]:
    """Qualifiers of the columns a top-level conjunct of the WHERE requires to be non-NULL."""
    if where is None:
        return set()
    found = set()
    stack = [where.this]
    while stack:
        node = _unparen(stack.pop())
        if type(node) is exp.And:
            stack += [node.this, node.expression]
            continue
        if type(node) in _NULL_REJECTING_BINARY:
            operands = [node.this, node.expression]
        elif type(node) in (exp.In, exp.Between):
            operands = [node.this]
        elif type(node) is exp.Not and type(node.this) is exp.Is and isinstance(node.this.expression, exp.Null):
            operands = [node.this.this]
        else:
            continue
        found |= {op.table.lower() for op in map(_unparen, operands) if isinstance(op, exp.Column) and op.table}
    return found


def _inner_null_rejected_joins(tree: exp.Expression) -> None:
    for select in list(tree.find_all(exp.Select)):
        joins = select.args.get("joins") or []
        for join in joins:  # the same join, written three ways: JOIN, INNER JOIN; LEFT, LEFT OUTER
            if (not join.side and join.kind == "INNER") or (join.side == "LEFT" and join.kind == "OUTER"):
                join.set("kind", None)
        if not joins or any(join.side in ("RIGHT", "FULL") for join in joins):
            continue  # a later outer join can bring NULLs of its own: not sure, so no rewriting
        names = _source_names(select)
        if len(set(names)) != len(names):
            continue
        rejected = _null_rejected_tables(select.args.get("where"))
        for join in joins:
            if (join.side == "LEFT" and not join.kind and not join.method
                    and (join.args.get("on") is not None or join.args.get("using"))
                    and join.this.alias_or_name.lower() in rejected):
                join.set("side", None)


_EQUIVALENCES: dict[str, tuple[Callable[[exp.Expression], None], ...]] = {
    "toggle_distinct": (_drop_redundant_distinct, _drop_min_max_distinct),
    "change_join": (_inner_null_rejected_joins,),
}


# --------------------------------------------------------------------------------------------
# Suites

def _build_task(task: tuple[str, str, str]) -> tuple[tuple[str, ...], str]:
    gold, context, backend = task
    built = build_suite(gold, context, backend)
    return built.variants, built.reason.split(":")[0]


def row_suites(fields: Sequence[Mapping[str, Any]], backend: str = "sqlite", *, build: bool = True,
               workers: int | None = None, progress: bool = True) -> list[tuple[tuple[str, ...], str, str]]:
    """Each row's suite, its origin (SUITE_FROM_RECORD, SUITE_BUILT, SUITE_NOT_BUILT) and, for a
    built one that came out empty, why. Each distinct (gold, context) is built once."""
    tasks = [(f.get("sql"), f.get("sql_context"), backend) for f in fields]
    todo = list(dict.fromkeys(t for f, t in zip(fields, tasks)
                              if build and TEST_SUITE_FIELD not in f and isinstance(t[0], str) and isinstance(t[1], str)))
    built = dict(zip(todo, parallel_map(_build_task, todo, workers=workers, desc="test suites", progress=progress)))
    out = []
    for f, task in zip(fields, tasks):
        if TEST_SUITE_FIELD in f:
            out.append((record_suite(f), SUITE_FROM_RECORD, ""))
        elif task in built:
            variants, why_none = built[task]
            out.append((variants, SUITE_BUILT, why_none))
        else:
            out.append(((), SUITE_NOT_BUILT, ""))
    return out


# --------------------------------------------------------------------------------------------
# The audit

def audit_rewards(records: Iterable[Any], backend: str = "sqlite", *, max_per_kind: int = 3,
                  build_suites: bool = True, discriminate: bool = True, workers: int | None = None,
                  progress: bool = True) -> dict:
    """Score each row's gold completion against its near-misses with every reward, and count
    what the execution reward makes of the gold's single-edit neighbours (module docstring).

    `records` are `sources.RawRecord`s or mappings with `sql` and `sql_context` (and
    `test_suite`, in a prepared row). Returns the report: row counts (scored, skipped because the
    gold fails, without any near-miss), the near-misses per edit kind, per reward the pair
    statistics (`PairStats.to_dict`: shares of pairs where the gold scores higher / the same /
    lower, means of both sides over judged pairs) overall and per edit kind, and `discrimination`
    (`NeighbourStats.to_dict`, overall and per edit kind, with the rows' suites counted; its
    counts stay 0 with `discriminate=False`, which leaves the pair table as it is and skips the
    neighbours' runs).
    """
    names = [*REWARDS, WEIGHTED_TOTAL]
    stats = {name: PairStats() for name in names}
    by_kind: dict[str, dict[str, PairStats]] = {name: {} for name in names}
    kinds: Counter[str] = Counter()
    neighbours = {ALL_KINDS: NeighbourStats()}
    origins: Counter[str] = Counter()  # where the audited rows' suites came from
    no_suite: Counter[str] = Counter()  # audited rows without a suite, by why
    statuses: Counter[str] = Counter()  # audited rows whose neighbours were counted, or why not
    rows = scored = gold_failed = without = 0
    fields = [_fields(record) for record in records]
    suites = row_suites(fields, backend, build=build_suites, workers=workers, progress=progress)
    for row, (suite, origin, why_none) in zip(tqdm(fields, desc="audit-rewards", unit="row", disable=not progress),
                                              suites):
        rows += 1
        gold, context = row.get("sql"), row.get("sql_context")
        gold_result = gold_outcome(gold, context, backend) if isinstance(gold, str) and isinstance(context, str) else None
        if gold_result is None or not gold_result.ok:
            gold_failed += 1
            continue
        origins[origin] += 1
        if not suite:
            no_suite[why_none or origin] += 1  # a prepared record's empty suite: prepare's reason is in its report
        if discriminate:
            statuses[_discriminate(gold, context, backend, suite, gold_result, neighbours)] += 1
        misses = near_misses(gold, context, backend, max_per_kind=max_per_kind)
        if not misses:
            without += 1
            continue
        scored += 1
        completions = [target_answer(gold, context, backend)] + [target_answer(m["sql"], context, backend)
                                                                 for m in misses]
        k = len(completions)
        kinds.update(m["kind"] for m in misses)
        columns = {"sql": [gold] * k, "sql_context": [context] * k, "backend": [backend] * k,
                   TEST_SUITE_FIELD: [list(suite)] * k}  # as the training dataset's columns reach TRL
        scores = {name: reward(completions, **columns) for name, reward in REWARDS.items()}
        scores[WEIGHTED_TOTAL] = [weighted_total({name: scores[name][i] for name in REWARDS}) for i in range(k)]
        for name, row_scores in scores.items():
            for miss, score in zip(misses, row_scores[1:]):
                stats[name].add(row_scores[0], score)
                by_kind[name].setdefault(miss["kind"], PairStats()).add(row_scores[0], score)
    everything = neighbours.pop(ALL_KINDS)
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
        "discrimination": {
            "rows": rows - gold_failed,
            "rows_with_suite": rows - gold_failed - sum(no_suite.values()),
            "suite_origins": {origin: origins[origin] for origin in (SUITE_FROM_RECORD, SUITE_BUILT, SUITE_NOT_BUILT)},
            "rows_without_suite": dict(no_suite.most_common()),
            "rows_without_neighbours": {why: statuses[why] for why in _NO_NEIGHBOURS},
            "neighbours_per_kind": NEIGHBOURS_PER_KIND,
            **everything.to_dict(),
            "by_kind": {kind: neighbours[kind].to_dict() for kind in EDITS if kind in neighbours},
        },
    }
    execution = report["rewards"].get(EXECUTION_REWARD, {})
    share = execution.get("gold_higher")
    log.info("audit: %d rows, %d scored, %d near-misses; execution reward ranks the gold higher in %s of %d pairs",
             rows, scored, report["near_misses"], "-" if share is None else f"{100 * share:.1f}%",
             execution.get("pairs", 0))
    caught = report["discrimination"]["caught_share_not_equivalent"]
    log.info("audit: %d of %d single-edit neighbours agree with the gold on the shown database; the suite "
             "(%d of %d rows) denies full credit to %s of those not equivalent by construction",
             everything.agreeing, everything.run, report["discrimination"]["rows_with_suite"], rows - gold_failed,
             "-" if caught is None else f"{100 * caught:.1f}%")
    return report


def _discriminate(gold: str, context: str, backend: str, suite: tuple[str, ...], gold_result: ExecResult,
                  neighbours: dict[str, NeighbourStats]) -> str:
    """Count one row's single-edit neighbours into `neighbours` (per kind and ALL_KINDS); returns
    NEIGHBOURS_SCORED or why the row has none."""
    trees = parse_gold(gold, backend, gold_result.dialect)
    if trees is None:
        return NO_NEIGHBOURS_UNPARSED
    unedited = render(trees, backend)
    # As for near-misses: a neighbour must differ from the gold by its edit, not by the rewriting,
    # on the shown database and on every variant.
    if not verdict(unedited, gold, context, backend, suite).correct:
        return NO_NEIGHBOURS_ROUND_TRIP
    example = Example(context, backend)
    seen = {statement_key(gold), statement_key(unedited)}
    candidates = [(kind, sql) for kind in EDITS
                  for sql in islice(edit_candidates(kind, trees, example, backend, seen), NEIGHBOURS_PER_KIND)]
    shown = verdicts([(sql, gold, context, backend) for _, sql in candidates])
    agreeing = [(kind, sql) for (kind, sql), found in zip(candidates, shown) if found.ran and found.shown_correct]
    n = len(agreeing)
    completions = [target_answer(sql, context, backend) for _, sql in agreeing]
    columns = {"sql": [gold] * n, "sql_context": [context] * n, "backend": [backend] * n}
    plain = execution_reward(completions, **columns) if n else []
    with_suite = execution_reward(completions, **columns, **{TEST_SUITE_FIELD: [list(suite)] * n}) if n else []
    credit = {sql: (p, s) for (_, sql), p, s in zip(agreeing, plain, with_suite)}
    for (kind, sql), found in zip(candidates, shown):
        if not found.ran:
            continue
        agrees = sql in credit
        scores = {"agrees": agrees, "has_suite": bool(suite)}
        if agrees:
            scores.update(plain=credit[sql][0], with_suite=credit[sql][1],
                          equivalent=equivalent_by_construction(kind, unedited, sql, backend))
        for key in (kind, ALL_KINDS):
            neighbours.setdefault(key, NeighbourStats()).add(**scores)
    return NEIGHBOURS_SCORED


def execution_accepts(report: dict) -> bool:
    """The acceptance check: the execution reward ranks the gold strictly higher in every judged
    pair and judges them all (true when there are no pairs at all)."""
    execution = report["rewards"].get(EXECUTION_REWARD, {})
    return execution.get("pairs", 0) == 0 or (execution.get("gold_higher") == 1.0
                                              and execution.get("unjudged_pairs", 0) == 0)
