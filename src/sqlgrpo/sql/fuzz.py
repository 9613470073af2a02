"""Fuzzed variants of an example database: the candidates a test suite is distilled from.

A gretel-like context inserts two to six rows per table; on so little data a wrong query often
returns the gold's rows. The test-suite evaluation of Spider (Zhong, Yu and Klein, 2020) runs
both queries on more databases, fuzzed from the original. This module writes those candidates;
`sqlgrpo.scoring.suites` keeps the few that tell the gold apart from its neighbour queries.

What is fuzzed (tables, keys, rows, the gold's literals) is read by `sqlgrpo.sql.fuzz_schema`,
which also draws the values (`fresh_value`, `neighbours`, `like_samples`, `sql_literal`).

A variant is the original context followed by a *delta*: a comment naming how it was made, then
plain `DELETE FROM t` and `INSERT INTO t VALUES (...), ...` statements that both engines read. The database of a variant is `variant_context(context, delta)`, built by the executor like
any context, so every guarantee of the executor holds on it.

    >>> ctx = "CREATE TABLE t (id INT PRIMARY KEY, x INT); INSERT INTO t VALUES (1, 5), (2, 7);"
    >>> found = candidates(ctx, "SELECT id FROM t WHERE x > 6", seed=0)
    >>> sorted({c.kind for c in found}) == sorted(set(KINDS) - {"beyond_limit"})  # no LIMIT, no such kind
    True
    >>> all(c.delta.startswith("-- sqlgrpo test-suite variant: ") for c in found)
    True

Values are drawn per column from the column's own values and type, from the gold's literals
compared with that column and their neighbours (±1, the next day, a string that matches or does
not match a LIKE), and from the values of the column a key refers to (a declared foreign key or
a join in the gold). Rows that would break a declared NOT NULL, PRIMARY KEY or UNIQUE are never
written; a row the engine still refuses (a CHECK) is dropped when the variant is built
(`build_variant`). Everything is seeded: the same inputs give the same candidates.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp

from sqlgrpo.common.text import statement_key
from sqlgrpo.sql.executor import ExampleDatabase, build_example_db
from sqlgrpo.sql.fuzz_schema import (MAX_TABLE_ROWS, NOT_CONSTANT, Column, Hints, Table, distinct_value,
                                     fresh_value, gold_hints, like_samples, neighbours, read_tables, sql_literal)
from sqlgrpo.sql.guard import quote_ident

log = logging.getLogger(__name__)

__all__ = ["DELTA_HEADER", "KINDS", "MAX_BUILD_RETRIES", "MAX_TABLE_ROWS", "Candidate", "Column", "Hints", "Table",
           "candidates", "gold_hints", "like_samples", "neighbours", "read_tables", "sql_literal", "variant_context",
           "variant_kind"]

DELTA_HEADER = "-- sqlgrpo test-suite variant: "
NEW_ROWS = (3, 7)  # rows added per table and candidate: several per group, still cheap to build
SEEDS_PER_KIND = 2  # candidates per kind: a second draw catches what the first missed
MAX_BUILD_RETRIES = 6  # rows dropped one at a time when the engine refuses them (CHECK constraints)
MAX_ROWS_PER_INSERT = 100  # rows of one multi-row INSERT in a delta
KEY_ATTEMPTS = 8  # draws of a unique value before a row is skipped
P_FOCUS = 0.85  # chance that a filtered column takes one of the gold's literals (or a neighbour)
P_EXISTING = 0.6  # otherwise: one of the column's own values, else a fresh value of its type
P_NULL = 0.4  # per nullable column in the "nulls" kind
MAX_COMBINATIONS = 32  # rows of the "combinations" kind per table
MAX_VALUES_PER_COLUMN = 5  # a filtered column's literal and neighbours in the combinations


# --------------------------------------------------------------------------------------------
# Rows

class _Draw:
    """Draws rows for the tables of one candidate, keeping keys unique and references valid."""

    def __init__(self, tables: list[Table], hints: Hints, rng: random.Random):
        self.rng, self.hints = rng, hints
        self.tables = {t.name.lower(): t for t in tables}
        self.rows = {t.name.lower(): list(t.rows) for t in tables}  # the candidate's rows so far
        # The keys taken per unique column set, so that checking a new row costs no scan.
        self.keys = {(t.name.lower(), cols): {tuple(r[c] for c in cols) for r in t.rows} for t in tables
                     for cols in t.unique_sets}
        self.links: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for a, b in hints.links:
            self.links.setdefault((a[0].lower(), a[1].lower()), []).append(b)
            self.links.setdefault((b[0].lower(), b[1].lower()), []).append(a)

    def column_values(self, table: str, column: str) -> list[Any]:
        t = self.tables.get(table.lower())
        i = t.index(column) if t else None
        return [r[i] for r in self.rows[table.lower()] if r[i] is not None] if i is not None else []

    def focus(self, table: Table, i: int, near: bool) -> list[Any]:
        """The gold's literals for a column (with their neighbours when `near`)."""
        key = (table.name, table.columns[i].name)
        family = table.columns[i].family
        values = list(self.hints.literals.get(key, []))
        for pattern in self.hints.likes.get(key, []):
            if isinstance(pattern, str):
                values += like_samples(pattern)
        if near:
            values += [n for v in values for n in neighbours(v, family)]
        return values

    def value(self, table: Table, i: int, *, focus: bool, near: bool, nulls: bool) -> Any:
        col = table.columns[i]
        rng = self.rng
        if i in table.references:
            # A declared foreign key always names a row of its parent (DuckDB enforces it).
            parent, parent_col = table.references[i]
            keys = self.column_values(parent, parent_col)
            if keys:
                return rng.choice(keys)
            if not col.not_null:
                return None
        links = self.links.get((table.name.lower(), col.name.lower()), [])
        if links and rng.random() < 0.8:
            keys = self.column_values(*rng.choice(links))
            if keys:
                return rng.choice(keys)
        targets = self.focus(table, i, near) if focus else []
        # NULLs mostly outside the filtered columns, so that rows with NULLs still meet the filters.
        if nulls and not col.not_null and rng.random() < (P_NULL / 4 if targets else P_NULL):
            return None
        if targets and rng.random() < P_FOCUS:
            return rng.choice(targets)
        own = self.column_values(table.name, col.name)
        if (table.name, col.name) in self.hints.ordered:
            return distinct_value(col.family, rng, own)  # no ties where the gold orders
        if own and rng.random() < P_EXISTING:
            return rng.choice(own)
        return fresh_value(col.family, rng, own)

    def unique_ok(self, table: Table, row: tuple) -> bool:
        for cols in table.unique_sets:
            key = tuple(row[c] for c in cols)
            if any(v is None for v in key) and any(table.columns[c].not_null for c in cols):
                return False
            if None not in key and key in self.keys[(table.name.lower(), cols)]:
                return False
        return all(v is not None for v, c in zip(row, table.columns) if c.not_null)

    def reset(self, table: Table, rows: list[tuple]) -> None:
        """The table's rows replaced (after a DELETE), its keys with them."""
        self.rows[table.name.lower()] = list(rows)
        for cols in table.unique_sets:
            self.keys[(table.name.lower(), cols)] = {tuple(r[c] for c in cols) for r in rows}

    def fix_keys(self, table: Table, row: list[Any]) -> tuple | None:
        """The row with fresh values in its unique columns where they collide; None if none found."""
        for _ in range(KEY_ATTEMPTS):
            if self.unique_ok(table, tuple(row)):
                return tuple(row)
            for cols in table.unique_sets:
                c = cols[-1]
                own = self.column_values(table.name, table.columns[c].name)
                numbers = [v for v in own if isinstance(v, int) and not isinstance(v, bool)]
                row[c] = (max(numbers) + 1 if numbers else self.rng.randint(1, 10_000)) \
                    if table.columns[c].family == "int" or numbers else fresh_value(table.columns[c].family, self.rng, own)
        return tuple(row) if self.unique_ok(table, tuple(row)) else None

    def add(self, table: Table, row: list[Any]) -> tuple | None:
        fixed = self.fix_keys(table, row)
        if fixed is not None:
            self.rows[table.name.lower()].append(fixed)
            for cols in table.unique_sets:
                self.keys[(table.name.lower(), cols)].add(tuple(fixed[c] for c in cols))
        return fixed

    def emit(self, out: list[Op], table: Table, row: list[Any]) -> None:
        """Add a row (keys made fresh where needed) and its INSERT to `out`; a row whose keys
        cannot be made unique is skipped."""
        added = self.add(table, row)
        if added is not None:
            out.append((table, added))

    def new_row(self, table: Table, *, focus: bool = True, near: bool = False, nulls: bool = False) -> tuple | None:
        return self.add(table, [self.value(table, i, focus=focus, near=near, nulls=nulls)
                                for i in range(len(table.columns))])


# --------------------------------------------------------------------------------------------
# Candidates

Op = tuple  # (table, row): one INSERT; (table, None): DELETE FROM table


@dataclass(frozen=True)
class Candidate:
    """One fuzzed variant: how it was made, and the statements of its delta."""

    kind: str
    ops: tuple[Op, ...]
    tables: tuple[Table, ...] = field(repr=False, compare=False, default=())
    per_row: bool = False  # one INSERT per row (to find a row the engine refuses), else per run of rows

    def statements(self) -> list[tuple[str, list[int]]]:
        """The delta's statements, each with the positions in `ops` it holds: consecutive rows
        of one table share one multi-row INSERT (one statement to run, not one per row)."""
        out: list[tuple[str, list[int]]] = []
        run: list[int] = []

        def flush() -> None:
            if run:
                table = self.ops[run[0]][0]
                out.append((_insert(table, [self.ops[p][1] for p in run]), list(run)))
                run.clear()

        for position, (table, row) in enumerate(self.ops):
            if row is None:
                flush()
                out.append((_delete(table), [position]))
                continue
            if run and (self.per_row or self.ops[run[0]][0] is not table or len(run) >= MAX_ROWS_PER_INSERT):
                flush()
            run.append(position)
        flush()
        return out

    @property
    def delta(self) -> str:
        """The delta's text (see the module docstring)."""
        return "\n".join([DELTA_HEADER + self.kind] + [text for text, _ in self.statements()])

    def without(self, position: int) -> Candidate:
        """The candidate without its `position`-th op (0-based): a row the engine refused."""
        return replace(self, ops=self.ops[:position] + self.ops[position + 1:])

    def row_by_row(self) -> Candidate:
        return replace(self, per_row=True)

    def final_rows(self) -> dict[str, list[tuple]]:
        """Each table's rows in the variant: the original rows, then the delta's DELETEs and INSERTs."""
        rows = {t.name: list(t.rows) for t in self.tables}
        for table, row in self.ops:
            if row is None:
                rows[table.name] = []
            else:
                rows[table.name].append(row)
        return rows

    def reordered(self) -> Candidate:
        """A twin: the same rows in every table, in reverse physical order. A gold whose outcome
        differs between a variant and its twin depends on row order (ties under ORDER BY ...
        LIMIT, bare columns of a GROUP BY), so the variant judges nothing."""
        rows = self.final_rows()
        children_first = [(t, None) for t in reversed(self.tables)]
        refill = [(t, r) for t in self.tables for r in reversed(rows[t.name])]
        return replace(self, ops=self.ops + tuple(children_first + refill))


def _insert(table: Table, rows: list[tuple]) -> str:
    # Every column, in the table's own order (the order its rows were read in): no column list.
    values = ", ".join("(" + ", ".join(map(sql_literal, row)) + ")" for row in rows)
    return f"INSERT INTO {quote_ident(table.name)} VALUES {values};"


def _delete(table: Table) -> str:
    return f"DELETE FROM {quote_ident(table.name)};"


Strategy = Callable[[_Draw, list[Table]], list[Op]]


def _added(draw: _Draw, tables: list[Table], **how: bool) -> list[Op]:
    out = []
    low, high = NEW_ROWS
    for table in tables:
        for _ in range(draw.rng.randint(max(low, draw.hints.limit + 1), max(high, draw.hints.limit + 3))):
            row = draw.new_row(table, **how)
            if row is not None:
                out.append((table, row))
    return out


def _satisfying(draw: _Draw, tables: list[Table]) -> list[Op]:
    """Rows that take the gold's own literals in the columns it filters on."""
    return _added(draw, tables)


def _combinations(draw: _Draw, tables: list[Table]) -> list[Op]:
    """Rows over the combinations of the filtered columns' values (each literal and its
    neighbours): some meet every predicate of a conjunction, others all but one."""
    out = []
    for table in tables:
        choices = []
        for i in range(len(table.columns)):
            values = list(dict.fromkeys(v for v in draw.focus(table, i, True) if v is not None))
            if values:
                draw.rng.shuffle(values)
                exact = [v for v in draw.focus(table, i, False) if v is not None][:1]
                choices.append((i, list(dict.fromkeys(exact + values))[:MAX_VALUES_PER_COLUMN]))
        if not choices:
            continue
        combos = [[]]
        for i, values in choices:
            combos = [c + [(i, v)] for c in combos for v in values]
            if len(combos) > 4 * MAX_COMBINATIONS:
                combos = draw.rng.sample(combos, 4 * MAX_COMBINATIONS)
        if len(combos) > MAX_COMBINATIONS:
            combos = draw.rng.sample(combos, MAX_COMBINATIONS)
        for combo in combos:
            fixed = dict(combo)
            row = [fixed[i] if i in fixed else draw.value(table, i, focus=False, near=False, nulls=False)
                   for i in range(len(table.columns))]
            draw.emit(out, table, row)
    return out


def _near_literals(draw: _Draw, tables: list[Table]) -> list[Op]:
    """Rows at the gold's literals and just beside them (±1, the next day, another case)."""
    return _added(draw, tables, near=True)


def _nulls(draw: _Draw, tables: list[Table]) -> list[Op]:
    """Rows with NULLs wherever a column allows them: for each nullable column one row at the
    gold's literals with NULL in that column alone (COUNT(col) then differs from COUNT(*)), and
    rows with NULLs here and there."""
    out = []
    for table in tables:
        for i, col in enumerate(table.columns):
            if col.not_null or i in table.references:
                continue
            row = [None if j == i else draw.value(table, j, focus=True, near=False, nulls=False)
                   for j in range(len(table.columns))]
            draw.emit(out, table, row)
    return out + _added(draw, tables, nulls=True)


def _random_rows(draw: _Draw, tables: list[Table]) -> list[Op]:
    """Rows from each column's own values and type, ignoring the gold."""
    return _added(draw, tables, focus=False)


def _groups(draw: _Draw, tables: list[Table]) -> list[Op]:
    """More rows per group: copies of existing rows with the columns outside the gold's GROUP BY
    and keys drawn again."""
    out = []
    for table in tables:
        keep = {i for i, c in enumerate(table.columns) if (table.name, c.name) in draw.hints.groups}
        keep |= set(table.references)
        for base in [r for r in table.rows for _ in range(2)]:
            row = [base[i] if i in keep else draw.value(table, i, focus=True, near=False, nulls=False)
                   for i in range(len(table.columns))]
            draw.emit(out, table, row)
    return out


def _duplicates(draw: _Draw, tables: list[Table]) -> list[Op]:
    """Every existing row again, and rows at the gold's literals twice each (keys made fresh
    where they must be unique): DISTINCT and COUNT(DISTINCT ...) then matter."""
    out = []
    for table in tables:
        bases = list(table.rows) + [r for r in (draw.new_row(table) for _ in range(2)) if r is not None]
        out += [(table, r) for r in bases[len(table.rows):]]
        for base in bases:
            row = draw.add(table, list(base))
            if row is not None:
                out.append((table, row))
    return out


def _beyond_limit(draw: _Draw, tables: list[Table]) -> list[Op]:
    """For a gold with a LIMIT: more rows at its literals than the limit, each with its own
    values in the columns it groups and orders by (more groups than the limit, no ties)."""
    if not draw.hints.limit:
        return []
    out = []
    for table in tables:
        spread = {i for i, c in enumerate(table.columns)
                  if (table.name, c.name) in draw.hints.groups | draw.hints.ordered}
        for _ in range(2 * draw.hints.limit + 3):
            row = [distinct_value(c.family, draw.rng, draw.column_values(table.name, c.name)) if i in spread
                   else draw.value(table, i, focus=True, near=False, nulls=False)
                   for i, c in enumerate(table.columns)]
            draw.emit(out, table, row)
    return out


def _rewritable(draw: _Draw, tables: list[Table]) -> list[Table]:
    """The tables a strategy may empty and refill: not those a declared foreign key points at
    (DuckDB refuses to delete a parent row that a child row references)."""
    parents = {p.lower() for t in draw.tables.values() for p, _ in t.references.values()}
    return [t for t in tables if t.name.lower() not in parents]


def _column_groups(table: Table) -> list[list[int]]:
    """Columns that are shuffled together: each composite key as one group (shuffling its
    columns apart could repeat a pair), every other column alone."""
    groups: list[list[int]] = []
    for cols in sorted(table.unique_sets, key=len, reverse=True):
        if len(cols) > 1 and not any(set(cols) & set(g) for g in groups):
            groups.append(list(cols))
    grouped = {c for g in groups for c in g}
    return groups + [[i] for i in range(len(table.columns)) if i not in grouped]


def _decorrelated(draw: _Draw, tables: list[Table]) -> list[Op]:
    """Each table rewritten with its columns shuffled independently (a permutation keeps every
    column's values, so keys stay unique and references valid), plus rows at the literals."""
    out: list[Op] = []
    for table in _rewritable(draw, tables):
        for _ in range(2):
            draw.new_row(table)
        rows = draw.rows[table.name.lower()]
        shuffled = [list(r) for r in rows]
        for group in _column_groups(table):
            order = list(range(len(rows)))
            draw.rng.shuffle(order)
            for k, source in enumerate(order):
                for c in group:
                    shuffled[k][c] = rows[source][c]
        draw.reset(table, [tuple(r) for r in shuffled])
        out += [(table, None)] + [(table, tuple(r)) for r in shuffled]
    return out


def _beside_literals(draw: _Draw, tables: list[Table]) -> list[Op]:
    """Each table holding only rows beside the gold's literals (its filters then select little
    or nothing: an empty result that a dropped WHERE does not give)."""
    out: list[Op] = []
    for table in _rewritable(draw, tables):
        draw.reset(table, [])
        out.append((table, None))
        for base in table.rows:
            row = list(base)
            for i, col in enumerate(table.columns):
                near = [n for v in draw.focus(table, i, False) for n in neighbours(v, col.family)]
                if near:
                    row[i] = draw.rng.choice(near)
            draw.emit(out, table, row)
    return out


def _emptied(draw: _Draw, tables: list[Table]) -> list[Op]:
    """One of the gold's tables emptied, picked by the seed (a table a foreign key points at
    never: its children would dangle)."""
    allowed = _rewritable(draw, tables)
    if not allowed:
        return []
    table = allowed[draw.rng.randrange(len(allowed))]
    draw.reset(table, [])
    return [(table, None)]


KINDS: dict[str, Strategy] = {
    "satisfying": _satisfying,
    "combinations": _combinations,
    "near_literals": _near_literals,
    "groups": _groups,
    "duplicates": _duplicates,
    "beyond_limit": _beyond_limit,
    "nulls": _nulls,
    "decorrelated": _decorrelated,
    "beside_literals": _beside_literals,
    "emptied": _emptied,
    "random_rows": _random_rows,
}


def _fuzzed_tables(tables: list[Table], hints: Hints) -> list[Table]:
    """The tables the gold reads, parents first (referenced before referencing), else all."""
    used = [t for t in tables if t.name in hints.tables] or tables
    order = {t.name.lower(): n for n, t in enumerate(tables)}
    return sorted(used, key=lambda t: (any(order.get(p.lower(), -1) > order[t.name.lower()]
                                           for p, _ in t.references.values()), order[t.name.lower()]))


def candidates(context: str, gold: str, backend: str = "sqlite", *, seed: int = 0,
               db: ExampleDatabase | None = None) -> list[Candidate]:
    """Fuzzed candidates for one record, `SEEDS_PER_KIND` per kind in `KINDS` order; [] when the
    context does not build or a table cannot be fuzzed. `db` is the context's database when the
    caller has it built. Deterministic given the inputs."""
    own = db is None
    db = build_example_db(context, backend) if own else db
    try:
        tables = read_tables(context, db, backend) if db.ok else None
        if not tables:
            return []
        hints = gold_hints(gold, tables, backend, lambda node: _evaluate(db, node, backend))
    finally:
        if own:
            db.close()
    fuzzed = _fuzzed_tables(tables, hints)
    out = []
    for kind, strategy in KINDS.items():
        for n in range(SEEDS_PER_KIND):
            # Seeded by the texts, whitespace and a final semicolon aside (the same query, the same suite).
            rng = random.Random(f"{seed}|{kind}|{n}|{context}|{statement_key(gold)}")
            ops = strategy(_Draw(tables, hints, rng), fuzzed)
            if ops:
                out.append(Candidate(kind, tuple(ops), tuple(tables)))
    return list({c.delta: c for c in out}.values())


def _evaluate(db: ExampleDatabase, node: exp.Expression, backend: str) -> Any:
    """The value of a constant expression of the gold, computed by the engine."""
    try:
        result = db.run("SELECT " + node.sql(dialect=backend), max_rows=1)
    except Exception:  # noqa: BLE001 - an expression sqlglot cannot write is no hint
        return NOT_CONSTANT
    if result.ok and len(result.rows) == 1 and len(result.rows[0]) == 1:
        return result.rows[0][0]
    return NOT_CONSTANT


def variant_context(context: str, delta: str) -> str:
    """The context of a variant: the original statements, then the delta's."""
    text = context.rstrip()
    # On a line of its own: a context ending in a `-- comment` must not swallow the semicolon.
    return f"{text}{'' if text.endswith(';') else chr(10) + ';'}\n{delta}"


def variant_kind(delta: str) -> str:
    """How a variant was made (its header), "" for a text without one."""
    first = delta.split("\n", 1)[0]
    return first[len(DELTA_HEADER):].strip() if first.startswith(DELTA_HEADER) else ""
