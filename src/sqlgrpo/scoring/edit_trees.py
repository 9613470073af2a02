"""What the near-miss edits stand on: the example database as they see it (`Example`), walking
and replacing sqlglot nodes on copies, literals moved a little, and the schema table a column
reads. The edits themselves are in `sqlgrpo.scoring.edits`.

Only the executor opens connections: a column's type is inferred from a few of its values,
read through `sqlgrpo.sql`.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from sqlgrpo.common.cache import LRUCache
from sqlgrpo.sql import default_executor
from sqlgrpo.sql.analysis import SQLGLOT_DIALECT

SAMPLE_ROWS = 5  # rows read per table to tell numeric columns from text ones: enough to see a
# type, cheap on any example database (their tables hold a handful of rows)
DATE_SHIFT = datetime.timedelta(days=1)  # how far a date literal moves: the off-by-one of dates
COLUMN_CLASS_CACHE_SIZE = 4_096  # tables whose column classes are kept; keyed by a digest of the
# context, not the context itself, which may be megabytes of INSERTs

Trees = list[exp.Expression]
Edit = Callable[..., Iterator[Trees]]  # (trees, example=None) -> edited copies


# --------------------------------------------------------------------------------------------
# The example database, as the edits that need more than the gold's text see it

_COLUMN_CLASSES = LRUCache(COLUMN_CLASS_CACHE_SIZE)


def _column_classes(backend: str, sql_context: str, digest: str, table: str,
                    columns: tuple[str, ...]) -> dict[str, str | None]:
    """Lower-cased column name -> value class ("number", "text", "blob", a type name, "mixed";
    None when the sample holds no value), read from a few rows through the executor: only
    `sqlgrpo.sql` opens connections, so a column's type is inferred from what it holds. Cached
    per (backend, context, table)."""
    def read() -> dict[str, str | None]:
        query = exp.select(*(exp.column(c, quoted=True) for c in columns)).from_(exp.table_(table, quoted=True))
        sql = query.limit(SAMPLE_ROWS).sql(dialect=SQLGLOT_DIALECT.get(backend, backend))
        result = default_executor(backend).run(sql, sql_context)
        classes: dict[str, str | None] = {}
        for i, column in enumerate(columns):
            seen = ({_value_class(row[i]) for row in result.rows if i < len(row) and row[i] is not None}
                    if result.ok else set())
            classes[column.lower()] = None if not seen else seen.pop() if len(seen) == 1 else "mixed"
        return classes

    return _COLUMN_CLASSES.get_or_compute((backend, digest, table, columns), read)


def _value_class(value: Any) -> str:
    if isinstance(value, (bool, int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "blob"
    return type(value).__name__  # DuckDB dates, lists, structs: compatible with their own kind


@dataclass
class Example:
    """The pristine example database of a gold's context: its schema (table -> columns, from the
    executor) and what edits may ask of its data. Lookups of tables and columns ignore case."""

    sql_context: str
    backend: str = "sqlite"
    _tables: dict[str, str] | None = field(default=None, repr=False)
    _digest: str | None = field(default=None, repr=False)

    @property
    def schema(self) -> dict[str, list[str]]:
        db = default_executor(self.backend).database(self.sql_context)
        return db.schema if db.ok else {}

    def table(self, name: str) -> str | None:
        """The schema's own spelling of a table name, or None when the schema has no such table."""
        if self._tables is None:
            self._tables = {t.lower(): t for t in self.schema}
        return self._tables.get((name or "").lower())

    def columns(self, table: str) -> list[str]:
        key = self.table(table)
        return list(self.schema.get(key, [])) if key else []

    def column_class(self, table: str, column: str) -> str | None:
        key = self.table(table)
        if key is None:
            return None
        if self._digest is None:
            self._digest = hashlib.sha256(self.sql_context.encode("utf-8", "surrogatepass")).hexdigest()
        return _column_classes(self.backend, self.sql_context, self._digest, key,
                               tuple(self.schema[key])).get(column.lower())

    def compatible_columns(self, table: str, column: str) -> list[str]:
        """The table's other columns holding values of the same class, in schema order (none for a
        column whose class the sample cannot tell)."""
        cls = self.column_class(table, column)
        if cls is None:
            return []
        return [c for c in self.columns(table) if c.lower() != column.lower() and self.column_class(table, c) == cls]

    def first_value(self, query: exp.Expression) -> Any:
        """The first cell of a query's result (None when it fails or returns nothing)."""
        result = default_executor(self.backend).run(query.sql(dialect=SQLGLOT_DIALECT.get(self.backend, self.backend)),
                                                    self.sql_context)
        return result.rows[0][0] if result.ok and result.rows and result.rows[0] else None


# --------------------------------------------------------------------------------------------
# Walking and replacing nodes on copies


def nodes(tree: exp.Expression) -> list[exp.Expression]:
    """Every node of a tree in depth-first (textual) order; a copy of the tree lists its own
    nodes in the same order, so an index names the same node in both."""
    return list(tree.walk(bfs=False))


Rewrite = Callable[[exp.Expression], exp.Expression]


def replaced(trees: Trees, s: int, i: int, rewrite: Rewrite) -> Trees:
    """A fresh copy of all statements with node `i` of statement `s` replaced by `rewrite(node)`
    (called on the copy's node). The originals are never touched."""
    copies = [t.copy() for t in trees]
    target = nodes(copies[s])[i]
    replacement = rewrite(target)
    if target is copies[s]:
        copies[s] = replacement
    elif replacement is not target:
        target.replace(replacement)
    return copies


def each_node_rewrite(trees: Trees, is_target: Callable[[exp.Expression], bool],
                       rewrites: Callable[[exp.Expression], list[Rewrite]], *, interleave: bool = False) -> Iterator[Trees]:
    """For every target node (statement by statement, depth-first) and every rewrite of it, a
    fresh copy of all statements with that one node replaced.

    interleave: the first rewrite of every node, then the second of every node, and so on, so
    that a capped number of candidates spreads over the query instead of exhausting its first
    node (a column with nine alternatives must not crowd out the other columns)."""
    if not interleave:  # lazily: the caller stops at its caps, often after the first nodes
        for s, tree in enumerate(trees):
            for i, node in enumerate(nodes(tree)):
                if is_target(node):
                    for rewrite in rewrites(node):
                        yield replaced(trees, s, i, rewrite)
        return
    targets = [(s, i, rewrites(node)) for s, tree in enumerate(trees)
               for i, node in enumerate(nodes(tree)) if is_target(node)]
    for rank in range(max((len(r) for _, _, r in targets), default=0)):
        for s, i, node_rewrites in targets:
            if rank < len(node_rewrites):
                yield replaced(trees, s, i, node_rewrites[rank])


def in_condition(node: exp.Expression) -> bool:
    """Whether a node is (part of) the boolean condition of a WHERE, HAVING, QUALIFY or JOIN ... ON:
    only NOT, AND/OR and parentheses stand between it and the clause."""
    child, parent = node, node.parent
    while isinstance(parent, (exp.Connector, exp.Paren, exp.Not)):
        child, parent = parent, parent.parent
    if isinstance(parent, (exp.Where, exp.Having, exp.Qualify)):
        return True
    return isinstance(parent, exp.Join) and child.arg_key == "on"


def is_dml_where(node: exp.Expression) -> bool:
    """Whether a node is the WHERE clause of a top-level UPDATE or DELETE (the DML edits' own)."""
    return isinstance(node, exp.Where) and isinstance(node.parent, (exp.Update, exp.Delete)) and node.parent.parent is None


# --------------------------------------------------------------------------------------------
# Literals: numbers, dates and strings moved a little


def number_value(node: exp.Expression) -> Decimal | None:
    if not (isinstance(node, exp.Literal) and not node.is_string):
        return None
    try:
        value = Decimal(node.this)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def number_step(value: Decimal) -> Decimal:
    """A small move for a number: one unit of its last significant digit (1 for integers and for
    `100.00`, 0.1 for `1.1`, 0.01 for `0.05`), so that a threshold shifts, not leaps."""
    exponent = value.normalize().as_tuple().exponent
    return Decimal(1) if not isinstance(exponent, int) or exponent >= 0 else Decimal(1).scaleb(exponent)


def number_literal(value: Decimal) -> exp.Literal:
    text = format(value.normalize(), "f") if value != value.to_integral_value() else str(int(value))
    return exp.Literal.number(text)


def shifted_numbers(node: exp.Expression) -> list[exp.Literal]:
    """A numeric literal moved up, then down, by `number_step`; [] for anything else."""
    value = number_value(node)
    if value is None:
        return []
    step = number_step(value)
    return [number_literal(value + step), number_literal(value - step)]


def shifted_date(text: str) -> str | None:
    """An ISO date one `DATE_SHIFT` later (a value, not SQL: `2024-01-31` -> `2024-02-01`)."""
    if len(text) != len("2024-01-31"):
        return None
    try:
        return (datetime.date.fromisoformat(text) + DATE_SHIFT).isoformat()
    except ValueError:
        return None


def nudged_string(text: str) -> str:
    """Another string one small change away: a date a day later, else the last digit counted up
    ('Farm 1' -> 'Farm 2'), else the first letter's case swapped ('USA' -> 'uSA'), else 'x' added."""
    date = shifted_date(text)
    if date is not None:
        return date
    for i in range(len(text) - 1, -1, -1):
        if text[i].isdigit() and text[i].isascii():
            return text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1:]
    for i, ch in enumerate(text):
        if ch.isalpha() and ch.swapcase() != ch:
            return text[:i] + ch.swapcase() + text[i + 1:]
    return text + "x"


def nudged_value(node: exp.Expression) -> exp.Expression | None:
    """One literal changed a little (numbers up by a step, strings nudged, booleans negated)."""
    if isinstance(node, exp.Boolean):
        return exp.Boolean(this=not node.this)
    if isinstance(node, exp.Literal) and node.is_string:
        return exp.Literal.string(nudged_string(node.this))
    shifted = shifted_numbers(node)
    return shifted[0] if shifted else None


# --------------------------------------------------------------------------------------------
# Resolving a column to the schema table it belongs to


def scope_tables(scope: exp.Expression) -> dict[str, exp.Expression]:
    """Alias (lower case) -> source of a SELECT or DML statement's own FROM/JOIN/target: a
    `exp.Table` or, for a derived table, the subquery."""
    sources: list[exp.Expression] = []
    if isinstance(scope, (exp.Update, exp.Delete, exp.Insert)):
        target = scope.this
        sources.append(target.this if isinstance(target, exp.Schema) else target)
    from_ = scope.args.get("from_") or scope.args.get("from")
    if isinstance(from_, exp.From):
        sources.append(from_.this)
    sources += [join.this for join in scope.args.get("joins") or []]
    out: dict[str, exp.Expression] = {}
    for source in sources:
        if isinstance(source, exp.Table):
            out.setdefault((source.alias_or_name or "").lower(), source)
        elif isinstance(source, exp.Expression) and source.alias:
            out.setdefault(source.alias.lower(), source)
    return out


def column_table(col: exp.Column, example: Example) -> str | None:
    """The schema table a column reference reads, or None when it is not plainly one (an alias,
    a derived table's column, a CTE's, an ambiguous name): such columns are never swapped."""
    if isinstance(col.this, exp.Star) or not col.name:
        return None
    name, qualifier = col.name.lower(), (col.table or "").lower()
    scope = col.parent
    while scope is not None:
        if isinstance(scope, (exp.Select, exp.Update, exp.Delete, exp.Insert)):
            sources = scope_tables(scope)
            if qualifier:
                if qualifier in sources:
                    source = sources[qualifier]
                    if isinstance(source, exp.Table) and not source.db and example.table(source.name) \
                            and name in {c.lower() for c in example.columns(source.name)}:
                        return example.table(source.name)
                    return None
            else:
                owners = list(dict.fromkeys(example.table(s.name) for s in sources.values()
                                            if isinstance(s, exp.Table) and example.table(s.name)
                                            and name in {c.lower() for c in example.columns(s.name)}))
                if len(owners) == 1:
                    return owners[0]
                if owners or any(not (isinstance(s, exp.Table) and example.table(s.name)) for s in sources.values()):
                    return None  # ambiguous, or maybe a derived table's or a CTE's column
        scope = scope.parent
    return None


def with_name(col: exp.Column, name: str) -> exp.Column:
    """The same column reference (same qualifier) naming another column."""
    table = col.args.get("table")
    return exp.Column(this=exp.to_identifier(name), table=table.copy() if table is not None else None)


