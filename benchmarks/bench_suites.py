"""How well test suites judge: wrong queries they catch, right ones they keep, on the shared rows.

    python benchmarks/bench_suites.py [--file PATH] [--limit N] [--seed 0] [--backend sqlite]

For every row whose gold runs, the row's suite is built as `prepare` builds it
(`sqlgrpo.scoring.suites.build_suite`, `--seed` handed on), then three measures:

(a) discrimination. Every single-edit neighbour of the gold (each kind of
    `sqlgrpo.scoring.edits.EDITS`, the first NEIGHBOURS_PER_KIND candidates of
    `sqlgrpo.scoring.near_misses.edit_candidates`) that runs and gives the gold's outcome on the
    shown database: the wrong answers one database would reward. Counted per edit kind: how many
    get less than full execution credit with the suite (`verdict(..., suite=...)`). Neighbours
    that mean the same as the gold by construction are left out when
    `sqlgrpo.scoring.audit.equivalent_by_construction` exists; otherwise every agreeing neighbour
    counts, and the output says so. These are the very neighbours the suite was distilled
    against, so (a) is the in-sample figure; (c) is the held-out one. A note counts neighbours
    that only edit a query before the last statement of a multi-statement gold (the outcome is
    the last statement's, so they are equivalent too, whether or not the function says so).
    Target: at least 90% told apart.
(b) no false negatives. Rewrites of the gold that mean the same, made on sqlglot trees: the plain
    round trip (a baseline), table aliases renamed, column aliases renamed, AND operands
    commuted, `BETWEEN a AND b` written as `>= a AND <= b`, the select list reversed (the
    matching ignores column order; positional ORDER/GROUP BY renumbered) and the sqlglot
    optimizer's qualified form (`sqlglot.optimizer.qualify` with the context's schema). Each must
    keep full credit with the suite. Target: 100%. Rewrites that are already wrong on the shown
    database (a rewrite sqlglot does not write faithfully) are counted apart from those that
    lose credit on a variant (the suite's doing).
(c) held-out near-misses: kinds of mistake no edit of EDITS makes, written here with sqlglot:
    COUNT(*) made COUNT(col) of a nullable column the query does not filter on, a LIMIT dropped
    (not on a one-row aggregate), `x IN (a, b, ...)` made `x = a`, `BETWEEN a AND b` made
    exclusive, `LIKE '%s%'` anchored at the start; only in a statement whose effect counts (the
    last, or a DML statement). The same measure as (a); none of these is equivalent by
    construction. Target: at least 85% told apart. (SUM -> COUNT, `>` -> `>=` and
    a reversed ORDER BY are not held out: swap_aggregate, shift_comparison and reverse_order make
    them.)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from tqdm import tqdm

from sqlgrpo.common.text import statement_key
from sqlgrpo.data.sources import load_source
from sqlgrpo.scoring import audit
from sqlgrpo.scoring.edit_trees import Example, Trees, each_node_rewrite, scope_tables
from sqlgrpo.scoring.edits import EDITS
from sqlgrpo.scoring.near_misses import edit_candidates, parse_gold, render
from sqlgrpo.scoring.suites import build_suite
from sqlgrpo.scoring.verdict import gold_outcome, verdict
from sqlgrpo.sql import split_statements, starts_with_keyword
from sqlgrpo.sql.analysis import SQLGLOT_DIALECT, parse_any

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gretel_sample_train.jsonl"
NEIGHBOURS_PER_KIND = 6  # single-edit neighbours tried per edit kind (as the suite build tries)
HELD_OUT_PER_KIND = 6  # held-out near-misses tried per kind and row
SHOWN_FAILURES = 5  # failures quoted per kind of failure
DISCRIMINATION_TARGET = 0.90
NO_FALSE_NEGATIVES_TARGET = 1.0
HELD_OUT_TARGET = 0.85


# --------------------------------------------------------------------------------------------
# The context's declared columns (for qualify's schema and for nullable columns)

@dataclass
class DeclaredColumn:
    name: str
    type: str
    not_null: bool  # NOT NULL or part of a PRIMARY KEY


def declared_columns(context: str, backend: str) -> dict[str, list[DeclaredColumn]]:
    """Table (lower case) -> its columns as the context's CREATE TABLE statements declare them."""
    out: dict[str, list[DeclaredColumn]] = {}
    for statement in split_statements(context, backend):
        if not starts_with_keyword(statement, "CREATE"):
            continue
        for tree in parse_any(statement, backend) or []:
            if not (isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema)):
                continue
            schema = tree.this
            keyed = {c.name.lower() for item in schema.expressions if isinstance(item, exp.PrimaryKey)
                     for c in item.expressions}
            columns = []
            for d in schema.expressions:
                if not isinstance(d, exp.ColumnDef):
                    continue
                kinds = [c.kind for c in d.constraints]
                not_null = d.name.lower() in keyed or any(
                    isinstance(k, (exp.NotNullColumnConstraint, exp.PrimaryKeyColumnConstraint))
                    and not k.args.get("allow_null") for k in kinds)
                kind = d.args.get("kind")
                columns.append(DeclaredColumn(d.name, kind.sql(dialect=SQLGLOT_DIALECT.get(backend, backend))
                                              if kind is not None else "TEXT", not_null))
            out[schema.this.name.lower()] = columns
    return out


def qualify_schema(example: Example, declared: dict[str, list[DeclaredColumn]]) -> dict[str, dict[str, str]]:
    """The executor's schema (what the database really holds) with the declared types."""
    schema = {}
    for table, columns in example.schema.items():
        types = {c.name.lower(): c.type for c in declared.get(table.lower(), [])}
        schema[table] = {c: types.get(c.lower(), "TEXT") for c in columns}
    return schema


# --------------------------------------------------------------------------------------------
# (b) Rewrites that mean the same as the gold. Each returns edited copies, or None when it does
# not apply to this gold.

def round_trip(trees: Trees, row: RowContext) -> Trees | None:
    return [t.copy() for t in trees]


def _rename_aliases(trees: Trees, row: RowContext, *, tables: bool) -> Trees | None:
    """Table aliases (of tables and derived tables; CTE names stay) or projection aliases renamed
    to fresh names, and every reference to them with them. An alias that is also the name of a
    table or a column of the schema is left alone: a reference to that name could mean either."""
    copies = [t.copy() for t in trees]
    taken = set(row.names) | {t.name.lower() for tree in copies for t in tree.find_all(exp.Table)}
    taken |= {c.alias.lower() for tree in copies for c in tree.find_all(exp.CTE)}
    renamed: dict[str, str] = {}
    prefix = "renamed_table_" if tables else "renamed_column_"
    for tree in copies:
        if tables:
            aliases = [a for a in tree.find_all(exp.TableAlias) if isinstance(a.parent, (exp.Table, exp.Subquery))]
            names = [(a, "this", a.name) for a in aliases]
        else:
            aliases = [a for a in tree.find_all(exp.Alias) if isinstance(a.parent, exp.Select)
                       and a.arg_key == "expressions"]
            names = [(a, "alias", a.alias) for a in aliases]
        for node, arg, old in names:
            if not old or old.lower() in taken:
                continue
            new = renamed.setdefault(old.lower(), f"{prefix}{len(renamed) + 1}")
            node.set(arg, exp.to_identifier(new))
    if not renamed:
        return None
    for tree in copies:
        for col in tree.find_all(exp.Column):
            if tables:
                qualifier = col.args.get("table")
                if qualifier is not None and qualifier.name.lower() in renamed:
                    col.set("table", exp.to_identifier(renamed[qualifier.name.lower()]))
            elif not isinstance(col.this, exp.Star) and col.name.lower() in renamed:
                col.set("this", exp.to_identifier(renamed[col.name.lower()]))
    return copies


def rename_table_aliases(trees: Trees, row: RowContext) -> Trees | None:
    return _rename_aliases(trees, row, tables=True)


def rename_column_aliases(trees: Trees, row: RowContext) -> Trees | None:
    return _rename_aliases(trees, row, tables=False)


def commute_and(trees: Trees, row: RowContext) -> Trees | None:
    """The two operands of every AND swapped (`a AND b AND c` becomes `c AND b AND a`)."""
    copies = [t.copy() for t in trees]
    ands = [node for tree in copies for node in tree.find_all(exp.And)]
    for node in ands:
        left, right = node.this, node.expression
        node.set("this", right)
        node.set("expression", left)
    return copies if ands else None


def between_as_range(trees: Trees, row: RowContext) -> Trees | None:
    """Every `x BETWEEN a AND b` written `(x >= a AND x <= b)`."""
    copies = [t.copy() for t in trees]
    betweens = [n for tree in copies for n in tree.find_all(exp.Between) if not n.args.get("symmetric")]
    for node in betweens:
        x = node.this
        node.replace(exp.Paren(this=exp.and_(exp.GTE(this=x.copy(), expression=node.args["low"].copy()),
                                             exp.LTE(this=x.copy(), expression=node.args["high"].copy()))))
    return copies if betweens else None


def reverse_select_list(trees: Trees, row: RowContext) -> Trees | None:
    """The top-level select list in reverse order, positional ORDER BY / GROUP BY keys renumbered."""
    if len(trees) != 1 or type(trees[0]) is not exp.Select or len(trees[0].expressions) < 2:
        return None
    tree = trees[0].copy()
    distinct = tree.args.get("distinct")
    if distinct is not None and distinct.args.get("on"):
        return None
    projections = list(tree.expressions)
    width = len(projections)
    tree.set("expressions", projections[::-1])
    for clause in ("order", "group"):
        node = tree.args.get(clause)
        for key in node.expressions if node is not None else []:
            literal = key.this if isinstance(key, exp.Ordered) else key
            if isinstance(literal, exp.Literal) and not literal.is_string and literal.this.isdigit():
                position = int(literal.this)
                if 1 <= position <= width:
                    literal.replace(exp.Literal.number(width - position + 1))
    return [tree]


def qualified(trees: Trees, row: RowContext) -> Trees | None:
    """sqlglot's qualified form: every column qualified, stars expanded, identifiers quoted."""
    dialect = SQLGLOT_DIALECT.get(row.backend, row.backend)
    try:
        return [qualify(t.copy(), schema=row.qualify_schema, dialect=dialect) for t in trees]
    except Exception:  # noqa: BLE001 - sqlglot cannot qualify this gold: the rewrite does not apply
        return None


REWRITES: dict[str, Callable[[Trees, RowContext], Trees | None]] = {
    "round_trip": round_trip,
    "rename_table_aliases": rename_table_aliases,
    "rename_column_aliases": rename_column_aliases,
    "commute_and": commute_and,
    "between_as_range": between_as_range,
    "reverse_select_list": reverse_select_list,
    "qualified": qualified,
}


# --------------------------------------------------------------------------------------------
# (c) Held-out near-misses. Each yields edited copies, one edit at a time.

def count_star_to_column(trees: Trees, row: RowContext) -> Iterator[Trees]:
    """COUNT(*) made COUNT(col) for a nullable column of a table of its SELECT that no condition
    of that SELECT mentions (a column the WHERE compares is never NULL in the counted rows, and
    the edit would then mean the same)."""
    def is_target(node: exp.Expression) -> bool:
        return isinstance(node, exp.Count) and isinstance(node.this, exp.Star)

    def rewrites(node: exp.Expression) -> list:
        select = node.find_ancestor(exp.Select)
        if select is None:
            return []
        conditions = [select.args.get("where"), select.args.get("having")]
        conditions += [j.args.get("on") for j in select.args.get("joins") or []]
        mentioned = {c.name.lower() for cond in conditions if cond is not None for c in cond.find_all(exp.Column)}
        out = []
        for source in scope_tables(select).values():
            if not isinstance(source, exp.Table):
                continue
            for column in row.declared.get(source.name.lower(), []):
                if not column.not_null and column.name.lower() not in mentioned:
                    ref = exp.column(column.name, table=source.alias_or_name, quoted=not column.name.isidentifier())
                    out.append(lambda n, ref=ref: exp.Count(this=ref.copy()))
        return out

    return each_node_rewrite(trees, is_target, rewrites)


def drop_limit(trees: Trees, row: RowContext) -> Iterator[Trees]:
    """A SELECT's LIMIT (and OFFSET) removed; not where the SELECT is an aggregate without GROUP
    BY, which returns one row either way."""
    def is_target(node: exp.Expression) -> bool:
        if not isinstance(node, exp.Select) or node.args.get("limit") is None:
            return False
        one_row = not node.args.get("group") and any(
            p.find(exp.AggFunc) is not None and p.find(exp.Window) is None for p in node.expressions)
        return not one_row

    def unlimited(node: exp.Expression) -> exp.Expression:
        node.set("limit", None)
        node.set("offset", None)
        return node

    return each_node_rewrite(trees, is_target, lambda node: [unlimited])


def in_to_first_value(trees: Trees, row: RowContext) -> Iterator[Trees]:
    """`x IN (a, b, ...)` made `x = a` (a list of two or more distinct values, not NOT IN)."""
    def is_target(node: exp.Expression) -> bool:
        values = node.expressions if isinstance(node, exp.In) else []
        return (len({v.sql() for v in values}) >= 2 and node.args.get("query") is None
                and not isinstance(node.parent, exp.Not))

    return each_node_rewrite(trees, is_target,
                             lambda node: [lambda n: exp.EQ(this=n.this.copy(), expression=n.expressions[0].copy())])


def between_exclusive(trees: Trees, row: RowContext) -> Iterator[Trees]:
    """`x BETWEEN a AND b` made `(x > a AND x < b)`: the bounds left out."""
    def exclusive(n: exp.Expression) -> exp.Expression:
        x = n.this
        return exp.Paren(this=exp.and_(exp.GT(this=x.copy(), expression=n.args["low"].copy()),
                                       exp.LT(this=x.copy(), expression=n.args["high"].copy())))

    return each_node_rewrite(trees, lambda n: isinstance(n, exp.Between) and not n.args.get("symmetric"),
                             lambda node: [exclusive])


def like_anchored(trees: Trees, row: RowContext) -> Iterator[Trees]:
    """`LIKE '%s%'` (or `'%s'`) made `LIKE 's%'` (or `'s'`): matched at the start only."""
    def is_target(node: exp.Expression) -> bool:
        pattern = node.expression if isinstance(node, exp.Like) else None
        return (isinstance(pattern, exp.Literal) and pattern.is_string and pattern.this.startswith("%")
                and pattern.this.strip("%_") != "")

    def anchored(n: exp.Expression) -> exp.Expression:
        n.set("expression", exp.Literal.string(n.expression.this.lstrip("%")))
        return n

    return each_node_rewrite(trees, is_target, lambda node: [anchored])


HELD_OUT: dict[str, Callable[[Trees, RowContext], Iterator[Trees]]] = {
    "count_star_to_column": count_star_to_column,
    "drop_limit": drop_limit,
    "in_to_first_value": in_to_first_value,
    "between_exclusive": between_exclusive,
    "like_anchored": like_anchored,
}


# --------------------------------------------------------------------------------------------
# Tallies

@dataclass
class RowContext:
    gold: str
    context: str
    backend: str
    suite: tuple[str, ...]
    declared: dict[str, list[DeclaredColumn]]
    qualify_schema: dict[str, dict[str, str]]
    names: set[str]  # tables and columns of the schema, lower case


def only_earlier_queries_edited(gold: Trees, edited: Trees) -> bool:
    """Whether an edit changed only queries before the last statement: the outcome of a text is
    its last statement's, so such an edit cannot change it."""
    return (len(gold) >= 2 and len(edited) == len(gold) and all(isinstance(t, exp.Query) for t in gold[:-1])
            and edited[-1].sql() == gold[-1].sql())


@dataclass
class Telling:
    """Wrong-on-variants candidates of one kind: how many agree on the shown database, how many
    of those are equivalent by construction, how many the suite tells apart."""

    tried: int = 0  # candidates that were run
    agreeing: int = 0
    equivalent: int = 0
    told_apart: int = 0  # of the agreeing, not equivalent ones
    without_suite: int = 0  # agreeing, not equivalent, on rows without a suite
    earlier_only: int = 0  # agreeing, not equivalent, yet only an earlier query edited
    earlier_only_told: int = 0

    @property
    def judged(self) -> int:
        return self.agreeing - self.equivalent


@dataclass
class Keeping:
    """Rewrites of one kind that mean the same: how many keep full credit."""

    applied: int = 0
    kept: int = 0
    wrong_on_shown: int = 0  # wrong on the shown database already: not the suite's doing
    lost_on_variant: int = 0  # right on the shown database, not on a variant
    variants_run: int = 0  # suite variants the rewrites matched on (shows the suite was exercised)
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)  # (bucket, gold, rewrite, error)


def judge_candidate(sql: str, kind: str, row: RowContext, tally: Telling,
                    equivalent: Callable[..., bool] | None, gold_trees: Trees | None = None) -> None:
    """Count one candidate; `gold_trees` (the gold as written back and read again) to note
    candidates that only edit an earlier query."""
    tally.tried += 1
    if not verdict(sql, row.gold, row.context, row.backend).correct:
        return  # fails, or another outcome on the shown database: one database already tells it
    tally.agreeing += 1
    if equivalent is not None and equivalent(kind, row.gold, sql, row.backend):
        tally.equivalent += 1
        return
    if not row.suite:
        tally.without_suite += 1
    told = not verdict(sql, row.gold, row.context, row.backend, row.suite).correct
    tally.told_apart += told
    if gold_trees and only_earlier_queries_edited(gold_trees, parse_any(sql, row.backend) or []):
        tally.earlier_only += 1
        tally.earlier_only_told += told


def study_row(row: RowContext, trees: Trees, seen_gold: set[str], results: dict,
              equivalent: Callable[..., bool] | None) -> None:
    """All three measures on one row (its suite already in `row`)."""
    example = Example(row.context, row.backend)
    seen = set(seen_gold)
    written_back = parse_any(render(trees, row.backend), row.backend) if len(trees) > 1 else None
    for kind in EDITS:  # (a), as the suite build walks them
        tally = results["edits"].setdefault(kind, Telling())
        for n, neighbour in enumerate(edit_candidates(kind, trees, example, row.backend, seen)):
            if n >= NEIGHBOURS_PER_KIND:
                break
            judge_candidate(neighbour, kind, row, tally, equivalent, written_back)

    for kind, rewrite in REWRITES.items():  # (b)
        keeping = results["rewrites"].setdefault(kind, Keeping())
        rewritten = rewrite(trees, row)
        if rewritten is None:
            continue
        sql = render(rewritten, row.backend)
        if statement_key(sql) == statement_key(row.gold):
            continue  # the gold's own text would not even be run
        keeping.applied += 1
        judged = verdict(sql, row.gold, row.context, row.backend, row.suite)
        keeping.variants_run += judged.variants_checked
        if judged.correct:
            keeping.kept += 1
            continue
        bucket = "lost on a variant" if judged.shown_correct else "wrong on the shown database"
        if judged.shown_correct:
            keeping.lost_on_variant += 1
        else:
            keeping.wrong_on_shown += 1
        keeping.failures.append((bucket, row.gold, sql, f"{judged.kind}: {judged.error}"))

    seen = set(seen_gold)
    for kind, edit in HELD_OUT.items():  # (c)
        tally = results["held_out"].setdefault(kind, Telling())
        tried = 0
        for candidate in edit(trees, row):
            if tried >= HELD_OUT_PER_KIND:
                break
            if only_earlier_queries_edited(trees, candidate):
                continue  # cannot change the outcome: no near-miss
            sql = render(candidate, row.backend)
            if statement_key(sql) in seen:
                continue
            seen.add(statement_key(sql))
            tried += 1
            judge_candidate(sql, kind, row, tally, None)


# --------------------------------------------------------------------------------------------
# Output

def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:6.1f}%" if whole else "     -"


def verdict_line(label: str, part: int, whole: int, target: float) -> str:
    ok = whole > 0 and part / whole >= target
    return (f"{label}: {part} of {whole} ({share(part, whole).strip()}); target >= {100 * target:g}%: "
            f"{'PASS' if ok else 'FAIL'}")


def telling_table(title: str, tallies: dict[str, Telling], with_equivalent: bool) -> tuple[int, int]:
    print(f"\n{title}")
    head = f"{'kind':24s} {'tried':>7s} {'agreeing':>9s}"
    head += f" {'equiv.':>7s}" if with_equivalent else ""
    print(head + f" {'judged':>7s} {'told apart':>11s} {'share':>8s} {'no suite':>9s}")
    total = Telling()
    for kind, t in tallies.items():
        line = f"{kind:24s} {t.tried:7d} {t.agreeing:9d}"
        line += f" {t.equivalent:7d}" if with_equivalent else ""
        print(line + f" {t.judged:7d} {t.told_apart:11d} {share(t.told_apart, t.judged):>8s} {t.without_suite:9d}")
        for name in ("tried", "agreeing", "equivalent", "told_apart", "without_suite", "earlier_only",
                     "earlier_only_told"):
            setattr(total, name, getattr(total, name) + getattr(t, name))
    line = f"{'all':24s} {total.tried:7d} {total.agreeing:9d}"
    line += f" {total.equivalent:7d}" if with_equivalent else ""
    print(line + f" {total.judged:7d} {total.told_apart:11d} {share(total.told_apart, total.judged):>8s} "
          f"{total.without_suite:9d}")
    if total.earlier_only:
        rest_told, rest = total.told_apart - total.earlier_only_told, total.judged - total.earlier_only
        print(f"note: {total.earlier_only} of the judged only edit a query before the last statement of a "
              f"multi-statement gold (equivalent: the outcome is the last statement's; {total.earlier_only_told} "
              f"told apart); without them {rest_told} of {rest} ({share(rest_told, rest).strip()})")
    return total.told_apart, total.judged


def keeping_table(keepings: dict[str, Keeping]) -> tuple[int, int, int, int]:
    print("\n(b) rewrites that mean the same: full credit with the suite")
    print(f"{'rewrite':24s} {'rows':>7s} {'full credit':>12s} {'share':>8s} {'wrong on shown':>15s} "
          f"{'lost on variant':>16s} {'variants matched':>17s}")
    applied = kept = wrong = lost = matched = 0
    for kind, k in keepings.items():
        print(f"{kind:24s} {k.applied:7d} {k.kept:12d} {share(k.kept, k.applied):>8s} {k.wrong_on_shown:15d} "
              f"{k.lost_on_variant:16d} {k.variants_run:17d}")
        applied, kept, wrong, lost = applied + k.applied, kept + k.kept, wrong + k.wrong_on_shown, lost + k.lost_on_variant
        matched += k.variants_run
    print(f"{'all':24s} {applied:7d} {kept:12d} {share(kept, applied):>8s} {wrong:15d} {lost:16d} {matched:17d}")
    return applied, kept, wrong, lost


def show_failures(keepings: dict[str, Keeping]) -> None:
    for bucket in ("lost on a variant", "wrong on the shown database"):
        shown = [(kind, f) for kind, k in keepings.items() for f in k.failures if f[0] == bucket]
        if not shown:
            continue
        print(f"\nfirst rewrites {bucket} ({len(shown)} in all):")
        for kind, (_, gold, sql, error) in shown[:SHOWN_FAILURES]:
            print(f"- {kind}\n    gold:    {gold}\n    rewrite: {sql}\n    verdict: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows")
    parser.add_argument("--seed", type=int, default=0, help="the suite builder's seed")
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "duckdb"))
    args = parser.parse_args()
    if not args.file.is_file():
        print(f"no input file at {args.file}; pass --file", file=sys.stderr)
        return 2
    records = load_source(str(args.file), limit=args.limit).records
    equivalent = getattr(audit, "equivalent_by_construction", None)
    results: dict[str, dict] = {"edits": {}, "rewrites": {}, "held_out": {}}
    skipped: Counter = Counter()
    no_suite: Counter = Counter()
    variants = 0
    start = time.perf_counter()
    for record in tqdm(records, desc="rows", unit="row", mininterval=1.0):
        gold, context = record.fields["sql"], record.fields["sql_context"]
        gold_result = gold_outcome(gold, context, args.backend)
        if not gold_result.ok:
            skipped["gold fails"] += 1
            continue
        trees = parse_gold(gold, args.backend, gold_result.dialect)
        if trees is None:
            skipped["gold does not parse"] += 1
            continue
        built = build_suite(gold, context, args.backend, seed=args.seed)
        if built.reason:
            no_suite[built.reason.split(":")[0]] += 1
        variants += len(built.variants)
        example = Example(context, args.backend)
        declared = declared_columns(context, args.backend)
        names = {t.lower() for t in example.schema} | {c.lower() for cols in example.schema.values() for c in cols}
        row = RowContext(gold, context, args.backend, built.variants, declared, qualify_schema(example, declared),
                         names)
        study_row(row, trees, {statement_key(gold)}, results, equivalent)
    seconds = time.perf_counter() - start

    studied = len(records) - sum(skipped.values())
    print(f"input: {args.file} ({len(records)} rows; studied {studied}"
          + "".join(f"; {n} skipped, {why}" for why, n in skipped.items()) + f"); backend {args.backend}; "
          f"seed {args.seed}; {seconds:.0f} s")
    print(f"suites: {studied - sum(no_suite.values())} of {studied} rows got one, {variants} variants in all"
          + (f"; none for: {', '.join(f'{n} {why}' for why, n in no_suite.most_common())}" if no_suite else ""))
    if equivalent is None:
        print("sqlgrpo.scoring.audit.equivalent_by_construction does not exist: (a) counts every agreeing "
              "neighbour, equivalent ones included")

    told, judged = telling_table("(a) single-edit neighbours that agree on the shown database: told apart by the "
                                 "suite (in-sample: the suite was distilled against them)",
                                 results["edits"], with_equivalent=equivalent is not None)
    applied, kept, wrong, lost = keeping_table(results["rewrites"])
    show_failures(results["rewrites"])
    held_told, held_judged = telling_table("(c) held-out near-misses that agree on the shown database: told apart "
                                           "by the suite", results["held_out"], with_equivalent=False)

    print()
    scope = "not equivalent by construction" if equivalent is not None else "all agreeing, equivalent ones included"
    print(verdict_line(f"(a) discrimination ({scope})", told, judged, DISCRIMINATION_TARGET))
    print(verdict_line("(b) no false negatives, all rewrites", kept, applied, NO_FALSE_NEGATIVES_TARGET))
    print(verdict_line("(b) no false negatives, rewrites right on the shown database", kept, applied - wrong,
                       NO_FALSE_NEGATIVES_TARGET))
    print(verdict_line("(c) held-out near-misses told apart", held_told, held_judged, HELD_OUT_TARGET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
